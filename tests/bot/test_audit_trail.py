"""The groups' audit trail: every action the bot takes in a group, with its rule, reason and outcome."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import timedelta

from sqlalchemy import event, select

from bot import trail as bot_trail
from bot.group_commit import GroupCommit
from bot.i18n import Catalog
from bot.jobs.sweep import forget_old_records
from bot.testing.fake import bad_request
from bot.trail import KINDS, PRIVATE
from policies.actions import Outcome
from storage.models import GroupAction
from storage.repositories.group_actions import trail_row
from tests.bot.conftest import ADMIN, GROUP, MEMBER, Harness, make_settings
from tests.bot.test_received import ALL_RIGHTS, join, post, press_convert
from tests.bot.test_temporary import remember_bot_link, setup_temporary


async def trail(harness: Harness, **where) -> list[tuple]:
    """(rule, kind, reason, outcome, person, text) of each row, oldest first; the bot's joining
    (its role, its introduction) only when asked for."""
    query = select(GroupAction).order_by(GroupAction.id)
    if not where:
        query = query.where(GroupAction.rule != "bot_membership")
    for name, value in where.items():
        query = query.where(getattr(GroupAction, name) == value)
    async with harness.session() as session:
        rows = list(await session.scalars(query))
    assert all(row.chat_id == GROUP for row in rows)
    return [(row.rule, row.kind, row.reason, row.outcome, row.person_id, row.text) for row in rows]


async def test_a_removed_ack_is_recorded_with_its_words_and_whose_it_was(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    notice = await post(harness, ADMIN, "【通知】周五前报送台账")
    await post(harness, MEMBER, "收到！", reply_to=notice)
    assert await trail(harness) == [("received", "delete", "only ack words: 收到", "done", MEMBER, "收到！")]


async def test_ordinary_messages_leave_no_trace(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await post(harness, MEMBER, "今天下午三点在社区活动室开会，请带上台账")
    await post(harness, ADMIN, "好的我知道了，明天我去一趟街道")
    assert await trail(harness) == []


async def test_a_deletion_refused_for_lack_of_the_right_is_recorded_as_such(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    notice = await post(harness, ADMIN, "#通知 周六停水")
    harness.fake.fail_next("deleteMessage", bad_request("not enough rights to delete a message"))
    await post(harness, MEMBER, "收到", reply_to=notice)
    [refused] = await trail(harness)
    assert refused[:2] == ("received", "delete") and refused[3:] == ("no_rights", MEMBER, "收到")


async def test_acks_kept_because_the_bot_may_not_delete_are_recorded(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness)
    notice = await post(harness, ADMIN, "#通知 周六停水")
    await post(harness, MEMBER, "收到", reply_to=notice)
    rows = await trail(harness)
    assert ("received", "kept", "no delete right", "no_rights", MEMBER, "收到") in rows
    # The admins were told privately that the right is missing: that is in the trail too.
    assert ("received", "private", "no delete right", "done", ADMIN, None) in rows


async def test_a_private_reminder_to_a_demand_sender_is_recorded_for_the_group(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    await post(harness, ADMIN, "【通知】周六停水，收到请回复")
    assert await trail(harness) == [("received", "private", "ack demanded", "done", ADMIN, None)]


async def test_a_conversion_records_the_repost_and_the_removed_demand(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    await post(harness, ADMIN, "【通知】周六停水，收到请回复")
    await press_convert(harness)
    rows = await trail(harness)
    assert ("notices", "send", "converted from an ack demand", "done", None, None) in rows
    assert ("received", "delete", "converted to a tracked notice", "done", ADMIN, None) in rows


async def test_a_close_records_every_step_and_the_private_note_to_the_owner(harness: Harness) -> None:
    await setup_temporary(harness)
    await remember_bot_link(harness)
    await harness.command(GROUP, ADMIN, "/done")
    harness.clock.advance(timedelta(days=3))
    await harness.sweep()
    rows = await trail(harness, rule="temporary")
    steps = [(kind, reason, outcome) for _rule, kind, reason, outcome, _person, _text in rows]
    for step in [
        ("send", "work done", "done"),
        ("pin", "close announcement", "done"),
        ("send", "close summary", "done"),
        ("permissions", "closed", "done"),
        ("revoke", "closed", "done"),
        ("rename", "closed", "done"),
        ("private", "closed", "done"),
        ("leave", "closed", "done"),
    ]:
        assert step in steps, step


async def test_the_bots_role_changes_are_recorded(harness: Harness) -> None:
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="member"))
    promoted = harness.updates.my_chat_member(GROUP, ADMIN, old="member", new="administrator", rights=ALL_RIGHTS)
    await harness.send(promoted)
    roles = await trail(harness, kind="role")
    assert [reason.split(";")[0] for _rule, _kind, reason, *_ in roles] == ["left -> member", "member -> administrator"]
    assert roles[-1][2].endswith("all rights present")


def test_every_kind_and_outcome_the_trail_records_has_words_in_both_languages() -> None:
    catalog = Catalog.load()
    kinds = {*KINDS.values(), PRIVATE, "kept", "role"}
    for language in catalog.languages:
        assert all(f"log.kind.{kind}" in catalog.messages[language] for kind in kinds)
        assert all(f"log.outcome.{outcome.value}" in catalog.messages[language] for outcome in Outcome)


async def test_the_sweep_forgets_the_trail_after_keep_days(harness: Harness) -> None:
    assert harness.deps.settings.audit.keep_days == 90
    await join(harness, **ALL_RIGHTS)
    notice = await post(harness, ADMIN, "【通知】周五前报送台账")
    await post(harness, MEMBER, "收到", reply_to=notice)
    harness.clock.advance(timedelta(days=60))
    await post(harness, MEMBER, "收到", reply_to=await post(harness, ADMIN, "【通知】周六停水"))
    harness.clock.advance(timedelta(days=30) - timedelta(minutes=1))
    await forget_old_records(harness.deps)
    assert len(await trail(harness, kind="delete")) == 2  # not 90 days old yet
    harness.clock.advance(timedelta(minutes=2))
    await forget_old_records(harness.deps)
    assert len(await trail(harness, kind="delete")) == 1  # the newer one stays
    assert await trail(harness, rule="bot_membership") == []


async def test_keep_days_sets_how_long_the_trail_is_kept(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await post(harness, MEMBER, "收到", reply_to=await post(harness, ADMIN, "【通知】周五前报送台账"))
    week = dataclasses.replace(harness.deps, settings=make_settings(audit={"keep_days": 7}))
    harness.clock.advance(timedelta(days=6))
    await forget_old_records(week)
    assert len(await trail(harness, kind="delete")) == 1
    harness.clock.advance(timedelta(days=1, seconds=1))
    await forget_old_records(week)
    assert await trail(harness, kind="delete") == []


async def test_people_made_or_unmade_admins_are_recorded_and_other_member_changes_are_not(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await harness.send(harness.updates.chat_member(GROUP, MEMBER, old="member", new="administrator"))
    await harness.send(harness.updates.chat_member(GROUP, MEMBER, old="administrator", new="member"))
    await harness.send(harness.updates.chat_member(GROUP, MEMBER, old="member", new="left"))
    assert await trail(harness) == [
        ("admins", "role", "member -> administrator", "done", MEMBER, None),
        ("admins", "role", "administrator -> member", "done", MEMBER, None),
    ]


async def test_the_rows_of_outcomes_recorded_together_go_in_as_one_statement(harness: Harness) -> None:
    """Many deletions finishing at once share one outcome transaction: their rows cost one insert."""
    inserts: list[str] = []

    def count(_conn, _cursor, statement: str, *_rest) -> None:
        if statement.startswith("INSERT INTO group_actions"):
            inserts.append(statement)

    commit = GroupCommit(harness.db)

    async def outcome(number: int) -> None:
        async def work(session) -> None:
            row = trail_row(harness.clock(), GROUP, "received", "delete", "ack", "done", number, "收到")
            bot_trail.keep(session, row)

        await commit.run(work)

    event.listen(harness.db.engine.sync_engine, "before_cursor_execute", count)
    try:
        await asyncio.gather(*(outcome(number) for number in range(20)))
    finally:
        event.remove(harness.db.engine.sync_engine, "before_cursor_execute", count)
    assert len(await trail(harness, kind="delete")) == 20
    assert len(inserts) <= 2  # the first caller alone, then the other 19 together


async def test_a_deadline_reminder_is_recorded_for_the_notices_group(harness: Harness) -> None:
    await join(harness)
    await harness.private(MEMBER, "/start")
    await harness.send(harness.updates.message(GROUP, MEMBER, "在"))
    await harness.send(harness.updates.message(GROUP, ADMIN, "【通知】11月25日17:00前报送台账"))
    harness.clock.advance(timedelta(days=1, hours=8))  # 24 hours before the deadline
    await harness.sweep()
    # Logged without its recipient: who has not read a notice is not for every supervisor to see.
    assert await trail(harness, rule="deadline") == [
        ("deadline", "private", "deadline near, unread", "done", None, None)
    ]


async def test_a_reminder_kept_for_a_senders_first_start_is_recorded_when_it_goes_out(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await post(harness, ADMIN, "【通知】周六停水，收到请回复")
    assert await trail(harness, kind="private") == []  # kept, not sent: the sender never started the bot
    await harness.private(ADMIN, "/start")
    assert await trail(harness, kind="private") == [("received", "private", "ack demanded", "done", ADMIN, None)]
