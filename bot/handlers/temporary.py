"""Temporary groups: /temp, /done, /reopen, /extend, /status; the close countdown and the close."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ExtBot, filters

from bot import access, records
from bot.context import Deps, JianfuContext
from bot.handlers._common import (
    allowed,
    answer,
    command,
    command_text,
    emit,
    in_group,
    language_for,
    reply,
    transactional,
)
from bot.pipeline import FactResult
from policies.actions import (
    SENT,
    About,
    Button,
    EditSay,
    KeyList,
    Leave,
    Pin,
    Rename,
    RevokeLink,
    Say,
    Send,
    SetPermissions,
    TellAdminsOnce,
    Then,
)
from policies.commands import ParseError
from policies.lifecycle import (
    CLOSE_STEPS,
    TRANSITIONS,
    Step,
    closes_at,
    may,
    parse_extend,
    parse_temp,
    reminder_due,
    renamed,
    steps_from,
    until_due,
)
from policies.text import first_line
from storage.models import Chat, Task
from storage.repositories.audit import AuditRepository
from storage.repositories.chats import ChatRepository
from storage.repositories.notices import NoticeRepository, ReadRepository
from storage.repositories.people import PeopleRepository
from storage.repositories.tasks import TaskRepository

log = logging.getLogger(__name__)

CLOSE_TASK, REMIND_TASK, UNTIL_TASK = "temp_close", "temp_remind", "temp_until"
IDLE_PREFIX = "tmp:idle:"
RULE = "temporary"


def _local(deps: Deps, moment: datetime) -> str:
    return moment.astimezone(deps.settings.tz).strftime("%Y-%m-%d %H:%M")


# Commands --------------------------------------------------------------------------------------


async def _group_chat(update: Update, context: JianfuContext, session: AsyncSession, command_name: str) -> Chat | None:
    """The group's row, after the place and role checks; None when the caller was answered."""
    if not await in_group(update, context, session) or not await allowed(update, context, session, command_name):
        return None
    chats = ChatRepository(session)
    await chats.ensure(update.effective_chat.id, update.effective_chat.title or "", update.effective_chat.type, context.deps.clock())
    return await chats.get(update.effective_chat.id)


