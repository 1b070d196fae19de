"""Temporary groups: /temp, /done, /reopen, /extend, /status; the close countdown and the close."""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import ChatPermissions, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ExtBot, filters

from bot import access, actions
from bot.context import Deps, JianfuContext
from bot.handlers._common import allowed, command, command_text, in_group, language_for, reply, transactional
from bot.handlers.departments import check_quota
from policies.actions import KeyList, Say, TellAdminsOnce
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
from storage.repositories.departments import DepartmentRepository
from storage.repositories.notices import NoticeRepository, ReadRepository
from storage.repositories.people import PeopleRepository
from storage.repositories.tasks import TaskRepository

log = logging.getLogger(__name__)

CLOSE_TASK, REMIND_TASK, UNTIL_TASK = "temp_close", "temp_remind", "temp_until"
IDLE_PREFIX = "tmp:idle:"
READ_ONLY = ChatPermissions.no_permissions()


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
    if chat.department_id is not None:
        department = await DepartmentRepository(session).get(chat.department_id)
        await check_quota(context, session, department, chat.id)
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
        await mark_done(context.deps, context.bot, session, chat.id, actor_id=update.effective_user.id)


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
    if close_at is None or not await ChatRepository(session).change_state(chat.id, *TRANSITIONS["extend"], close_at=close_at):
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


async def mark_done(deps: Deps, bot: ExtBot[None], session: AsyncSession, chat_id: int, *, actor_id: int | None) -> None:
    """The work is complete: announce the close time in the group, pin it, start the countdown."""
    now = deps.clock()
    close_at = closes_at(now, deps.settings.temporary.close_after_days)
    await ChatRepository(session).set_fields(chat_id, state=TRANSITIONS["done"][1], done_at=now, close_at=close_at, close_step=0)
    await schedule_close(deps, session, chat_id, close_at)
    await _audit(session, deps, actor_id, "chat.done", chat_id, {"close_at": close_at.isoformat()})
    executor = actions.Executor(deps, bot, session)
    language = await executor.language_of(chat_id)
    text = deps.catalog.text(language, "temp.done_announce", close_at=_local(deps, close_at), days=deps.settings.temporary.close_after_days)
    outcome, sent = await actions.send(bot, chat_id, text)
    await executor.note(chat_id, outcome)
    if sent is not None:
        pinned = await actions.call("pinChatMessage", chat_id, bot.pin_chat_message(chat_id, sent.message_id, disable_notification=True))
        if pinned is actions.Outcome.NO_RIGHTS:
            await executor.run_one(TellAdminsOnce(chat_id, "temp.admins_missing_pin"))


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
    async with deps.db.transaction() as session:
        chat = await _current(session, task)
        if chat is None:
            return True
        executor = actions.Executor(deps, bot, session)
        params = {"title": chat.title, "close_at": _local(deps, chat.close_at)}
        await executor.run_one(Say(chat.id, "temp.reminder_group", params))
        for admin in await PeopleRepository(session).with_private_chat(await ChatRepository(session).admin_ids(chat.id)):
            await executor.run_one(Say(admin, "temp.reminder_private", params))
    # Sent once, even if part of it failed: a retry would repeat the private reminders.
    return True


async def until_reached(deps: Deps, bot: ExtBot[None], task: Task) -> bool:
    """A temporary group's `until` date has come: its work is done by itself."""
    async with deps.db.transaction() as session:
        chat = await ChatRepository(session).get(task.payload["chat_id"])
        fresh = chat is not None and chat.kind == "temporary" and may("done", chat.state)
        if fresh and chat.until_date is not None and chat.until_date.isoformat() == task.payload["until"]:
            await mark_done(deps, bot, session, chat.id, actor_id=None)
    return True


# Closing ------------------------------------------------------------------------------------


async def close(deps: Deps, bot: ExtBot[None], task: Task) -> bool:
    """Run the close steps from where the last attempt stopped; each step is saved when done."""
    chat_id = task.payload["chat_id"]
    async with deps.db.transaction() as session:
        chat = await _current(session, task)
        if chat is None:
            return True
        if chat.bot_status in ("left", "kicked"):
            await _closed(deps, session, chat_id, externally=True)
            return True
        # done -> closing, once: from here on /reopen is refused instead of racing the close.
        await ChatRepository(session).change_state(chat_id, *TRANSITIONS["close"])
        reached, rights = chat.close_step, dict(chat.bot_rights or {})
    for index, step in enumerate(steps_from(reached, leave=deps.settings.temporary.leave_after_close), start=reached):
        outcome = await _run_step(deps, bot, chat_id, step, rights, index)
        if outcome in (actions.Outcome.KICKED, actions.Outcome.UNREACHABLE):
            async with deps.db.transaction() as session:
                await _closed(deps, session, chat_id, externally=True)
            return True
        if outcome is actions.Outcome.RETRY_LATER:
            return False  # the task is retried and resumes at this step
    async with deps.db.transaction() as session:
        chat = await ChatRepository(session).get(chat_id)
        missing = tuple((chat.settings or {}).get("close_missing_rights", []))
        await _closed(deps, session, chat_id, externally=False)
        if missing:
            executor = actions.Executor(deps, bot, session)
            await executor.run_one(TellAdminsOnce(chat_id, "temp.admins_close_missing", {"missing": KeyList("right.", missing)}))
    return True


