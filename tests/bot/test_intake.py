"""Updates in: confirmed only once committed, a batch in one transaction, each chat in order, poison set aside."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from telegram import Update
from telegram.ext import TypeHandler

from bot.handlers._common import transactional
from bot.intake import HOLD_BATCHES, MAX_BATCH, Intake, chat_key
from storage.models import Department, Event, GroupAction, HandledUpdate, Notice, OutboxAction, Person, Read, RoleGrant
from tests.bot.conftest import ADMIN, ENGLISH, GROUP, MEMBER, STRANGER, SUPERVISOR, Harness, make_settings
from tests.storage.statements import Statements

OTHER_GROUP = -1001234500002
ALL_RIGHTS = {"can_delete_messages": True}


async def poll_until(intake: Intake, condition, timeout: float = 10.0) -> None:
    """Run the polling loop until `condition()` holds (loopback work, not the clock under test)."""
    stop = asyncio.Event()
    task = asyncio.create_task(intake.poll(stop))

    async def watch() -> None:
        while not condition():
            if task.done():
                task.result()
            await asyncio.sleep(0.01)

    try:
        await asyncio.wait_for(watch(), timeout)
    finally:
        stop.set()
        await asyncio.wait_for(task, timeout)
    await intake.drain()


async def notice_with_acks(harness: Harness, chat_id: int, people: list[int]) -> tuple[int, list[int]]:
    """A notice, then acks replying to it, queued for getUpdates (not yet handled)."""
    notice = harness.updates.message(chat_id, ADMIN, "#通知 周五前报送台账")
    harness.fake.push_update(notice)
    acks = []
    for person in people:
        ack = harness.updates.message(chat_id, person, "收到", reply_to=notice.message.message_id)
        harness.fake.push_update(ack)
        acks.append(ack.message.message_id)
    return notice.message.message_id, acks


async def join(harness: Harness, chat_id: int = GROUP) -> None:
    await harness.send(
        harness.updates.my_chat_member(chat_id, ADMIN, old="left", new="administrator", rights=ALL_RIGHTS)
    )


async def reads(harness: Harness) -> set[tuple[int, int]]:
    async with harness.session() as session:
        return {(r.chat_id, r.person_id) for r in (await session.scalars(select(Read))).all()}


async def test_a_batch_is_confirmed_only_after_every_update_in_it_committed(harness: Harness) -> None:
    await join(harness)
    _notice, acks = await notice_with_acks(harness, GROUP, [MEMBER, STRANGER])
    intake = Intake(harness.app)
    committed: list[int] = []
    original = harness.app.record_update

    async def record_then_note(update: Any) -> Any:
        result = await original(update)
        committed.append(update.update_id)
        return result

    harness.app.record_update = record_then_note
    offsets_asked = []
    harness.fake.before_call = lambda method: offsets_asked.append(len(committed)) if method == "getUpdates" else None
    await poll_until(intake, lambda: all(harness.fake.is_deleted(GROUP, ack) for ack in acks))
    # The second getUpdates (which confirms the first batch) came only after all three committed.
    assert offsets_asked[0] == 0 and offsets_asked[1] == 3
    assert await reads(harness) == {(GROUP, MEMBER), (GROUP, STRANGER)}
    assert harness.fake.updates == []  # confirmed when the loop stopped


async def test_an_update_fetched_but_not_committed_is_fetched_again(harness: Harness) -> None:
    await join(harness)
    _notice, [ack] = await notice_with_acks(harness, GROUP, [MEMBER])
    intake = Intake(harness.app)
    blocked = asyncio.Event()

    async def stuck(update: Any) -> Any:
        blocked.set()
        await asyncio.Event().wait()  # the process dies here (cancelled below)

    original, harness.app.record_update = harness.app.record_update, stuck
    task = asyncio.create_task(intake.poll(asyncio.Event()))
    await asyncio.wait_for(blocked.wait(), 10)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert len(harness.fake.updates) == 2 and not harness.fake.is_deleted(GROUP, ack)
    # The next process gets the same batch and handles it.
    harness.app.record_update = original
    await poll_until(Intake(harness.app), lambda: harness.fake.is_deleted(GROUP, ack))
    assert await reads(harness) == {(GROUP, MEMBER)}


async def two_busy_chats(harness: Harness) -> Intake:
    """Both groups joined, the first batch after the start taken; then a notice and three acks
    queued in each group."""
    harness.fake.add_group(OTHER_GROUP, "第二个群", creator_id=ADMIN, members=[MEMBER, STRANGER, ENGLISH])
    await join(harness)
    await join(harness, OTHER_GROUP)
    intake = Intake(harness.app)
    await poll_until(intake, lambda: True)  # after a start, the first batch runs one update at a time
    for chat in (GROUP, OTHER_GROUP):
        await notice_with_acks(harness, chat, [MEMBER, STRANGER, ENGLISH])
    return intake


def chat_of(updates: Any) -> int:
    return (updates[0] if isinstance(updates, list) else updates).effective_chat.id


async def test_a_batch_of_several_chats_is_committed_in_one_transaction_each_chat_in_its_order(
    harness: Harness,
) -> None:
    intake = await two_busy_chats(harness)
    together: list[list[int]] = []
    original = harness.app.record_together

    async def record_together(updates: list[Update]) -> Any:
        together.append([update.update_id for update in updates])
        return await original(updates)

    harness.app.record_together = record_together
    await poll_until(intake, lambda: bool(together))
    [batch] = together
    assert len(batch) == 8 and batch == sorted(batch)
    assert await reads(harness) == {
        (chat, person) for chat in (GROUP, OTHER_GROUP) for person in (MEMBER, STRANGER, ENGLISH)
    }


async def test_when_a_batch_fails_its_chats_are_committed_concurrently_each_in_its_order(harness: Harness) -> None:
    intake = await two_busy_chats(harness)
    in_flight: dict[int, int] = {}
    most_at_once, order = [0], {GROUP: [], OTHER_GROUP: []}

    def observing(original: Any) -> Any:
        """Wraps record_update (one update) or record_together (a chat's updates in one
        transaction); the whole batch's transaction fails."""

        async def observed(updates: Any) -> Any:
            if isinstance(updates, list) and len({update.effective_chat.id for update in updates}) > 1:
                return None  # as when one of its updates failed: nothing was committed
            chat = chat_of(updates)
            in_flight[chat] = in_flight.get(chat, 0) + 1
            assert in_flight[chat] == 1, "two updates of one chat at once"
            most_at_once[0] = max(most_at_once[0], sum(in_flight.values()))
            order[chat].extend(update.update_id for update in (updates if isinstance(updates, list) else [updates]))
            await asyncio.sleep(0)  # let the other chat in
            try:
                return await original(updates)
            finally:
                in_flight[chat] -= 1

        return observed

    harness.app.record_update = observing(harness.app.record_update)
    harness.app.record_together = observing(harness.app.record_together)
    await poll_until(intake, lambda: len(order[GROUP]) == 4 and len(order[OTHER_GROUP]) == 4)
    assert most_at_once[0] == 2
    assert order[GROUP] == sorted(order[GROUP]) and order[OTHER_GROUP] == sorted(order[OTHER_GROUP])
    assert await reads(harness) == {
        (chat, person) for chat in (GROUP, OTHER_GROUP) for person in (MEMBER, STRANGER, ENGLISH)
    }


