"""The inbox query on real databases: order, totals, pages past the end, copies and filters."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import insert

from storage.db import Database
from storage.models import Chat, Department, Membership, Notice, Person, Read
from storage.repositories.notices import InboxRepository, NoticeRepository, ReadRepository
from tests.storage.statements import Statements

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
PERSON, MINE, ALSO_MINE, NOT_MINE, LEFT = 1, -101, -102, -103, -104


async def seed(db: Database) -> dict[str, int]:
    """Four groups (the person left the last one) and notices named by what they test."""
    async with db.transaction() as session:
        session.add(Person(id=PERSON, display_name="p", first_seen_at=NOW, last_seen_at=NOW))
        session.add(Department(id=7, name="民政局", code="MZ", created_at=NOW))
        for chat in (MINE, ALSO_MINE, NOT_MINE, LEFT):
            session.add(Chat(id=chat, title=f"群{-chat}", type="supergroup", joined_at=NOW))
        await session.flush()
        for chat, status in ((MINE, "member"), (ALSO_MINE, "administrator"), (LEFT, "left")):
            session.add(Membership(chat_id=chat, person_id=PERSON, status=status, last_seen_at=NOW))
        await session.flush()
        ids: dict[str, int] = {}
        rows = [
            ("late", MINE, 1, NOW + timedelta(days=5), None, None),
            ("soon", MINE, 2, NOW + timedelta(days=1), 7, None),
            ("no_deadline_old", MINE, 3, None, None, None),
            ("no_deadline_new", ALSO_MINE, 4, None, 7, None),
            ("read", MINE, 5, NOW + timedelta(hours=1), None, None),
            ("in_a_group_left", LEFT, 6, NOW, None, None),
            ("original_elsewhere", NOT_MINE, 7, NOW + timedelta(days=2), None, None),
        ]
        for offset, (name, chat, message, deadline, department, _dup) in enumerate(rows):
            notice = Notice(
                chat_id=chat,
                message_id=message,
                text=name,
                posted_at=NOW + timedelta(minutes=offset),
                deadline_at=deadline,
                department_id=department,
            )
            session.add(notice)
            await session.flush()
            ids[name] = notice.id
        # A copy of "soon" in the person's other group, and a copy of a notice from a group the
        # person is not in: the first is shown once (under "soon"), the second is shown.
        for name, chat, message, original in (
            ("copy_of_soon", ALSO_MINE, 8, "soon"),
            ("copy_of_elsewhere", ALSO_MINE, 9, "original_elsewhere"),
        ):
            notice = Notice(
                chat_id=chat,
                message_id=message,
                text=name,
                posted_at=NOW + timedelta(minutes=10),
                deadline_at=NOW + timedelta(days=2),
                duplicate_of=ids[original],
            )
            session.add(notice)
            await session.flush()
            ids[name] = notice.id
        await session.execute(
            insert(Read).values(chat_id=MINE, message_id=5, person_id=PERSON, via="button", read_at=NOW)
        )
    return ids


async def page(db: Database, **options) -> tuple[list[str], int, dict[str, int]]:
    values = {"include_read": False, "department_id": None, "offset": 0, "limit": 10, **options}
    async with db.transaction() as session:
        items, total = await InboxRepository(session).page(PERSON, **values)
    return (
        [item.notice.text for item in items],
        total,
        {item.notice.text: item.also_in for item in items if item.also_in},
    )


async def test_unread_notices_of_present_groups_in_deadline_order_copies_once(db: Database) -> None:
    await seed(db)
    texts, total, copies = await page(db)
    assert texts == ["soon", "copy_of_elsewhere", "late", "no_deadline_new", "no_deadline_old"]
    assert total == 5
    assert copies == {"soon": 1}


async def test_all_includes_read_ones_marked_and_pages_add_up(db: Database) -> None:
    await seed(db)
    texts, total, _ = await page(db, include_read=True)
    assert texts[0] == "read" and total == 6
    pages = [await page(db, include_read=True, offset=offset, limit=4) for offset in (0, 4)]
    assert [text for texts, _total, _copies in pages for text in texts] == texts
    assert {total for _texts, total, _copies in pages} == {6}
    async with db.transaction() as session:
        items, _ = await InboxRepository(session).page(PERSON, include_read=True, department_id=None, offset=0, limit=1)
    assert items[0].read and items[0].chat_title == "群101"


async def test_a_page_past_the_end_is_empty_but_keeps_the_total(db: Database) -> None:
    await seed(db)
    assert await page(db, offset=20, limit=5) == ([], 5, {})


async def test_department_filter(db: Database) -> None:
    await seed(db)
    texts, total, _ = await page(db, department_id=7)
    assert texts == ["soon", "no_deadline_new"] and total == 2
    async with db.transaction() as session:
        items, _ = await InboxRepository(session).page(PERSON, include_read=False, department_id=7, offset=0, limit=1)
    assert items[0].department_name == "民政局"


async def test_an_empty_inbox(db: Database) -> None:
    async with db.transaction() as session:
        assert await InboxRepository(session).page(
            PERSON, include_read=True, department_id=None, offset=0, limit=5
        ) == ([], 0)


async def test_reads_recorded_later_are_seen_by_every_query_of_their_transaction(db: Database) -> None:
    ids = await seed(db)
    async with db.transaction() as session:
        reads = ReadRepository(session)
        reads.record_later(MINE, 1, PERSON, "ack", NOW)  # "late"
        reads.record_later(MINE, 5, PERSON, "ack", NOW)  # read before: kept once
        reads.record_later(MINE, 1, 2, "ack", NOW)
        # Asked in the same transaction, before it commits: the reads are there.
        assert await reads.readers(MINE, 1) == {PERSON, 2}
        assert await reads.count(MINE, 5) == 1
        reads.record_later(ALSO_MINE, 4, PERSON, "ack", NOW)  # "no_deadline_new"
        page, _total = await InboxRepository(session).page(
            PERSON, include_read=False, department_id=None, offset=0, limit=20
        )
        assert ids["late"] not in {item.notice.id for item in page}
        assert ids["no_deadline_new"] not in {item.notice.id for item in page}
        reads.record_later(MINE, 2, PERSON, "ack", NOW)
        await reads.carry_over(MINE, 2, 99)  # a demand reposted as a tracked notice
        assert await reads.readers(MINE, 99) == {PERSON}
        # A direct record learns that the read kept for later is not new.
        reads.record_later(MINE, 3, PERSON, "ack", NOW)
        assert not await reads.record(MINE, 3, PERSON, "button", NOW)
    async with db.transaction() as session:
        assert await ReadRepository(session).counts(MINE) == {1: 2, 2: 1, 3: 1, 5: 1, 99: 1}


async def test_reads_recorded_later_are_written_at_commit_and_not_at_all_on_rollback(db: Database) -> None:
    await seed(db)
    async with db.transaction() as session:
        ReadRepository(session).record_later(MINE, 1, PERSON, "ack", NOW)
        ReadRepository(session).record_later(MINE, 2, PERSON, "ack", NOW)
    with pytest.raises(RuntimeError):
        async with db.transaction() as session:
            ReadRepository(session).record_later(MINE, 3, PERSON, "ack", NOW)
            raise RuntimeError("the update failed")
    async with db.transaction() as session:
        assert await ReadRepository(session).counts(MINE) == {1: 1, 2: 1, 5: 1}


async def test_a_transaction_asks_for_a_groups_latest_notice_once_until_it_stores_one(db: Database) -> None:
    await seed(db)
    with Statements(db, "SELECT notices.message_id") as asked:
        async with db.transaction() as session:
            notices = NoticeRepository(session)
            newest = await notices.latest_since(MINE, NOW)
            assert newest is not None and newest.text == "read"  # posted NOW + 4 minutes
            assert await notices.latest_since(MINE, NOW + timedelta(minutes=1)) == newest
            assert await notices.latest_since(MINE, NOW - timedelta(days=1)) == newest
            assert len(asked) == 1
            assert await notices.latest_since(MINE, NOW + timedelta(minutes=5)) is None  # past it: asked
            assert await notices.latest_since(MINE, NOW + timedelta(minutes=6)) is None
            assert len(asked) == 2
            later = Notice(chat_id=MINE, message_id=50, text="new", posted_at=NOW + timedelta(minutes=7))
            await notices.add_posted(later, NOW)
            # The notice just posted is the newest since the last answer: nothing asked.
            assert (await notices.latest_since(MINE, NOW + timedelta(minutes=6))).text == "new"
            assert len(asked) == 2
            assert await notices.latest_since(MINE, NOW + timedelta(minutes=8)) is None  # after it: asked
            assert len(asked) == 3


@pytest.mark.parametrize(
    ("posted", "message_id", "just_posted"),
    [
        (timedelta(minutes=3), 51, True),  # older than the newest the transaction knows of
        (timedelta(minutes=7), None, False),  # a tracked notice still being posted
        (timedelta(minutes=7), 52, False),  # an edited message stored again
    ],
)
async def test_a_notice_stored_that_may_not_be_the_newest_makes_the_transaction_ask_again(
    db: Database, posted: timedelta, message_id: int | None, just_posted: bool
) -> None:
    await seed(db)
    with Statements(db, "SELECT notices.message_id") as asked:
        async with db.transaction() as session:
            notices = NoticeRepository(session)
            newest = await notices.latest_since(MINE, NOW)
            stored = Notice(chat_id=MINE, message_id=message_id, text="stored", posted_at=NOW + posted)
            await (notices.add_posted(stored, NOW) if just_posted else notices.add(stored))
            again = await notices.latest_since(MINE, NOW)
            assert len(asked) == 2
            assert newest.text == "read"
            # What the database says: the newest with a message, by the time it was posted.
            assert again.text == ("read" if message_id is None or posted < timedelta(minutes=4) else "stored")


async def test_a_batch_reads_the_latest_notice_of_its_groups_in_one_query(db: Database) -> None:
    await seed(db)  # the newest: MINE "read" (+4 min), LEFT (+5), NOT_MINE (+6), ALSO_MINE "copy_of_elsewhere" (+10)
    since = NOW + timedelta(minutes=5)
    with Statements(db, "SELECT notices", "SELECT anon_1") as asked:
        async with db.transaction() as session:
            notices = NoticeRepository(session)
            await notices.know_latest([MINE, ALSO_MINE, LEFT, NOT_MINE], since)
            assert len(asked) == 1
            assert await notices.latest_since(MINE, since) is None  # "read" came before
            assert await notices.latest_since(MINE, since + timedelta(minutes=1)) is None
            assert (await notices.latest_since(ALSO_MINE, since)).text == "copy_of_elsewhere"
            assert (await notices.latest_since(LEFT, since)).text == "in_a_group_left"
            assert (await notices.latest_since(NOT_MINE, since + timedelta(minutes=1))).text == "original_elsewhere"
            await notices.know_latest([MINE], NOW)  # known already: not asked again
            assert len(asked) == 1
            # Asked since an earlier moment than the batch's read: the database answers.
            assert (await notices.latest_since(MINE, NOW)).text == "read"
            assert len(asked) == 2
    for moment in (NOW, since, NOW + timedelta(minutes=7)):  # each answer is the one-group query's
        for chat in (MINE, ALSO_MINE, LEFT, NOT_MINE):
            async with db.transaction() as session:
                alone = await NoticeRepository(session).latest_since(chat, moment)
            async with db.transaction() as session:
                notices = NoticeRepository(session)
                await notices.know_latest([chat, MINE], moment)
                assert await notices.latest_since(chat, moment) == alone