async def _closed(deps: Deps, session: AsyncSession, chat_id: int, *, externally: bool) -> None:
    fields: dict[str, object] = {"state": "closed", "closed_at": deps.clock()}
    chat = await ChatRepository(session).get(chat_id)
    if externally and chat is not None and chat.bot_status != "migrated":
        fields["bot_status"] = "kicked"
    await ChatRepository(session).set_fields(chat_id, **fields)
    await _audit(session, deps, None, "chat.closed_externally" if externally else "chat.closed", chat_id, {})


async def _run_step(deps: Deps, bot: ExtBot[None], chat_id: int, step: Step, rights: dict, index: int) -> actions.Outcome:
    """Run one step and, in the same transaction, save that it is done (and any missing right)."""
    async with deps.db.transaction() as session:
        if step.right and not (rights.get("is_admin") and rights.get(step.right)):
            outcome = actions.Outcome.NO_RIGHTS  # skipped: Telegram would refuse anyway
        else:
            outcome = await STEP_RUNNERS[step.name](deps, bot, session, chat_id)
        if outcome is actions.Outcome.RETRY_LATER or outcome is actions.Outcome.KICKED:
            return outcome
        chats = ChatRepository(session)
        chat = await chats.get(chat_id)
        settings = dict(chat.settings or {})
        if outcome is actions.Outcome.NO_RIGHTS and step.right:
            # Kept with the group, so a close resumed after a crash still reports it.
            settings["close_missing_rights"] = sorted({*settings.get("close_missing_rights", []), step.right})
        await chats.set_fields(chat_id, close_step=index + 1, settings=settings)
        return outcome


SUMMARY_BUDGET = 3800


async def _summary(deps: Deps, bot: ExtBot[None], session: AsyncSession, chat_id: int) -> actions.Outcome:
    chat = await ChatRepository(session).get(chat_id)
    if (chat.settings or {}).get("close_summary_message_id"):
        return actions.Outcome.DONE  # posted before a crash: not twice
    executor = actions.Executor(deps, bot, session)
    language = await executor.language_of(chat_id)
    lines = [deps.catalog.text(language, "temp.summary_header", title=chat.title)]
    reads = await ReadRepository(session).counts(chat_id)
    total = max((chat.member_count or 1) - 1, 1)
    for notice in await NoticeRepository(session).of_chat(chat_id):
        count = reads.get(notice.message_id, 0)
        line = deps.catalog.text(language, "temp.summary_item", first_line=first_line(notice.text, 60), read=count, total=total)
        if notice.deadline_at is not None and notice.deadline_at > deps.clock():
            line += deps.catalog.text(language, "temp.summary_open_deadline", deadline=_local(deps, notice.deadline_at))
        lines.append(line)
    if len(lines) == 1:
        lines.append(deps.catalog.raw(language, "temp.summary_empty"))
    outcome, sent = await actions.send(bot, chat_id, _within_budget(deps, language, lines))
    if sent is not None:
        settings = {**(chat.settings or {}), "close_summary_message_id": sent.message_id}
        await ChatRepository(session).set_fields(chat_id, settings=settings)
    return outcome


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


async def _pin_summary(deps: Deps, bot: ExtBot[None], session: AsyncSession, chat_id: int) -> actions.Outcome:
    chat = await ChatRepository(session).get(chat_id)
    message_id = (chat.settings or {}).get("close_summary_message_id")
    if message_id is None:
        return actions.Outcome.DONE
    return await actions.call("pinChatMessage", chat_id, bot.pin_chat_message(chat_id, message_id, disable_notification=True))


async def _read_only(deps: Deps, bot: ExtBot[None], session: AsyncSession, chat_id: int) -> actions.Outcome:
    return await actions.call("setChatPermissions", chat_id, bot.set_chat_permissions(chat_id, READ_ONLY))


async def _revoke_links(deps: Deps, bot: ExtBot[None], session: AsyncSession, chat_id: int) -> actions.Outcome:
    # Exporting a new primary link revokes the one members have been sharing.
    return await actions.call("exportChatInviteLink", chat_id, bot.export_chat_invite_link(chat_id))


async def _rename(deps: Deps, bot: ExtBot[None], session: AsyncSession, chat_id: int) -> actions.Outcome:
    chat = await ChatRepository(session).get(chat_id)
    title = renamed(chat.title, deps.settings.temporary.closed_title_prefix)
    if title == chat.title:
        return actions.Outcome.DONE
    outcome = await actions.call("setChatTitle", chat_id, bot.set_chat_title(chat_id, title))
    if outcome is actions.Outcome.DONE:
        await ChatRepository(session).set_fields(chat_id, title=title)
    return outcome