def deleted_together(harness: Harness) -> list[list[int]]:
    """The message ids of each deleteMessages call, and each deleteMessage as a list of one."""
    calls = harness.fake.calls_to("deleteMessages") + harness.fake.calls_to("deleteMessage")
    return [list(call.get("message_ids") or [call["message_id"]]) for call in calls]


async def test_a_backlogs_deletions_wait_for_its_next_batch_and_go_out_in_one_call(harness: Harness) -> None:
    await join(harness)
    intake = Intake(harness.app)
    notice = harness.updates.message(GROUP, ADMIN, "#通知 周五前报送台账")
    await intake.commit_batch([notice])
    acks = [
        harness.updates.message(GROUP, person, "收到", reply_to=notice.message.message_id)
        for person in (MEMBER, STRANGER, ENGLISH)
    ]
    await intake.commit_batch(acks[:2], more_waiting=True)
    await asyncio.sleep(0)
    assert deleted_together(harness) == []  # committed and held while more updates wait
    assert await reads(harness) == {(GROUP, MEMBER), (GROUP, STRANGER)}
    await intake.commit_batch(acks[2:])
    await intake.drain()
    assert deleted_together(harness) == [sorted(ack.message.message_id for ack in acks)]


async def test_a_backlog_holds_actions_for_a_few_batches_at_most(harness: Harness) -> None:
    await join(harness)
    intake = Intake(harness.app)
    notice = harness.updates.message(GROUP, ADMIN, "#通知 周五前报送台账")
    await intake.commit_batch([notice])
    for _batch in range(HOLD_BATCHES):
        ack = harness.updates.message(GROUP, MEMBER, "收到", reply_to=notice.message.message_id)
        await intake.commit_batch([ack], more_waiting=True)
    await intake.drain()
    assert len(deleted_together(harness)) == 1 and len(deleted_together(harness)[0]) == HOLD_BATCHES


