"""What an update needs from Telegram, asked before its transaction opens (convert, load, decide…).

Only two things are ever read from the Bot API while handling an update: a group's admins (a
command's caller may be one; cached in the database for `roles.admin_cache`) and a group's
member count when the bot joins. Asking inside the update's transaction would hold the
database's write lock across an HTTP request, so they are fetched first and handlers find them
here; a handler that finds nothing keeps what the database already knows.
"""

from __future__ import annotations

import logging
from contextvars import ContextVar
from dataclasses import dataclass, field

from telegram import ChatMember, ChatMemberAdministrator, ChatMemberOwner, Update
from telegram.constants import ChatMemberStatus
from telegram.error import TelegramError
from telegram.ext import ExtBot

from bot.context import Deps
from storage.repositories.chats import ChatRepository

log = logging.getLogger(__name__)

PRESENT = (ChatMemberStatus.MEMBER, ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER, ChatMemberStatus.RESTRICTED)


@dataclass
class Loads:
    # The group's admins as Telegram just said (owner and administrators, bots left out).
    admins: dict[int, list[ChatMember]] = field(default_factory=dict)
    member_counts: dict[int, int] = field(default_factory=dict)


CURRENT_LOADS: ContextVar[Loads | None] = ContextVar("current_loads", default=None)


def current() -> Loads:
    return CURRENT_LOADS.get() or Loads()


def may_ask_telegram(update: object) -> bool:
    """Whether prefetching this update may call the Bot API (a command or button press in a
    group, the bot joining one): such a call can be slow, or answered 429."""
    return isinstance(update, Update) and (_bot_joined(update) is not None or _group_asking(update) is not None)


async def prefetch(deps: Deps, bot: ExtBot[None], update: object, into: Loads | None = None) -> Loads:
    """Read from Telegram what this update's handlers will need, outside any transaction.

    `into`: what earlier updates of the same batch loaded; a group's admins are asked once."""
    loads = into if into is not None else Loads()
    if not isinstance(update, Update):
        return loads
    joined = _bot_joined(update)
    group = _group_asking(update)
    if joined is not None:
        loads.member_counts.update(await _member_count(bot, joined))
        group = joined
    if group is None or (group in loads.admins and joined is None):
        return loads
    if joined is not None or await _admins_stale(deps, group):
        admins = await _admins(bot, group)
        if admins is not None:
            loads.admins[group] = admins
    return loads


def _group_asking(update: Update) -> int | None:
    """A group in which someone runs a command or presses a button: their role may matter."""
    chat = update.effective_chat
    if chat is None or chat.type not in ("group", "supergroup"):
        return None
    if update.callback_query is not None:
        return chat.id
    message = update.message
    text = (message.text or message.caption or "") if message is not None else ""
    return chat.id if text.startswith("/") else None


def _bot_joined(update: Update) -> int | None:
    change = update.my_chat_member
    if change is None or change.chat.type not in ("group", "supergroup"):
        return None
    arrived = change.new_chat_member.status in PRESENT and change.old_chat_member.status not in PRESENT
    return change.chat.id if arrived else None


async def _admins_stale(deps: Deps, chat_id: int) -> bool:
    # A read: it takes no write lock and claims nothing.
    async with deps.db.transaction() as session:
        chat = await ChatRepository(session).get(chat_id)
    if chat is None:
        return True  # a group seen for the first time: its row is written with this update
    synced = chat.admins_synced_at
    return synced is None or deps.clock() - synced >= deps.settings.roles.admin_cache


async def _admins(bot: ExtBot[None], chat_id: int) -> list[ChatMember] | None:
    try:
        members = await bot.get_chat_administrators(chat_id)
    except TelegramError as error:
        # Keep the cached list: a refusal is safer than granting on stale data, and the
        # stored admins are the last ones Telegram confirmed.
        log.info("getChatAdministrators for %s failed: %s", chat_id, type(error).__name__)
        return None
    return [m for m in members if isinstance(m, ChatMemberOwner | ChatMemberAdministrator) and not m.user.is_bot]


async def _member_count(bot: ExtBot[None], chat_id: int) -> dict[int, int]:
    try:
        return {chat_id: await bot.get_chat_member_count(chat_id)}
    except TelegramError as error:
        log.info("getChatMemberCount for %s failed: %s", chat_id, type(error).__name__)
        return {}