async def _notify_owners(deps: Deps, bot: ExtBot[None], session: AsyncSession, chat_id: int) -> actions.Outcome:
    chat = await ChatRepository(session).get(chat_id)
    executor = actions.Executor(deps, bot, session)
    for admin in await PeopleRepository(session).with_private_chat(await ChatRepository(session).admin_ids(chat_id)):
        await executor.run_one(Say(admin, "temp.closed_owner", {"title": chat.title}))
    return actions.Outcome.DONE


async def _leave(deps: Deps, bot: ExtBot[None], session: AsyncSession, chat_id: int) -> actions.Outcome:
    outcome = await actions.call("leaveChat", chat_id, bot.leave_chat(chat_id))
    if outcome is actions.Outcome.DONE:
        await ChatRepository(session).record_bot_status(chat_id, status="left", rights={}, now=deps.clock())
    return outcome


STEP_RUNNERS = {
    "summary": _summary,
    "pin_summary": _pin_summary,
    "read_only": _read_only,
    "revoke_links": _revoke_links,
    "rename": _rename,
    "notify_owners": _notify_owners,
    "leave": _leave,
}
assert set(STEP_RUNNERS) == {step.name for step in CLOSE_STEPS}


# The idle question ---------------------------------------------------------------------------


async def ask_idle_groups(deps: Deps, bot: ExtBot[None]) -> int:
    """Ask the admins of temporary groups quiet for `idle_days`: finished, or still active?"""
    quiet_since = deps.clock() - timedelta(days=deps.settings.temporary.idle_days)
    asked = 0
    async with deps.db.transaction() as session:
        chats = ChatRepository(session)
        for chat in await chats.idle_temporary(quiet_since):
            # Claimed atomically: with two replicas only one asks.
            if await chats.claim_idle_question(chat.id, deps.clock()):
                await _ask(deps, bot, session, chat)
                asked += 1
    return asked


async def idle_scan(context: JianfuContext) -> None:
    await ask_idle_groups(context.deps, context.bot)


async def _ask(deps: Deps, bot: ExtBot[None], session: AsyncSession, chat: Chat) -> None:
    """Privately to the admins; in the group itself when none of them can be reached."""
    executor = actions.Executor(deps, bot, session)
    admins = await PeopleRepository(session).with_private_chat(await ChatRepository(session).admin_ids(chat.id))
    for admin in admins or [chat.id]:
        language = await executor.language_of(admin)
        buttons = InlineKeyboardMarkup([[
            InlineKeyboardButton(deps.catalog.raw(language, "temp.idle_done"), callback_data=f"{IDLE_PREFIX}done:{chat.id}"),
            InlineKeyboardButton(deps.catalog.raw(language, "temp.idle_active"), callback_data=f"{IDLE_PREFIX}active:{chat.id}"),
        ]])
        text = deps.catalog.text(language, "temp.idle_question", title=chat.title, days=deps.settings.temporary.idle_days)
        outcome, _sent = await actions.send(bot, admin, text, buttons=buttons)
        await executor.note(admin, outcome)


@transactional
async def idle_answered(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    query, deps = update.callback_query, context.deps
    answer, _, chat_id = query.data.removeprefix(IDLE_PREFIX).partition(":")
    language = await language_for(update, context, session)
    chat = await ChatRepository(session).get(int(chat_id)) if chat_id.lstrip("-").isdigit() else None
    user = query.from_user.id
    may = chat is not None and (
        await access.is_supervisor(deps, session, user) or await access.is_group_admin(deps, session, context.bot, chat.id, user)
    )
    if not may:
        await actions.call("answerCallbackQuery", user, query.answer(deps.catalog.raw(language, "temp.idle_not_yours"), show_alert=True))
        return
    await actions.call("answerCallbackQuery", user, query.answer())
    if chat.state != "active":
        key = "temp.idle_already_done"
    elif answer == "done":
        await mark_done(deps, context.bot, session, chat.id, actor_id=user)
        key = "temp.idle_marked_done"
    else:
        await _audit(session, deps, user, "chat.still_active", chat.id, {})
        key = "temp.idle_kept"
    text = deps.catalog.text(language, key, title=chat.title, days=deps.settings.temporary.close_after_days)
    await actions.edit(context.bot, query.message.chat.id, query.message.message_id, text)


def register(app: Application, deps: Deps) -> None:
    for name, handler in (("temp", temp), ("done", done), ("reopen", reopen), ("extend", extend)):
        app.add_handler(command(name, handler))
    # In groups only: a private /status CODE belongs to whistle reports.
    app.add_handler(CommandHandler("status", status, filters=filters.ChatType.GROUPS & filters.UpdateType.MESSAGE))
    app.add_handler(CallbackQueryHandler(idle_answered, pattern=f"^{IDLE_PREFIX}"))
    # A close is retried until it succeeds: giving up would leave the group open for good.
    deps.register_task(CLOSE_TASK, close, persistent=True)
    deps.register_task(REMIND_TASK, remind)
    deps.register_task(UNTIL_TASK, until_reached)
    interval = deps.settings.temporary.idle_scan_minutes * 60
    app.job_queue.run_repeating(idle_scan, interval=interval, first=interval, name="idle_scan")
