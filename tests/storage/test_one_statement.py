"""An update whose only write is its outbox rows is, on PostgreSQL, one statement run on its
own: its claim, its deferred rows and its outbox rows, written only if the claim is new
(OutboxRepository.add with ends_transaction; storage.db.take_claim)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from storage.db import UPDATE_ID_KEY, AlreadyHandled, Database, OneStatementOnly, create_engine
from storage.models import AuditEntry, Base, Event, GroupAction, HandledUpdate, OutboxAction, Read, Task
from storage.repositories.events import EventRepository
from storage.repositories.group_actions import GroupActionRepository, trail_row
from storage.repositories.notices import ReadRepository
from storage.repositories.outbox import NewAction, OutboxRepository
from storage.repositories.tasks import TaskRepository
from tests.storage.rows import removal_event
from tests.storage.statements import Statements

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
UPDATE_ID = 4711
TABLES = (HandledUpdate, Read, Event, GroupAction, Task, OutboxAction, AuditEntry)
ONE_OF_EACH = {"handled_updates": 1, "reads": 1, "events": 1, "group_actions": 1, "tasks": 1, "outbox": 1}


async def write_an_ack(db: Database, update_id: int = UPDATE_ID, person: int = 1) -> list[int]:
    """What an ack's update may write: a read, a counted fact, a trail row, a task, the deletion's row."""
    async with db.transaction() as session:
        session.info[UPDATE_ID_KEY] = (update_id, NOW)
        ReadRepository(session).record_later(-100, 7, person, "ack", NOW)
        EventRepository(session).record_later(removal_event(f"e{person}", NOW))
        GroupActionRepository(session).add_later(trail_row(NOW, -100, "received", "delete", "ack", "done", person))
        TaskRepository(session).schedule_later("deadline", f"d{person}", NOW)
        deletion = NewAction("delete", -100, {"message_id": 7 + person})
        return await OutboxRepository(session).add([deletion], NOW, LEASE, ends_transaction=True)


async def counts(db: Database) -> dict[str, int]:
    async with db.transaction() as session:
        found = {
            model.__tablename__: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in TABLES
        }
    return {table: count for table, count in found.items() if count}


def postgres_only(db: Database) -> None:
    if db.engine.dialect.name != "postgresql":
        pytest.skip("the one statement is PostgreSQL's (SQLite claims in the begin event)")


async def test_an_updates_whole_write_is_one_statement_on_postgresql_and_stores_everything(db: Database) -> None:
    postgres = db.engine.dialect.name == "postgresql"
    with Statements(db, "") as run:
        ids = await write_an_ack(db)
    # PostgreSQL: the claim, the read, the fact, the trail row, the task and the outbox row in one
    # statement. SQLite: the claim in the begin event, then a statement per table.
    assert len(run) == (1 if postgres else 6)
    assert await counts(db) == ONE_OF_EACH
    async with db.transaction() as session:
        assert (await session.get(OutboxAction, ids[0])).payload == {"message_id": 8}
        assert (await session.get(HandledUpdate, UPDATE_ID)).state == "done"
        assert (await TaskRepository(session).get_by_key("d1")).state == "pending"


async def test_an_update_handled_before_writes_nothing_the_second_time(db: Database) -> None:
    await write_an_ack(db)
    with pytest.raises(AlreadyHandled):
        await write_an_ack(db, person=2)  # a redelivery (a webhook retry, another replica)
    assert await counts(db) == ONE_OF_EACH


@pytest.mark.parametrize("state", ["done", "set_aside"])
async def test_a_claim_taken_or_set_aside_lets_no_row_of_any_kind_in(db: Database, state: str) -> None:
    async with db.transaction() as session:
        session.add(HandledUpdate(update_id=UPDATE_ID, state=state, attempts=1, at=NOW))
    with pytest.raises(AlreadyHandled):
        await write_an_ack(db)
    assert await counts(db) == {"handled_updates": 1}


async def test_an_update_that_failed_before_is_taken_over_by_its_next_try(db: Database) -> None:
    async with db.transaction() as session:
        session.add(HandledUpdate(update_id=UPDATE_ID, state="failing", attempts=1, at=NOW))
    await write_an_ack(db)
    assert await counts(db) == ONE_OF_EACH
    async with db.transaction() as session:
        assert (await session.get(HandledUpdate, UPDATE_ID)).state == "done"


async def test_a_replica_claiming_the_same_update_first_is_waited_for_and_wins(db: Database) -> None:
    postgres_only(db)
    claimed, release = asyncio.Event(), asyncio.Event()

    async def first_replica() -> None:
        async with db.transaction() as session:
            session.info[UPDATE_ID_KEY] = (UPDATE_ID, NOW)
            await session.execute(select(OutboxAction.id))  # its claim goes in the begin event
            claimed.set()
            await release.wait()
            await OutboxRepository(session).add([NewAction("delete", -100, {})], NOW, LEASE, ends_transaction=True)

    first = asyncio.create_task(first_replica())
    await claimed.wait()
    second = asyncio.create_task(write_an_ack(db))
    await asyncio.sleep(0.3)
    assert not second.done()  # waiting on the claim's unique index
    release.set()
    await first
    with pytest.raises(AlreadyHandled):
        await second
    assert await counts(db) == {"handled_updates": 1, "outbox": 1}  # the first replica's row alone


async def test_no_statement_may_follow_the_one_statement(db: Database) -> None:
    postgres_only(db)
    with pytest.raises(OneStatementOnly):
        async with db.transaction() as session:
            session.info[UPDATE_ID_KEY] = (UPDATE_ID, NOW)
            await OutboxRepository(session).add([NewAction("delete", -100, {})], NOW, LEASE, ends_transaction=True)
            await session.execute(text("DELETE FROM outbox"))  # would commit on its own
    assert await counts(db) == {"handled_updates": 1, "outbox": 1}


async def test_pending_orm_rows_make_it_a_transaction_that_rolls_back_whole(db: Database) -> None:
    # session.add() begins the transaction, so the claim stays in the begin event and the ORM row's
    # failing INSERT takes the claim and the outbox row back with it.
    with pytest.raises(Exception, match="at"):
        async with db.transaction() as session:
            session.info[UPDATE_ID_KEY] = (UPDATE_ID, NOW)
            session.add(AuditEntry(at=None, actor_id=1, action="chat.set"))  # NOT NULL: fails at flush
            await OutboxRepository(session).add([NewAction("delete", -100, {})], NOW, LEASE, ends_transaction=True)
    assert await counts(db) == {}


async def test_a_transaction_that_read_first_claims_in_its_begin_as_before(db: Database) -> None:
    with Statements(db, "INSERT INTO handled_updates") as claims:
        async with db.transaction() as session:
            session.info[UPDATE_ID_KEY] = (UPDATE_ID, NOW)
            await session.execute(select(OutboxAction.id))  # the first statement: the claim goes before it
            await OutboxRepository(session).add([NewAction("delete", -100, {})], NOW, LEASE, ends_transaction=True)
    assert len(claims) == 1 and await counts(db) == {"handled_updates": 1, "outbox": 1}


async def one_connection(database_url: str, **options: float) -> Database:
    """A database whose pool keeps one connection: the next transaction gets the one just used."""
    db = Database.from_url(database_url, connections=1, **options)
    async with db.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    return db


async def rolls_back(db: Database) -> bool:
    """Whether a transaction's DELETE goes with its rollback (the connection is transactional)."""
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            await session.execute(text("DELETE FROM outbox"))
            raise RuntimeError("rolled back")
    return bool((await counts(db)).get("outbox"))


async def test_the_connection_is_transactional_again_after_the_one_statement(database_url: str) -> None:
    db = await one_connection(database_url)
    try:
        await write_an_ack(db)
        assert await rolls_back(db)
    finally:
        await db.dispose()


async def test_the_connection_is_transactional_again_after_the_one_statement_failed(database_url: str) -> None:
    if not database_url.startswith("postgresql"):
        pytest.skip("a lock timeout on the claim, from another connection: PostgreSQL's")
    db, other = await one_connection(database_url, lock_timeout=0.3), create_engine(database_url)
    try:
        async with other.connect() as holder:
            claim = "INSERT INTO handled_updates (update_id, state, attempts, at) VALUES (:id, 'done', 0, now())"
            await holder.execute(text(claim), {"id": UPDATE_ID})
            with pytest.raises(Exception, match="lock"):
                await write_an_ack(db)
            await holder.rollback()
        await write_an_ack(db, update_id=UPDATE_ID + 1)  # the same pooled connection, a statement again
        assert await rolls_back(db)
    finally:
        await other.dispose()
        await db.dispose()