async def test_while_actions_are_held_getupdates_does_not_wait_for_news(harness: Harness) -> None:
    await join(harness)
    intake = Intake(harness.app)
    intake.deps = dataclasses.replace(intake.deps, settings=make_settings(updates={"poll_timeout_seconds": 30}))
    notice = harness.updates.message(GROUP, ADMIN, "#通知 周五前报送台账")
    await intake.commit_batch([notice])
    assert intake.poll_timeout() == 30
    ack = harness.updates.message(GROUP, MEMBER, "收到", reply_to=notice.message.message_id)
    await intake.commit_batch([ack], more_waiting=True)
    # A backlog that ended with a full batch: the next getUpdates answers at once, empty.
    assert intake.poll_timeout() == 0
    await intake.commit_batch([])
    assert intake.poll_timeout() == 30
    await intake.drain()
    assert harness.fake.is_deleted(GROUP, ack.message.message_id)


async def test_a_full_batch_from_getupdates_is_acted_on_with_the_next(harness: Harness) -> None:
    await join(harness)
    intake = Intake(harness.app)
    await poll_until(intake, lambda: True)  # after a start, the first batch runs one update at a time
    _notice, acks = await notice_with_acks(harness, GROUP, [MEMBER] * MAX_BATCH)
    await poll_until(intake, lambda: all(harness.fake.is_deleted(GROUP, ack) for ack in acks))
    # 101 updates: a full batch of 100 held, then the last one; every ack in one call.
    assert deleted_together(harness) == [sorted(acks)]


async def test_an_update_that_keeps_failing_is_set_aside_and_logged_without_content(
    harness: Harness, debug_logging
) -> None:
    await join(harness)
    intake = Intake(harness.app)
    await poll_until(intake, lambda: True)  # the first batch after a start is counted apart (see below)
    poison = harness.updates.message(GROUP, MEMBER, "机密内容：王芳 13800000000")
    harness.fake.push_update(poison)
    _notice, [ack] = await notice_with_acks(harness, GROUP, [STRANGER])
    tries = []

    @transactional
    async def fails_on_poison(update: Update, _context: Any, _session: Any) -> None:
        if update.update_id == poison.update_id:
            tries.append(update.update_id)
            raise RuntimeError("a handler's bug")

    harness.app.add_handler(TypeHandler(Update, fails_on_poison), group=-100)
    await poll_until(intake, lambda: harness.fake.is_deleted(GROUP, ack))
    # Once in the chat's shared transaction (which then rolls back), then alone until set aside;
    # the notice and the ack of the same batch are recorded all the same.
    assert len(tries) == 1 + harness.deps.settings.updates.attempts
    assert await reads(harness) == {(GROUP, STRANGER)}
    async with harness.session() as session:
        assert (await session.get(HandledUpdate, poison.update_id)).state == "set_aside"
    logged = "\n".join(record.getMessage() for record in debug_logging.records)
    assert f"update {poison.update_id} set aside" in logged
    assert "机密" not in logged and "13800000000" not in logged and str(MEMBER) not in logged


async def test_an_update_ptb_cannot_read_is_set_aside_by_id_and_type_only(harness: Harness, debug_logging) -> None:
    await join(harness)
    harness.fake.push_update({"update_id": 999, "message": {"text": "王芳 机密", "chat": "not an object"}})
    _notice, [ack] = await notice_with_acks(harness, GROUP, [MEMBER])
    await poll_until(Intake(harness.app), lambda: harness.fake.is_deleted(GROUP, ack))
    async with harness.session() as session:
        assert (await session.get(HandledUpdate, 999)).state == "set_aside"
    logged = "\n".join(record.getMessage() for record in debug_logging.records)
    assert "update 999 (message) set aside" in logged and "王芳" not in logged and "机密" not in logged