@transactional
async def temp(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    chat = await _group_chat(update, context, session, "temp")
    if chat is None:
        return
    deps, now = context.deps, context.deps.clock()
    parsed = parse_temp(command_text(update), now.astimezone(deps.settings.tz).date())
    if isinstance(parsed, ParseError):
        await reply(update, context, session, parsed.key, **parsed.params)
        return
    await ChatRepository(session).set_fields(chat.id, kind="temporary", purpose=parsed.purpose or None, until_date=parsed.until)
    if parsed.until is not None:
        due = until_due(parsed.until, deps.settings.tz)
        await TaskRepository(session).schedule(UNTIL_TASK, f"{UNTIL_TASK}:{chat.id}:{parsed.until}", due, {"chat_id": chat.id, "until": parsed.until.isoformat()})
    await _audit(session, deps, update.effective_user.id, "chat.temp", chat.id, {"purpose": parsed.purpose, "until": str(parsed.until or "")})
    until = parsed.until.isoformat() if parsed.until else "—"
    await reply(update, context, session, "temp.marked", purpose=parsed.purpose or "—", until=until, days=deps.settings.temporary.close_after_days)


@transactional
async def done(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    chat = await _group_chat(update, context, session, "done")
    if chat is None:
        return
    if chat.kind != "temporary":
        await reply(update, context, session, "temp.error.not_temporary")
    elif not may("done", chat.state):
        await reply(update, context, session, "temp.error.already_done", close_at=_local(context.deps, chat.close_at) if chat.close_at else "—")
    else:
        await mark_done(context.deps, session, chat.id, actor_id=update.effective_user.id)


@transactional
async def reopen(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    chat = await _group_chat(update, context, session, "reopen")
    if chat is None:
        return
    # Only a countdown not yet closing can be cancelled (compare-and-set against the close).
    # The scheduled close and reminder then see no close time and do nothing.
    if not await ChatRepository(session).change_state(chat.id, *TRANSITIONS["reopen"], done_at=None, close_at=None):
        await reply(update, context, session, "temp.error.not_done")
        return
    await _audit(session, context.deps, update.effective_user.id, "chat.reopen", chat.id, {})
    await reply(update, context, session, "temp.reopened")


@transactional
async def extend(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    chat = await _group_chat(update, context, session, "extend")
    if chat is None:
        return
    deps = context.deps
    parsed = parse_extend(command_text(update), deps.settings.temporary.max_extend_days)
    if isinstance(parsed, ParseError):
        await reply(update, context, session, parsed.key, **parsed.params)
        return
    close_at = chat.close_at + timedelta(days=parsed.days) if chat.close_at else None
    chats = ChatRepository(session)
    if close_at is None or not await chats.change_state(chat.id, *TRANSITIONS["extend"], close_at=close_at):
        await reply(update, context, session, "temp.error.not_done")
        return
    await schedule_close(deps, session, chat.id, close_at)
    await _audit(session, deps, update.effective_user.id, "chat.extend", chat.id, {"days": parsed.days, "reason": parsed.reason})
    await reply(update, context, session, "temp.extended", days=parsed.days, close_at=_local(deps, close_at))


@transactional
async def status(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    if not await in_group(update, context, session):
        return
    chat = await ChatRepository(session).get(update.effective_chat.id)
    language = await language_for(update, context, session)
    catalog, deps = context.deps.catalog, context.deps
    kind = chat.kind if chat else "permanent"
    state = chat.state if chat else "active"
    await reply(
        update, context, session, "temp.status",
        kind=catalog.raw(language, f"kind.{kind}"),
        state=catalog.raw(language, f"state.{state}"),
        purpose=(chat.purpose if chat and chat.purpose else "—"),
        until=(chat.until_date.isoformat() if chat and chat.until_date else "—"),
        close_at=(_local(deps, chat.close_at) if chat and chat.close_at else "—"),
    )


async def _audit(session: AsyncSession, deps: Deps, actor: int | None, action: str, chat_id: int, detail: dict) -> None:
    await AuditRepository(session).record(action, actor_id=actor, now=deps.clock(), chat_id=chat_id, detail=detail)


# The countdown -------------------------------------------------------------------------------


async def mark_done(deps: Deps, session: AsyncSession, chat_id: int, *, actor_id: int | None) -> None:
    """The work is complete: announce the close time in the group, pin it, start the countdown."""
    now = deps.clock()
    close_at = closes_at(now, deps.settings.temporary.close_after_days)
    state = TRANSITIONS["done"][1]
    await ChatRepository(session).set_fields(chat_id, state=state, done_at=now, close_at=close_at, close_step=0)
    await schedule_close(deps, session, chat_id, close_at)
    await _audit(session, deps, actor_id, "chat.done", chat_id, {"close_at": close_at.isoformat()})
    params = {"close_at": _local(deps, close_at), "days": deps.settings.temporary.close_after_days}
    pin = Pin(chat_id, SENT, RULE, "close announcement", then=Then(no_rights=(TellAdminsOnce(chat_id, "temp.admins_missing_pin"),)))
    emit(Say(chat_id, "temp.done_announce", params, rule=RULE, reason="work done", then=Then(done=(pin,))))


async def schedule_close(deps: Deps, session: AsyncSession, chat_id: int, close_at: datetime) -> None:
    """The close and its reminder, keyed by the close time: a changed time makes old ones stale."""
    tasks, stamp = TaskRepository(session), close_at.isoformat()
    payload = {"chat_id": chat_id, "close_at": stamp}
    await tasks.schedule(CLOSE_TASK, f"{CLOSE_TASK}:{chat_id}:{stamp}", close_at, payload)
    before = timedelta(hours=deps.settings.temporary.reminder_hours)
    due = reminder_due(close_at, before, deps.clock()) if before else None
    if due is not None:
        await tasks.schedule(REMIND_TASK, f"{REMIND_TASK}:{chat_id}:{stamp}", due, payload)


async def follow_migration(deps: Deps, session: AsyncSession, chat: Chat | None) -> None:
    """A group that became a supergroup keeps its countdown and its until date under the new id."""
    if chat is None or chat.kind != "temporary":
        return
    if chat.state in ("done", "closing") and chat.close_at is not None:
        await schedule_close(deps, session, chat.id, chat.close_at)
    if chat.until_date is not None and chat.state == "active":
        due = until_due(chat.until_date, deps.settings.tz)
        payload = {"chat_id": chat.id, "until": chat.until_date.isoformat()}
        await TaskRepository(session).schedule(UNTIL_TASK, f"{UNTIL_TASK}:{chat.id}:{chat.until_date}", due, payload)


async def _current(session: AsyncSession, task: Task) -> Chat | None:
    """The group, when the task still matches its countdown (not reopened or extended since)."""
    chat = await ChatRepository(session).get(task.payload["chat_id"])
    if chat is None or chat.bot_status == "migrated" or chat.state not in ("done", "closing") or chat.close_at is None:
        return None
    return chat if chat.close_at == datetime.fromisoformat(task.payload["close_at"]) else None


async def remind(deps: Deps, bot: ExtBot[None], task: Task) -> bool:
    """The day before the close: once in the group, and privately to its admins."""
    async with deps.pipeline.unit(task=task) as unit:
        chat = await _current(unit.session, task)
        if chat is None or chat.close_at <= deps.clock():
            # Due while the bot was down and the close time has passed: the close itself says it.
            return True
        params = {"title": chat.title, "close_at": _local(deps, chat.close_at)}
        unit.emit(Say(chat.id, "temp.reminder_group", params, rule=RULE, reason="close tomorrow"))
        for admin in await PeopleRepository(unit.session).with_private_chat(await ChatRepository(unit.session).admin_ids(chat.id)):
            unit.emit(Say(admin, "temp.reminder_private", params, rule=RULE, reason="close tomorrow", about=About(chat.id)))
    return True


async def until_reached(deps: Deps, bot: ExtBot[None], task: Task) -> bool:
    """A temporary group's `until` date has come: its work is done by itself."""
    async with deps.pipeline.unit(task=task) as unit:
        chat = await ChatRepository(unit.session).get(task.payload["chat_id"])
        fresh = chat is not None and chat.kind == "temporary" and may("done", chat.state)
        if fresh and chat.until_date is not None and chat.until_date.isoformat() == task.payload["until"]:
            await mark_done(deps, unit.session, chat.id, actor_id=None)
    return True


# Closing ------------------------------------------------------------------------------------
#
# The close is a chain of outbox actions, one per step: each step's outcome, recorded in the
# transaction that settles it, writes the next step (CloseStep), so a crash anywhere resumes
# where the chain stood and no step runs twice. `close_step` counts the steps done.


@dataclass(frozen=True)
class CloseStep:
    """Steps before `index` are done (the one before found `missing` right lacking): go on."""

    chat_id: int
    index: int
    missing: str = ""


@dataclass(frozen=True)
class ClosedExternally:
    """The group removed the bot (or was deleted) before the close finished."""

    chat_id: int


@dataclass(frozen=True)
class SummaryPosted:
    chat_id: int
    message_id: int = SENT


@dataclass(frozen=True)
class Renamed:
    chat_id: int
    title: str


async def close(deps: Deps, bot: ExtBot[None], task: Task) -> bool:
    """The close time came: start the chain of steps (done -> closing, once)."""
    async with deps.pipeline.unit(task=task) as unit:
        chat = await _current(unit.session, task)
        if chat is None:
            return True
        if chat.bot_status in ("left", "kicked"):
            await _closed(deps, unit.session, chat.id, externally=True)
            return True
        # From here on /reopen is refused instead of racing the close; a second run changes nothing.
        if await ChatRepository(unit.session).change_state(chat.id, *TRANSITIONS["close"]):
            unit.emit(*await _step(deps, unit.session, chat, chat.close_step))
    return True


def _steps(deps: Deps) -> tuple[Step, ...]:
    return steps_from(0, leave=deps.settings.temporary.leave_after_close)


def _then_next(chat_id: int, index: int, right: str | None) -> Then:
    """After step `index`: the next one, whatever Telegram said, unless the bot is gone."""
    following = (CloseStep(chat_id, index + 1),)
    return Then(
        done=following, no_rights=(CloseStep(chat_id, index + 1, right or ""),), too_old=following,
        gone=(ClosedExternally(chat_id),), failed=following, uncertain=following,
    )


async def _step(deps: Deps, session: AsyncSession, chat: Chat, index: int) -> tuple[Any, ...]:
    """The actions of step `index` (the end of the close when every step is done)."""
    steps = _steps(deps)
    if index >= len(steps):
        return await _finish(deps, session, chat)
    step = steps[index]
    rights = chat.bot_rights or {}
    if step.right and not (rights.get("is_admin") and rights.get(step.right)):
        return (CloseStep(chat.id, index + 1, step.right),)  # skipped: Telegram would refuse anyway
    return await STEPS[step.name](deps, session, chat, _then_next(chat.id, index, step.right))


async def _apply_step(deps: Deps, session: AsyncSession, step: CloseStep) -> FactResult:
    chats = ChatRepository(session)
    chat = await chats.get(step.chat_id)
    # Compare-and-set on the progress: a step recorded twice (a retried follow-up) goes no further.
    if chat is None or chat.state != "closing" or chat.close_step != step.index - 1:
        return FactResult(False)
    settings = dict(chat.settings or {})
    if step.missing:
        # Kept with the group, so a close resumed after a crash still reports it.
        settings["close_missing_rights"] = sorted({*settings.get("close_missing_rights", []), step.missing})
    await chats.set_fields(chat.id, close_step=step.index, settings=settings)
    await session.refresh(chat)
    return FactResult(True, await _step(deps, session, chat, step.index))


async def _finish(deps: Deps, session: AsyncSession, chat: Chat) -> tuple[Any, ...]:
    missing = tuple((chat.settings or {}).get("close_missing_rights", []))
    await _closed(deps, session, chat.id, externally=False)
    if not missing:
        return ()
    return (TellAdminsOnce(chat.id, "temp.admins_close_missing", {"missing": KeyList("right.", missing)}, rule=RULE),)


async def _apply_externally(deps: Deps, session: AsyncSession, gone: ClosedExternally) -> FactResult:
    chat = await ChatRepository(session).get(gone.chat_id)
    if chat is None or chat.state == "closed":
        return FactResult(False)
    await _closed(deps, session, gone.chat_id, externally=True)
    return FactResult(True)


async def _closed(deps: Deps, session: AsyncSession, chat_id: int, *, externally: bool) -> None:
    fields: dict[str, object] = {"state": "closed", "closed_at": deps.clock()}
    chat = await ChatRepository(session).get(chat_id)
    if externally and chat is not None and chat.bot_status != "migrated":
        fields["bot_status"] = "kicked"
    await ChatRepository(session).set_fields(chat_id, **fields)
    await _audit(session, deps, None, "chat.closed_externally" if externally else "chat.closed", chat_id, {})


SUMMARY_BUDGET = 3800


async def _summary(deps: Deps, session: AsyncSession, chat: Chat, then: Then) -> tuple[Any, ...]:
    if (chat.settings or {}).get("close_summary_message_id"):
        return then.done  # posted before: not twice
    language = await records.language_of(deps, session, chat.id)
    lines = [deps.catalog.text(language, "temp.summary_header", title=chat.title)]
    reads = await ReadRepository(session).counts(chat.id)
    total = max((chat.member_count or 1) - 1, 1)
    for notice in await NoticeRepository(session).of_chat(chat.id):
        count = reads.get(notice.message_id, 0)
        line = deps.catalog.text(language, "temp.summary_item", first_line=first_line(notice.text, 60), read=count, total=total)
        if notice.deadline_at is not None and notice.deadline_at > deps.clock():
            line += deps.catalog.text(language, "temp.summary_open_deadline", deadline=_local(deps, notice.deadline_at))
        lines.append(line)
    if len(lines) == 1:
        lines.append(deps.catalog.raw(language, "temp.summary_empty"))
    posted = then.first_when_done(SummaryPosted(chat.id))
    return (Send(chat.id, _within_budget(deps, language, lines), rule=RULE, reason="close summary", then=posted),)


def _within_budget(deps: Deps, language: str, lines: list[str]) -> str:
    """Whole lines only (cutting one could split an HTML entity), then how many were left out."""
    kept, size = [], 0
    for line in lines:
        if size + len(line) + 1 > SUMMARY_BUDGET:
            kept.append(deps.catalog.text(language, "temp.summary_more", count=len(lines) - len(kept)))
            break
        kept.append(line)
        size += len(line) + 1
    return "\n".join(kept)


async def _apply_summary(deps: Deps, session: AsyncSession, posted: SummaryPosted) -> FactResult:
    chat = await ChatRepository(session).get(posted.chat_id)
    if chat is None:
        return FactResult(False)
    settings = {**(chat.settings or {}), "close_summary_message_id": posted.message_id}
    await ChatRepository(session).set_fields(chat.id, settings=settings)
    return FactResult(True)


async def _pin_summary(deps: Deps, session: AsyncSession, chat: Chat, then: Then) -> tuple[Any, ...]:
    message_id = (chat.settings or {}).get("close_summary_message_id")
    if message_id is None:
        return then.done  # the summary may not have gone out: nothing to pin
    return (Pin(chat.id, message_id, RULE, "close summary", then=then),)


async def _read_only(deps: Deps, session: AsyncSession, chat: Chat, then: Then) -> tuple[Any, ...]:
    return (SetPermissions(chat.id, read_only=True, rule=RULE, reason="closed", then=then),)


async def _revoke_links(deps: Deps, session: AsyncSession, chat: Chat, then: Then) -> tuple[Any, ...]:
    """Revoke the invite links the bot made; links made by people only they can revoke."""
    links = list((chat.settings or {}).get("bot_invite_links", []))
    if not links:
        return then.done
    revokes = [RevokeLink(chat.id, link, RULE, "closed") for link in links[:-1]]
    return (*revokes, RevokeLink(chat.id, links[-1], RULE, "closed", then=then))


async def _rename(deps: Deps, session: AsyncSession, chat: Chat, then: Then) -> tuple[Any, ...]:
    title = renamed(chat.title, deps.settings.temporary.closed_title_prefix)
    if title == chat.title:
        return then.done
    return (Rename(chat.id, title, RULE, "closed", then=then.first_when_done(Renamed(chat.id, title))),)


async def _apply_renamed(deps: Deps, session: AsyncSession, renamed_to: Renamed) -> FactResult:
    await ChatRepository(session).set_fields(renamed_to.chat_id, title=renamed_to.title)
    return FactResult(True)


async def _notify_owners(deps: Deps, session: AsyncSession, chat: Chat, then: Then) -> tuple[Any, ...]:
    admins = await PeopleRepository(session).with_private_chat(await ChatRepository(session).admin_ids(chat.id))
    told = tuple(
        Say(admin, "temp.closed_owner", {"title": chat.title}, rule=RULE, reason="closed", about=About(chat.id))
        for admin in admins
    )
    return (*told, *then.done)


async def _leave(deps: Deps, session: AsyncSession, chat: Chat, then: Then) -> tuple[Any, ...]:
    return (Leave(chat.id, RULE, "closed", then=then.first_when_done(BotLeft(chat.id))),)


@dataclass(frozen=True)
class BotLeft:
    chat_id: int


async def _apply_left(deps: Deps, session: AsyncSession, left: BotLeft) -> FactResult:
    await ChatRepository(session).record_bot_status(left.chat_id, status="left", rights={}, now=deps.clock())
    return FactResult(True)


STEPS = {
    "summary": _summary,
    "pin_summary": _pin_summary,
    "read_only": _read_only,
    "revoke_links": _revoke_links,
    "rename": _rename,
    "notify_owners": _notify_owners,
    "leave": _leave,
}
assert set(STEPS) == {step.name for step in CLOSE_STEPS}


# The idle question ---------------------------------------------------------------------------


async def ask_idle_groups(deps: Deps, bot: ExtBot[None]) -> int:
    """Ask the admins of temporary groups quiet for `idle_days`: finished, or still active?"""
    quiet_since = deps.clock() - timedelta(days=deps.settings.temporary.idle_days)
    asked = 0
    async with deps.pipeline.unit() as unit:
        chats = ChatRepository(unit.session)
        for chat in await chats.idle_temporary(quiet_since):
            # Claimed atomically: with two replicas only one asks.
            if await chats.claim_idle_question(chat.id, deps.clock()):
                unit.emit(*await _idle_question(deps, unit.session, chat))
                asked += 1
    return asked


async def idle_scan(context: JianfuContext) -> None:
    await ask_idle_groups(context.deps, context.bot)


async def _idle_question(deps: Deps, session: AsyncSession, chat: Chat) -> list[Say]:
    """Privately to the admins; in the group itself when none of them can be reached."""
    admins = await PeopleRepository(session).with_private_chat(await ChatRepository(session).admin_ids(chat.id))
    buttons = ((Button("temp.idle_done", f"{IDLE_PREFIX}done:{chat.id}"), Button("temp.idle_active", f"{IDLE_PREFIX}active:{chat.id}")),)
    params = {"title": chat.title, "days": deps.settings.temporary.idle_days}
    return [
        Say(admin, "temp.idle_question", params, buttons=buttons, rule=RULE, reason="idle", about=About(chat.id))
        for admin in admins or [chat.id]
    ]


@transactional
async def idle_answered(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    query, deps = update.callback_query, context.deps
    choice, _, chat_id = query.data.removeprefix(IDLE_PREFIX).partition(":")
    language = await language_for(update, context, session)
    well_formed = chat_id.lstrip("-").isdigit() and len(chat_id) < 19
    chat = await ChatRepository(session).get(int(chat_id)) if well_formed else None
    user = query.from_user.id
    may = chat is not None and (
        await access.is_supervisor(deps, session, user) or await access.is_group_admin(deps, session, context.bot, chat.id, user)
    )
    if not may:
        answer(update, deps.catalog.raw(language, "temp.idle_not_yours"), alert=True)
        return
    answer(update)
    if chat.state != "active":
        key = "temp.idle_already_done"
    elif choice == "done":
        await mark_done(deps, session, chat.id, actor_id=user)
        key = "temp.idle_marked_done"
    else:
        await _audit(session, deps, user, "chat.still_active", chat.id, {})
        key = "temp.idle_kept"
    params = {"title": chat.title, "days": deps.settings.temporary.close_after_days}
    emit(EditSay(query.message.chat.id, query.message.message_id, key, params, language=language))


def register(app: Application, deps: Deps) -> None:
    for name, handler in (("temp", temp), ("done", done), ("reopen", reopen), ("extend", extend)):
        app.add_handler(command(name, handler))
    # In groups only: a private /status CODE belongs to whistle reports.
    app.add_handler(CommandHandler("status", status, filters=filters.ChatType.GROUPS & filters.UpdateType.MESSAGE))
    app.add_handler(CallbackQueryHandler(idle_answered, pattern=f"^{IDLE_PREFIX}"))
    # A close is retried until it starts: giving up would leave the group open for good.
    deps.register_task(CLOSE_TASK, close, persistent=True)
    for fact, applier in (
        (CloseStep, _apply_step), (ClosedExternally, _apply_externally), (SummaryPosted, _apply_summary),
        (Renamed, _apply_renamed), (BotLeft, _apply_left),
    ):
        deps.pipeline.register_fact(fact, applier)
    deps.register_task(REMIND_TASK, remind)
    deps.register_task(UNTIL_TASK, until_reached)
    interval = deps.settings.temporary.idle_scan_minutes * 60
    app.job_queue.run_repeating(idle_scan, interval=interval, first=interval, name="idle_scan")
