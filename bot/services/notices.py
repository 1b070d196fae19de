"""Notices: storing them, posting tracked ones with a Read button, their counters and reminders.

Called by the notice collector, /notice, the "received" rule's conversion button and the inbox.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram.ext import ExtBot

from bot import records
from bot.context import Deps
from bot.pipeline import FactResult, current_unit
from policies.actions import NOTHING, SENT, About, Button, Edit, RecordEvent, RefreshCounter, Say, Send, Then
from policies.callbacks import ReadNotice, encode
from policies.duplicates import bands, fingerprint
from policies.group_settings import quiet_hours as group_quiet_hours
from policies.quiet import QuietHours, after_hours
from policies.received import Judgement
from policies.text import first_line
from policies.types import Message
from storage.models import Notice, Task
from storage.repositories.chats import ChatRepository
from storage.repositories.notices import NoticeRepository, ReadRepository
from storage.repositories.people import PeopleRepository
from storage.repositories.tasks import TaskRepository

DEADLINE_TASK = "deadline_remind"
COUNTER_TASK = "counter_refresh"
# session.info key of the memo of verdicts, by message (a session may hold a batch of updates).
VERDICTS_KEY = "jianfu.verdicts"


def classified(deps: Deps, session: AsyncSession, message: Message) -> Judgement:
    """The received rule's verdicts on a message, worked out once per update and shared."""
    memo = session.info.setdefault(VERDICTS_KEY, {})
    key = (message.chat.id, message.message_id, message.text)
    if key not in memo:
        memo[key] = deps.received_rule.classify(message)
    return memo[key]


def with_duplicate_keys(notice: Notice) -> Notice:
    """Fill in the fingerprint and MinHash bands that duplicate detection looks up."""
    notice.fingerprint = fingerprint(notice.text)
    notice.band_0, notice.band_1, notice.band_2, notice.band_3 = bands(notice.text)
    return notice


def reference(notice: Notice) -> str:
    """A notice's name in idempotency keys: its message, or its row while it is being posted."""
    return f"{notice.chat_id}:{notice.message_id}" if notice.message_id is not None else f"n{notice.id}"


async def link_duplicate(deps: Deps, session: AsyncSession, notice: Notice) -> None:
    """Point a copy at the first notice it repeats; a data request copied across departments
    is counted for the digest."""
    original = await NoticeRepository(session).find_original(notice, _copies_since(deps, notice))
    if original is not None:
        notice.duplicate_of = original.id
        await session.flush()
        await _count_copied_request(deps, session, notice, original.department_id)


async def _count_copied_request(
    deps: Deps, session: AsyncSession, notice: Notice, original_department: int | None
) -> None:
    if notice.kind == "data_request" and original_department != notice.department_id:
        key = f"duplicate_data_request:{reference(notice)}"
        await records.record_event(
            deps, session, "duplicate_data_request", notice.chat_id, key=key, sender_id=notice.sender_id
        )


def _copies_since(deps: Deps, notice: Notice) -> datetime:
    return notice.posted_at - timedelta(days=deps.settings.notices.duplicate_window_days)


async def store_from_group(deps: Deps, session: AsyncSession, notice: Notice, *, edited: bool) -> Notice:
    """Store a notice a group message carries, then what follows its posting.

    A message just posted goes in linked to the notice it copies word for word, in one INSERT
    (no lookup of the copy, nor of an earlier row of the same message, and no UPDATE after); only
    a data request with no exact copy is then compared with near copies."""
    notices = NoticeRepository(session)
    if edited:
        stored = await notices.add(notice)  # the row stored before, when there is one
    else:
        stored, copied_department = await notices.add_posted(notice, _copies_since(deps, notice))
        if stored is notice:  # else an edit handled first stored it, and linked it then
            await _link_posted(deps, session, notice, copied_department)
    await after_posting(deps, session, stored, linked=not edited)
    return stored


async def _link_posted(deps: Deps, session: AsyncSession, notice: Notice, copied_department: int | None) -> None:
    """What linking a notice stored by `add_posted` leaves: a copied data request is counted,
    and one with no exact copy is linked to a near copy."""
    if notice.kind != "data_request" or notice.fingerprint is None:
        return
    if notice.duplicate_of is None:
        original = await NoticeRepository(session).find_near_copy(notice, _copies_since(deps, notice))
        if original is None:
            return
        notice.duplicate_of, copied_department = original.id, original.department_id
        await session.flush()
    await _count_copied_request(deps, session, notice, copied_department)


