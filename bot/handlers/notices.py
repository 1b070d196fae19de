"""Notices: collected from groups, read by button or reaction, counted in place without names."""

from __future__ import annotations

import html
import logging
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, ExtBot, MessageHandler, MessageReactionHandler, filters

from bot import actions, convert
from bot.context import Deps, JianfuContext
from bot.handlers._common import allowed, command, in_group, language_for, reply, transactional
from bot.i18n import Html
from policies.actions import Button, Say
from policies.deadlines import find_deadline
from policies.duplicates import bands, fingerprint
from policies.quiet import QuietHours, after_hours, group_quiet_hours
from policies.received import Judgement, notice_facts
from policies.text import first_line
from policies.types import Message
from storage.models import Notice, Task
from storage.repositories.chats import ChatRepository
from storage.repositories.notices import NoticeRepository, ReadRepository
from storage.repositories.people import PeopleRepository
from storage.repositories.tasks import TaskRepository

log = logging.getLogger(__name__)

READ_PREFIX = "rd:"
DEADLINE_TASK = "deadline_remind"
# session.info key of the update's memo of verdicts (the session lives exactly one update).
VERDICTS_KEY = "jianfu.verdicts"
URGENT_COMMAND = r"^/urgent(?:@\w+)?(?:\s|$)"
# Runs before the "received" rule, so an ack in the same second finds the notice.
COLLECT_GROUP = 1
GROUP_TEXT = filters.ChatType.GROUPS & (filters.TEXT | filters.CAPTION) & filters.UpdateType.MESSAGES


def classified(context: JianfuContext, session: AsyncSession, message: Message) -> Judgement:
    """The received rule's verdicts on a message, worked out once per update and shared."""
    memo = session.info.setdefault(VERDICTS_KEY, {})
    key = (message.chat.id, message.message_id, message.text)
    if key not in memo:
        memo[key] = context.deps.received_rule.classify(message)
    return memo[key]


