"""What every feature handler shares: the per-update session, language choice, replies, role checks."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import CommandHandler, filters

from bot import access
from bot.context import JianfuContext
from bot.pipeline import CURRENT_UNIT, current_unit
from policies.actions import AnswerCallback, Row, Say
from policies.language import pick_language
from policies.roles import may_run, required_role_key
from storage.db import AlreadyHandled
from storage.repositories.chats import ChatRepository
from storage.repositories.people import PeopleRepository

Handler = Callable[[Update, JianfuContext, AsyncSession], Awaitable[Any]]
# Text or captioned messages in groups (what the notice collector and the "received" rule read).
GROUP_TEXT = filters.ChatType.GROUPS & (filters.TEXT | filters.CAPTION) & filters.UpdateType.MESSAGES


def transactional(handler: Handler) -> Callable[[Update, JianfuContext], Awaitable[Any]]:
    """Give the handler the update's one session: every handler of an update shares it, and
    it is committed once after the last one. A handler that raises rolls the update back."""

    @functools.wraps(handler)
    async def wrapper(update: Update, context: JianfuContext) -> Any:
        unit = CURRENT_UNIT.get()
        if unit is None:
            # Called outside an update (a test, a job): a unit of its own.
            async with context.deps.pipeline.unit() as unit:
                return await handler(update, context, unit.session)
        try:
            return await handler(update, context, unit.session)
        except AlreadyHandled:
            raise
        except BaseException:
            unit.fail()
            raise

    return wrapper


def emit(*actions: Any) -> None:
    """Decide actions: performed once the update's transaction committed (bot/pipeline.py)."""
    current_unit().emit(*actions)


def answer(update: Update, text: str = "", *, alert: bool = False) -> None:
    """Answer the update's button press (once it is committed)."""
    query = update.callback_query
    emit(AnswerCallback(query.id, query.from_user.id, text, alert))


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
    buttons: tuple[Row, ...] = (),
    **params: Any,
) -> None:
    """Answer in the update's chat; in a group the answer replies to the command and expires.

    An answer is worth nothing after a crash, so it is not kept in the outbox."""
    language = await language_for(update, context, session)
    reply_to = update.effective_message.message_id if update.effective_message else None
    emit(
        Say(
            update.effective_chat.id,
            key,
            params,
            language=language,
            expires=is_group(update),
            reply_to=reply_to,
            buttons=buttons,
            durable=False,
        )
    )


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


def page_buttons(
    context: JianfuContext, language: str, page: int, pages: int, data_for: Callable[[int], str]
) -> list[tuple[str, str]]:
    """(label, callback data) of the "‹ previous" and "next ›" buttons around `page` of `pages`."""
    steps = [("inbox.previous", page - 1)] if page > 0 else []
    if page + 1 < pages:
        steps.append(("inbox.next", page + 1))
    return [(context.deps.catalog.raw(language, key), data_for(at)) for key, at in steps]
