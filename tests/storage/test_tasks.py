"""Due work: scheduled once, claimed by exactly one worker, resumed after a crash."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from storage.db import FAILED_KEY, Database
from storage.models import OutboxAction
from storage.repositories.outbox import HandledUpdates, NewAction, OutboxRepository
from storage.repositories.tasks import DONE, FAILED, PENDING, RUNNING, TaskRepository
from tests.storage.statements import Statements

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
LEASE = timedelta(minutes=5)


async def test_schedule_is_idempotent_by_key(db: Database) -> None:
    async with db.transaction() as session:
        tasks = TaskRepository(session)
        assert await tasks.schedule("delete_message", "k1", NOW, {"chat_id": -1}) is True
        assert await tasks.schedule("delete_message", "k1", NOW + timedelta(days=1)) is False
    async with db.transaction() as session:
        task = await TaskRepository(session).get_by_key("k1")
    assert task is not None and task.due_at == NOW and task.payload == {"chat_id": -1}


async def test_tasks_scheduled_later_are_written_together_at_commit_once_per_key(db: Database) -> None:
    with Statements(db, "INSERT INTO tasks") as written:
        async with db.transaction() as session:
            tasks = TaskRepository(session)
            tasks.schedule_later("deadline", "d1", NOW, {"notice_id": 1})
            tasks.schedule_later("deadline", "d1", NOW + timedelta(days=1), {"notice_id": 2})
            tasks.schedule_later("kept_message", "kept:5:", NOW)
            assert written == []
        assert len(written) == 1  # one statement for all three rows
        with pytest.raises(RuntimeError):
            async with db.transaction() as session:
                TaskRepository(session).schedule_later("deadline", "d2", NOW)
                raise RuntimeError("the update failed")
    async with db.transaction() as session:
        tasks = TaskRepository(session)
        first = await tasks.get_by_key("d1")
        assert first is not None and first.payload == {"notice_id": 1} and first.state == PENDING
        assert await tasks.get_by_key("kept:5:") is not None
        assert await tasks.get_by_key("d2") is None  # rolled back with its transaction


@pytest.mark.parametrize(
    ("ask", "sees_it"),
    [
        (lambda tasks: tasks.get_by_key("d1"), lambda task: task is not None),
        (lambda tasks: tasks.pending_by_key_prefix("deadline", "d", NOW - timedelta(minutes=1)), lambda found: found),
        (lambda tasks: tasks.claim_due(NOW, limit=10, lease=LEASE), lambda claimed: claimed),
        (lambda tasks: tasks.backlog(NOW), lambda backlog: backlog == (1, NOW)),
        (lambda tasks: tasks.schedule("deadline", "d1", NOW), lambda added: added is False),  # the key is taken
    ],
)
async def test_a_task_scheduled_later_is_seen_by_the_transactions_next_task_query(
    db: Database, ask: Any, sees_it: Any
) -> None:
    async with db.transaction() as session:
        tasks = TaskRepository(session)
        tasks.schedule_later("deadline", "d1", NOW)
        assert sees_it(await ask(tasks))


async def test_claim_takes_only_due_tasks_in_due_order(db: Database) -> None:
    async with db.transaction() as session:
        tasks = TaskRepository(session)
        await tasks.schedule("t", "later", NOW + timedelta(minutes=1))
        await tasks.schedule("t", "second", NOW - timedelta(minutes=1))
        await tasks.schedule("t", "first", NOW - timedelta(minutes=2))
    async with db.transaction() as session:
        claimed = await TaskRepository(session).claim_due(NOW, limit=10, lease=LEASE)
    assert [task.key for task in claimed] == ["first", "second"]
    assert all(task.state == RUNNING and task.attempts == 1 for task in claimed)
    async with db.transaction() as session:
        assert await TaskRepository(session).claim_due(NOW, limit=10, lease=LEASE) == []


async def test_expired_lease_is_claimed_again_after_a_crash(db: Database) -> None:
    async with db.transaction() as session:
        await TaskRepository(session).schedule("t", "k", NOW)
    async with db.transaction() as session:
        [task] = await TaskRepository(session).claim_due(NOW, limit=1, lease=LEASE)
    # The worker dies here without completing; before the lease ends nobody else takes it.
    async with db.transaction() as session:
        assert await TaskRepository(session).claim_due(NOW + LEASE, limit=1, lease=LEASE) == []
    async with db.transaction() as session:
        [again] = await TaskRepository(session).claim_due(NOW + LEASE + timedelta(seconds=1), limit=1, lease=LEASE)
    assert again.id == task.id and again.attempts == 2


async def test_complete_retry_and_fail(db: Database) -> None:
    async with db.transaction() as session:
        tasks = TaskRepository(session)
        for key in ("a", "b", "c"):
            await tasks.schedule("t", key, NOW)
    async with db.transaction() as session:
        tasks = TaskRepository(session)
        a, b, c = await tasks.claim_due(NOW, limit=3, lease=LEASE)
        assert await tasks.complete(a, NOW)
        assert await tasks.retry(b, NOW + timedelta(minutes=1), "429 retry later")
        assert await tasks.fail(c, NOW, "403 kicked")
    async with db.transaction() as session:
        tasks = TaskRepository(session)
        states = {key: (await tasks.get_by_key(key)).state for key in ("a", "b", "c")}
        assert states == {"a": DONE, "b": PENDING, "c": FAILED}
        assert await tasks.claim_due(NOW, limit=3, lease=LEASE) == []
        [retried] = await tasks.claim_due(NOW + timedelta(minutes=1), limit=3, lease=LEASE)
        assert retried.key == "b" and retried.last_error == "429 retry later"


async def test_a_worker_whose_lease_ran_out_cannot_settle_the_new_claim(db: Database) -> None:
    async with db.transaction() as session:
        await TaskRepository(session).schedule("t", "k", NOW)
    async with db.transaction() as session:
        [slow] = await TaskRepository(session).claim_due(NOW, limit=1, lease=LEASE)
    later = NOW + LEASE + timedelta(seconds=1)
    async with db.transaction() as session:
        [fresh] = await TaskRepository(session).claim_due(later, limit=1, lease=LEASE)
    async with db.transaction() as session:
        tasks = TaskRepository(session)
        assert await tasks.complete(slow, later) is False
        assert (await tasks.get_by_key("k")).state == RUNNING
        assert await tasks.retry(fresh, later + timedelta(minutes=1), "retry") is True
        assert (await tasks.get_by_key("k")).state == PENDING


async def test_two_workers_on_one_database_never_claim_the_same_task(database_url: str) -> None:
    first, second = Database.from_url(database_url), Database.from_url(database_url)
    try:
        from storage.models import Base

        async with first.engine.begin() as connection:
            await connection.run_sync(Base.metadata.create_all)
        async with first.transaction() as session:
            tasks = TaskRepository(session)
            for number in range(40):
                await tasks.schedule("t", f"k{number}", NOW)

        async def drain(database: Database) -> list[str]:
            keys: list[str] = []
            while True:
                async with database.transaction() as session:
                    claimed = await TaskRepository(session).claim_due(NOW, limit=3, lease=LEASE)
                if not claimed:
                    return keys
                keys.extend(task.key for task in claimed)

        one, two = await asyncio.gather(drain(first), drain(second))
        assert sorted(one + two) == sorted(f"k{number}" for number in range(40))
        assert not set(one) & set(two)
    finally:
        await first.dispose()
        await second.dispose()


async def test_a_pending_task_changes_only_until_a_worker_claims_it(db: Database) -> None:
    async with db.transaction() as session:
        tasks = TaskRepository(session)
        await tasks.schedule("held", "h1", NOW + timedelta(hours=1), {"text": "x", "confirmed": False})
        await tasks.schedule("delete_message", "d1", NOW + timedelta(minutes=10))
        task = await tasks.get_by_key("h1")
        assert await tasks.change_pending(task.id, payload={"text": "x", "confirmed": True})
        assert (await tasks.get(task.id)).payload["confirmed"] is True  # seen at once in the same session
        assert await tasks.postpone("d1", NOW + timedelta(hours=1))
        assert await tasks.postpone("missing", NOW) is False
    async with db.transaction() as session:
        assert (await TaskRepository(session).get_by_key("d1")).due_at == NOW + timedelta(hours=1)
        assert await TaskRepository(session).claim_due(NOW + timedelta(hours=1), limit=10, lease=LEASE)
    async with db.transaction() as session:
        tasks = TaskRepository(session)
        # Claimed: a late choice loses, and so does a postponement.
        assert await tasks.change_pending(task.id, state=DONE) is False
        assert await tasks.postpone("d1", NOW + timedelta(days=1)) is False
        assert (await tasks.get(task.id)).state == RUNNING


async def test_a_settle_is_undone_by_reopen_within_its_transaction(db: Database) -> None:
    async with db.transaction() as session:
        tasks = TaskRepository(session)
        await tasks.schedule("held", "h1", NOW, {"text": "x"})
        task = await tasks.get_by_key("h1")
        assert await tasks.change_pending(task.id, state=DONE, done_at=NOW)
        assert await tasks.reopen(task.id)
        assert await tasks.reopen(task.id) is False  # pending again: nothing to undo
        await tasks.set_payload(task.id, {"outcome": "kept"})
    async with db.transaction() as session:
        task = await TaskRepository(session).get_by_key("h1")
    assert (task.state, task.done_at, task.payload) == (PENDING, None, {"outcome": "kept"})


async def test_updates_are_claimed_together_once_and_failing_ones_taken_over(db: Database) -> None:
    async with db.transaction() as session:
        handled = HandledUpdates(session)
        assert await handled.claim_many([3, 1, 2], NOW) == {1, 2, 3}
        await handled.count_failure(5, NOW, give_up_after=3)  # a failed try: claimed again below
        await handled.set_aside(6, NOW)
    async with db.transaction() as session:
        # Handled, failing, set aside and new ids in one claim: only the failing and the new are taken.
        assert await HandledUpdates(session).claim_many([2, 4, 5, 6], NOW) == {4, 5}
    async with db.transaction() as session:
        session.info[FAILED_KEY] = True  # rolled back: the claim is given back with it
        assert await HandledUpdates(session).claim_many([7], NOW) == {7}
    async with db.transaction() as session:
        assert await HandledUpdates(session).claim_many([7, 1], NOW) == {7}
        # An id twice (a webhook retry in the same batch) is claimed once.
        assert await HandledUpdates(session).claim_many([8, 8], NOW) == {8}
        assert {await HandledUpdates(session).state_of(update_id) for update_id in (1, 4, 5, 7)} == {"done"}


async def test_outbox_rows_written_together_learn_their_own_ids(db: Database) -> None:
    actions = [NewAction("delete", -100 - number, {"message_id": number}) for number in range(5)]
    async with db.transaction() as session:
        outbox = OutboxRepository(session)
        [first] = await outbox.add(actions[:1], NOW, LEASE)
        ids = await outbox.add(actions[1:], NOW, LEASE)
    assert ids == sorted(ids) and len(set(ids)) == 4 and first not in ids
    async with db.transaction() as session:
        for row_id, action in zip([first, *ids], actions, strict=True):
            row = await session.get(OutboxAction, row_id)
            assert (row.chat_id, row.payload) == (action.chat_id, action.payload)
