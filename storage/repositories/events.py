"""Countable facts for the digest: one row per fact, attributed to a department and a local day."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Event
from storage.repositories._sql import DeferredRows, cached_statement, core_execute, insert_rows, rows_parameters


class EventRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self,
        kind: str,
        *,
        at: datetime,
        day: date,
        department_id: int | None = None,
        chat_id: int | None = None,
        key: str | None = None,
    ) -> bool:
        """Record the fact; with a key, only once. True when it was recorded now."""
        await pending_events.write(self.session)
        statement = cached_statement(self.session, "events.record", _insert_event)
        parameters = {
            "kind": kind,
            "at": at,
            "day": day,
            "department_id": department_id,
            "chat_id": chat_id,
            "key": key,
        }
        return (await core_execute(self.session, statement, rows_parameters(self.session, [parameters]))).rowcount == 1

    def record_later(self, event: dict[str, Any]) -> None:
        """`record` (its keywords as a dict) for a caller that need not learn whether the fact is
        new: written with the transaction's other such facts in one statement, before it commits
        or before anything in it asks about facts (every query here, and the digest's, writes
        them first). A key recorded before is skipped."""
        pending_events.add(self.session, event)

    async def forget(self, key: str) -> bool:
        """Remove the fact recorded under `key` (a claim given back); True when there was one."""
        await pending_events.write(self.session)
        return (await self.session.execute(delete(Event).where(Event.key == key))).rowcount == 1

    async def exists(self, key: str) -> bool:
        await pending_events.write(self.session)
        return await self.session.scalar(select(Event.id).where(Event.key == key)) is not None


def _insert_event(session: AsyncSession, prefix: str = "", only_if: Any = None) -> Any:
    names = ("kind", "at", "day", "department_id", "chat_id", "key")
    statement = insert_rows(session, Event, names, prefix=prefix, only_if=only_if)
    return statement.on_conflict_do_nothing(index_elements=["key"])


# Facts nothing depends on (EventRepository.record_later), written together.
pending_events = DeferredRows("events.record", _insert_event)
