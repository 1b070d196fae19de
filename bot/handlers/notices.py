"""Notices in groups: collected as posted, read by button or reaction, /readers for their senders."""

from __future__ import annotations

import html

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, MessageHandler, MessageReactionHandler, filters

from bot import convert, records
from bot.callbacks import kinds, value_of
from bot.context import Deps, JianfuContext
from bot.handlers._common import (
    GROUP_TEXT,
    allowed,
    answer,
    command,
    emit,
    in_group,
    language_for,
    reply,
    transactional,
)
from bot.i18n import Html
from bot.services import notices as service
from policies.actions import RecordRead, RefreshCounter, Say, Then
from policies.callbacks import ReadNotice
from policies.deadlines import find_deadline
from policies.received import notice_facts
from policies.text import first_line
from storage.models import Notice
from storage.repositories.chats import ChatRepository
from storage.repositories.notices import NoticeRepository, ReadRepository
from storage.repositories.people import PeopleRepository

URGENT_COMMAND = r"^/urgent(?:@\w+)?(?:\s|$)"


@transactional
async def collect(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """Store notices and ack demands (their text is the one kind Jianfu keeps)."""
    message = convert.human_message(update)
    if message is None:
        return
    deps = context.deps
    facts = notice_facts(deps.received_rule, service.classified(deps, session, message), message.text)
    if facts is None:
        return
    sender_id = message.sender.id if message.sender else None
    notice = service.with_duplicate_keys(
        Notice(
            chat_id=message.chat.id,
            message_id=message.message_id,
            sender_id=sender_id,
            department_id=await records.department_for(deps, session, message.chat.id, sender_id),
            text=message.text,
            kind=facts.kind.value,
            urgent=facts.urgent,
            ack_demand=facts.ack_demand,
            tracked=False,
            posted_at=message.date,
            deadline_at=find_deadline(message.text, message.date.astimezone(deps.settings.tz)),
        )
    )
    await service.store_from_group(deps, session, notice, edited=update.edited_message is not None)


@transactional
async def read_pressed(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    query = update.callback_query
    notices = NoticeRepository(session)
    notice = await notices.get(value_of(update, ReadNotice).notice_id)
    language = await language_for(update, context, session)
    catalog = context.deps.catalog
    if notice is None:
        answer(update, catalog.raw(language, "notices.gone"))
        return
    if notice.message_id is None and query.message is not None:
        # The post's answer was lost (or has not been recorded yet): the press names the message.
        await notices.set_message(notice.id, query.message.message_id)
        await session.refresh(notice)
    new = await ReadRepository(session).record(
        notice.chat_id, notice.message_id, query.from_user.id, "button", context.deps.clock()
    )
    answer(update, catalog.raw(language, "notices.read_recorded" if new else "notices.read_already"))
    if new:
        emit(RefreshCounter(notice.chat_id, notice.message_id))


@transactional
async def reacted(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """Any reaction to a notice is a read (the bot sees reactions only as an admin)."""
    reaction = convert.reaction(update.message_reaction)
    if reaction.person is None or not reaction.new:
        return
    notice = await NoticeRepository(session).by_message(reaction.chat.id, reaction.message_id)
    if notice is None:
        return
    refresh = (RefreshCounter(notice.chat_id, notice.message_id),) if notice.tracked else ()
    emit(RecordRead(notice.chat_id, notice.message_id, reaction.person.id, "reaction", then=Then(done=refresh)))


@transactional
async def readers(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """/readers, replying to a notice: who read it and who has not, privately, to its sender or an admin."""
    if not await in_group(update, context, session):
        return
    replied = convert.replied_message(update.effective_message)
    notice = (
        await NoticeRepository(session).by_message(update.effective_chat.id, replied.message_id) if replied else None
    )
    if notice is None:
        await reply(update, context, session, "notices.readers_usage")
        return
    user = update.effective_user.id
    if notice.sender_id != user and not await allowed(update, context, session, "readers"):
        return
    read = await ReadRepository(session).readers(notice.chat_id, notice.message_id)
    # The sender has not "not read" their own notice.
    members = set(await ChatRepository(session).known_member_ids(notice.chat_id)) - {notice.sender_id}
    names = await PeopleRepository(session).names(read | members)
    language = await records.language_of(context.deps, session, user)
    params = {
        "first_line": first_line(notice.text, 60),
        "read": Html(_name_list(context, language, names, read)),
        "unread": Html(_name_list(context, language, names, members - read)),
        "read_count": len(read),
        "unread_count": len(members - read),
    }
    group_language = await language_for(update, context, session)
    start_first = Say(
        update.effective_chat.id,
        "notices.readers_start_first",
        language=group_language,
        expires=True,
        reply_to=update.effective_message.message_id,
        durable=False,
    )
    # Names stay private: only the asker sees them, and the group only hears how to get them.
    emit(
        Say(
            user,
            "notices.readers",
            params,
            language=language,
            durable=False,
            then=Then(gone=(start_first,), failed=(start_first,)),
        )
    )


def _name_list(context: JianfuContext, language: str, names: dict[int, str], ids: set[int]) -> str:
    if not ids:
        return context.deps.catalog.raw(language, "notices.nobody")
    return html.escape(
        context.deps.catalog.raw(language, "list_separator").join(sorted(names.get(i, str(i)) for i in ids))
    )


def register(app: Application, deps: Deps, lane: int) -> None:
    app.add_handler(command("readers", readers))
    app.add_handler(MessageHandler(GROUP_TEXT & ~filters.COMMAND, collect), group=lane)
    # "/urgent TEXT" is a command to Telegram but an urgent notice to Jianfu.
    app.add_handler(MessageHandler(GROUP_TEXT & filters.Regex(URGENT_COMMAND), collect), group=lane)
    app.add_handler(CallbackQueryHandler(read_pressed, pattern=kinds(ReadNotice)))
    # A person's reaction; anonymous reaction counts (message_reaction_count) name nobody to credit.
    app.add_handler(
        MessageReactionHandler(reacted, message_reaction_types=MessageReactionHandler.MESSAGE_REACTION_UPDATED)
    )
