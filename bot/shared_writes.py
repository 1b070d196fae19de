"""Outbox rows settled by many outcomes of one shared transaction, in one statement each.

The outcomes of one deleteMessages call (up to 100 acks) are recorded in one shared transaction
(bot/group_commit.py), and each would settle its outbox row: a tiny statement an outcome, most of
whose cost is SQLAlchemy's work per statement, not the database's. In a shared transaction they
are gathered and written just before the commit. Settling assumes the row is still this
process's. If one was taken over meanwhile (another process's sweep resuming it after a lease
ran out), the flush raises, the shared transaction rolls back, and each outcome is recorded
alone, where settling is checked before its follow-ups are decided. (Counting their removals is
gathered in any transaction: EventRepository.record_later.)
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import before_commit
from storage.repositories.outbox import OutboxRepository

# session.info key of the transaction's gathered writes (set only in shared transactions).
SHARED_KEY = "jianfu.shared_writes"


class NotOwned(Exception):
    """An outbox row gathered for settling belongs to another process now."""


@dataclass
class SharedWrites:
    # (state, outcome) -> [(row id, attempts)]
    settles: defaultdict[tuple[str, str], list[tuple[int, int]]] = field(default_factory=lambda: defaultdict(list))
    # When the rows settle: the latest outcome's time (they finish within moments of each other).
    now: datetime | None = None

    def settle(self, row_id: int, attempts: int, state: str, outcome: str, now: datetime) -> None:
        self.settles[(state, outcome)].append((row_id, attempts))
        self.now = now


def begin(session: AsyncSession) -> None:
    """The transaction is shared by many outcomes: gather their common writes (written just
    before it commits)."""
    session.info[SHARED_KEY] = SharedWrites()
    before_commit(session, flush)


def of(session: AsyncSession) -> SharedWrites | None:
    return session.info.get(SHARED_KEY)


async def flush(session: AsyncSession) -> None:
    """Write what was gathered; raises NotOwned when a settled row was not this process's."""
    writes: SharedWrites | None = session.info.pop(SHARED_KEY, None)
    if writes is None:
        return
    outbox = OutboxRepository(session)
    for (state, outcome), rows in writes.settles.items():
        owned = await outbox.settle_many(rows, state, outcome, writes.now)
        if len(owned) != len({row_id for row_id, _attempts in rows}):
            raise NotOwned
