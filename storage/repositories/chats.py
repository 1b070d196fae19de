"""Chats (work groups) and their memberships."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import case, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from policies.group_settings import CloseProgress, GroupSettings, StoredSettings, read_stored, to_stored
from policies.lifecycle import TRANSITIONS, GroupEvent, GroupKind, GroupState
from storage.db import CACHE_KEY, after_commit
from storage.models import Chat, Department, Membership
from storage.repositories._sql import cached_statement, core_execute, insert_rows, rows_parameters, upsert

log = logging.getLogger(__name__)

ADMIN_STATUSES = ("creator", "administrator")
PRESENT_STATUSES = ("creator", "administrator", "member", "restricted")


# Another replica's change to a group's settings shows up here within this many seconds.
SNAPSHOT_SECONDS = 15.0
# session.info key: the chats this session changed (ALL_CHATS: every chat may have changed).
DIRTY_KEY = "jianfu.dirty_chats"
ALL_CHATS = 0


@dataclass(frozen=True)
class ChatSnapshot:
    """What the per-message path needs about a group, cheap to keep in memory."""

    id: int
    title: str
    department_id: int | None
    language: str | None
    settings: GroupSettings
    bot_rights: dict[str, Any]
    member_count: int | None


@dataclass(frozen=True)
class GroupOverview:
    """One row of /groups."""

    chat: Chat
    department_name: str | None


def _evict_changed(session: AsyncSession) -> None:
    """After a commit: the groups the session changed leave the process cache."""
    cache = session.info.get(CACHE_KEY, {}).get("chats")
    changed = session.info.get(DIRTY_KEY, set())
    if cache is None:
        return
    if ALL_CHATS in changed:
        cache.clear()
    for chat_id in changed:
        cache.pop(chat_id, None)


class ChatRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, chat_id: int) -> Chat | None:
        return await self.session.get(Chat, chat_id)

    async def snapshot(self, chat_id: int) -> ChatSnapshot | None:
        """The group's hot fields, from the process cache when fresh (every group message asks).

        A session that changed the group reads it from the database and caches nothing: its
        change is not committed yet and may still roll back.
        """
        cache, dirty = self._cache(), self._dirty()
        cached = cache.get(chat_id)
        if chat_id not in dirty and cached is not None and time.monotonic() - cached[0] < SNAPSHOT_SECONDS:
            return cached[1]
        chat = await self.get(chat_id)
        if chat is None:
            return None
        snapshot = ChatSnapshot(
            chat.id,
            chat.title,
            chat.department_id,
            chat.language,
            stored_settings(chat.id, chat.settings).settings,
            dict(chat.bot_rights or {}),
            chat.member_count,
        )
        if chat_id not in dirty and ALL_CHATS not in dirty:
            cache[chat_id] = (time.monotonic(), snapshot)
        return snapshot

    def _cache(self) -> dict[int, tuple[float, ChatSnapshot]]:
        return self.session.info.setdefault(CACHE_KEY, {}).setdefault("chats", {})

    def _dirty(self) -> set[int]:
        return self.session.info.setdefault(DIRTY_KEY, set())

    def _evict(self, chat_id: int) -> None:
        self._cache().pop(chat_id, None)
        self._dirty().add(chat_id)
        # Another session may cache the old row until this one commits: drop it again then.
        after_commit(self.session, _evict_changed)

    def forget_snapshots(self) -> None:
        """Every group's snapshot may be out of date (a department they name was removed)."""
        self.session.info.get(CACHE_KEY, {}).pop("chats", None)
        self._dirty().add(ALL_CHATS)
        after_commit(self.session, _evict_changed)

    async def ensure(self, chat_id: int, title: str, chat_type: str, now: datetime) -> None:
        """Make sure the group has a row (it may predate the bot's records); keep its title fresh."""
        await self.ensure_many([(chat_id, title, chat_type)], now)

    async def ensure_many(self, groups: list[tuple[int, str, str]], now: datetime) -> None:
        """`ensure` for several groups (id, title, type) in one executemany."""
        rows = [
            {
                "id": chat_id,
                "title": title[:255],
                "type": chat_type,
                "settings": {},
                "bot_rights": {},
                "joined_at": now,
                "last_activity_at": now,
            }
            for chat_id, title, chat_type in sorted(groups, key=lambda group: group[0])
        ]
        await upsert(self.session, Chat, rows, keys=["id"], update=["title", "type", "last_activity_at"])
        cache = self._cache()
        for row in rows:
            cached = cache.get(row["id"])
            # A cached group whose title stays has no snapshot field changed (only its activity).
            if cached is None or cached[1].title != row["title"]:
                self._evict(row["id"])

    async def record_bot_status(
        self,
        chat_id: int,
        *,
        status: str,
        rights: dict[str, bool],
        now: datetime,
        added_by: int | None = None,
        member_count: int | None = None,
    ) -> None:
        """Store the bot's own status and rights after a my_chat_member update."""
        values: dict[str, Any] = {"bot_status": status, "bot_rights": rights}
        if status in ("left", "kicked"):
            values["left_at"] = now
        else:
            values["left_at"] = None
        if added_by is not None:
            values.update(added_by=added_by, joined_at=now)
        if member_count is not None:
            values["member_count"] = member_count
        await self.set_fields(chat_id, **values)

    async def set_fields(self, chat_id: int, **values: Any) -> None:
        await self.session.execute(update(Chat).where(Chat.id == chat_id).values(**values))
        self._evict(chat_id)

    # Settings and close progress: typed here, one JSON column in the row --------------------

    async def group_settings(self, chat_id: int) -> GroupSettings:
        """The group's own /set choices (none for a group the bot has no row of)."""
        return (await self._stored(chat_id)).settings

    async def close_progress(self, chat_id: int) -> CloseProgress:
        return (await self._stored(chat_id)).close

    async def save_settings(self, chat_id: int, settings: GroupSettings) -> None:
        stored = await self._stored(chat_id)
        await self.set_fields(chat_id, settings=to_stored(settings, stored.close, stored.others))

    async def save_close_progress(self, chat_id: int, close: CloseProgress, **fields: Any) -> None:
        """Keep the close's progress, with other fields of the row in the same statement."""
        stored = await self._stored(chat_id)
        await self.set_fields(chat_id, settings=to_stored(stored.settings, close, stored.others), **fields)

    async def _stored(self, chat_id: int) -> StoredSettings:
        chat = await self.get(chat_id)
        return stored_settings(chat_id, chat.settings if chat else None)

    async def overview(self) -> list[GroupOverview]:
        """Every group with its department, most recently active first."""
        query = (
            select(Chat, Department.name)
            .outerjoin(Department, Chat.department_id == Department.id)
            .order_by(Chat.last_activity_at.desc().nulls_last(), Chat.id)
        )
        rows = await self.session.execute(query)
        return [GroupOverview(chat, name) for chat, name in rows.all()]

    async def migrate(self, old_id: int, new_id: int, now: datetime) -> bool:
        """A basic group became a supergroup with a new id: carry its registration over.

        The new chat takes the department, kind, lifecycle, language, settings, rights and
        members; the old row stays, marked left, so its notices and reads keep their history.
        False when there was nothing to carry (unknown old group, or already migrated).
        """
        old = await self.get(old_id)
        if old is None or old.bot_status == "migrated":
            return False
        await self.ensure(new_id, old.title, "supergroup", now)
        await self.set_fields(
            new_id,
            department_id=old.department_id,
            kind=old.kind,
            state=old.state,
            language=old.language,
            settings=dict(old.settings or {}),
            bot_status=old.bot_status,
            bot_rights=dict(old.bot_rights or {}),
            member_count=old.member_count,
            added_by=old.added_by,
            joined_at=old.joined_at,
            purpose=old.purpose,
            until_date=old.until_date,
            done_at=old.done_at,
            close_at=old.close_at,
            close_step=old.close_step,
            idle_asked_at=old.idle_asked_at,
        )
        moved_here = select(Membership.person_id).where(Membership.chat_id == new_id).scalar_subquery()
        await self.session.execute(
            delete(Membership).where(Membership.chat_id == old_id, Membership.person_id.in_(moved_here))
        )
        await self.session.execute(update(Membership).where(Membership.chat_id == old_id).values(chat_id=new_id))
        await self.set_fields(old_id, bot_status="migrated", left_at=now)
        return True

    async def adjust_member_count(self, chat_id: int, delta: int) -> None:
        """Add `delta` in one statement, so concurrent joins and leaves never lose one."""
        adjusted = Chat.member_count + delta
        statement = (
            update(Chat)
            .where(Chat.id == chat_id, Chat.member_count.is_not(None))
            .values(member_count=case((adjusted < 0, 0), else_=adjusted))
        )
        await self.session.execute(statement)
        self._evict(chat_id)

    async def change_state(self, chat_id: int, event: GroupEvent, **fields: Any) -> bool:
        """Move the lifecycle as `event` does (policies.lifecycle.TRANSITIONS), compare-and-set:
        False if the group was in no state the event applies to (it had moved on)."""
        expected, new = TRANSITIONS[event]
        statement = update(Chat).where(Chat.id == chat_id, Chat.state.in_(expected)).values(state=new, **fields)
        changed = (await self.session.execute(statement)).rowcount == 1
        self._evict(chat_id)
        return changed

    async def first_joined_at(self) -> datetime | None:
        """When the bot first joined any group (a deployment has nothing to report before it)."""
        return await self.session.scalar(select(func.min(Chat.joined_at)))

    async def claim_idle_question(self, chat_id: int, now: datetime) -> bool:
        """Take the right to ask this idle group's admins now (one replica wins)."""
        statement = (
            update(Chat)
            .where(Chat.id == chat_id, (Chat.idle_asked_at.is_(None)) | (Chat.idle_asked_at < Chat.last_activity_at))
            .values(idle_asked_at=now)
        )
        return (await self.session.execute(statement)).rowcount == 1

    async def idle_temporary(self, quiet_since: datetime) -> list[Chat]:
        """Active temporary groups silent since `quiet_since` whose admins were not asked about it."""
        query = select(Chat).where(
            Chat.kind == GroupKind.TEMPORARY,
            Chat.state == GroupState.ACTIVE,
            Chat.bot_status.in_(("member", "administrator")),
            Chat.last_activity_at < quiet_since,
            (Chat.idle_asked_at.is_(None)) | (Chat.idle_asked_at < Chat.last_activity_at),
        )
        return list(await self.session.scalars(query.order_by(Chat.id)))

    async def counts_by_department(self) -> dict[int, int]:
        """Active groups per department, in one query (for /dept list)."""
        query = (
            select(Chat.department_id, func.count())
            .where(
                Chat.department_id.is_not(None),
                Chat.bot_status.in_(("member", "administrator")),
                Chat.state != GroupState.CLOSED,
            )
            .group_by(Chat.department_id)
        )
        return {department_id: int(count) for department_id, count in (await self.session.execute(query)).all()}

    async def count_for_department(self, department_id: int) -> int:
        """Active groups of the department: the bot is still in them and they are not closed."""
        query = (
            select(func.count())
            .select_from(Chat)
            .where(
                Chat.department_id == department_id,
                Chat.bot_status.in_(("member", "administrator")),
                Chat.state != GroupState.CLOSED,
            )
        )
        return int(await self.session.scalar(query) or 0)

    # Memberships ---------------------------------------------------------------------------

    async def observe_member(self, chat_id: int, person_id: int, now: datetime, status: str | None = None) -> None:
        """Record that the person is in the group; a given status overrides the stored one."""
        if status is not None:
            values = {"chat_id": chat_id, "person_id": person_id, "status": status, "last_seen_at": now}
            await upsert(
                self.session, Membership, values, keys=["chat_id", "person_id"], update=["last_seen_at", "status"]
            )
            return
        await self.observe_members([(chat_id, person_id)], now)

    async def observe_members(self, members: list[tuple[int, int]], now: datetime) -> None:
        """People (chat, person) seen in their groups, in one statement (one executemany for
        several): someone recorded as gone who speaks again is back (their join may predate
        the bot); any other stored status stays."""
        rows = [
            {"chat_id": chat_id, "person_id": person_id, "status": "member", "last_seen_at": now}
            # Each once: one statement may not change a row twice.
            for chat_id, person_id in sorted(set(members))
        ]
        statement = cached_statement(self.session, "memberships.seen", _seen_member)
        await core_execute(self.session, statement, rows_parameters(self.session, rows))

    async def member_status(self, chat_id: int, person_id: int) -> str | None:
        membership = await self.session.get(Membership, (chat_id, person_id))
        return membership.status if membership else None

    async def admin_ids(self, chat_id: int) -> set[int]:
        query = select(Membership.person_id).where(Membership.chat_id == chat_id, Membership.status.in_(ADMIN_STATUSES))
        return set(await self.session.scalars(query))

    async def replace_admins(self, chat_id: int, admins: Iterable[tuple[int, str]], now: datetime) -> None:
        """Make the stored admins exactly `admins` (person id, status) after getChatAdministrators."""
        admins = list(admins)
        current = {person_id for person_id, _status in admins}
        demoted = update(Membership).where(
            Membership.chat_id == chat_id,
            Membership.status.in_(ADMIN_STATUSES),
            Membership.person_id.not_in(current),
        )
        await self.session.execute(demoted.values(status="member"))
        for person_id, status in admins:
            await self.observe_member(chat_id, person_id, now, status=status)
        await self.set_fields(chat_id, admins_synced_at=now)

    async def known_member_ids(self, chat_id: int) -> list[int]:
        query = select(Membership.person_id).where(
            Membership.chat_id == chat_id, Membership.status.in_(PRESENT_STATUSES)
        )
        return list(await self.session.scalars(query))


def stored_settings(chat_id: int, raw: Any) -> StoredSettings:
    """A row's settings JSON, validated; what is dropped is logged by count, never by content."""
    stored = read_stored(raw)
    if stored.dropped:
        log.warning("chat %s: %d stored settings not understood, ignored", chat_id, stored.dropped)
    return stored


def _seen_member(session: AsyncSession) -> Any:
    statement = insert_rows(session, Membership, ("chat_id", "person_id", "status", "last_seen_at"))
    # Two comparisons, not IN: an IN list is expanded at every execution, this is not.
    gone = or_(Membership.status == "left", Membership.status == "kicked")
    back = case((gone, "member"), else_=Membership.status)
    return statement.on_conflict_do_update(
        index_elements=["chat_id", "person_id"], set_={"last_seen_at": statement.excluded.last_seen_at, "status": back}
    )
