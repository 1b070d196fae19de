"""Record, commit, then act: what is performed when, and what a crash, a timeout or a retry does."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

from bot.actions import GATHERING
from bot.testing.fake import BAD_GATEWAY, NOT_ENOUGH_RIGHTS, TIMEOUT, TIMEOUT_AFTER_ACTING
from policies.actions import Delete, Outcome, RecordEvent, Say, Send, Then
from storage.models import Event, OutboxAction, Read
from tests.bot.conftest import ADMIN, GROUP, MEMBER, STRANGER, Harness, no_transaction_open

ALL_RIGHTS = {"can_delete_messages": True}


async def join(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="administrator", rights=ALL_RIGHTS))


async def rows(harness: Harness, kind: str | None = None) -> list[OutboxAction]:
    async with harness.session() as session:
        query = select(OutboxAction).order_by(OutboxAction.id)
        if kind:
            query = query.where(OutboxAction.kind == kind)
        return list((await session.scalars(query)).all())


async def count(harness: Harness, model, *where) -> int:
    async with harness.session() as session:
        return int(await session.scalar(select(func.count()).select_from(model).where(*where)) or 0)


async def committed_not_acted(harness: Harness, update) -> None:
    """The update's transaction commits, then the process dies before acting."""
    committed, _planned = await harness.app.record_update(update)
    assert committed


def expire_leases(harness: Harness) -> None:
    harness.clock.advance(timedelta(seconds=harness.deps.settings.jobs.lease_seconds + 1))


async def test_a_telegram_call_inside_a_transaction_is_caught() -> None:
    """The guard every application test runs with (conftest) really fails such a call."""
    from storage.db import Database

    db = Database.from_url("sqlite+aiosqlite:///:memory:")
    async with db.transaction() as session:
        await session.execute(select(1))
        with pytest.raises(AssertionError, match="inside an open database transaction"):
            no_transaction_open("sendMessage")
    no_transaction_open("sendMessage")
    await db.dispose()


async def test_an_ack_is_deleted_only_after_its_read_is_committed(harness: Harness) -> None:
    await join(harness)
    notice = harness.updates.message(GROUP, ADMIN, "#通知 周五前报送台账")
    await harness.send(notice)
    ack = harness.updates.message(GROUP, MEMBER, "收到", reply_to=notice.message.message_id)
    await committed_not_acted(harness, ack)
    # Committed: the read is there and the deletion waits in the outbox; Telegram saw nothing yet.
    assert await count(harness, Read) == 1
    assert not harness.fake.is_deleted(GROUP, ack.message.message_id)
    [row] = await rows(harness, "delete")
    assert row.state == "pending"
    # The process died: once its lease runs out the sweep performs it, counts it, tips once.
    expire_leases(harness)
    await harness.sweep()
    assert harness.fake.is_deleted(GROUP, ack.message.message_id)
    assert (await rows(harness, "delete"))[0].state == "done"
    assert await count(harness, Event, Event.kind == "ack_removed") == 1


async def test_a_delete_whose_answer_was_lost_is_repeated_and_counted_once(harness: Harness) -> None:
    await join(harness)
    notice = harness.updates.message(GROUP, ADMIN, "#通知 周五前报送台账")
    await harness.send(notice)
    harness.fake.fail_next("deleteMessage", TIMEOUT_AFTER_ACTING)
    ack = harness.updates.message(GROUP, MEMBER, "收到", reply_to=notice.message.message_id)
    await harness.send(ack)
    assert harness.fake.is_deleted(GROUP, ack.message.message_id)
    assert await count(harness, Event, Event.kind == "ack_removed") == 0  # not known yet
    harness.clock.advance(timedelta(minutes=1))
    await harness.sweep()
    # The repeat finds it gone: the first try did it, so now it is counted, once.
    assert await count(harness, Event, Event.kind == "ack_removed") == 1
    assert (await rows(harness, "delete"))[0].state == "done"


async def test_a_message_whose_answer_was_lost_is_never_sent_twice(harness: Harness) -> None:
    await join(harness)
    harness.fake.fail_next("sendMessage", TIMEOUT_AFTER_ACTING, chat_id=ADMIN)
    async with harness.deps.pipeline.unit() as unit:
        unit.emit(Say(ADMIN, "temp.closed_owner", {"title": "第七网格工作群"}))
    for _ in range(3):
        harness.clock.advance(timedelta(hours=1))
        await harness.sweep()
    assert len([m for m in harness.fake.sent(ADMIN) if "第七网格工作群" in m.get("text", "")]) == 1
    row = (await rows(harness, "send"))[-1]
    assert (row.state, row.outcome) == ("uncertain", "uncertain")