async def test_an_update_delivered_twice_is_handled_once(harness: Harness) -> None:
    await join(harness)
    notice = harness.updates.message(GROUP, ADMIN, "#通知 周五前报送台账")
    await harness.send(notice)
    await harness.send(notice)  # a webhook retry, a second replica, a redelivered batch
    async with harness.session() as session:
        from storage.models import Notice

        assert len((await session.scalars(select(Notice))).all()) == 1
    ack = harness.updates.message(GROUP, MEMBER, "收到", reply_to=notice.message.message_id)
    await harness.send(ack)
    await harness.send(ack)
    assert [call["message_id"] for call in harness.fake.calls_to("deleteMessage")] == [ack.message.message_id]


async def test_a_known_ack_is_one_statement_on_postgresql_and_a_redelivery_changes_nothing(harness: Harness) -> None:
    await join(harness)
    notice = harness.updates.message(GROUP, ADMIN, "#通知 周五前报送台账")
    await harness.send(notice)
    # The sender is seen first (a sighting is written at most once a minute), then acks.
    await harness.send(harness.updates.message(GROUP, STRANGER, "今天下午开会吗"))
    ack = harness.updates.message(GROUP, STRANGER, "收到", reply_to=notice.message.message_id)
    with Statements(harness.db, "") as run:
        committed, planned = await harness.app.record_update(ack)
    assert committed and planned
    if harness.db.engine.dialect.name == "postgresql":
        # Its claim, its read of the notice and its deletion's outbox row, in one statement.
        assert len(run) == 1 and run[0].startswith("WITH handled_updates_claim")
    await harness.deps.pipeline.act(planned)
    assert harness.fake.is_deleted(GROUP, ack.message.message_id)
    before = await table_counts(harness)
    assert await harness.app.record_update(ack) == (True, [])  # a webhook retry
    async with harness.replica() as (_deps, other):
        assert await other.record_update(ack) == (True, [])  # another replica
    assert await table_counts(harness) == before


async def table_counts(harness: Harness) -> dict[str, int]:
    async with harness.session() as session:
        return {
            model.__tablename__: int(await session.scalar(select(func.count()).select_from(model)) or 0)
            for model in (HandledUpdate, Read, Event, GroupAction, OutboxAction)
        }


async def test_after_a_start_only_the_update_in_hand_is_charged_with_a_crash(harness: Harness) -> None:
    await join(harness)
    _notice, acks = await notice_with_acks(harness, GROUP, [MEMBER, STRANGER])
    original, seen = harness.app.record_update, []

    async def dies_on_the_second(update: Any) -> Any:
        seen.append(update.update_id)
        if len(seen) == 2:
            raise asyncio.CancelledError  # the process dies here
        return await original(update)

    harness.app.record_update = dies_on_the_second
    with pytest.raises(asyncio.CancelledError):
        await Intake(harness.app).poll(asyncio.Event())
    async with harness.session() as session:
        tries = {
            row.update_id: (row.state, row.attempts) for row in (await session.scalars(select(HandledUpdate))).all()
        }
    first, second, third = seen[0], seen[1], seen[1] + 1
    assert tries[first][0] == "done" and tries[second] == ("failing", 1) and third not in tries
    harness.app.record_update = original
    await poll_until(Intake(harness.app), lambda: all(harness.fake.is_deleted(GROUP, ack) for ack in acks))


async def test_an_update_that_crashed_every_start_is_set_aside(harness: Harness) -> None:
    await join(harness)
    poison = harness.updates.private(MEMBER, "/start")
    harness.fake.push_update(poison)
    async with harness.session() as session:
        # Three starts that each died while handling it.
        session.add(HandledUpdate(update_id=poison.update_id, state="failing", attempts=3, at=harness.clock()))
    intake = Intake(harness.app)
    await poll_until(intake, lambda: harness.fake.updates == [] or not harness.fake.updates)
    async with harness.session() as session:
        assert await session.get(Person, MEMBER) is None  # never handled
        assert (await session.get(HandledUpdate, poison.update_id)).state == "set_aside"


