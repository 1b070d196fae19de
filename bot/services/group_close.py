"""Closing a temporary group once its countdown ran out: summary, pin, read-only, links revoked,
renamed, owners told, bot leaves.

The close is a chain of outbox actions, one per step: each step's outcome, recorded in the
transaction that settles it, writes the next step (CloseStep), so a crash anywhere resumes
where the chain stood and no step runs twice. `close_step` counts the steps done.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram.ext import ExtBot

from bot import records
from bot.context import Deps
from bot.pipeline import FactResult
from bot.services.countdown import CLOSE_TASK, RULE, audit, current, local_time
from policies.actions import (
    SENT,
    About,
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
from policies.lifecycle import (
    CLOSE_STEPS,
    GroupEvent,
    GroupState,
    Step,
    may,
    renamed,
    steps_from,
)
from policies.text import first_line
from storage.models import Chat, Task
from storage.repositories.chats import ChatRepository
from storage.repositories.notices import NoticeRepository, ReadRepository
from storage.repositories.people import PeopleRepository


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
        chat = await current(unit.session, task)
        if chat is None:
            return True
        if chat.bot_status in ("left", "kicked"):
            await _closed(deps, unit.session, chat.id, externally=True)
            return True
        # From here on /reopen is refused instead of racing the close; a second run changes nothing.
        if await ChatRepository(unit.session).change_state(chat.id, GroupEvent.CLOSE):
            unit.emit(*await _step(deps, unit.session, chat, chat.close_step))
    return True


def _steps(deps: Deps) -> tuple[Step, ...]:
    return steps_from(0, leave=deps.settings.temporary.leave_after_close)


def _then_next(chat_id: int, index: int, right: str | None) -> Then:
    """After step `index`: the next one, whatever Telegram said, unless the bot is gone."""
    following = (CloseStep(chat_id, index + 1),)
    return Then(
        done=following,
        no_rights=(CloseStep(chat_id, index + 1, right or ""),),
        too_old=following,
        gone=(ClosedExternally(chat_id),),
        failed=following,
        uncertain=following,
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
    if chat is None or chat.state != GroupState.CLOSING or chat.close_step != step.index - 1:
        return FactResult(False)
    progress = await chats.close_progress(chat.id)
    if step.missing:
        # Kept with the group, so a close resumed after a crash still reports it.
        progress = progress.with_missing(step.missing)
    await chats.save_close_progress(chat.id, progress, close_step=step.index)
    await session.refresh(chat)
    return FactResult(True, await _step(deps, session, chat, step.index))


async def _finish(deps: Deps, session: AsyncSession, chat: Chat) -> tuple[Any, ...]:
    missing = (await ChatRepository(session).close_progress(chat.id)).missing_rights
    await _closed(deps, session, chat.id, externally=False)
    if not missing:
        return ()
    return (TellAdminsOnce(chat.id, "temp.admins_close_missing", {"missing": KeyList("right.", missing)}, rule=RULE),)


async def _apply_externally(deps: Deps, session: AsyncSession, gone: ClosedExternally) -> FactResult:
    chat = await ChatRepository(session).get(gone.chat_id)
    if chat is None or not may(GroupEvent.GONE, chat.state):
        return FactResult(False)
    await _closed(deps, session, gone.chat_id, externally=True)
    return FactResult(True)


async def _closed(deps: Deps, session: AsyncSession, chat_id: int, *, externally: bool) -> None:
    event = GroupEvent.GONE if externally else GroupEvent.FINISH
    fields: dict[str, object] = {"closed_at": deps.clock()}
    chats = ChatRepository(session)
    chat = await chats.get(chat_id)
    if externally and chat is not None and chat.bot_status != "migrated":
        fields["bot_status"] = "kicked"
    if not await chats.change_state(chat_id, event, **fields):
        return  # closed already (or reopened meanwhile): nothing to record
    await audit(session, deps, None, "chat.closed_externally" if externally else "chat.closed", chat_id, {})


SUMMARY_BUDGET = 3800


async def _summary(deps: Deps, session: AsyncSession, chat: Chat, then: Then) -> tuple[Any, ...]:
    if (await ChatRepository(session).close_progress(chat.id)).summary_message_id:
        return then.done  # posted before: not twice
    language = await records.language_of(deps, session, chat.id)
    lines = [deps.catalog.text(language, "temp.summary_header", title=chat.title)]
    reads = await ReadRepository(session).counts(chat.id)
    total = max((chat.member_count or 1) - 1, 1)
    for notice in await NoticeRepository(session).of_chat(chat.id):
        count = reads.get(notice.message_id, 0)
        line = deps.catalog.text(
            language, "temp.summary_item", first_line=first_line(notice.text, 60), read=count, total=total
        )
        if notice.deadline_at is not None and notice.deadline_at > deps.clock():
            deadline = local_time(deps, notice.deadline_at)
            line += deps.catalog.text(language, "temp.summary_open_deadline", deadline=deadline)
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
    chats = ChatRepository(session)
    if await chats.get(posted.chat_id) is None:
        return FactResult(False)
    progress = await chats.close_progress(posted.chat_id)
    await chats.save_close_progress(posted.chat_id, replace(progress, summary_message_id=posted.message_id))
    return FactResult(True)


async def _pin_summary(deps: Deps, session: AsyncSession, chat: Chat, then: Then) -> tuple[Any, ...]:
    message_id = (await ChatRepository(session).close_progress(chat.id)).summary_message_id
    if message_id is None:
        return then.done  # the summary may not have gone out: nothing to pin
    return (Pin(chat.id, message_id, rule=RULE, reason="close summary", then=then),)


async def _read_only(deps: Deps, session: AsyncSession, chat: Chat, then: Then) -> tuple[Any, ...]:
    return (SetPermissions(chat.id, read_only=True, rule=RULE, reason="closed", then=then),)


async def _revoke_links(deps: Deps, session: AsyncSession, chat: Chat, then: Then) -> tuple[Any, ...]:
    """Revoke the invite links the bot made; links made by people only they can revoke."""
    links = (await ChatRepository(session).close_progress(chat.id)).bot_invite_links
    if not links:
        return then.done
    revokes = [RevokeLink(chat.id, link, rule=RULE, reason="closed") for link in links[:-1]]
    return (*revokes, RevokeLink(chat.id, links[-1], rule=RULE, reason="closed", then=then))


async def _rename(deps: Deps, session: AsyncSession, chat: Chat, then: Then) -> tuple[Any, ...]:
    title = renamed(chat.title, deps.settings.temporary.closed_title_prefix)
    if title == chat.title:
        return then.done
    return (Rename(chat.id, title, rule=RULE, reason="closed", then=then.first_when_done(Renamed(chat.id, title))),)


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
    return (Leave(chat.id, rule=RULE, reason="closed", then=then.first_when_done(BotLeft(chat.id))),)


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


def register(deps: Deps) -> None:
    # A close is retried until it starts: giving up would leave the group open for good.
    deps.register_task(CLOSE_TASK, close, persistent=True)
    for fact, applier in (
        (CloseStep, _apply_step),
        (ClosedExternally, _apply_externally),
        (SummaryPosted, _apply_summary),
        (Renamed, _apply_renamed),
        (BotLeft, _apply_left),
    ):
        deps.pipeline.register_fact(fact, applier)