@transactional
async def collect(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """Store notices and ack demands (their text is the one kind Jianfu keeps)."""
    message = convert.human_message(update)
    if message is None:
        return
    facts = notice_facts(context.deps.received_rule, classified(context, session, message), message.text)
    if facts is None:
        return
    sender_id = message.sender.id if message.sender else None
    department_id = await actions.Executor(context.deps, context.bot, session).department_for(message.chat.id, sender_id)
    stored = await NoticeRepository(session).add(
        with_duplicate_keys(Notice(
            chat_id=message.chat.id,
            message_id=message.message_id,
            sender_id=sender_id,
            department_id=department_id,
            text=message.text,
            kind=facts.kind.value,
            urgent=facts.urgent,
            ack_demand=facts.ack_demand,
            tracked=False,
            posted_at=message.date,
            deadline_at=find_deadline(message.text, message.date.astimezone(context.deps.settings.tz)),
        ))
    )
    await after_posting(context.deps, context.bot, session, stored)


def with_duplicate_keys(notice: Notice) -> Notice:
    """Fill in the fingerprint and MinHash bands that duplicate detection looks up."""
    notice.fingerprint = fingerprint(notice.text)
    notice.band_0, notice.band_1, notice.band_2, notice.band_3 = bands(notice.text)
    return notice


async def link_duplicate(deps: Deps, bot: ExtBot[None], session: AsyncSession, notice: Notice) -> None:
    """Point a copy at the first notice it repeats; a data request copied across departments
    is counted for the digest."""
    since = notice.posted_at - timedelta(days=deps.settings.notices.duplicate_window_days)
    original = await NoticeRepository(session).find_original(notice, since)
    if original is None:
        return
    notice.duplicate_of = original.id
    await session.flush()
    if notice.kind == "data_request" and original.department_id != notice.department_id:
        key = f"duplicate_data_request:{notice.chat_id}:{notice.message_id}"
        await actions.Executor(deps, bot, session).record_event(
            "duplicate_data_request", notice.chat_id, key=key, sender_id=notice.sender_id
        )


async def after_posting(deps: Deps, bot: ExtBot[None], session: AsyncSession, notice: Notice) -> None:
    """Link copies, count a notice sent in quiet hours, schedule the reminder before its deadline."""
    if notice.duplicate_of is None and notice.fingerprint is not None:
        await link_duplicate(deps, bot, session, notice)
    quiet = await quiet_hours(deps, session, notice.chat_id)
    if after_hours(quiet, notice.posted_at.astimezone(deps.settings.tz), urgent=notice.urgent):
        await actions.Executor(deps, bot, session).record_event(
            "after_hours_notice", notice.chat_id, key=f"after_hours:{notice.chat_id}:{notice.message_id}", sender_id=notice.sender_id
        )
    if notice.deadline_at is not None:
        await schedule_deadline_reminder(deps, session, notice, quiet)


async def quiet_hours(deps: Deps, session: AsyncSession, chat_id: int) -> QuietHours | None:
    """The group's quiet hours (its /set quiet choice, else bot.toml); None when switched off."""
    chat = await ChatRepository(session).snapshot(chat_id)
    settings = deps.settings.notices
    return group_quiet_hours(
        (chat.settings or {}).get("quiet") if chat else None,
        start=settings.quiet_start, end=settings.quiet_end, weekends=settings.quiet_weekends,
    )


async def schedule_deadline_reminder(deps: Deps, session: AsyncSession, notice: Notice, quiet: QuietHours | None) -> None:
    due = notice.deadline_at - timedelta(hours=deps.settings.notices.deadline_reminder_hours)
    if quiet is not None:
        due = quiet.next_working(due.astimezone(deps.settings.tz))
    if deps.clock() < due < notice.deadline_at:
        key = f"{DEADLINE_TASK}:{notice.chat_id}:{notice.message_id}:{notice.deadline_at.isoformat()}"
        await TaskRepository(session).schedule(DEADLINE_TASK, key, due, {"notice_id": notice.id, "deadline_at": notice.deadline_at.isoformat()})


async def remind_deadline(deps: Deps, bot: ExtBot[None], task: Task) -> bool:
    """Privately remind every known member but its sender who has not read the notice; each once."""
    async with deps.db.transaction() as session:
        notice = await NoticeRepository(session).get(task.payload["notice_id"])
        # Compared as instants: the payload may carry another UTC offset than the database returns.
        if notice is None or notice.deadline_at != datetime.fromisoformat(task.payload["deadline_at"]):
            return True
        members = set(await ChatRepository(session).known_member_ids(notice.chat_id)) - {notice.sender_id}
        unread = members - await ReadRepository(session).readers(notice.chat_id, notice.message_id)
        chat = await ChatRepository(session).get(notice.chat_id)
        executor = actions.Executor(deps, bot, session)
        for person in await PeopleRepository(session).with_private_chat(unread):
            key = f"deadline_reminded:{notice.id}:{person}"
            if await executor.record_event("deadline_reminder", notice.chat_id, key=key) is actions.Outcome.DONE:
                deadline = notice.deadline_at.astimezone(deps.settings.tz).strftime("%m-%d %H:%M")
                params = {"title": chat.title if chat else "", "first_line": first_line(notice.text), "deadline": deadline}
                await executor.run_one(Say(person, "notices.deadline_reminder", params))
    return True


async def publish_tracked(deps: Deps, bot: ExtBot[None], session: AsyncSession, source: Notice) -> tuple[actions.Outcome, Notice | None]:
    """Repost a notice as the bot's own message with a Read button and a read counter."""
    executor = actions.Executor(deps, bot, session)
    language = await executor.language_of(source.chat_id)
    body = await tracked_text(deps, session, source, reads=0, language=language)
    outcome, sent = await actions.send(bot, source.chat_id, body, buttons=executor.keyboard(_read_button(0), language))
    await executor.note(source.chat_id, outcome)
    if sent is None:
        return outcome, None
    tracked = await NoticeRepository(session).add(
        with_duplicate_keys(Notice(
            chat_id=source.chat_id, message_id=sent.message_id, sender_id=source.sender_id,
            department_id=source.department_id, text=source.text, kind=source.kind, urgent=source.urgent,
            ack_demand=False, tracked=True, posted_at=deps.clock(), counter_edited_at=deps.clock(),
            deadline_at=source.deadline_at,
        ))
    )
    # Whoever already acknowledged the original has read the repost.
    await ReadRepository(session).carry_over(source.chat_id, source.message_id, sent.message_id)
    # The button carries the notice id, known only now: set it, with the carried-over count.
    await edit_counter(deps, bot, session, tracked)
    return outcome, tracked


def _read_button(notice_id: int) -> tuple[Button, ...]:
    return (Button("notices.button_read", f"{READ_PREFIX}{notice_id}"),)


async def tracked_text(deps: Deps, session: AsyncSession, notice: Notice, *, reads: int, language: str) -> str:
    sender = await PeopleRepository(session).get(notice.sender_id) if notice.sender_id else None
    chat = await ChatRepository(session).get(notice.chat_id)
    # The total is the group's member count, less the bot itself.
    total = max((chat.member_count or 0) - 1, reads) if chat else reads
    return deps.catalog.text(
        language, "notices.tracked", sender=sender.display_name if sender else "", text=notice.text, read=reads, total=total or "?"
    )


@transactional
async def read_pressed(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    query = update.callback_query
    notice_id = query.data.removeprefix(READ_PREFIX)
    notice = await NoticeRepository(session).get(int(notice_id)) if notice_id.isdigit() else None
    language = await language_for(update, context, session)
    if notice is None:
        await actions.call("answerCallbackQuery", query.from_user.id, query.answer(context.deps.catalog.raw(language, "notices.gone")))
        return
    new = await ReadRepository(session).record(notice.chat_id, notice.message_id, query.from_user.id, "button", context.deps.clock())
    key = "notices.read_recorded" if new else "notices.read_already"
    await actions.call("answerCallbackQuery", query.from_user.id, query.answer(context.deps.catalog.raw(language, key)))
    if new:
        await refresh_counter(context, session, notice)


@transactional
async def reacted(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """Any reaction to a notice is a read (the bot sees reactions only as an admin)."""
    reaction = convert.reaction(update.message_reaction)
    if reaction.person is None or not reaction.new:
        return
    notice = await NoticeRepository(session).by_message(reaction.chat.id, reaction.message_id)
    if notice is None:
        return
    new = await ReadRepository(session).record(notice.chat_id, notice.message_id, reaction.person.id, "reaction", context.deps.clock())
    if new and notice.tracked:
        await refresh_counter(context, session, notice)


async def refresh_counter(context: JianfuContext, session: AsyncSession, notice: Notice) -> None:
    """Edit the counter now, or once the throttle allows: bursts of reads make one edit."""
    if not notice.tracked:
        return
    deps = context.deps
    throttle = timedelta(seconds=deps.settings.notices.counter_edit_seconds)
    now = deps.clock()
    if notice.counter_edited_at is not None and now - notice.counter_edited_at < throttle:
        _schedule_refresh(context, notice, notice.counter_edited_at + throttle - now)
        return
    await edit_counter(deps, context.bot, session, notice)


async def edit_counter(deps: Deps, bot: ExtBot[None], session: AsyncSession, notice: Notice) -> None:
    executor = actions.Executor(deps, bot, session)
    language = await executor.language_of(notice.chat_id)
    reads = await ReadRepository(session).count(notice.chat_id, notice.message_id)
    text = await tracked_text(deps, session, notice, reads=reads, language=language)
    await actions.edit(bot, notice.chat_id, notice.message_id, text, executor.keyboard(_read_button(notice.id), language))
    await NoticeRepository(session).mark_counter_edited(notice.id, deps.clock())


def _schedule_refresh(context: JianfuContext, notice: Notice, delay: timedelta) -> None:
    job_queue = context.application.job_queue
    name = f"counter:{notice.id}"
    if job_queue is None or job_queue.get_jobs_by_name(name):
        return
    job_queue.run_once(deferred_refresh, when=delay, data=notice.id, name=name)


async def deferred_refresh(context: JianfuContext) -> None:
    async with context.deps.db.transaction() as session:
        notice = await NoticeRepository(session).get(context.job.data)
        if notice is not None:
            await edit_counter(context.deps, context.bot, session, notice)


@transactional
async def readers(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """/readers, replying to a notice: who read it and who has not, privately, to its sender or an admin."""
    if not await in_group(update, context, session):
        return
    replied = convert.replied_message(update.effective_message)
    notice = await NoticeRepository(session).by_message(update.effective_chat.id, replied.message_id) if replied else None
    if notice is None:
        await reply(update, context, session, "notices.readers_usage")
        return
    user = update.effective_user.id
    if notice.sender_id != user and not await allowed(update, context, session, "readers"):
        return
    read = await ReadRepository(session).readers(notice.chat_id, notice.message_id)
    # The sender has not "not read" their own notice.
    members = set(await ChatRepository(session).known_member_ids(notice.chat_id)) - {notice.sender_id}
    people = PeopleRepository(session)
    names = await people.names(read | members)
    language = await actions.Executor(context.deps, context.bot, session).language_of(user)
    text = context.deps.catalog.text(
        language, "notices.readers",
        first_line=first_line(notice.text, 60),
        read=Html(_name_list(context, language, names, read)),
        unread=Html(_name_list(context, language, names, members - read)),
        read_count=len(read), unread_count=len(members - read),
    )
    outcome, _sent = await actions.send(context.bot, user, text)
    if outcome is not actions.Outcome.DONE:
        await reply(update, context, session, "notices.readers_start_first")


def _name_list(context: JianfuContext, language: str, names: dict[int, str], ids: set[int]) -> str:
    if not ids:
        return context.deps.catalog.raw(language, "notices.nobody")
    return html.escape(context.deps.catalog.raw(language, "list_separator").join(sorted(names.get(i, str(i)) for i in ids)))


def register(app: Application, deps: Deps) -> None:
    deps.register_task(DEADLINE_TASK, remind_deadline)
    app.add_handler(command("readers", readers))
    app.add_handler(MessageHandler(GROUP_TEXT & ~filters.COMMAND, collect), group=COLLECT_GROUP)
    # "/urgent TEXT" is a command to Telegram but an urgent notice to Jianfu.
    app.add_handler(MessageHandler(GROUP_TEXT & filters.Regex(URGENT_COMMAND), collect), group=COLLECT_GROUP)
    app.add_handler(CallbackQueryHandler(read_pressed, pattern=f"^{READ_PREFIX}"))
    app.add_handler(MessageReactionHandler(reacted))
