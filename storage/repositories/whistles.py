"""Whistle reports, their evidence and the supervisors' responses.

Nothing written here identifies the whistleblower: callers pass content, never a user,
chat or message id, and the creation time is a date.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Department, Whistle, WhistleEvidence, WhistleResponse

OPEN = ("new", "review", "forwarded")


@dataclass(frozen=True)
class NewEvidence:
    kind: str  # text | photo | document
    file_id: str | None = None
    text: str | None = None


@dataclass(frozen=True)
class WhistleRow:
    """A report with its department's registered name, when it has one."""

    whistle: Whistle
    department: str | None

    @property
    def department_label(self) -> str:
        return self.department or self.whistle.department_name or "—"


class WhistleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self,
        *,
        department_id: int | None,
        department_name: str | None,
        category: str,
        description: str,
        evidence: Sequence[NewEvidence],
        code_bucket: int,
        code_hash: str,
        today: date,
    ) -> int:
        whistle = Whistle(
            department_id=department_id, department_name=department_name, category=category,
            description=description, status="new", created_on=today, code_bucket=code_bucket,
            code_hash=code_hash, announced=False,
        )  # fmt: skip
        self.session.add(whistle)
        await self.session.flush()
        for position, item in enumerate(evidence):
            self.session.add(
                WhistleEvidence(
                    whistle_id=whistle.id, position=position, kind=item.kind, file_id=item.file_id, text=item.text
                )
            )
        await self.session.flush()
        return whistle.id

    async def in_bucket(self, bucket: int) -> list[Whistle]:
        return list(await self.session.scalars(select(Whistle).where(Whistle.code_bucket == bucket)))

    async def get(self, whistle_id: int) -> WhistleRow | None:
        query = self._rows().where(Whistle.id == whistle_id)
        row = (await self.session.execute(query)).first()
        return WhistleRow(row[0], row[1]) if row else None

    async def evidence(self, whistle_id: int) -> list[WhistleEvidence]:
        query = (
            select(WhistleEvidence).where(WhistleEvidence.whistle_id == whistle_id).order_by(WhistleEvidence.position)
        )
        return list(await self.session.scalars(query))

    async def responses(self, whistle_id: int, *, visible_only: bool) -> list[WhistleResponse]:
        query = select(WhistleResponse).where(WhistleResponse.whistle_id == whistle_id)
        if visible_only:
            query = query.where(WhistleResponse.visible.is_(True))
        return list(await self.session.scalars(query.order_by(WhistleResponse.at, WhistleResponse.id)))

    async def page(
        self, *, open_only: bool, department_id: int | None, offset: int, limit: int, announced_only: bool = False
    ) -> tuple[list[WhistleRow], int]:
        """Reports newest first, with the total matching the filter."""
        conditions = [Whistle.announced.is_(True)] if announced_only else []
        if open_only:
            conditions.append(Whistle.status.in_(OPEN))
        if department_id is not None:
            conditions.append(Whistle.department_id == department_id)
        total = await self.session.scalar(select(func.count()).select_from(Whistle).where(*conditions))
        query = self._rows().where(*conditions).order_by(Whistle.id.desc()).offset(offset).limit(limit)
        rows = [WhistleRow(whistle, name) for whistle, name in (await self.session.execute(query)).all()]
        return rows, total or 0

    async def move(self, whistle_id: int, current: str, wanted: str, now: datetime) -> bool:
        """Change the status only if it is still `current` (two supervisors may press at once)."""
        statement = (
            update(Whistle)
            .where(Whistle.id == whistle_id, Whistle.status == current)
            .values(status=wanted, updated_at=now)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).rowcount == 1

    async def respond(
        self, whistle_id: int, kind: str, text: str | None, now: datetime, *, visible: bool = True
    ) -> None:
        self.session.add(WhistleResponse(whistle_id=whistle_id, kind=kind, text=text, visible=visible, at=now))
        await self.session.execute(
            update(Whistle)
            .where(Whistle.id == whistle_id)
            .values(updated_at=now)
            .execution_options(synchronize_session=False)
        )

    async def take_unannounced(self) -> list[WhistleRow]:
        """The reports supervisors have not been told about yet, now marked as told."""
        rows = [
            WhistleRow(w, n)
            for w, n in (
                await self.session.execute(self._rows().where(Whistle.announced.is_(False)).order_by(Whistle.id))
            ).all()
        ]
        if rows:
            ids = [row.whistle.id for row in rows]
            await self.session.execute(
                update(Whistle)
                .where(Whistle.id.in_(ids))
                .values(announced=True)
                .execution_options(synchronize_session=False)
            )
        return rows

    async def take_overdue(self, today: date, open_days: int) -> list[WhistleRow]:
        """Open reports older than `open_days` not flagged in the last week, now marked flagged."""
        query = self._rows().where(
            Whistle.status.in_(OPEN),
            Whistle.created_on < today - timedelta(days=open_days),
            or_(Whistle.flagged_on.is_(None), Whistle.flagged_on <= today - timedelta(days=7)),
        )
        rows = [WhistleRow(w, n) for w, n in (await self.session.execute(query.order_by(Whistle.id))).all()]
        if rows:
            ids = [row.whistle.id for row in rows]
            await self.session.execute(
                update(Whistle)
                .where(Whistle.id.in_(ids))
                .values(flagged_on=today)
                .execution_options(synchronize_session=False)
            )
        return rows

    def _rows(self):  # type: ignore[no-untyped-def]
        return select(Whistle, Department.name).outerjoin(Department, Department.id == Whistle.department_id)
