"""The outbox: Telegram actions that must not be lost, and the updates already handled."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, bindparam, delete, func, literal, or_, select, text, tuple_, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import allow_one_statement, handled_before, take_claim
from storage.models import HandledUpdate, OutboxAction, Replica
from storage.repositories._sql import (
    Guard,
    cached_statement,
    core_execute,
    dialect_name,
    insert_for,
    insert_rows,
    rows_parameters,
    unnested,
    with_deferred_rows,
)

PENDING, SENDING, DONE, UNCERTAIN, FAILED = "pending", "sending", "done", "uncertain", "failed"
SETTLED = (DONE, UNCERTAIN, FAILED)


@dataclass(frozen=True)
class NewAction:
    kind: str
    chat_id: int
    payload: dict[str, Any]


@dataclass(frozen=True)
class Claimed:
    """A row this process now owns: performing it, then settling it with `attempts`."""

    id: int
    kind: str
    chat_id: int
    payload: dict[str, Any]
    attempts: int
    state: str


class OutboxRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(
        self, actions: list[NewAction], now: datetime, lease: timedelta, *, ends_transaction: bool = False
    ) -> list[int]:
        """Write the actions, owned by this process for `lease`; their ids in the same order.

        On PostgreSQL the rows the transaction deferred (reads, counted facts, tasks) go in with
        them, in one statement (with_deferred_rows): the pipeline writes the outbox last, just
        before the commit. When that statement `ends_transaction` and is its first, the update's
        claim goes in it too (_add_with_claim)."""
        if not actions:
            return []
        rows = [
            {
                "kind": a.kind,
                "chat_id": a.chat_id,
                "payload": a.payload,
                "state": PENDING,
                "attempts": 0,
                "due_at": now,
                "lease_until": now + lease,
                "created_at": now,
            }
            for a in actions
        ]
        if dialect_name(self.session) == "postgresql":
            claim = take_claim(self.session) if ends_transaction else None
            if claim is not None:
                return await self._add_with_claim(rows, *claim)
            parameters = rows_parameters(self.session, rows)
            statement, parameters = with_deferred_rows(self.session, "outbox.add_many", _add_many, parameters)
            # The rows are inserted in the order given, so their ids ascend in it.
            return sorted((await core_execute(self.session, statement, parameters)).scalars())
        if len(rows) == 1:
            statement = cached_statement(self.session, "outbox.add_one", _add_one)
            return [(await core_execute(self.session, statement, rows[0])).scalar_one()]
        return await self._add_many_on_sqlite(rows)

    async def _add_with_claim(self, rows: list[dict[str, Any]], update_id: int, at: datetime) -> list[int]:
        """The update's whole transaction as one statement, run on its own: its claim, its
        deferred rows and these outbox rows, each INSERT writing only if the claim is new.

        A single statement is atomic by itself, so it runs without BEGIN and COMMIT (autocommit):
        one round trip instead of four for an ack, whose deletion waits for them. A replica
        handling the same update still waits for the first one's commit (the claim's unique
        index) and then writes nothing; that, or a claim found taken, raises AlreadyHandled."""
        connection = await self.session.connection(execution_options={"isolation_level": "AUTOCOMMIT"})
        allow_one_statement(connection.info)
        claimed = rows_parameters(self.session, [{"update_id": update_id, "at": at}], prefix="claim_")
        claim = Guard("handled_updates.claim", _claim_guard, claimed)
        parameters = rows_parameters(self.session, rows)
        statement, parameters = with_deferred_rows(self.session, "outbox.add_many", _add_many, parameters, guard=claim)
        ids = sorted((await core_execute(self.session, statement, parameters)).scalars())
        if not ids:
            raise handled_before(self.session.info, update_id)
        return ids

    async def _add_many_on_sqlite(self, rows: list[dict[str, Any]]) -> list[int]:
        """One executemany, then the ids it gave. SQLite does not promise RETURNING's order, so
        SQLAlchemy would insert the rows one statement each; but the rows of one statement get
        consecutive rowids in their order (each one more than the largest, and this transaction
        holds the database's write lock), so the last one tells them all."""
        await core_execute(self.session, cached_statement(self.session, "outbox.add_many", _add_many), rows)
        last = (await core_execute(self.session, _LAST_ROWID, {})).scalar_one()
        return list(range(last - len(rows) + 1, last + 1))

    async def mark_sending(self, row_id: int, attempts: int, now: datetime, lease: timedelta) -> bool:
        """Record that a message people read is about to go out: after a crash it is not sent again."""
        statement = (
            update(OutboxAction)
            .where(OutboxAction.id == row_id, OutboxAction.state == PENDING, OutboxAction.attempts == attempts)
            .values(state=SENDING, attempts=attempts + 1, lease_until=now + lease)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).rowcount == 1

    async def settle(self, row_id: int, attempts: int, state: str, outcome: str, now: datetime) -> bool:
        """Finish a row, if this process still owns it (nobody claimed it since)."""
        statement = cached_statement(self.session, "outbox.settle", _settle)
        parameters = {"row_id": row_id, "expected": attempts, "new_state": state, "result": outcome, "now": now}
        return (await core_execute(self.session, statement, parameters)).rowcount == 1

    async def settle_many(self, rows: list[tuple[int, int]], state: str, outcome: str, now: datetime) -> set[int]:
        """`settle` for several (row id, attempts) with one outcome, in one statement: the ids
        this process still owned (and has now settled)."""
        if not rows:
            return set()
        statement = cached_statement(self.session, "outbox.settle_many", _settle_many)
        parameters = {"new_state": state, "result": outcome, "now": now}
        if dialect_name(self.session) == "postgresql":
            parameters |= rows_parameters(self.session, [{"id": row_id, "attempts": tries} for row_id, tries in rows])
        else:
            parameters["pairs"] = rows
        return set((await core_execute(self.session, statement, parameters)).scalars())

    async def retry_at(self, row_id: int, attempts: int, due_at: datetime, outcome: str) -> bool:
        """Telegram did not act: try again from `due_at`, whoever's sweep comes first."""
        statement = (
            update(OutboxAction)
            .where(
                OutboxAction.id == row_id, OutboxAction.attempts == attempts, OutboxAction.state.in_((PENDING, SENDING))
            )
            .values(state=PENDING, due_at=due_at, lease_until=None, outcome=outcome)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(statement)).rowcount == 1

    async def claim_due(self, now: datetime, *, limit: int, lease: timedelta) -> list[Claimed]:
        """Rows nobody performs: due again after "retry later", or left by a process that died."""
        free = or_(OutboxAction.lease_until.is_(None), OutboxAction.lease_until < now)
        candidates = (
            select(OutboxAction.id)
            .where(OutboxAction.state == PENDING, OutboxAction.due_at <= now, free)
            .order_by(OutboxAction.id)
            .limit(limit)
        )
        if dialect_name(self.session) == "postgresql":
            candidates = candidates.with_for_update(skip_locked=True)
        statement = (
            update(OutboxAction)
            .where(OutboxAction.id.in_(candidates.scalar_subquery()), OutboxAction.state == PENDING)
            .values(lease_until=now + lease, attempts=OutboxAction.attempts + 1)
            .returning(OutboxAction)
            .execution_options(synchronize_session=False)
        )
        rows = (await self.session.scalars(statement)).all()
        claimed = [Claimed(r.id, r.kind, r.chat_id, dict(r.payload), r.attempts, r.state) for r in rows]
        return sorted(claimed, key=lambda row: row.id)

    async def give_up_interrupted_sends(self, now: datetime) -> list[int]:
        """Messages whose sender died mid-call may have gone out: never sent twice, so uncertain."""
        statement = (
            update(OutboxAction)
            .where(OutboxAction.state == SENDING, OutboxAction.lease_until < now)
            .values(state=UNCERTAIN, outcome="interrupted", done_at=now, lease_until=None)
            .returning(OutboxAction.id)
            .execution_options(synchronize_session=False)
        )
        return list((await self.session.scalars(statement)).all())

    async def take_over_leases(self, now: datetime, started_at: datetime, lease: timedelta) -> int:
        """The process that owned these rows is gone (only one may poll a token): free them now
        instead of when their leases run out; a send it may have begun stays uncertain.

        Rows this process leased since it started (at `started_at`) have leases ending at or
        after `started_at + lease`: they are left alone."""
        before_us = OutboxAction.lease_until < started_at + lease
        sending = (
            update(OutboxAction)
            .where(OutboxAction.state == SENDING, before_us)
            .values(state=UNCERTAIN, outcome="interrupted", done_at=now, lease_until=None)
            .execution_options(synchronize_session=False)
        )
        await self.session.execute(sending)
        pending = (
            update(OutboxAction)
            .where(OutboxAction.state == PENDING, OutboxAction.lease_until.is_not(None), before_us)
            .values(lease_until=None)
            .execution_options(synchronize_session=False)
        )
        return (await self.session.execute(pending)).rowcount

    async def backlog(self, now: datetime) -> tuple[int, datetime | None]:
        """How many rows are due and the oldest due time (health and metrics)."""
        query = select(OutboxAction.due_at).where(
            OutboxAction.state.in_((PENDING, SENDING)), OutboxAction.due_at <= now
        )
        due = list((await self.session.scalars(query.order_by(OutboxAction.due_at).limit(10_000))).all())
        return len(due), (due[0] if due else None)

    async def states(self) -> dict[int, str]:
        rows = await self.session.execute(select(OutboxAction.id, OutboxAction.state))
        return dict(rows.all())

    async def purge(self, before: datetime) -> int:
        statement = delete(OutboxAction).where(OutboxAction.state.in_(SETTLED), OutboxAction.done_at < before)
        return (await self.session.execute(statement)).rowcount


class HandledUpdates:
    """Each update's effects are committed once, whoever receives it and however often."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def claim_many(self, update_ids: list[int], now: datetime) -> set[int]:
        """Take these updates for this transaction, in one statement: the ids taken (not those
        handled or set aside before; a row left by failed tries, "failing", is taken over, so
        its update is tried again). The single update of a transaction of its own is claimed
        in the session's begin event instead (claim_update).

        Claimed in ascending order, so two transactions claiming overlapping sets on PostgreSQL
        wait for each other instead of deadlocking."""
        statement = cached_statement(self.session, "handled.claim_many", _claim_many)
        # Each id once: PostgreSQL refuses an upsert that touches one row twice.
        rows = [{"update_id": update_id, "at": now} for update_id in sorted(set(update_ids))]
        return set((await core_execute(self.session, statement, rows_parameters(self.session, rows))).scalars())

    async def count_failure(self, update_id: int, now: datetime, *, give_up_after: int) -> int:
        """One more failed try; the update is set aside once it failed `give_up_after` times."""
        row = await self.session.get(
            HandledUpdate, update_id, with_for_update=dialect_name(self.session) == "postgresql"
        )
        if row is None:
            row = HandledUpdate(
                update_id=update_id, state="failing", attempts=0, at=now.replace(minute=0, second=0, microsecond=0)
            )
            self.session.add(row)
        if row.state == "done":
            return 0
        row.attempts += 1
        row.state = "set_aside" if row.attempts >= give_up_after else "failing"
        row.at = now.replace(minute=0, second=0, microsecond=0)
        await self.session.flush()
        return row.attempts

    async def set_aside(self, update_id: int, now: datetime) -> None:
        now = now.replace(minute=0, second=0, microsecond=0)
        values = {"update_id": update_id, "state": "set_aside", "attempts": 1, "at": now}
        statement = insert_for(self.session, HandledUpdate).values(values)
        statement = statement.on_conflict_do_update(
            index_elements=["update_id"], set_={"state": "set_aside", "at": now}
        )
        await self.session.execute(statement)

    async def state_of(self, update_id: int) -> str | None:
        return await self.session.scalar(select(HandledUpdate.state).where(HandledUpdate.update_id == update_id))

    async def purge(self, before: datetime) -> int:
        statement = delete(HandledUpdate).where(HandledUpdate.at < before)
        return (await self.session.execute(statement)).rowcount


_CLAIMS: dict[str, Any] = {}


def claim_update(connection: Any, update_id: int, now: datetime) -> bool:
    """Take one update on a synchronous connection (inside the session's begin event): False
    when it was handled or set aside before. On PostgreSQL a replica handling the same update
    waits here until the first commits."""
    dialect = connection.dialect.name
    statement = _CLAIMS.get(dialect)
    if statement is None:
        statement = _CLAIMS[dialect] = _claim_statement(dialect)
    return connection.execute(statement, {"update_id": update_id, "now": now}).first() is not None


class Replicas:
    """The processes running this bot, by heartbeat: they divide Telegram's per-bot limits."""

    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def beat(self, replica_id: str, now: datetime, *, alive_within: timedelta) -> int:
        """Say this process is alive; how many are (itself included). Long-silent ones are forgotten."""
        statement = insert_for(self.session, Replica).values(id=replica_id, seen_at=now)
        await self.session.execute(statement.on_conflict_do_update(index_elements=["id"], set_={"seen_at": now}))
        await self.session.execute(delete(Replica).where(Replica.seen_at < now - alive_within * 10))
        alive = select(func.count()).select_from(Replica).where(Replica.seen_at >= now - alive_within)
        return max(int(await self.session.scalar(alive) or 0), 1)

    async def leave(self, replica_id: str) -> None:
        await self.session.execute(delete(Replica).where(Replica.id == replica_id))


_OUTBOX_COLUMNS = ("kind", "chat_id", "payload", "state", "attempts", "due_at", "lease_until", "created_at")


def _add_one(session: AsyncSession) -> Any:
    return insert_rows(session, OutboxAction, _OUTBOX_COLUMNS).returning(OutboxAction.id)


def _add_many(session: AsyncSession, only_if: Any = None) -> Any:
    """Rows of any number (see insert_rows); on PostgreSQL with their ids, on SQLite without
    (_add_many_on_sqlite). On PostgreSQL the ids are drawn from the sequence as the rows are
    inserted, in the order of the arrays."""
    statement = insert_rows(session, OutboxAction, _OUTBOX_COLUMNS, only_if=only_if)
    return statement.returning(OutboxAction.id) if dialect_name(session) == "postgresql" else statement


_LAST_ROWID = text("SELECT last_insert_rowid()")


def _settle(_session: AsyncSession) -> Any:
    table = OutboxAction.__table__
    owned = and_(table.c.id == bindparam("row_id"), table.c.attempts == bindparam("expected"))
    return _settling(owned)


def _settle_many(session: AsyncSession) -> Any:
    table = OutboxAction.__table__
    if dialect_name(session) == "postgresql":
        # UPDATE … FROM unnest(ids, attempts): one statement text for any number of rows, and
        # each row found by its primary key (a row IN list is planned again for every length).
        pairs = unnested(table, ("id", "attempts"))
        owned = and_(table.c.id == pairs.c.id, table.c.attempts == pairs.c.attempts)
    else:
        owned = tuple_(table.c.id, table.c.attempts).in_(bindparam("pairs", expanding=True))
    return _settling(owned).returning(table.c.id)


def _settling(owned: Any) -> Any:
    """Finish the rows `owned` selects that are still in flight, with the given outcome."""
    table = OutboxAction.__table__
    return (
        table.update()
        .where(owned, table.c.state.in_((PENDING, SENDING)))
        .values(state=bindparam("new_state"), outcome=bindparam("result"), done_at=bindparam("now"), lease_until=None)
    )


def _claim_statement(dialect: str) -> Any:
    """INSERT … ON CONFLICT DO UPDATE … WHERE state = 'failing' RETURNING: new or retried wins."""
    from sqlalchemy.dialects import postgresql, sqlite

    columns = HandledUpdate.__table__.c
    statement = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(HandledUpdate).values(
        update_id=bindparam("update_id", type_=columns["update_id"].type),
        at=bindparam("now", type_=columns["at"].type),
        **_CLAIMED,
    )
    return _taking_over_failing(statement)


def _claim_many(session: AsyncSession, prefix: str = "") -> Any:
    """`_claim_statement` for any number of updates in one statement (see insert_rows)."""
    statement = insert_rows(session, HandledUpdate, ("update_id", "at"), prefix=prefix, constants=_CLAIMED)
    return _taking_over_failing(statement)


def _claim_guard(session: AsyncSession) -> Any:
    """The claim as the guard of an update's one statement (PostgreSQL; see _add_with_claim)."""
    return _claim_many(session, prefix="claim_")


_CLAIMED = {
    "state": literal("done", type_=HandledUpdate.__table__.c["state"].type),
    "attempts": literal(0, type_=HandledUpdate.__table__.c["attempts"].type),
}


def _taking_over_failing(statement: Any) -> Any:
    columns = HandledUpdate.__table__.c
    return statement.on_conflict_do_update(
        index_elements=["update_id"],
        set_={"state": "done", "at": statement.excluded.at},
        where=columns["state"] == "failing",
    ).returning(columns["update_id"])