async def test_a_send_clearly_refused_for_now_is_retried_until_it_goes_out(harness: Harness) -> None:
    await join(harness)
    harness.fake.fail_next("sendMessage", BAD_GATEWAY, chat_id=ADMIN, times=2)
    async with harness.deps.pipeline.unit() as unit:
        unit.emit(Say(ADMIN, "temp.closed_owner", {"title": "第七网格工作群"}))
    assert (await rows(harness, "send"))[-1].state == "pending"
    for _ in range(3):
        harness.clock.advance(timedelta(minutes=5))
        await harness.sweep()
    assert len([m for m in harness.fake.sent(ADMIN) if "第七网格工作群" in m.get("text", "")]) == 1
    assert (await rows(harness, "send"))[-1].state == "done"


async def test_a_process_that_died_mid_send_leaves_it_uncertain_not_sent_twice(harness: Harness) -> None:
    await join(harness)
    async with harness.session() as session:
        planned = await harness.deps.pipeline.record(
            session, [Say(ADMIN, "temp.closed_owner", {"title": "第七网格工作群"})]
        )
    [item] = planned
    assert await harness.deps.pipeline._mark_sending(item)  # the call was about to be made: then a crash
    expire_leases(harness)
    await harness.sweep()
    assert not [m for m in harness.fake.sent(ADMIN) if "第七网格工作群" in m.get("text", "")]
    assert (await rows(harness, "send"))[-1].state == "uncertain"


async def test_follow_ups_depend_on_the_outcome(harness: Harness) -> None:
    await join(harness)
    tip, told = Say(MEMBER, "received.tip"), RecordEvent("refused", GROUP, "refused:1")
    harness.fake.fail_next("deleteMessage", NOT_ENOUGH_RIGHTS)
    async with harness.deps.pipeline.unit() as unit:
        unit.emit(Delete(GROUP, 1, then=Then(done=(tip,), no_rights=(told,))))
    assert await count(harness, Event, Event.kind == "refused") == 1
    assert harness.fake.sent(MEMBER) == []
    assert (await rows(harness, "delete"))[0].outcome == "no_rights"


async def test_a_row_taken_over_by_another_process_is_settled_by_it_alone(harness: Harness) -> None:
    await join(harness)
    message = harness.fake.add_message(GROUP, STRANGER, "收到")["message_id"]
    done = RecordEvent("x", GROUP, None)  # no key: recorded again if the follow-up ran twice
    async with harness.session() as session:
        planned = await harness.deps.pipeline.record(session, [Delete(GROUP, message, then=Then(done=(done,)))])
    expire_leases(harness)
    # Another replica takes the row over (its lease ran out) and settles it.
    assert await harness.deps.pipeline.resume_due(limit=10) == 1
    # The first process wakes up and performs it too: its result is not recorded, no follow-up twice.
    await harness.deps.pipeline.act(planned)
    assert await count(harness, Event, Event.kind == "x") == 1


async def test_an_action_past_its_time_is_not_tried(harness: Harness) -> None:
    await join(harness)
    harness.fake.fail_next("sendMessage", BAD_GATEWAY, chat_id=ADMIN)
    until = harness.clock() + timedelta(minutes=30)
    marker = RecordEvent("expired", GROUP, "expired:1")
    async with harness.deps.pipeline.unit() as unit:
        unit.emit(Send(ADMIN, "旧的周报", valid_until=until, then=Then(expired=(marker,))))
    harness.clock.advance(timedelta(hours=1))
    await harness.sweep()
    assert not [m for m in harness.fake.sent(ADMIN) if m.get("text") == "旧的周报"]
    assert (await rows(harness, "send"))[-1].outcome == "expired"
    assert await count(harness, Event, Event.kind == "expired") == 1


async def test_deletions_that_come_while_a_chats_call_is_in_flight_go_out_as_one_call(
    harness: Harness, monkeypatch: pytest.MonkeyPatch
) -> None:
    await join(harness)
    messages = [harness.fake.add_message(GROUP, MEMBER, f"收到{n}")["message_id"] for n in range(6)]
    telegram = harness.deps.pipeline.telegram
    answer = harness.fake.do_request

    async def in_flight(*args: Any, **kwargs: Any) -> tuple[int, bytes]:
        await asyncio.sleep(0)  # a real call waits for Telegram's answer: others run meanwhile
        return await answer(*args, **kwargs)

    monkeypatch.setattr(harness.fake, "do_request", in_flight)
    # Alone, a deletion goes at once and by itself (its outcome is exact: too old, not found…).
    assert (await telegram.perform(Delete(GROUP, messages[0]))).outcome is Outcome.DONE
    assert len(harness.fake.calls_to("deleteMessage")) == 1
    results = await asyncio.gather(*(telegram.perform(Delete(GROUP, m)) for m in messages[1:]))
    assert {r.outcome for r in results} == {Outcome.DONE}
    assert all(harness.fake.is_deleted(GROUP, m) for m in messages)
    # The first of the five went at once (no timer holds a deletion back); the four that came
    # while it was in flight went out together right after it.
    [batch] = harness.fake.calls_to("deleteMessages")
    assert sorted(batch["message_ids"]) == sorted(messages[2:])
    assert [call["message_id"] for call in harness.fake.calls_to("deleteMessage")] == messages[:2]