async def after_posting(deps: Deps, session: AsyncSession, notice: Notice, *, linked: bool = False) -> None:
    """Link copies (unless `linked` already), count a notice sent in quiet hours, schedule the
    reminder before its deadline."""
    if not linked and notice.duplicate_of is None and notice.fingerprint is not None:
        await link_duplicate(deps, session, notice)
    quiet = await quiet_hours(deps, session, notice.chat_id)
    if after_hours(quiet, notice.posted_at.astimezone(deps.settings.tz), urgent=notice.urgent):
        key = f"after_hours:{reference(notice)}"
        await records.record_event(
            deps, session, "after_hours_notice", notice.chat_id, key=key, sender_id=notice.sender_id
        )
    if notice.deadline_at is not None:
        await schedule_deadline_reminder(deps, session, notice, quiet)


async def quiet_hours(deps: Deps, session: AsyncSession, chat_id: int) -> QuietHours | None:
    """The group's quiet hours (its /set quiet choice, else bot.toml); None when switched off."""
    chat = await ChatRepository(session).snapshot(chat_id)
    return group_quiet_hours(chat.settings if chat else None, deps.group_defaults)


async def schedule_deadline_reminder(
    deps: Deps, session: AsyncSession, notice: Notice, quiet: QuietHours | None
) -> None:
    due = notice.deadline_at - timedelta(hours=deps.settings.notices.deadline_reminder_hours)
    if quiet is not None:
        due = quiet.next_working(due.astimezone(deps.settings.tz))
    if deps.clock() < due < notice.deadline_at:
        key = f"{DEADLINE_TASK}:{reference(notice)}:{notice.deadline_at.isoformat()}"
        TaskRepository(session).schedule_later(
            DEADLINE_TASK, key, due, {"notice_id": notice.id, "deadline_at": notice.deadline_at.isoformat()}
        )


async def remind_deadline(deps: Deps, bot: ExtBot[None], task: Task) -> bool:
    """Privately remind every known member but its sender who has not read the notice.

    Once per person and notice, whichever group's copy of it falls due first."""
    async with deps.pipeline.unit(task=task) as unit:
        session = unit.session
        notice = await NoticeRepository(session).get(task.payload["notice_id"])
        # Compared as instants: the payload may carry another UTC offset than the database returns.
        if notice is None or notice.deadline_at != datetime.fromisoformat(task.payload["deadline_at"]):
            return True
        members = set(await ChatRepository(session).known_member_ids(notice.chat_id)) - {notice.sender_id}
        read = await ReadRepository(session).readers(notice.chat_id, notice.message_id) if notice.message_id else set()
        chat = await ChatRepository(session).get(notice.chat_id)
        deadline = notice.deadline_at.astimezone(deps.settings.tz).strftime("%m-%d %H:%M")
        params = {"title": chat.title if chat else "", "first_line": first_line(notice.text), "deadline": deadline}
        original = notice.duplicate_of or notice.id
        for person in await PeopleRepository(session).with_private_chat(members - read):
            reminder = Say(
                person,
                "notices.deadline_reminder",
                params,
                rule="deadline",
                reason="deadline near, unread",
                about=About(notice.chat_id, name_recipient=False),
            )
            key = f"deadline_reminded:{original}:{person}"
            unit.emit(RecordEvent("deadline_reminder", notice.chat_id, key, then=Then(done=(reminder,))))
    return True


# Tracked notices --------------------------------------------------------------------------------


@dataclass(frozen=True)
class NoticePosted:
    """A tracked notice's message exists: tie the row to it, and count reads of its original."""

    notice_id: int
    message_id: int = SENT
    # The message it reposts (a converted demand), whose acknowledgements count as reads.
    carry_from: int | None = None


@dataclass(frozen=True)
class ForgetNotice:
    """A notice row goes: its original was reposted as a tracked one (its reads were carried),
    or a tracked notice's post was refused for good."""

    notice_id: int


async def _apply_forget(deps: Deps, session: AsyncSession, forget: ForgetNotice) -> FactResult:
    notice = await NoticeRepository(session).get(forget.notice_id)
    if notice is None:
        return FactResult(False)
    await NoticeRepository(session).remove(notice)
    return FactResult(True)


def read_button(notice_id: int) -> tuple[Button, ...]:
    return (Button("notices.button_read", encode(ReadNotice(notice_id))),)


