"""People: the Telegram users the bot has seen, and whether they opened a private chat."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import CACHE_KEY, after_commit
from storage.models import Person
from storage.repositories._sql import cached_statement, core_execute, unasked, upsert

# Process memory (the Database's cache): people last seen without a private chat, and when the
# database said so. A tip for them is not claimed again within REACH_RECHECK: the claim would
# only find again that they cannot be written to (the first acks of every person after a start
# cost one UPDATE each for nothing). Someone who opens a chat with the bot through this process
# is forgotten at that commit; through another replica, their tip may wait up to REACH_RECHECK.
UNREACHABLE = "unreachable_people"
REACH_RECHECK = timedelta(minutes=10)
MAX_UNREACHABLE = 100_000
# Process memory: people whose private chat this process opened or closed. They are never taken
# for unreachable again: a read that began before such a change committed may answer after it.
CHANGED_HERE = "private_chat_changed_here"
# session.info key: people whose private chat this transaction changed (forgotten at commit).
PRIVATE_CHAT_CHANGED_KEY = "jianfu.private_chat_changed"
# session.info key: person -> whether they have a private chat, as this transaction read or set it.
PRIVATE_CHATS_KEY = "jianfu.private_chats"


class PeopleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> Person | None:
        return await self.session.get(Person, user_id)

    async def observe(self, user_id: int, display_name: str, telegram_language: str | None, now: datetime) -> None:
        """Record that the person was seen now, keeping their latest name and language."""
        await self.observe_many([(user_id, display_name, telegram_language)], now)

    async def observe_many(self, people: list[tuple[int, str, str | None]], now: datetime) -> None:
        """`observe` for several people (id, display name, language) in one statement (a person
        named twice is written once, as last named: one statement may not change a row twice)."""
        latest = {user_id: (user_id, display_name, language) for user_id, display_name, language in people}
        rows = [
            {
                "id": user_id,
                "display_name": display_name[:255],
                "telegram_language": telegram_language,
                "has_private_chat": False,
                "first_seen_at": now,
                "last_seen_at": now,
            }
            for user_id, display_name, telegram_language in sorted(latest.values())
        ]
        seen = await upsert(
            self.session,
            Person,
            rows,
            keys=["id"],
            update=["display_name", "telegram_language", "last_seen_at"],
            returning=["id", "has_private_chat"],
        )
        self._learn_reach(seen, now)

    async def has_private_chat(self, user_id: int) -> bool:
        """Whether the bot can write to this person (asked once per transaction)."""
        known = self.session.info.get(PRIVATE_CHATS_KEY, {})
        if user_id not in known:
            await self.know_private_chats([user_id], None)
        return self.session.info[PRIVATE_CHATS_KEY].get(user_id, False)

    async def know_private_chats(self, user_ids: Iterable[int], now: datetime | None) -> None:
        """Read whether these people have a private chat in one query, for this transaction's
        later `has_private_chat` (a batch's ack demanders, before their updates run); with the
        time `now`, those without one are also remembered by the process (see UNREACHABLE)."""
        known, wanted = unasked(self.session, PRIVATE_CHATS_KEY, user_ids)
        if not wanted:
            return
        known.update(dict.fromkeys(wanted, False))  # someone never seen has none
        query = cached_statement(self.session, "people.private_chats", _private_chats)
        self._learn_reach(list(await core_execute(self.session, query, {"people": wanted})), now)

    def _learn_reach(self, seen: list[Any], now: datetime | None) -> None:
        """Note who has a private chat, for this transaction; and, with the time `now`, who the
        database just said cannot be written to (learned at the read: a private chat opened
        meanwhile is forgotten when its transaction commits, which comes later)."""
        self.session.info.setdefault(PRIVATE_CHATS_KEY, {}).update((user_id, bool(has)) for user_id, has in seen)
        if now is None:
            return
        unreachable = self._unreachable()
        if len(unreachable) >= MAX_UNREACHABLE:
            unreachable.clear()
        changed_here = self.session.info.get(CACHE_KEY, {}).get(CHANGED_HERE, ())
        for user_id, has_private_chat in seen:
            if has_private_chat or user_id in changed_here:
                unreachable.pop(user_id, None)
            else:
                unreachable[user_id] = now

    def _unreachable(self) -> dict[int, datetime]:
        return self.session.info.setdefault(CACHE_KEY, {}).setdefault(UNREACHABLE, {})

    async def set_private_chat(self, user_id: int, opened: bool) -> None:
        await self.session.execute(update(Person).where(Person.id == user_id).values(has_private_chat=opened))
        self.session.info.setdefault(PRIVATE_CHATS_KEY, {})[user_id] = opened
        self.session.info.setdefault(PRIVATE_CHAT_CHANGED_KEY, set()).add(user_id)
        after_commit(self.session, _forget_changed_reach)

    def seen_unreachable(self, user_id: int, now: datetime) -> bool:
        """Whether this process saw, within REACH_RECHECK, that the person has no private chat."""
        seen = self._unreachable().get(user_id)
        return seen is not None and timedelta(0) <= now - seen < REACH_RECHECK

    async def claim_tip(self, user_id: int, now: datetime, period: timedelta) -> bool:
        """Take the right to tip this person now: True at most once per `period`, across replicas."""
        statement = cached_statement(self.session, "people.claim_tip", _claim_tip)
        parameters = {"user_id": user_id, "now": now, "since": now - period}
        return (await core_execute(self.session, statement, parameters)).rowcount == 1

    async def with_private_chat(self, user_ids: set[int]) -> list[int]:
        """Those of `user_ids` the bot can write to, in id order."""
        if not user_ids:
            return []
        query = select(Person.id).where(Person.id.in_(user_ids), Person.has_private_chat.is_(True)).order_by(Person.id)
        return list(await self.session.scalars(query))

    async def names(self, user_ids: set[int]) -> dict[int, str]:
        if not user_ids:
            return {}
        rows = await self.session.execute(select(Person.id, Person.display_name).where(Person.id.in_(user_ids)))
        return dict(rows.all())

    async def set_language(self, user_id: int, language: str | None) -> None:
        await self.session.execute(update(Person).where(Person.id == user_id).values(language=language))


def _forget_changed_reach(session: AsyncSession) -> None:
    cache = session.info.setdefault(CACHE_KEY, {})
    unreachable, changed_here = cache.setdefault(UNREACHABLE, {}), cache.setdefault(CHANGED_HERE, set())
    if len(changed_here) >= MAX_UNREACHABLE:
        changed_here.clear()
    for user_id in session.info.pop(PRIVATE_CHAT_CHANGED_KEY, ()):
        unreachable.pop(user_id, None)
        changed_here.add(user_id)


def _private_chats(_session: AsyncSession) -> Any:
    return select(Person.id, Person.has_private_chat).where(Person.id.in_(bindparam("people", expanding=True)))


def _claim_tip(_session: AsyncSession) -> Any:
    since = bindparam("since", type_=Person.ack_tip_at.type)
    return (
        update(Person)
        .where(
            Person.id == bindparam("user_id"),
            Person.has_private_chat.is_(True),
            or_(Person.ack_tip_at.is_(None), Person.ack_tip_at <= since),
        )
        .values(ack_tip_at=bindparam("now", type_=Person.ack_tip_at.type))
    )
