"""The audit log of privileged actions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import AuditEntry


class AuditRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def record(
        self,
        action: str,
        *,
        actor_id: int | None,
        now: datetime,
        chat_id: int | None = None,
        target: str | None = None,
        detail: dict[str, Any] | None = None,
    ) -> None:
        self.session.add(
            AuditEntry(
                at=now,
                actor_id=actor_id,
                action=action,
                chat_id=chat_id,
                target=None if target is None else target[:255],
                detail=detail or {},
            )
        )

    async def recent(self, limit: int = 50, *, action: str | None = None) -> list[AuditEntry]:
        query = select(AuditEntry).order_by(AuditEntry.id.desc()).limit(limit)
        if action is not None:
            query = query.where(AuditEntry.action == action)
        return list(await self.session.scalars(query))