async def publish_tracked(
    deps: Deps,
    session: AsyncSession,
    source: Notice,
    *,
    then: Then = NOTHING,
    carry_reads: bool = False,
    text: str | None = None,
) -> Notice:
    """Store `source` as the bot's own tracked notice and post it with a Read button (with `text`
    instead of the source's, e.g. without its demand for acks).

    The row comes first, so the button carries the notice's real id from the first moment; the
    post is an outbox action retried until Telegram takes it, and its follow-ups run after it.
    """
    language = await records.language_of(deps, session, source.chat_id)
    tracked = await NoticeRepository(session).add(
        with_duplicate_keys(
            Notice(
                chat_id=source.chat_id,
                message_id=None,
                sender_id=source.sender_id,
                department_id=source.department_id,
                text=source.text if text is None else text,
                kind=source.kind,
                urgent=source.urgent,
                ack_demand=False,
                tracked=True,
                posted_at=deps.clock(),
                counter_edited_at=deps.clock(),
                deadline_at=source.deadline_at,
            )
        )
    )
    carried = await ReadRepository(session).count(source.chat_id, source.message_id) if carry_reads else 0
    body = await tracked_text(deps, session, tracked, reads=carried, language=language)
    posted = NoticePosted(tracked.id, carry_from=source.message_id if carry_reads else None)
    current_unit().emit(
        Send(
            tracked.chat_id,
            body,
            deps.pipeline.labels(read_button(tracked.id), language),
            rule="notices",
            reason="converted from an ack demand" if carry_reads else "tracked notice",
            then=then.first_when_done(posted).also_when_refused(ForgetNotice(tracked.id)),
        )
    )
    return tracked


async def tracked_text(deps: Deps, session: AsyncSession, notice: Notice, *, reads: int, language: str) -> str:
    sender = await PeopleRepository(session).get(notice.sender_id) if notice.sender_id else None
    chat = await ChatRepository(session).get(notice.chat_id)
    # Those who can read it: the group's members less the bot itself and the notice's sender.
    others = (chat.member_count or 0) - 1 - (1 if notice.sender_id else 0) if chat else 0
    total = max(others, reads)
    return deps.catalog.text(
        language,
        "notices.tracked",
        sender=sender.display_name if sender else "",
        text=notice.text,
        read=reads,
        total=total or "?",
    )


async def _apply_posted(deps: Deps, session: AsyncSession, posted: NoticePosted) -> FactResult:
    notices = NoticeRepository(session)
    tied = await notices.set_message(posted.notice_id, posted.message_id)
    notice = await notices.get(posted.notice_id)
    if notice is None or notice.message_id is None:
        return FactResult(False)
    if posted.carry_from is not None:
        await ReadRepository(session).carry_over(notice.chat_id, posted.carry_from, notice.message_id)
    # Reads may have come in before the post's answer did (a press carries the message).
    return FactResult(tied, (RefreshCounter(notice.chat_id, notice.message_id),))


async def _apply_refresh(deps: Deps, session: AsyncSession, refresh: RefreshCounter) -> FactResult:
    """Edit the counter now, or once the throttle allows: bursts of reads make one edit."""
    notice = await NoticeRepository(session).by_message(refresh.chat_id, refresh.message_id)
    if notice is None or not notice.tracked:
        return FactResult(False)
    throttle = timedelta(seconds=deps.settings.notices.counter_edit_seconds)
    now = deps.clock()
    if notice.counter_edited_at is not None and now - notice.counter_edited_at < throttle:
        due = notice.counter_edited_at + throttle
        key = f"{COUNTER_TASK}:{notice.id}:{due.isoformat()}"
        await TaskRepository(session).schedule(COUNTER_TASK, key, due, {"notice_id": notice.id})
        return FactResult(False)
    return FactResult(True, (await counter_edit(deps, session, notice),))


async def counter_edit(deps: Deps, session: AsyncSession, notice: Notice) -> Edit:
    """The tracked notice with its current count; the edit is marked now, so bursts wait."""
    language = await records.language_of(deps, session, notice.chat_id)
    reads = await ReadRepository(session).count(notice.chat_id, notice.message_id)
    text = await tracked_text(deps, session, notice, reads=reads, language=language)
    await NoticeRepository(session).mark_counter_edited(notice.id, deps.clock())
    keyboard = deps.pipeline.labels(read_button(notice.id), language)
    return Edit(notice.chat_id, notice.message_id, text, keyboard, rule="notices", reason="read counter")


async def deferred_refresh(deps: Deps, bot: ExtBot[None], task: Task) -> bool:
    """The throttled counter edit, once its time came."""
    async with deps.pipeline.unit(task=task) as unit:
        notice = await NoticeRepository(unit.session).get(task.payload["notice_id"])
        if notice is not None and notice.message_id is not None:
            unit.emit(await counter_edit(deps, unit.session, notice))
    return True


def register(deps: Deps) -> None:
    deps.pipeline.register_fact(NoticePosted, _apply_posted)
    deps.pipeline.register_fact(RefreshCounter, _apply_refresh)
    deps.pipeline.register_fact(ForgetNotice, _apply_forget)
    deps.register_task(DEADLINE_TASK, remind_deadline)
    deps.register_task(COUNTER_TASK, deferred_refresh)