async def test_a_chats_batch_asks_telegram_for_the_groups_admins_once(harness: Harness) -> None:
    await join(harness)
    intake = Intake(harness.app)
    harness.clock.advance(timedelta(hours=2))  # the stored admin list is stale again
    commands = [harness.updates.message(GROUP, ADMIN, "/rules"), harness.updates.message(GROUP, MEMBER, "/help")]
    asked = len(harness.fake.calls_to("getChatAdministrators"))
    await intake.commit_batch(commands)
    await intake.drain()
    assert len(harness.fake.calls_to("getChatAdministrators")) == asked + 1


async def test_a_notice_after_a_contact_grant_in_the_same_batch_is_charged_to_the_contacts_department(
    harness: Harness,
) -> None:
    await harness.private(SUPERVISOR, "/dept add 民政局")
    await harness.send(harness.updates.message(GROUP, MEMBER, "我是张三"))
    async with harness.session() as session:
        department = (await session.scalars(select(Department))).one()
    grant = harness.updates.private(SUPERVISOR, f"/grant {MEMBER} contact 民政局")
    notice = harness.updates.message(GROUP, MEMBER, "#通知 周五前报送台账")
    assert await harness.app.record_together([grant, notice]) is not None
    async with harness.session() as session:
        stored = (await session.scalars(select(Notice))).one()
        assert (await session.scalars(select(RoleGrant.department_id))).all() == [department.id]
    assert stored.department_id == department.id


async def test_a_slow_admin_lookup_in_one_group_holds_back_no_other_group(harness: Harness, monkeypatch: Any) -> None:
    """A group whose updates ask Telegram first (a command's admins) is committed on its own."""
    harness.fake.add_group(OTHER_GROUP, "第二个群", creator_id=ADMIN, members=[MEMBER, STRANGER])
    rights = {"can_delete_messages": True}
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="administrator", rights=rights))
    notice = harness.updates.message(GROUP, ADMIN, "#通知 周六停水")
    await harness.send(notice)
    ack = harness.updates.message(GROUP, MEMBER, "收到", reply_to=notice.message.message_id)
    command = harness.updates.command(OTHER_GROUP, STRANGER, "/rules")  # a new group: its admins are asked
    gate, asked = asyncio.Event(), asyncio.Event()
    answer = harness.fake.do_request

    async def slow_admins(url: str, *args: Any, **kwargs: Any) -> tuple[int, bytes]:
        if url.endswith("/getChatAdministrators"):
            asked.set()
            await gate.wait()
        return await answer(url, *args, **kwargs)

    monkeypatch.setattr(harness.fake, "do_request", slow_admins)
    intake = Intake(harness.app)
    committing = asyncio.create_task(intake.commit_batch([ack, command]))
    await asyncio.wait_for(asked.wait(), 5)
    for _ in range(200):  # loop turns, not wall-clock time: the other chat's commit needs a few
        if await read_of(harness, MEMBER):
            break
        await asyncio.sleep(0)
    committed_meanwhile = await read_of(harness, MEMBER)
    gate.set()
    await committing
    await intake.drain()
    assert committed_meanwhile, "the ack in GROUP waited for OTHER_GROUP's admin lookup"


async def read_of(harness: Harness, person: int) -> bool:
    async with harness.session() as session:
        return (await session.scalar(select(Read.person_id).where(Read.person_id == person))) is not None


async def test_a_private_chats_updates_never_share_the_batchs_transaction(harness: Harness) -> None:
    """A whistleblower's report must not be committed with other people's activity (on
    PostgreSQL the rows of one transaction share its id, which would tie them together)."""
    harness.fake.add_group(OTHER_GROUP, "第二个群", creator_id=ADMIN, members=[MEMBER, STRANGER, ENGLISH])
    await join(harness)
    await join(harness, OTHER_GROUP)
    intake = Intake(harness.app)
    await poll_until(intake, lambda: True)  # after a start, the first batch runs one update at a time
    shared: list[set[int]] = []
    original = harness.app.record_together

    async def record_together(updates: list[Update]) -> Any:
        shared.append({chat_key(update) for update in updates})
        return await original(updates)

    harness.app.record_together = record_together
    before = len(harness.fake.sent(MEMBER))
    batch = [
        harness.updates.message(GROUP, STRANGER, "大家好"),
        harness.updates.private(MEMBER, "/start"),
        harness.updates.message(OTHER_GROUP, ENGLISH, "hello"),
    ]
    await intake.commit_batch(batch)
    await intake.drain()
    assert shared == [{GROUP, OTHER_GROUP}]
    assert len(harness.fake.sent(MEMBER)) > before  # the private update was handled, on its own
