"""What the whistle flows keep between one message and the next, so any replica can take the next.

Drafts arrive here already named by a keyed hash and sealed (bot/whistle_keys.py): this module
never sees a Telegram id of a whistleblower. Rate-limit hits are counted per bucket of people.
Supervisors' pending answers name the supervisor: they act under their own name.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import Row, bindparam, delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import WhistleDraft, WhistleLimit, WhistlePendingAnswer
from storage.repositories._sql import cached_statement, core_execute, dialect_name, insert_for, upsert


class DraftRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def get(self, name: str) -> tuple[bytes, datetime] | None:
        """The sealed content and expiry of a draft, locked until the transaction ends on PostgreSQL:
        two replicas handling one person's messages at once take turns instead of losing a step.

        Every private message asks (is its sender writing a report?), so the statement is built once.
        """
        statement = cached_statement(self.session, "whistle_drafts.get", _get_draft)
        row = (await core_execute(self.session, statement, {"name": name})).first()
        return (row.sealed, row.expires_at) if row else None

    async def put(self, name: str, sealed: bytes, expires_at: datetime) -> None:
        values = {"name": name, "sealed": sealed, "expires_at": expires_at}
        await upsert(self.session, WhistleDraft, values, keys=["name"], update=["sealed", "expires_at"])

    async def delete(self, name: str) -> bool:
        statement = delete(WhistleDraft).where(WhistleDraft.name == name)
        return (await self.session.execute(statement)).rowcount > 0

    async def delete_expired(self, now: datetime) -> int:
        statement = delete(WhistleDraft).where(WhistleDraft.expires_at < now)
        return (await self.session.execute(statement)).rowcount


def _get_draft(session: AsyncSession) -> Any:
    query = select(WhistleDraft.sealed, WhistleDraft.expires_at).where(WhistleDraft.name == bindparam("name"))
    return query.with_for_update() if dialect_name(session) == "postgresql" else query


class LimitRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def hits(self, kind: str, period: int, bucket: int) -> int:
        query = select(WhistleLimit.hits).where(
            WhistleLimit.kind == kind, WhistleLimit.period == period, WhistleLimit.bucket == bucket
        )
        return await self.session.scalar(query) or 0

    async def take(self, kind: str, period: int, bucket: int, limit: int) -> bool:
        """One more hit, unless the bucket has `limit` already; False when it has.

        One statement (INSERT … ON CONFLICT DO UPDATE … WHERE hits < limit RETURNING), so two
        replicas taking the last hit at once cannot both get it: on PostgreSQL the second waits
        for the first's row lock, on SQLite for its write lock.
        """
        statement = cached_statement(self.session, "whistle_limits.take", _take)
        parameters = {"kind": kind, "period": period, "bucket": bucket, "limit": limit}
        return (await core_execute(self.session, statement, parameters)).first() is not None

    async def give_back(self, kind: str, period: int, bucket: int) -> None:
        """Undo a hit; a bucket back at zero leaves no row behind."""
        where = (WhistleLimit.kind == kind, WhistleLimit.period == period, WhistleLimit.bucket == bucket)
        await self.session.execute(
            update(WhistleLimit).where(*where, WhistleLimit.hits > 0).values(hits=WhistleLimit.hits - 1)
        )
        await self.session.execute(delete(WhistleLimit).where(*where, WhistleLimit.hits <= 0))

    async def delete_ended(self, kind: str, current_period: int) -> int:
        """Forget the counts of periods that are over: nobody needs them, and they are all a copy could show."""
        statement = delete(WhistleLimit).where(WhistleLimit.kind == kind, WhistleLimit.period < current_period)
        return (await self.session.execute(statement)).rowcount


def _take(session: AsyncSession) -> Any:
    columns = WhistleLimit.__table__.c
    statement = insert_for(session, WhistleLimit).values(
        kind=bindparam("kind", type_=columns.kind.type),
        period=bindparam("period", type_=columns.period.type),
        bucket=bindparam("bucket", type_=columns.bucket.type),
        hits=1,
    )
    return statement.on_conflict_do_update(
        index_elements=["kind", "period", "bucket"],
        set_={"hits": columns.hits + 1},
        where=columns.hits < bindparam("limit", type_=columns.hits.type),
    ).returning(columns.hits)


class PendingAnswerRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def put(self, supervisor_id: int, whistle_id: int, action: str, language: str, expires_at: datetime) -> None:
        values = {
            "supervisor_id": supervisor_id, "whistle_id": whistle_id, "action": action, "language": language,
            "expires_at": expires_at,
        }  # fmt: skip
        await upsert(
            self.session, WhistlePendingAnswer, values, keys=["supervisor_id"],
            update=["whistle_id", "action", "language", "expires_at"],
        )  # fmt: skip

    async def get(self, supervisor_id: int) -> Row[Any] | None:
        """The awaited answer's whistle_id, action, language and expires_at (asked for every private message)."""
        statement = cached_statement(self.session, "whistle_pending_answers.get", _get_answer)
        return (await core_execute(self.session, statement, {"supervisor_id": supervisor_id})).first()

    async def delete(self, supervisor_id: int) -> bool:
        statement = delete(WhistlePendingAnswer).where(WhistlePendingAnswer.supervisor_id == supervisor_id)
        return (await self.session.execute(statement)).rowcount > 0

    async def delete_expired(self, now: datetime) -> int:
        statement = delete(WhistlePendingAnswer).where(WhistlePendingAnswer.expires_at < now)
        return (await self.session.execute(statement)).rowcount


def _get_answer(_session: AsyncSession) -> Any:
    answer = WhistlePendingAnswer
    query = select(answer.whistle_id, answer.action, answer.language, answer.expires_at)
    return query.where(answer.supervisor_id == bindparam("supervisor_id"))
