"""Many rows in one statement (storage.repositories._sql.insert_rows): on PostgreSQL as one array
per column, so the statement is the same whatever the number of rows; everywhere with the same
rows stored as one statement per row would store them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from storage.db import Database
from storage.models import Chat, Event, GroupAction, Membership, OutboxAction, Read, Replica
from storage.repositories._sql import upsert
from storage.repositories.chats import ChatRepository
from storage.repositories.events import EventRepository
from storage.repositories.group_actions import GroupActionRepository, trail_row
from storage.repositories.notices import ReadRepository
from storage.repositories.outbox import NewAction, OutboxRepository
from storage.repositories.people import PeopleRepository
from storage.repositories.tasks import TaskRepository
from tests.storage.rows import removal_event
from tests.storage.statements import Statements

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


async def test_rows_of_any_number_go_in_one_statement_whose_text_never_changes(db: Database) -> None:
    with Statements(db, "INSERT INTO group_actions") as written:
        for count in (2, 7, 30):
            async with db.transaction() as session:
                rows = [trail_row(NOW, -100, "received", "delete", "ack", "done", person) for person in range(count)]
                await GroupActionRepository(session).add_many(rows)
    # One statement per batch, and one text for all of them: PostgreSQL prepares it once.
    assert len(written) == 3 and len(set(written)) == 1
    async with db.transaction() as session:
        stored = (await session.scalars(select(GroupAction.person_id).order_by(GroupAction.id))).all()
    assert stored == [*range(2), *range(7), *range(30)]


async def test_text_with_nul_characters_is_stored_without_them_in_every_row(db: Database) -> None:
    # PostgreSQL's text refuses NUL, which a person can send; SQLite keeps it as given.
    rows = [trail_row(NOW, -100, "received", "delete", f"ack{n}", "done", n, text=f"收\x00到{n}") for n in range(3)]
    async with db.transaction() as session:
        await GroupActionRepository(session).add_many(rows)
    async with db.transaction() as session:
        texts = (await session.scalars(select(GroupAction.text).order_by(GroupAction.id))).all()
    assert [text.replace("\x00", "") for text in texts] == ["收到0", "收到1", "收到2"]
    if db.engine.dialect.name == "postgresql":
        assert texts == ["收到0", "收到1", "收到2"]


async def test_deferred_rows_of_several_kinds_are_written_with_their_values_and_skips(db: Database) -> None:
    async with db.transaction() as session:
        reads, events = ReadRepository(session), EventRepository(session)
        for person in (1, 2, 2, 3):  # a read twice in one batch counts once
            reads.record_later(-100, 7, person, "ack", NOW)
        for key in ("a", "b", "a"):
            events.record_later(removal_event(key, NOW))
    async with db.transaction() as session:
        readers = (await session.scalars(select(Read.person_id).order_by(Read.person_id))).all()
        keys = (await session.scalars(select(Event.key).order_by(Event.key))).all()
        assert await ReadRepository(session).record(-100, 7, 4, "button", NOW) is True
        assert await ReadRepository(session).record(-100, 7, 4, "button", NOW) is False
    assert readers == [1, 2, 3] and keys == ["a", "b"]


async def test_an_upsert_naming_a_row_twice_ends_as_one_statement_per_row_would(db: Database) -> None:
    async with db.transaction() as session:
        chats = ChatRepository(session)
        await chats.ensure_many([(-7, "网格群", "supergroup"), (-8, "八号群", "group")], NOW)
        # The same group twice in one call (two sightings in a batch): the later title stays.
        await chats.ensure_many([(-7, "三号网格群", "supergroup"), (-7, "四号网格群", "supergroup")], NOW)
    async with db.transaction() as session:
        titles = dict((await session.execute(select(Chat.id, Chat.title))).all())
    assert titles == {-7: "四号网格群", -8: "八号群"}


async def test_members_seen_twice_in_one_batch_are_one_membership(db: Database) -> None:
    async with db.transaction() as session:
        await ChatRepository(session).ensure_many([(-7, "网格群", "supergroup")], NOW)
        await PeopleRepository(session).observe_many([(11, "甲", None), (12, "乙", None)], NOW)
        await ChatRepository(session).observe_members([(-7, 12), (-7, 11), (-7, 12)], NOW)
    async with db.transaction() as session:
        members = (await session.execute(select(Membership.person_id, Membership.status))).all()
    assert sorted(members) == [(11, "member"), (12, "member")]


async def test_outbox_rows_are_settled_only_while_this_process_owns_them(db: Database) -> None:
    actions = [NewAction("delete", -100, {"message_id": number}) for number in range(4)]
    async with db.transaction() as session:
        ids = await OutboxRepository(session).add(actions, NOW, LEASE)
    async with db.transaction() as session:
        # The third row was claimed by another worker since (its attempts moved on).
        owned = [(ids[0], 0), (ids[1], 0), (ids[2], 5), (ids[3], 0)]
        settled = await OutboxRepository(session).settle_many(owned, "done", "done", NOW)
        assert await OutboxRepository(session).settle_many([], "done", "done", NOW) == set()
    assert settled == {ids[0], ids[1], ids[3]}
    async with db.transaction() as session:
        states = dict((await session.execute(select(OutboxAction.id, OutboxAction.state))).all())
    assert [states[row_id] for row_id in ids] == ["done", "done", "pending", "done"]


async def test_a_value_longer_than_its_column_is_never_cut_into_another(db: Database) -> None:
    """PostgreSQL refuses it, as it refused one row's VALUES (an array cast to VARCHAR(n)[] would
    cut it without a word); SQLite, which has no lengths, keeps it whole."""
    long_keys = ["k" * 255 + "-first", "k" * 255 + "-second"]  # the events.key column is String(255)
    long_language = "l" * 20  # people.telegram_language is String(16)
    postgres = db.engine.dialect.name == "postgresql"
    for write in (
        lambda session: EventRepository(session).record("x", at=NOW, day=NOW.date(), key=long_keys[0]),
        lambda session: PeopleRepository(session).observe_many([(1, "甲", long_language)], NOW),
        lambda session: PeopleRepository(session).observe_many([(2, "乙", long_language), (3, "丙", None)], NOW),
    ):
        try:
            async with db.transaction() as session:
                await write(session)
        except DBAPIError as error:
            assert postgres and "too long" in str(error)
        else:
            assert not postgres
    if not postgres:
        async with db.transaction() as session:
            for key in long_keys[1:]:  # a second key sharing the first 255 characters is its own fact
                assert await EventRepository(session).record("x", at=NOW, day=NOW.date(), key=key) is True


async def test_an_upsert_of_keys_that_differ_only_by_a_nul_keeps_one_row_on_postgresql(db: Database) -> None:
    # The NUL filter makes "r\x00" into "r" on PostgreSQL: one statement may not change a row twice.
    rows = [{"id": "r", "seen_at": NOW}, {"id": "r\x00", "seen_at": NOW}]
    async with db.transaction() as session:
        await upsert(session, Replica, rows, keys=["id"], update=["seen_at"])
    async with db.transaction() as session:
        ids = (await session.scalars(select(Replica.id))).all()
    assert sorted(ids) == (["r"] if db.engine.dialect.name == "postgresql" else ["r", "r\x00"])


async def test_deferred_rows_go_in_with_the_outbox_rows_in_one_statement_on_postgresql(db: Database) -> None:
    postgres = db.engine.dialect.name == "postgresql"
    with Statements(db, "INSERT", "WITH") as written:
        async with db.transaction() as session:
            ReadRepository(session).record_later(-100, 7, 1, "ack", NOW)
            EventRepository(session).record_later(removal_event("e1", NOW))
            TaskRepository(session).schedule_later("deadline", "d1", NOW, {"notice_id": 1})
            ids = await OutboxRepository(session).add([NewAction("delete", -100, {"message_id": 7})], NOW, LEASE)
            # Deferred after the outbox rows went in: written at the commit, as always.
            ReadRepository(session).record_later(-100, 7, 2, "ack", NOW)
    # PostgreSQL: the outbox rows with the three tables' rows, then the later read. SQLite: one per table.
    assert len(written) == (2 if postgres else 4)
    async with db.transaction() as session:
        readers = (await session.scalars(select(Read.person_id).order_by(Read.person_id))).all()
        assert readers == [1, 2] and await EventRepository(session).exists("e1")
        task = await TaskRepository(session).get_by_key("d1")
        # Its constant defaults are in the statement: SQLAlchemy fills none in for a WITH clause's INSERT.
        assert task is not None and (task.state, task.attempts) == ("pending", 0)
        assert (await session.get(OutboxAction, ids[0])).payload == {"message_id": 7}