async def test_deletions_started_together_from_a_backlog_go_out_as_one_call(harness: Harness) -> None:
    await join(harness)
    messages = [harness.fake.add_message(GROUP, MEMBER, f"收到{n}")["message_id"] for n in range(5)]
    telegram = harness.deps.pipeline.telegram
    together = GATHERING.set(True)
    try:
        pending = [asyncio.ensure_future(telegram.perform(Delete(GROUP, m))) for m in messages]
    finally:
        GATHERING.reset(together)
    assert {r.outcome for r in await asyncio.gather(*pending)} == {Outcome.DONE}
    [batch] = harness.fake.calls_to("deleteMessages")
    assert sorted(batch["message_ids"]) == messages and not harness.fake.calls_to("deleteMessage")


async def test_a_quiet_chats_deletion_goes_out_before_work_queued_ahead_of_it(harness: Harness) -> None:
    await join(harness)
    message = harness.fake.add_message(GROUP, MEMBER, "收到")["message_id"]
    calls: list[str] = []
    harness.fake.before_call = calls.append
    # What the intake queues right after starting an update's actions: the next long poll.
    asyncio.get_running_loop().call_soon(calls.append, "next getUpdates")
    assert (await harness.deps.pipeline.telegram.perform(Delete(GROUP, message))).outcome is Outcome.DONE
    await asyncio.sleep(0)
    assert calls.index("deleteMessage") < calls.index("next getUpdates")


async def test_a_timeout_on_a_delete_is_retried_not_given_up(harness: Harness) -> None:
    await join(harness)
    message = harness.fake.add_message(GROUP, STRANGER, "收到")["message_id"]
    harness.fake.fail_next("deleteMessage", TIMEOUT)
    async with harness.deps.pipeline.unit() as unit:
        unit.emit(Delete(GROUP, message))
    assert not harness.fake.is_deleted(GROUP, message)
    harness.clock.advance(timedelta(minutes=1))
    await harness.sweep()
    assert harness.fake.is_deleted(GROUP, message)


async def test_old_update_ids_and_finished_actions_are_forgotten(harness: Harness) -> None:
    from bot.jobs.sweep import forget_old_records
    from storage.models import HandledUpdate

    await join(harness)
    async with harness.deps.pipeline.unit() as unit:
        unit.emit(Delete(GROUP, harness.fake.add_message(GROUP, MEMBER, "收到")["message_id"]))
    async with harness.session() as session:
        stamps = [row.at for row in (await session.scalars(select(HandledUpdate))).all()]
    assert stamps and all(stamp.minute == stamp.second == 0 for stamp in stamps)  # dated to the hour only
    finished = await count(harness, OutboxAction, OutboxAction.state == "done")
    assert finished >= 1
    harness.clock.advance(timedelta(days=3))
    await forget_old_records(harness.deps)
    assert await count(harness, HandledUpdate) == 0
    assert await count(harness, OutboxAction, OutboxAction.state == "done") == finished  # kept a week
    harness.clock.advance(timedelta(days=5))
    await forget_old_records(harness.deps)
    assert await count(harness, OutboxAction) == 0


async def test_outcomes_recorded_together_settle_in_one_statement_and_leave_a_taken_over_row_alone(
    harness: Harness,
) -> None:
    await join(harness)
    messages = [harness.fake.add_message(GROUP, MEMBER, f"收到{n}")["message_id"] for n in range(4)]
    counted = RecordEvent("x", GROUP, None)  # no key: recorded again if a follow-up ran twice
    pipeline = harness.deps.pipeline
    deletes = [Delete(GROUP, message, then=Then(done=(counted,))) for message in messages]
    for taken_over in (False, True):
        async with harness.session() as session:
            planned = await pipeline.record(session, deletes)
        if taken_over:
            # Another process claimed one row meanwhile (its lease ran out): its attempt, not ours.
            async with harness.session() as session:
                row = await session.get(OutboxAction, planned[0].row_id)
                row.attempts += 1
        settles = statements(harness, "UPDATE outbox SET state")
        together = GATHERING.set(True)  # started together, as the intake starts a backlog's actions
        try:
            await asyncio.gather(*(pipeline.perform(item) for item in planned))
        finally:
            GATHERING.reset(together)
        if not taken_over:
            # One deleteMessages call, its four outcomes in one transaction: one settling statement.
            assert len(settles) == 1
            assert await count(harness, Event, Event.kind == "x") == 4
        else:
            # The shared transaction found the row was not ours: each outcome was recorded alone,
            # and the taken-over row's follow-up was left to the process that owns it now.
            assert await count(harness, Event, Event.kind == "x") == 4 + 3
            assert (await rows(harness))[-4].state == "pending"
            assert {row.state for row in (await rows(harness))[-3:]} == {"done"}


def statements(harness: Harness, prefix: str) -> list[str]:
    """The SQL statements starting with `prefix` that run from now on (a live list)."""
    seen: list[str] = []

    def note(_conn, _cursor, statement: str, *_args) -> None:
        if statement.startswith(prefix):
            seen.append(statement)

    event.listen(harness.db.engine.sync_engine, "before_cursor_execute", note)
    return seen
