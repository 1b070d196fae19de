"""What the whistle flows keep between messages, on real databases: drafts, rate-limit hits per
bucket (atomic across connections), and supervisors' pending answers."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from storage.db import Database
from storage.models import WhistleDraft, WhistleLimit, WhistlePendingAnswer
from storage.repositories.whistle_flow import DraftRepository, LimitRepository, PendingAnswerRepository
from storage.repositories.whistles import WhistleRepository

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
NAME = "ab" * 32
SUPERVISOR = 1001


async def count(db: Database, model: type) -> int:
    async with db.transaction() as session:
        return await session.scalar(select(func.count()).select_from(model))


# --- drafts --------------------------------------------------------------------------------------------


async def test_a_draft_is_stored_replaced_and_deleted(db: Database) -> None:
    async with db.transaction() as session:
        drafts = DraftRepository(session)
        assert await drafts.get(NAME) is None
        await drafts.put(NAME, b"\x01first", NOW + timedelta(minutes=30))
        await drafts.put(NAME, b"\x01second", NOW + timedelta(minutes=40))
    async with db.transaction() as session:
        assert await DraftRepository(session).get(NAME) == (b"\x01second", NOW + timedelta(minutes=40))
        assert await DraftRepository(session).delete(NAME) is True
        assert await DraftRepository(session).delete(NAME) is False
    assert await count(db, WhistleDraft) == 0


async def test_only_expired_drafts_are_purged(db: Database) -> None:
    async with db.transaction() as session:
        drafts = DraftRepository(session)
        await drafts.put("a" * 64, b"x", NOW - timedelta(seconds=1))
        await drafts.put("b" * 64, b"x", NOW)
        await drafts.put("c" * 64, b"x", NOW + timedelta(minutes=5))
    async with db.transaction() as session:
        assert await DraftRepository(session).delete_expired(NOW) == 1
    async with db.transaction() as session:
        assert set(await session.scalars(select(WhistleDraft.name))) == {"b" * 64, "c" * 64}


# --- rate limits ----------------------------------------------------------------------------------------


async def test_hits_are_taken_up_to_the_limit_and_then_refused(db: Database) -> None:
    async with db.transaction() as session:
        limits = LimitRepository(session)
        assert [await limits.take("codes", 100, 7, 3) for _ in range(4)] == [True, True, True, False]
        assert await limits.hits("codes", 100, 7) == 3
        # Another bucket, period or limit kind counts on its own.
        assert await limits.take("codes", 100, 8, 3)
        assert await limits.take("codes", 101, 7, 3)
        assert await limits.take("reports", 100, 7, 3)
        assert await limits.hits("codes", 100, 8) == 1


async def test_a_hit_given_back_frees_it_and_an_empty_bucket_leaves_no_row(db: Database) -> None:
    async with db.transaction() as session:
        limits = LimitRepository(session)
        await limits.take("codes", 100, 7, 2)
        await limits.take("codes", 100, 7, 2)
        await limits.give_back("codes", 100, 7)
        assert await limits.take("codes", 100, 7, 2)
        await limits.give_back("codes", 100, 7)
        await limits.give_back("codes", 100, 7)
        await limits.give_back("codes", 100, 7)  # nothing left to give back: no negative count
    assert await count(db, WhistleLimit) == 0


async def test_ended_periods_are_deleted_and_the_current_one_kept(db: Database) -> None:
    async with db.transaction() as session:
        limits = LimitRepository(session)
        for period in (98, 99, 100):
            await limits.take("codes", period, 1, 10)
        await limits.take("reports", 5, 1, 10)
    async with db.transaction() as session:
        assert await LimitRepository(session).delete_ended("codes", 100) == 2
    async with db.transaction() as session:
        rows = set((await session.execute(select(WhistleLimit.kind, WhistleLimit.period))).all())
    assert rows == {("codes", 100), ("reports", 5)}


async def test_two_connections_cannot_both_take_the_last_hit(db: Database) -> None:
    """Two replicas checking a guess at once: the second waits for the first's commit, then is refused."""
    async with db.transaction() as session:
        for _ in range(9):
            await LimitRepository(session).take("codes", 100, 7, 10)
    first_took, release = asyncio.Event(), asyncio.Event()

    async def first() -> bool:
        async with db.transaction() as session:
            took = await LimitRepository(session).take("codes", 100, 7, 10)
            first_took.set()
            await release.wait()  # still checking the code, transaction open
            return took

    async def second() -> bool:
        await first_took.wait()
        async with db.transaction() as session:
            return await LimitRepository(session).take("codes", 100, 7, 10)

    first_task, second_task = asyncio.create_task(first()), asyncio.create_task(second())
    await first_took.wait()
    await asyncio.sleep(0.05)
    assert not second_task.done()  # waiting for the first's lock
    release.set()
    assert await asyncio.wait_for(asyncio.gather(first_task, second_task), timeout=10) == [True, False]
    async with db.transaction() as session:
        assert await LimitRepository(session).hits("codes", 100, 7) == 10


# --- pending answers --------------------------------------------------------------------------------------


async def add_report(db: Database) -> int:
    async with db.transaction() as session:
        return await WhistleRepository(session).add(
            department_id=None, department_name="民政局", category="other", description="每天要求回复收到",
            evidence=(), code_bucket=1, code_hash="scrypt$x", today=date(2026, 11, 23),
        )  # fmt: skip


async def test_a_pending_answer_is_replaced_read_and_purged_when_expired(db: Database) -> None:
    whistle_id = await add_report(db)
    async with db.transaction() as session:
        answers = PendingAnswerRepository(session)
        await answers.put(SUPERVISOR, whistle_id, "response", "zh-CN", NOW + timedelta(minutes=30))
        await answers.put(SUPERVISOR, whistle_id, "rejected", "en", NOW + timedelta(minutes=30))
    async with db.transaction() as session:
        row = await PendingAnswerRepository(session).get(SUPERVISOR)
        assert (row.whistle_id, row.action, row.language) == (whistle_id, "rejected", "en")
        assert await PendingAnswerRepository(session).delete_expired(NOW + timedelta(minutes=30)) == 0
        assert await PendingAnswerRepository(session).delete_expired(NOW + timedelta(minutes=31)) == 1
    assert await count(db, WhistlePendingAnswer) == 0
