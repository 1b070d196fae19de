"""Who is where: the bot joining or leaving groups, and members learned from what they do."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Chat as TgChat
from telegram import Update, User
from telegram.ext import Application, ChatMemberHandler, MessageHandler, TypeHandler, filters

from bot import access, convert, loads
from bot.context import Deps, JianfuContext
from bot.handlers._common import emit, transactional
from bot.services import countdown
from policies.clock import start_of_day
from policies.join import on_bot_membership, role_change
from policies.lifecycle import GroupEvent, leads_to
from policies.types import MemberChange
from storage.repositories.audit import AuditRepository
from storage.repositories.chats import ChatRepository
from storage.repositories.people import PeopleRepository

log = logging.getLogger(__name__)

# A member seen again within this time is not written again: last-seen times are coarse,
# and skipping the writes keeps busy groups cheap.
OBSERVE_INTERVAL = timedelta(seconds=60)
MAX_REMEMBERED = 200_000
# Keys of recently_observed besides (chat, person): (PERSON, person) and (chat, GROUP).
# Telegram never uses 0 as a chat or user id.
PERSON = GROUP = 0
# session.info key: what this update's observation wrote (remembered once it commits).
OBSERVED_KEY = "jianfu.observed"


@transactional
async def observe(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """Learn people, groups and memberships from every message, edit, press and reaction."""
    user, chat = update.effective_user, update.effective_chat
    if user is None or chat is None or user.is_bot:
        return
    now = context.deps.clock()
    if _in_group(update, user, chat):
        await _write_sightings(context.deps, session, [update])
        return
    if chat.type == "private":
        if update.my_chat_member is not None:
            # Opening the bot (a deep link to /whistle included) is not a sighting: writing a
            # first-seen time here would date the moment someone started a report.
            return
        # Private activity is dated to the day only, for the same reason.
        zone = context.deps.settings.tz
        now = start_of_day(now.astimezone(zone).date(), zone)
    await PeopleRepository(session).observe(user.id, convert.display_name(user), user.language_code, now)
    if chat.type == "private" and update.message is not None:
        # Anyone who writes to the bot privately has a private chat it can use.
        await PeopleRepository(session).set_private_chat(user.id, True)


async def observe_together(deps: Deps, session: AsyncSession, updates: list[Update]) -> None:
    """The group sightings of updates handled in one transaction, written before their
    handlers run: one statement for the people, one for the groups and one for the
    memberships, instead of up to three per update (`observe` then finds them written).

    A button press may be turned away before the observer sees it (Lane.GUARD), so it is left
    to `observe`, which sees only the presses let through."""
    await _write_sightings(deps, session, [update for update in updates if update.callback_query is None])


async def _write_sightings(deps: Deps, session: AsyncSession, updates: list[Update]) -> None:
    now, sightings = deps.clock(), _Sightings()
    for update in updates:
        user, chat = update.effective_user, update.effective_chat
        if _in_group(update, user, chat):
            sightings.add(deps, session, user, chat, now)
    await sightings.write(session, now)


def _in_group(update: Update, user: User | None, chat: TgChat | None) -> bool:
    """A sighting of a person in a group (a chat_member update says more, and is handled apart)."""
    return (
        user is not None
        and chat is not None
        and not user.is_bot
        and chat.type in ("group", "supergroup")
        and update.chat_member is None
    )


@dataclass
class _Sightings:
    """What group sightings need written. The person, the group and the membership are each
    written at most once per OBSERVE_INTERVAL: a person active in several groups, or a busy
    group, is not written for every message."""

    people: list[tuple[int, str, str | None]] = field(default_factory=list)
    groups: list[tuple[int, str, str]] = field(default_factory=list)
    members: list[tuple[int, int]] = field(default_factory=list)

    def add(self, deps: Deps, session: AsyncSession, user: User, chat: TgChat, now: datetime) -> None:
        if _recent(deps, session, (chat.id, user.id), now):
            return
        if not _recent(deps, session, (PERSON, user.id), now):
            self.people.append((user.id, convert.display_name(user), user.language_code))
        if not _recent(deps, session, (chat.id, GROUP), now):
            self.groups.append((chat.id, chat.title or "", chat.type))
        self.members.append((chat.id, user.id))

    async def write(self, session: AsyncSession, now: datetime) -> None:
        """People and groups before memberships (a membership refers to both)."""
        if self.people:
            await PeopleRepository(session).observe_many(self.people, now)
        chats = ChatRepository(session)
        if self.groups:
            await chats.ensure_many(self.groups, now)
        if self.members:
            await chats.observe_members(self.members, now)


def _recent(deps: Deps, session: AsyncSession, key: tuple[int, int], now: datetime) -> bool:
    """True when this process wrote `key` less than OBSERVE_INTERVAL ago (or this update is
    writing it); else note it, to be remembered once this update commits (bot.app): another
    chat's update running meanwhile must not count on a row that is not committed yet."""
    pending = session.info.setdefault(OBSERVED_KEY, {})
    # This transaction's own sighting first: the remembered one may be older than the interval.
    last = pending.get(key) or deps.recently_observed.get(key)
    if last is not None and timedelta(0) <= now - last < OBSERVE_INTERVAL:
        return True
    pending[key] = now
    return False


