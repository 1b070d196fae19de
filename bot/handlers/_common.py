"""What every feature handler shares: the per-update session, language choice, replies, role checks."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardMarkup, Update
from telegram.ext import CommandHandler, filters

from bot import access, actions
from bot.context import JianfuContext
from policies.language import pick_language
from policies.roles import may_run, required_role_key
from storage.db import FAILED_KEY
from storage.repositories.chats import ChatRepository
from storage.repositories.people import PeopleRepository

Handler = Callable[[Update, JianfuContext, AsyncSession], Awaitable[Any]]


# The session of the update being processed (set by bot.app.JianfuApplication.process_update).
UPDATE_SESSION: ContextVar[AsyncSession | None] = ContextVar("update_session", default=None)


def transactional(handler: Handler) -> Callable[[Update, JianfuContext], Awaitable[Any]]:
    """Give the handler the update's one session: every handler of an update shares it, and
    it is committed once after the last one. A handler that raises rolls the update back."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: JianfuContext) -> Any:
        session = UPDATE_SESSION.get()
        if session is None:
            # Called outside an update (a test, a job): a transaction of its own.
            async with context.deps.db.transaction() as session:
                return await handler(update, context, session)
        try:
            return await handler(update, context, session)
        except BaseException:
            session.info[FAILED_KEY] = True
            raise

    return wrapper


def command(name: str, callback: Callable[[Update, JianfuContext], Awaitable[Any]]) -> CommandHandler:
    """A command handler that ignores edits: editing '/dept add A' must not add a second department."""
    return CommandHandler(name, callback, filters=filters.UpdateType.MESSAGE)


def is_group(update: Update) -> bool:
    chat = update.effective_chat
    return chat is not None and chat.type in ("group", "supergroup")


async def language_for(update: Update, context: JianfuContext, session: AsyncSession) -> str:
    """The reply language: the group's override in a group, else the person's choice or Telegram's."""
    deps = context.deps
    group_override = None
    if is_group(update):
        chat = await ChatRepository(session).get(update.effective_chat.id)
        group_override = chat.language if chat else None
    user = update.effective_user
    person = await PeopleRepository(session).get(user.id) if user else None
    return pick_language(
        default=deps.settings.language,
        group_override=group_override,
        person_choice=person.language if person else None,
        telegram_code=user.language_code if user else None,
    )


async def reply(
    update: Update,
    context: JianfuContext,
    session: AsyncSession,
    key: str,
    /,
    *,
    buttons: InlineKeyboardMarkup | None = None,
    **params: Any,
) -> actions.Outcome:
    """Answer in the update's chat; in a group the answer replies to the command and expires."""
    language = await language_for(update, context, session)
    text = context.deps.catalog.text(language, key, **params)
    chat_id = update.effective_chat.id
    reply_to = update.effective_message.message_id if update.effective_message else None
    outcome, sent = await actions.send(context.bot, chat_id, text, buttons=buttons, reply_to=reply_to)
    executor = actions.Executor(context.deps, context.bot, session)
    if sent is not None and is_group(update):
        await executor.expire_later(sent)
    await executor.note(chat_id, outcome)
    return outcome


async def allowed(update: Update, context: JianfuContext, session: AsyncSession, command: str) -> bool:
    """True when the caller may run the command; otherwise answer politely and return False."""
    roles = await access.roles_of(
        context.deps, session, context.bot, update.effective_user.id, update.effective_chat, update.effective_message
    )
    if may_run(command, roles).hit:
        return True
    language = await language_for(update, context, session)
    role = context.deps.catalog.raw(language, required_role_key(command))
    await reply(update, context, session, "error.not_allowed", role=role)
    return False


async def in_private(update: Update, context: JianfuContext, session: AsyncSession) -> bool:
    if update.effective_chat.type == "private":
        return True
    await reply(update, context, session, "error.private_only")
    return False


async def in_group(update: Update, context: JianfuContext, session: AsyncSession) -> bool:
    if is_group(update):
        return True
    await reply(update, context, session, "error.group_only")
    return False


def command_text(update: Update) -> str:
    """The text after the command word, e.g. 'add 民政局' for '/dept@jianfu_bot add 民政局'."""
    text = update.effective_message.text or ""
    _command, _space, rest = text.partition(" ")
    return rest.strip()
