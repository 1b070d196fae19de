"""An update whose only write is its outbox rows is, on PostgreSQL, one statement run on its
own: its claim, its deferred rows and its outbox rows, written only if the claim is new
(OutboxRepository.add with ends_transaction; storage.db.take_claim)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select, text

from storage.db import UPDATE_ID_KEY, AlreadyHandled, Database
from storage.models import Event, GroupAction, HandledUpdate, OutboxAction, Read
from storage.repositories.events import EventRepository
from storage.repositories.group_actions import GroupActionRepository, trail_row
from storage.repositories.notices import ReadRepository
from storage.repositories.outbox import NewAction, OutboxRepository
from tests.storage.rows import removal_event
from tests.storage.statements import Statements

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)
UPDATE_ID = 4711


async def write_an_ack(db: Database, update_id: int = UPDATE_ID, person: int = 1) -> list[int]:
    """What an ack's update writes: a read, a counted fact, a trail row and the deletion's row."""
    async with db.transaction() as session:
        session.info[UPDATE_ID_KEY] = (update_id, NOW)
        ReadRepository(session).record_later(-100, 7, person, "ack", NOW)
        EventRepository(session).record_later(removal_event(f"e{person}", NOW))
        GroupActionRepository(session).add_later(trail_row(NOW, -100, "received", "delete", "ack", "done", person))
        deletion = NewAction("delete", -100, {"message_id": 7 + person})
        return await OutboxRepository(session).add([deletion], NOW, LEASE, ends_transaction=True)


async def counts(db: Database) -> dict[str, int]:
    async with db.transaction() as session:
        return {
            model.__tablename__: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (HandledUpdate, Read, Event, GroupAction, OutboxAction)
        }


async def test_an_updates_whole_write_is_one_statement_on_postgresql_and_stores_everything(db: Database) -> None:
    postgres = db.engine.dialect.name == "postgresql"
    with Statements(db, "") as run:
        ids = await write_an_ack(db)
    # PostgreSQL: the claim, the read, the fact, the trail row and the outbox row in one statement.
    # SQLite: the claim in the begin event, then a statement per table.
    assert len(run) == (1 if postgres else 5)
    assert await counts(db) == dict.fromkeys(("handled_updates", "reads", "events", "group_actions", "outbox"), 1)
    async with db.transaction() as session:
        assert (await session.get(OutboxAction, ids[0])).payload == {"message_id": 8}
        assert (await session.get(HandledUpdate, UPDATE_ID)).state == "done"


async def test_an_update_handled_before_writes_nothing_the_second_time(db: Database) -> None:
    await write_an_ack(db)
    with pytest.raises(AlreadyHandled):
        await write_an_ack(db, person=2)  # a redelivery (a webhook retry, another replica)
    assert await counts(db) == dict.fromkeys(("handled_updates", "reads", "events", "group_actions", "outbox"), 1)


async def test_an_update_that_failed_before_is_taken_over_by_its_next_try(db: Database) -> None:
    async with db.transaction() as session:
        session.add(HandledUpdate(update_id=UPDATE_ID, state="failing", attempts=1, at=NOW))
    await write_an_ack(db)
    assert (await counts(db))["outbox"] == 1
    async with db.transaction() as session:
        assert (await session.get(HandledUpdate, UPDATE_ID)).state == "done"


async def test_the_connection_is_transactional_again_after_the_one_statement(database_url: str) -> None:
    # One pooled connection: the next transaction gets the very connection the statement ran on.
    db = Database.from_url(database_url, connections=1)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(lambda sync: OutboxAction.metadata.create_all(sync))
        await write_an_ack(db)
        with pytest.raises(RuntimeError):
            async with db.transaction() as session:
                await session.execute(text("DELETE FROM outbox"))
                raise RuntimeError("rolled back")
        assert (await counts(db))["outbox"] == 1  # the DELETE went with the rollback
    finally:
        await db.dispose()


async def test_a_transaction_that_read_first_claims_in_its_begin_as_before(db: Database) -> None:
    with Statements(db, "INSERT INTO handled_updates") as claims:
        async with db.transaction() as session:
            session.info[UPDATE_ID_KEY] = (UPDATE_ID, NOW)
            await session.execute(select(OutboxAction.id))  # the first statement: the claim goes before it
            await OutboxRepository(session).add([NewAction("delete", -100, {})], NOW, LEASE, ends_transaction=True)
    assert len(claims) == 1 and (await counts(db))["outbox"] == 1