def remember_observed(deps: Deps, written: dict[tuple[int, int], datetime]) -> None:
    """What a committed update wrote: not written again for OBSERVE_INTERVAL."""
    remembered = deps.recently_observed
    if len(remembered) + len(written) >= MAX_REMEMBERED:
        remembered.clear()
    remembered.update(written)


@transactional
async def bot_membership(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """my_chat_member: the bot was added, promoted, demoted or removed (or a person blocked it)."""
    change = convert.member_change(update.my_chat_member)
    if not change.chat.is_group:
        await PeopleRepository(session).set_private_chat(change.chat.id, change.new.is_present)
        return
    deps, now = context.deps, context.deps.clock()
    people, chats = PeopleRepository(session), ChatRepository(session)
    await people.observe(change.actor.id, change.actor.display_name, change.actor.language_code, now)
    await chats.ensure(change.chat.id, change.chat.title, change.chat.type.value, now)
    joined = change.new.is_present and not change.old.is_present
    await chats.record_bot_status(
        change.chat.id,
        status=change.new.value,
        rights=change.rights.as_dict(),
        now=now,
        added_by=change.actor.id if joined else None,
        member_count=loads.current().member_counts.get(change.chat.id) if joined else None,
    )
    if joined:
        await chats.observe_member(change.chat.id, change.actor.id, now)
        # The adder may be an admin we have not seen yet: learn the admins right away.
        await chats.set_fields(change.chat.id, admins_synced_at=None, state=leads_to(GroupEvent.JOINED))
        await access.refresh_admins_if_stale(deps, session, context.bot, change.chat.id)
    emit(*filter(None, (role_change(change, of_bot=True),)))
    await _announce(context, session, change)


async def _announce(context: JianfuContext, session: AsyncSession, change: MemberChange) -> None:
    adder = await PeopleRepository(session).get(change.actor.id)
    chat = await ChatRepository(session).get(change.chat.id)
    decided = on_bot_membership(
        change,
        actor_has_private_chat=bool(adder and adder.has_private_chat),
        group_language=chat.language if chat else None,
        close_days=context.deps.settings.temporary.close_after_days,
    )
    emit(*decided)


@transactional
async def member_changed(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """chat_member: someone joined, left, or was promoted; keeps memberships and admins current."""
    change = convert.member_change(update.chat_member)
    if not change.chat.is_group or change.subject.is_bot:
        return
    now = context.deps.clock()
    people, chats = PeopleRepository(session), ChatRepository(session)
    subject = change.subject
    await people.observe(subject.id, subject.display_name, subject.language_code, now)
    await chats.ensure(change.chat.id, change.chat.title, change.chat.type.value, now)
    await chats.observe_member(change.chat.id, subject.id, now, status=change.new.value)
    await _adjust_member_count(chats, change)
    if (changed := role_change(change, of_bot=False)) is not None:
        emit(changed)


async def _adjust_member_count(chats: ChatRepository, change: MemberChange) -> None:
    delta = int(change.new.is_present) - int(change.old.is_present)
    if delta:
        await chats.adjust_member_count(change.chat.id, delta)


@transactional
async def migrated(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """A basic group became a supergroup (often when the bot is made admin): it keeps its setup."""
    message = update.effective_message
    if message.migrate_to_chat_id:
        old_id, new_id = message.chat.id, message.migrate_to_chat_id
    else:
        old_id, new_id = message.migrate_from_chat_id, message.chat.id
    chats = ChatRepository(session)
    if await chats.migrate(old_id, new_id, context.deps.clock()):
        await AuditRepository(session).record(
            "chat.migrate", actor_id=None, now=context.deps.clock(), chat_id=new_id, target=str(old_id)
        )
        await countdown.follow_migration(context.deps, session, await chats.get(new_id))


def register(app: Application, deps: Deps, lane: int) -> None:
    app.add_handler(TypeHandler(Update, observe), group=lane)
    app.add_handler(ChatMemberHandler(bot_membership, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(ChatMemberHandler(member_changed, ChatMemberHandler.CHAT_MEMBER))
    app.add_handler(MessageHandler(filters.StatusUpdate.MIGRATE, migrated))
