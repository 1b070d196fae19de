"""People: the Telegram users the bot has seen, and whether they opened a private chat."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import bindparam, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Person
from storage.repositories._sql import cached_statement, core_execute, upsert


class PeopleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, user_id: int) -> Person | None:
        return await self.session.get(Person, user_id)

    async def observe(self, user_id: int, display_name: str, telegram_language: str | None, now: datetime) -> None:
        """Record that the person was seen now, keeping their latest name and language."""
        await self.observe_many([(user_id, display_name, telegram_language)], now)

    async def observe_many(self, people: list[tuple[int, str, str | None]], now: datetime) -> None:
        """`observe` for several people (id, display name, language) in one executemany."""
        rows = [
            {
                "id": user_id,
                "display_name": display_name[:255],
                "telegram_language": telegram_language,
                "has_private_chat": False,
                "first_seen_at": now,
                "last_seen_at": now,
            }
            for user_id, display_name, telegram_language in sorted(people, key=lambda person: person[0])
        ]
        await upsert(
            self.session,
            Person,
            rows,
            keys=["id"],
            update=["display_name", "telegram_language", "last_seen_at"],
        )

    async def set_private_chat(self, user_id: int, opened: bool) -> None:
        await self.session.execute(update(Person).where(Person.id == user_id).values(has_private_chat=opened))

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
