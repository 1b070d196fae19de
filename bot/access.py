"""Who someone is for the bot: supervisor, group admin (cached from Telegram), department contact."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Chat, Message
from telegram.ext import ExtBot

from bot import convert, loads
from bot.context import Deps
from policies.roles import Roles
from storage.repositories.chats import ChatRepository
from storage.repositories.people import PeopleRepository
from storage.repositories.roles import RoleRepository

log = logging.getLogger(__name__)


async def is_supervisor(deps: Deps, session: AsyncSession, user_id: int) -> bool:
    if user_id in deps.settings.roles.supervisors:
        return True
    return await RoleRepository(session).is_granted_supervisor(user_id)


async def supervisor_ids(deps: Deps, session: AsyncSession) -> set[int]:
    return set(deps.settings.roles.supervisors) | await RoleRepository(session).granted_supervisors()


async def roles_of(
    deps: Deps,
    session: AsyncSession,
    bot: ExtBot[None],
    user_id: int,
    chat: Chat | None,
    message: Message | None = None,
) -> Roles:
    """The caller's roles; group admin status only counts inside that group."""
    group_admin = False
    if chat is not None and chat.type in (Chat.GROUP, Chat.SUPERGROUP):
        group_admin = _is_anonymous_admin(chat, message) or await is_group_admin(deps, session, bot, chat.id, user_id)
    return Roles(
        is_supervisor=await is_supervisor(deps, session, user_id),
        is_group_admin=group_admin,
        contact_of=frozenset(await RoleRepository(session).contact_department_ids(user_id)),
    )


def _is_anonymous_admin(chat: Chat, message: Message | None) -> bool:
    # Anonymous admins post as the group itself (via GroupAnonymousBot).
    return message is not None and message.sender_chat is not None and message.sender_chat.id == chat.id


async def may_administer(deps: Deps, session: AsyncSession, bot: ExtBot[None], chat_id: int, user_id: int) -> bool:
    """A supervisor, or an admin of the group: who may act on a group from a private chat."""
    return await is_supervisor(deps, session, user_id) or await is_group_admin(deps, session, bot, chat_id, user_id)


async def is_group_admin(deps: Deps, session: AsyncSession, bot: ExtBot[None], chat_id: int, user_id: int) -> bool:
    await refresh_admins_if_stale(deps, session, bot, chat_id)
    return user_id in await ChatRepository(session).admin_ids(chat_id)


async def refresh_admins_if_stale(deps: Deps, session: AsyncSession, bot: ExtBot[None], chat_id: int) -> None:
    """Store the admins Telegram gave before this update's transaction (bot.loads), if the
    stored list is older than the configured cache time; otherwise keep what is stored."""
    chats = ChatRepository(session)
    chat = await chats.get(chat_id)
    if chat is None:
        return
    now = deps.clock()
    synced = chat.admins_synced_at
    if synced is not None and now - synced < deps.settings.roles.admin_cache:
        return
    members = loads.current().admins.get(chat_id)
    if members is None:
        return  # not asked (or Telegram refused): the last list Telegram confirmed stands
    people = PeopleRepository(session)
    admins = []
    for member in members:
        await people.observe(member.user.id, convert.display_name(member.user), member.user.language_code, now)
        admins.append((member.user.id, member.status))
    await chats.replace_admins(chat_id, admins, now)
