"""The "received" rule through the application: reads, removals, tips, reminders, settings."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, select
from sqlalchemy import update as sql_update

from bot.intake import Intake
from bot.testing.fake import BAD_GATEWAY, CANT_DELETE
from policies.actions import Send
from policies.callbacks import ConvertDemand, decode
from storage.models import AuditEntry, Chat, Department, Event, Notice, Person, Read, Task
from tests.bot.conftest import ADMIN, ENGLISH, GROUP, MEMBER, STRANGER, SUPERVISOR, Harness

OTHER_GROUP = -1001234500002
ALL_RIGHTS = dict.fromkeys(
    ("can_delete_messages", "can_restrict_members", "can_pin_messages", "can_invite_users", "can_change_info"), True
)


async def join(harness: Harness, **rights: bool) -> None:
    status = "administrator" if rights else "member"
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new=status, rights=rights or None))
    harness.fake.reset_calls()


def after_intro(harness: Harness) -> list[dict]:
    """What the bot said in the group after its introduction."""
    return harness.fake.sent(GROUP, include_deleted=True)[1:]


async def post(harness: Harness, user_id: int, text: str, **options) -> int:
    update = harness.updates.message(GROUP, user_id, text, **options)
    await harness.send(update)
    return update.message.message_id


async def reads(harness: Harness) -> set[tuple[int, int, str]]:
    async with harness.session() as session:
        rows = await session.execute(select(Read.message_id, Read.person_id, Read.via))
        return {tuple(row) for row in rows.all()}


async def events(harness: Harness) -> list[str]:
    async with harness.session() as session:
        return sorted(await session.scalars(select(Event.kind).where(Event.kind != "admins_told")))


async def press_convert(harness: Harness) -> dict:
    """The sender presses the conversion button in the reminder they just got; returns the reminder."""
    reminder = harness.fake.sent(ADMIN)[-1]
    data = reminder["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    await harness.send(harness.updates.callback(ADMIN, ADMIN, reminder["message_id"], data))
    return reminder


async def test_ack_reply_is_removed_silently_and_recorded_as_a_read(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    notice = await post(harness, ADMIN, "【通知】周五前报送台账")
    ack = await post(harness, MEMBER, "收到！", reply_to=notice)
    assert harness.fake.is_deleted(GROUP, ack)
    assert await reads(harness) == {(notice, MEMBER, "ack")}
    assert after_intro(harness) == []  # nothing said in the group
    assert await events(harness) == ["ack_removed"]


async def test_ack_within_the_window_after_a_notice_counts_for_it(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    notice = await post(harness, ADMIN, "#通知 明天上午9点开会")
    harness.clock.advance(timedelta(minutes=10))
    ack = await post(harness, MEMBER, "收到")
    assert harness.fake.is_deleted(GROUP, ack)
    assert await reads(harness) == {(notice, MEMBER, "ack")}
    # Without a reply only a plain ack is tied to the notice: "好的" may answer someone else.
    weak = await post(harness, STRANGER, "好的")
    assert not harness.fake.is_deleted(GROUP, weak)
    harness.clock.advance(timedelta(minutes=31))
    late = await post(harness, ENGLISH, "received")
    assert not harness.fake.is_deleted(GROUP, late)
    assert await reads(harness) == {(notice, MEMBER, "ack")}


async def test_acks_with_substance_and_weak_acks_to_questions_are_kept(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    notice = await post(harness, ADMIN, "【通知】周五前报送台账")
    kept = [
        await post(harness, MEMBER, "收到，不过截止日期能不能延后？", reply_to=notice),
        await post(harness, MEMBER, "我这边有111户还没登记", reply_to=notice),
    ]
    question = await post(harness, ADMIN, "明天谁能来值班")
    kept.append(await post(harness, STRANGER, "1", reply_to=question))
    kept.append(await post(harness, STRANGER, "好的", reply_to=question))
    assert not any(harness.fake.is_deleted(GROUP, message_id) for message_id in kept)
    assert await reads(harness) == set()


async def test_acks_to_urgent_matters_are_kept_but_counted(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    urgent = await post(harness, ADMIN, "【紧急】今晚8点前上报受灾情况，收到请回复")
    ack = await post(harness, MEMBER, "收到", reply_to=urgent)
    assert not harness.fake.is_deleted(GROUP, ack)
    assert await reads(harness) == {(urgent, MEMBER, "ack")}
    assert harness.fake.sent(ADMIN) == [] and "ack_demand" not in await events(harness)


async def test_without_the_delete_right_reads_are_recorded_and_admins_told_once(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness)
    before = len(harness.fake.sent(ADMIN))
    notice = await post(harness, ADMIN, "#通知 周六停水")
    first = await post(harness, MEMBER, "收到", reply_to=notice)
    await post(harness, ENGLISH, "received", reply_to=notice)
    assert not harness.fake.is_deleted(GROUP, first)
    assert await reads(harness) == {(notice, MEMBER, "ack"), (notice, ENGLISH, "ack")}
    told = [m["text"] for m in harness.fake.sent(ADMIN)[before:]]
    assert len(told) == 1 and "删除消息" in told[0] and "朝阳社区工作群" in told[0]


async def test_admins_nobody_can_reach_are_looked_up_again_only_after_a_while(harness: Harness) -> None:
    await join(harness)  # no delete right, and the admin never opened a chat with the bot
    notice = await post(harness, ADMIN, "#通知 周六停水")
    await post(harness, MEMBER, "收到", reply_to=notice)  # looked up: nobody to tell
    asked: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, _many: bool) -> None:
        if "FROM events" in statement or "FROM memberships" in statement:
            asked.append(statement)

    event.listen(harness.db.engine.sync_engine, "before_cursor_execute", note)
    try:
        for person in (STRANGER, ENGLISH):
            await post(harness, person, "收到", reply_to=notice)
        assert asked == []  # each ack of a busy group no longer asks again
        await harness.private(ADMIN, "/start")
        before = len(harness.fake.sent(ADMIN))
        harness.clock.advance(timedelta(minutes=10))
        await post(harness, MEMBER, "好的收到", reply_to=notice)
    finally:
        event.remove(harness.db.engine.sync_engine, "before_cursor_execute", note)
    told = [m["text"] for m in harness.fake.sent(ADMIN)[before:]]
    assert len(told) == 1 and "删除消息" in told[0]
    assert await reads(harness) == {(notice, person, "ack") for person in (MEMBER, STRANGER, ENGLISH)}


async def test_telegram_refusing_the_delete_keeps_the_read_and_tells_admins(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    notice = await post(harness, ADMIN, "#通知 周六停水")
    harness.fake.fail_next("deleteMessage", CANT_DELETE)
    await post(harness, MEMBER, "收到", reply_to=notice)
    assert await reads(harness) == {(notice, MEMBER, "ack")}
    assert "48" in harness.last_text(ADMIN)
    assert "ack_removed" not in await events(harness)


async def test_an_edited_message_is_judged_again_and_old_acks_fall_back(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    notice = await post(harness, ADMIN, "#通知 周六停水")
    reply = await post(harness, MEMBER, "收到，我这边还有两户没通知到", reply_to=notice)
    assert not harness.fake.is_deleted(GROUP, reply)
    await harness.send(harness.updates.edited(GROUP, reply, "收到", user_id=MEMBER))
    assert harness.fake.is_deleted(GROUP, reply)

    old = await post(harness, STRANGER, "周末愉快", reply_to=notice)
    harness.clock.advance(timedelta(hours=49))
    await harness.send(harness.updates.edited(GROUP, old, "收到", user_id=STRANGER))
    assert not harness.fake.is_deleted(GROUP, old)
    assert (notice, STRANGER, "ack") in await reads(harness)
    assert "48" in harness.last_text(ADMIN)


async def test_the_tip_goes_privately_at_most_once_a_week(harness: Harness) -> None:
    await harness.private(MEMBER, "/start")
    await join(harness, **ALL_RIGHTS)
    before = len(harness.texts(MEMBER))
    for _ in range(3):
        notice = await post(harness, ADMIN, "#通知 新通知")
        await post(harness, MEMBER, "收到", reply_to=notice)
    assert len(harness.texts(MEMBER)) == before + 1
    assert "已读" in harness.last_text(MEMBER)
    harness.clock.advance(timedelta(days=7))
    notice = await post(harness, ADMIN, "#通知 下周通知")
    await post(harness, MEMBER, "收到", reply_to=notice)
    assert len(harness.texts(MEMBER)) == before + 2


async def test_someone_seen_without_a_private_chat_costs_no_tip_claim_until_they_open_one(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    claims: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, _many: bool) -> None:
        if statement.startswith("UPDATE people SET ack_tip_at"):
            claims.append(statement)

    event.listen(harness.db.engine.sync_engine, "before_cursor_execute", note)
    try:
        for _ in range(2):
            notice = await post(harness, ADMIN, "#通知 周六停水")
            await post(harness, MEMBER, "收到", reply_to=notice)
        assert claims == []  # their sighting said they cannot be written to
        harness.fake.start_private_chat(MEMBER)  # and another replica handles their /start
        async with harness.session() as session:
            await session.execute(sql_update(Person).where(Person.id == MEMBER).values(has_private_chat=True))
            await session.commit()
        notice = await post(harness, ADMIN, "#通知 周日停电")
        await post(harness, MEMBER, "收到", reply_to=notice)
        assert claims == [] and harness.texts(MEMBER) == []  # this process learns it within 10 minutes
        harness.clock.advance(timedelta(minutes=10))
        notice = await post(harness, ADMIN, "#通知 下周停气")
        await post(harness, MEMBER, "收到", reply_to=notice)  # seen again: reachable, claimed, tipped
        assert len(claims) == 1 and "/inbox" in harness.last_text(MEMBER)
    finally:
        event.remove(harness.db.engine.sync_engine, "before_cursor_execute", note)


async def test_a_person_who_opens_a_chat_through_this_process_is_tipped_at_their_next_ack(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    notice = await post(harness, ADMIN, "#通知 周六停水")
    await post(harness, MEMBER, "收到", reply_to=notice)
    await harness.private(MEMBER, "/start")
    before = len(harness.texts(MEMBER))
    notice = await post(harness, ADMIN, "#通知 周日停电")
    await post(harness, MEMBER, "收到", reply_to=notice)
    assert len(harness.texts(MEMBER)) == before + 1 and "/inbox" in harness.last_text(MEMBER)


async def test_a_tip_whose_transaction_rolled_back_is_given_when_the_outcome_is_recorded_again(
    harness: Harness,
) -> None:
    await harness.private(MEMBER, "/start")
    await join(harness, **ALL_RIGHTS)
    before = len(harness.texts(MEMBER))
    notice = await post(harness, ADMIN, "#通知 周六停水")
    pipeline, failures = harness.deps.pipeline, [1]
    write_durable = pipeline.write_durable

    async def fails_once(session: Any, planned: Any, **options: Any) -> Any:
        # The removal's outcome transaction (the tip claimed in it) fails once, after the claim.
        if failures and any(isinstance(item.action, Send) and item.action.chat_id == MEMBER for item in planned):
            failures.pop()
            raise RuntimeError("connection lost")
        return await write_durable(session, planned, **options)

    pipeline.write_durable = fails_once
    ack = harness.updates.message(GROUP, MEMBER, "收到", reply_to=notice)
    with pytest.raises(RuntimeError):  # the intake logs it; the outbox row stays unsettled
        await harness.send(ack)
    assert harness.fake.is_deleted(GROUP, ack.message.message_id) and not failures
    assert len(harness.texts(MEMBER)) == before  # rolled back with its outcome
    harness.clock.advance(timedelta(minutes=10))  # past the row's lease
    await harness.sweep()  # the deletion's row is performed again (gone: done), its follow-ups with it
    assert len(harness.texts(MEMBER)) == before + 1 and "已读" in harness.last_text(MEMBER)


async def test_ack_sticker_counts_and_reads_never_double_count(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    notice = await post(harness, ADMIN, "#通知 周六停水")
    await harness.send(harness.updates.sticker(GROUP, MEMBER, "👍", reply_to=notice))
    await post(harness, MEMBER, "收到", reply_to=notice)
    await harness.send(harness.updates.reaction(GROUP, notice, MEMBER, new=("👍",)))
    assert await reads(harness) == {(notice, MEMBER, "ack")}


async def test_ack_demand_is_recorded_and_the_sender_reminded_privately(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    async with harness.session() as session:
        from storage.repositories.chats import ChatRepository
        from storage.repositories.departments import DepartmentRepository

        department = await DepartmentRepository(session).add("民政局", "mz", 1, harness.clock())
        await ChatRepository(session).set_fields(GROUP, department_id=department.id)
    demand = await post(harness, ADMIN, "各位社区书记：请于周五前报送台账，收到请回复1")
    reminder = harness.fake.sent(ADMIN)[-1]
    assert "不得要求成员反馈“收到”" in reminder["text"]
    assert decode(reminder["reply_markup"]["inline_keyboard"][0][0]["callback_data"]) == ConvertDemand(GROUP, demand)
    async with harness.session() as session:
        [event] = (await session.scalars(select(Event).where(Event.kind == "ack_demand"))).all()
        notice = (await session.scalars(select(Notice))).one()
    assert event.department_id == department.id and event.day.isoformat() == "2026-11-23"
    assert notice.ack_demand is True and notice.kind == "data_request"
    assert after_intro(harness) == []
    # An edit of the same demand is not counted or reminded twice.
    await harness.send(harness.updates.edited(GROUP, demand, "各位：请于周五前报送台账，收到请回复1！", user_id=ADMIN))
    assert await events(harness) == ["ack_demand"]
    assert harness.fake.sent(ADMIN)[-1] == reminder


async def kept_tasks(harness: Harness) -> list[Task]:
    async with harness.session() as session:
        return list(await session.scalars(select(Task).where(Task.kind == "kept_message").order_by(Task.id)))


async def test_a_sender_who_never_started_the_bot_is_not_corrected_in_the_group(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    admin_before = len(harness.fake.sent(ADMIN))
    demand = await post(harness, STRANGER, "明天开会，看到请回个1")
    assert after_intro(harness) == []  # nothing said in the group, nobody named there
    assert harness.fake.sent(STRANGER) == []
    [kept] = await kept_tasks(harness)
    assert kept.state == "pending" and kept.payload["key"] == "received.demand_private"
    [told] = harness.fake.sent(ADMIN)[admin_before:]
    assert "路人" in told["text"] and "/start" in told["text"] and "朝阳社区工作群" in told["text"]
    # A second demand the same week: still counted, nothing more kept, the admins not told again.
    await post(harness, STRANGER, "请大家看到后回复收到")
    assert len(await kept_tasks(harness)) == 1 and len(harness.fake.sent(ADMIN)) == admin_before + 1
    assert await events(harness) == ["ack_demand", "ack_demand"]

    # Their first /start delivers it privately, with the button that converts the demand.
    await harness.private(STRANGER, "/start")
    texts = harness.texts(STRANGER)
    assert any("1 条提醒为你保存着" in text for text in texts)
    reminder = harness.fake.sent(STRANGER)[-1]
    assert "不得要求成员反馈“收到”" in reminder["text"]
    data = reminder["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert decode(data) == ConvertDemand(GROUP, demand)
    [kept] = await kept_tasks(harness)
    assert kept.state == "done" and kept.payload == {}
    await harness.private(STRANGER, "/start")
    assert len(harness.texts(STRANGER)) == len(texts) + 2  # the greeting again, nothing kept


async def test_a_kept_reminder_is_forgotten_after_its_days_and_admins_hear_again_next_week(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    admin_before = len(harness.fake.sent(ADMIN))
    await post(harness, STRANGER, "收到请回复")
    harness.clock.advance(timedelta(days=7, minutes=1))
    await harness.sweep()
    [kept] = await kept_tasks(harness)
    assert kept.state == "done" and kept.payload == {}
    await post(harness, STRANGER, "看到请扣1")
    assert len(harness.fake.sent(ADMIN)) == admin_before + 2
    await harness.private(STRANGER, "/start")
    assert any("1 条提醒为你保存着" in text for text in harness.texts(STRANGER))
    assert [task.state for task in await kept_tasks(harness)] == ["done", "done"]


async def test_a_kept_reminder_is_not_delivered_when_the_whistle_deep_link_opens_the_chat(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await post(harness, STRANGER, "收到请回复")
    await harness.private(STRANGER, "/start whistle")
    [kept] = await kept_tasks(harness)
    assert kept.state == "pending" and not any("提醒为你保存着" in text for text in harness.texts(STRANGER))


async def test_telegram_busy_at_start_delivers_the_kept_reminder_later_once(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await post(harness, STRANGER, "收到请回复")
    # Telegram refuses for now (5xx) everything sent to them during this /start.
    harness.fake.fail_next("sendMessage", BAD_GATEWAY, chat_id=STRANGER, times=4)
    await harness.private(STRANGER, "/start")
    [kept] = await kept_tasks(harness)
    assert kept.state == "done"  # taken: it is in the outbox now, retried until it goes out
    assert not any("不得要求成员反馈“收到”" in text for text in harness.texts(STRANGER))
    for _ in range(3):
        harness.clock.advance(timedelta(minutes=5))
        await harness.sweep()
    assert sum("不得要求成员反馈“收到”" in text for text in harness.texts(STRANGER)) == 1


async def test_demand_turned_into_a_tracked_notice_with_a_read_counter(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    demand = await post(harness, ADMIN, "【通知】周六停水，收到请回复")
    reminder = await press_convert(harness)
    assert harness.fake.is_deleted(GROUP, demand)
    [tracked] = after_intro(harness)
    assert "周六停水" in tracked["text"] and "已读 0/3" in tracked["text"]  # the sender is not among its readers
    read_data = tracked["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    assert harness.fake.message(ADMIN, reminder["message_id"])["text"].startswith("已改为")

    # A read right after posting is shown once the throttle allows, by a scheduled task.
    await harness.send(harness.updates.callback(MEMBER, GROUP, tracked["message_id"], read_data))
    assert "已读 0/3" in harness.fake.message(GROUP, tracked["message_id"])["text"]
    harness.clock.advance(timedelta(seconds=5))
    assert await harness.sweep() >= 1
    assert "已读 1/3" in harness.fake.message(GROUP, tracked["message_id"])["text"]
    await harness.send(harness.updates.callback(MEMBER, GROUP, tracked["message_id"], read_data))
    assert harness.fake.calls_to("answerCallbackQuery")[-1]["text"] == "你已经标记过已读了。"
    # A burst within the throttle makes no edit; the next one after it shows every read.
    harness.clock.advance(timedelta(seconds=1))
    await harness.send(harness.updates.reaction(GROUP, tracked["message_id"], STRANGER, new=("👍",)))
    assert "已读 1/3" in harness.fake.message(GROUP, tracked["message_id"])["text"]
    harness.clock.advance(timedelta(seconds=5))
    await harness.send(harness.updates.callback(ENGLISH, GROUP, tracked["message_id"], read_data))
    assert "已读 3/3" in harness.fake.message(GROUP, tracked["message_id"])["text"]
    assert "张三" not in harness.fake.message(GROUP, tracked["message_id"])["text"]


async def test_only_the_sender_may_convert_their_demand(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await harness.private(MEMBER, "/start")
    await join(harness, **ALL_RIGHTS)
    await post(harness, ADMIN, "收到请回复")
    data = harness.fake.sent(ADMIN)[-1]["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    said = harness.updates.private(MEMBER, "x")
    await harness.send(said)
    bot_message = harness.fake.sent(MEMBER)[-1]
    await harness.send(harness.updates.callback(MEMBER, MEMBER, bot_message["message_id"], data))
    assert harness.fake.calls_to("answerCallbackQuery")[-1]["show_alert"] is True
    assert after_intro(harness) == []


async def test_urgent_demands_and_mentions_are_left_alone(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    before = len(harness.fake.sent(ADMIN))
    await post(harness, ADMIN, "特急！今晚前上报，收到请回复")
    await post(harness, ADMIN, "收到请回复这种要求我们社区一直没执行")
    await harness.command(GROUP, ADMIN, "/urgent 马上到岗，收到请回复")
    assert await events(harness) == []
    assert len(harness.fake.sent(ADMIN)) == before


async def test_group_admins_set_the_mode_and_record_only_deletes_nothing(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await harness.command(GROUP, MEMBER, "/set received record")
    assert "只有本群管理员或督导" in harness.last_text(GROUP)
    await harness.command(GROUP, ADMIN, "/set received 仅记录")
    assert harness.last_text(GROUP) == "本群“收到”规则已改为：仅记录（不删除、不提醒）"
    notice = await post(harness, ADMIN, "#通知 周六停水，收到请回复")
    ack = await post(harness, MEMBER, "收到", reply_to=notice)
    assert not harness.fake.is_deleted(GROUP, ack)
    assert await reads(harness) == {(notice, MEMBER, "ack")}
    assert await events(harness) == ["ack_demand"]
    await harness.command(GROUP, ADMIN, "/set received off")
    second = await post(harness, ENGLISH, "received", reply_to=notice)
    assert (notice, ENGLISH, "ack") not in await reads(harness) and not harness.fake.is_deleted(GROUP, second)
    await harness.command(GROUP, ADMIN, "/set received maybe")
    assert "用法" in harness.last_text(GROUP)
    async with harness.session() as session:
        assert (await session.get(Chat, GROUP)).settings == {"received": "off"}
        audited = list(await session.scalars(select(AuditEntry.target).where(AuditEntry.action == "chat.set")))
    assert audited == ["received=record", "received=off"]


async def test_rules_shows_the_groups_setting(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await harness.command(GROUP, MEMBER, "/rules")
    text = harness.last_text(GROUP)
    assert "删除并记为已读" in text and "30 分钟" in text and "【紧急】" in text
    await harness.private(MEMBER, "/rules")
    assert harness.last_text(MEMBER) == "这个命令请在工作群里使用。"
    await harness.command(GROUP, SUPERVISOR, "/set received off")
    assert "关闭" in harness.last_text(GROUP)


async def test_an_ack_in_a_forum_topic_is_not_an_answer_to_the_topic_opener(harness: Harness) -> None:
    from telegram import Update

    await join(harness, **ALL_RIGHTS)
    opener = harness.updates.message(GROUP, ADMIN, "").message.to_dict()
    opener.pop("text", None)
    opener["forum_topic_created"] = {"name": "闲聊", "icon_color": 7322096}
    ack = harness.updates.message(GROUP, MEMBER, "收到").message.to_dict()
    ack["reply_to_message"] = opener
    ack["is_topic_message"] = True
    await harness.send(Update.de_json({"update_id": 7001, "message": ack}, harness.app.bot))
    assert not harness.fake.is_deleted(GROUP, ack["message_id"])
    assert await reads(harness) == set()


async def test_no_tip_when_the_delete_failed(harness: Harness) -> None:
    await harness.private(MEMBER, "/start")
    await join(harness, **ALL_RIGHTS)
    before = len(harness.texts(MEMBER))
    notice = await post(harness, ADMIN, "#通知 周六停水")
    harness.fake.fail_next("deleteMessage", CANT_DELETE)
    await post(harness, MEMBER, "收到", reply_to=notice)
    assert len(harness.texts(MEMBER)) == before
    assert (notice, MEMBER, "ack") in await reads(harness)


async def test_media_captioned_with_an_ack_is_kept(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    notice = await post(harness, ADMIN, "#通知 请上传台账")
    document = harness.updates.document(GROUP, MEMBER, caption="已收到", file_name="台账.xlsx", reply_to=notice)
    photo = harness.updates.photo(GROUP, MEMBER, caption="收到", reply_to=notice)
    for update in (document, photo):
        await harness.send(update)
        assert not harness.fake.is_deleted(GROUP, update.message.message_id)


async def test_an_ack_that_reads_like_a_demand_does_not_become_the_latest_notice(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    notice = await post(harness, ADMIN, "#通知 周六停水")
    await post(harness, MEMBER, "确认收到", reply_to=notice)
    await post(harness, STRANGER, "收到")
    assert {target for target, _person, _via in await reads(harness)} == {notice}
    async with harness.session() as session:
        assert [n.message_id for n in (await session.scalars(select(Notice))).all()] == [notice]


async def test_a_number_under_a_data_request_is_an_answer(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    request = await post(harness, ADMIN, "【通知】请各社区报送本周新增未登记户数")
    answer = await post(harness, MEMBER, "11", reply_to=request)
    assert not harness.fake.is_deleted(GROUP, answer)


async def test_a_removed_ack_under_a_tracked_notice_moves_its_counter(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    await post(harness, ADMIN, "【通知】周六停水，收到请回复")
    await press_convert(harness)
    tracked = after_intro(harness)[-1]
    harness.clock.advance(timedelta(seconds=10))
    await post(harness, MEMBER, "收到", reply_to=tracked["message_id"])
    assert "已读 1/3" in harness.fake.message(GROUP, tracked["message_id"])["text"]


async def test_pressing_convert_twice_publishes_one_notice(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    await post(harness, ADMIN, "【通知】周六停水，收到请回复")
    reminder = harness.fake.sent(ADMIN)[-1]
    data = reminder["reply_markup"]["inline_keyboard"][0][0]["callback_data"]
    for _ in range(2):
        await harness.send(harness.updates.callback(ADMIN, ADMIN, reminder["message_id"], data))
    assert len([m for m in after_intro(harness) if "已读" in m["text"]]) == 1


async def test_a_message_edited_into_a_demand_is_reminded_once(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    before = len(harness.fake.sent(ADMIN))
    message = await post(harness, ADMIN, "【通知】周六停水")
    await harness.send(harness.updates.edited(GROUP, message, "【通知】周六停水，收到请回复", user_id=ADMIN))
    await harness.send(harness.updates.edited(GROUP, message, "【通知】周六全天停水，收到请回复", user_id=ADMIN))
    assert len(harness.fake.sent(ADMIN)) == before + 1
    async with harness.session() as session:
        notice = (await session.scalars(select(Notice))).one()
    assert notice.text == "【通知】周六全天停水，收到请回复" and notice.ack_demand is True


async def test_a_demand_counts_against_the_senders_own_department(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    await harness.private(SUPERVISOR, "/dept add 民政局")
    await harness.private(SUPERVISOR, "/dept add 卫健委")
    await harness.command(GROUP, ADMIN, "/register 民政局")
    await harness.private(SUPERVISOR, f"/grant {STRANGER} contact 卫健委")
    await post(harness, STRANGER, "各位：请于周五前报送，收到请回复")
    await post(harness, ADMIN, "【通知】请周五前报送，收到请回复")
    async with harness.session() as session:
        rows = await session.execute(
            select(Department.name)
            .join(Event, Event.department_id == Department.id)
            .where(Event.kind == "ack_demand")
            .order_by(Event.id)
        )
        assert [name for (name,) in rows.all()] == ["卫健委", "民政局"]


async def test_a_notices_deadline_is_stored_in_utc_from_the_groups_time_zone(harness: Harness) -> None:
    from datetime import UTC, datetime

    await join(harness, **ALL_RIGHTS)
    await post(harness, ADMIN, "【通知】请12月5日17:00前报送台账")
    async with harness.session() as session:
        notice = (await session.scalars(select(Notice))).one()
    assert notice.deadline_at == datetime(2026, 12, 5, 9, 0, tzinfo=UTC)


async def test_notice_command_reposts_a_tracked_notice_and_removes_the_command(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    command_update = harness.updates.command(GROUP, ADMIN, "/notice 周六上午停水，请提前储水。12月5日17:00前报送台账")
    await harness.send(command_update)
    assert harness.fake.is_deleted(GROUP, command_update.message.message_id)
    [tracked] = after_intro(harness)
    assert "周六上午停水" in tracked["text"] and "已读 0/3" in tracked["text"]
    async with harness.session() as session:
        notice = (await session.scalars(select(Notice))).one()
    assert notice.tracked and notice.kind == "data_request" and notice.deadline_at is not None
    await harness.command(GROUP, ADMIN, "/notice")
    assert "用法：/notice" in harness.last_text(GROUP)


async def test_readers_goes_privately_to_the_sender_or_an_admin_only(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    notice = await post(harness, ADMIN, "#通知 周六停水")
    await post(harness, MEMBER, "收到", reply_to=notice)
    await post(harness, STRANGER, "我这边有两户没通知到")
    await harness.command(GROUP, STRANGER, "/readers", reply_to=notice)
    assert "只有本群管理员或督导" in harness.last_text(GROUP)
    await harness.command(GROUP, ADMIN, "/readers", reply_to=notice)
    report = harness.last_text(ADMIN)
    assert "已读（1）：张三" in report and "未读" in report and "路人" in report
    group_text = "\n".join(m["text"] for m in after_intro(harness))
    assert "张三" not in group_text  # names never appear in the group
    await harness.command(GROUP, ADMIN, "/readers")
    assert "请回复一条通知" in harness.last_text(GROUP)


async def test_the_tip_describes_what_the_member_can_do_for_that_notice(harness: Harness) -> None:
    await harness.private(MEMBER, "/start")
    await join(harness, **ALL_RIGHTS)
    plain = await post(harness, ADMIN, "#通知 周六停水")
    await post(harness, MEMBER, "收到", reply_to=plain)
    tip = harness.last_text(MEMBER)
    assert "/inbox" in tip and "按钮" not in tip  # a plain notice has no Read button
    harness.clock.advance(timedelta(days=7))
    await harness.command(GROUP, ADMIN, "/notice 周日停电，请提前准备")
    tracked = after_intro(harness)[-1]
    pledge = await post(harness, MEMBER, "收到，马上安排", reply_to=tracked["message_id"])
    assert harness.fake.is_deleted(GROUP, pledge)
    tip = harness.last_text(MEMBER)
    assert "✅ 已读" in tip and "/inbox" not in tip


async def test_a_converted_demand_is_reposted_without_the_demand_itself(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    await post(harness, ADMIN, "【通知】周六停水，请各网格提前告知居民，收到请回复。")
    await press_convert(harness)
    [tracked] = after_intro(harness)
    assert "请各网格提前告知居民。" in tracked["text"] and "收到请回复" not in tracked["text"]
    async with harness.session() as session:
        [stored] = (await session.scalars(select(Notice).where(Notice.tracked.is_(True)))).all()
    assert stored.text == "【通知】周六停水，请各网格提前告知居民。"


async def test_a_message_that_is_only_a_demand_has_nothing_to_convert(harness: Harness) -> None:
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    demand = await post(harness, ADMIN, "请大家看到后回复收到")
    await press_convert(harness)
    answer = harness.fake.calls_to("answerCallbackQuery")[-1]
    assert answer["show_alert"] is True and "没有可以改为通知发布的正文" in answer["text"]
    assert after_intro(harness) == [] and not harness.fake.is_deleted(GROUP, demand)
    assert "notice_converted" not in await events(harness)


async def test_when_no_admin_can_be_reached_the_week_passes_without_lookups(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await post(harness, STRANGER, "收到请回复")  # no admin has started the bot: nobody to tell
    await harness.private(ADMIN, "/start")
    before = len(harness.fake.sent(ADMIN))
    await post(harness, STRANGER, "看到请扣1")
    assert len(harness.fake.sent(ADMIN)) == before
    harness.clock.advance(timedelta(days=7))
    await post(harness, STRANGER, "请大家看到后回复收到")
    assert "路人" in harness.last_text(ADMIN) and len(harness.fake.sent(ADMIN)) == before + 1


async def test_a_reminder_past_its_days_is_not_delivered_before_the_sweep_forgets_it(harness: Harness) -> None:
    await join(harness, **ALL_RIGHTS)
    await post(harness, STRANGER, "收到请回复")
    harness.clock.advance(timedelta(days=7, seconds=1))
    await harness.private(STRANGER, "/start")
    assert not any("提醒为你保存着" in text for text in harness.texts(STRANGER))


async def test_admins_are_told_of_the_missing_right_when_the_batch_that_first_asked_rolled_back(
    harness: Harness,
) -> None:
    """A note told in a transaction that rolls back is not remembered: the retry tells them."""
    harness.fake.add_group(OTHER_GROUP, "第二个群", creator_id=ADMIN, members=[MEMBER, STRANGER])
    await harness.private(ADMIN, "/start")
    # The bot is a plain member of GROUP: no delete right.
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="member"))
    notice = harness.updates.message(GROUP, ADMIN, "#通知 周六停水")
    await harness.send(notice)
    before = len(harness.fake.sent(ADMIN))

    ack = harness.updates.message(GROUP, MEMBER, "收到", reply_to=notice.message.message_id)
    # A second ack finds the note told by the first, in the same (uncommitted) transaction.
    again = harness.updates.message(GROUP, STRANGER, "收到", reply_to=notice.message.message_id)
    elsewhere = harness.updates.message(OTHER_GROUP, STRANGER, "大家好")
    write_durable, failures = harness.deps.pipeline.write_durable, [1]

    async def fails_once(*args: Any, **kwargs: Any) -> Any:
        # A transient failure of the batch's transaction (a lost connection, a lock timeout).
        if failures:
            failures.pop()
            raise RuntimeError("connection lost")
        return await write_durable(*args, **kwargs)

    harness.deps.pipeline.write_durable = fails_once
    intake = Intake(harness.app)
    await intake.commit_batch([ack, again, elsewhere])
    await intake.drain()
    assert not failures  # the batch's transaction did fail, and its chats were committed alone
    told = [m["text"] for m in harness.fake.sent(ADMIN)[before:]]
    assert len(told) == 1 and "删除消息" in told[0]


async def test_a_batch_reads_its_groups_latest_notices_and_its_demanders_private_chats_up_front(
    harness: Harness,
) -> None:
    """The batch's unreplied acks and ack demands are judged on what the batch read before its
    handlers ran (one query each), with the same outcome as one update at a time."""
    harness.fake.add_group(OTHER_GROUP, "第二个群", creator_id=ADMIN, members=[MEMBER, STRANGER])
    await harness.private(STRANGER, "/start")
    for chat in (GROUP, OTHER_GROUP):
        await harness.send(
            harness.updates.my_chat_member(chat, ADMIN, old="left", new="administrator", rights=ALL_RIGHTS)
        )
    first = harness.updates.message(GROUP, ADMIN, "#通知 周六停水")
    second = harness.updates.message(OTHER_GROUP, ADMIN, "#通知 周日停电")
    # Everyone speaks first: seen within the minute, their next messages are not written as
    # sightings (whose answer would say who has a private chat), so the batch asks.
    chat = [harness.updates.message(g, p, "大家好") for g in (GROUP, OTHER_GROUP) for p in (MEMBER, STRANGER)]
    await Intake(harness.app).commit_batch([first, second, *chat])
    harness.clock.advance(timedelta(seconds=30))
    asked: list[str] = []

    def note(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.startswith(("SELECT notices", "SELECT anon_1", "SELECT people.id, people.has_private_chat")):
            asked.append(statement)

    batch = [
        harness.updates.message(GROUP, MEMBER, "收到"),  # answers the latest notice of its group
        harness.updates.message(OTHER_GROUP, MEMBER, "收到"),
        harness.updates.message(OTHER_GROUP, STRANGER, "好的收到"),
        harness.updates.message(GROUP, STRANGER, "请大家看到后回复收到"),  # has a private chat: reminded
        harness.updates.message(OTHER_GROUP, MEMBER, "收到请回复"),  # has none: kept for their /start
    ]
    event.listen(harness.db.engine.sync_engine, "before_cursor_execute", note)
    intake = Intake(harness.app)
    try:
        await intake.commit_batch(batch)
        await intake.drain()
    finally:
        event.remove(harness.db.engine.sync_engine, "before_cursor_execute", note)
    assert len([q for q in asked if "FROM notices" in q]) == 1
    assert len([q for q in asked if "FROM people" in q]) == 1
    assert all(harness.fake.is_deleted(update.message.chat.id, update.message.message_id) for update in batch[:3])
    assert await reads(harness) >= {
        (first.message.message_id, MEMBER, "ack"),
        (second.message.message_id, MEMBER, "ack"),
        (second.message.message_id, STRANGER, "ack"),
    }
    assert "收到" in harness.last_text(STRANGER)  # the reminder went privately
    async with harness.session() as session:
        kept = list(await session.scalars(select(Task.key).where(Task.kind == "kept_message")))
    assert kept and all(key.startswith(f"kept:{MEMBER}:") for key in kept)


async def test_a_demand_and_its_edit_in_one_batch_are_reminded_once(harness: Harness) -> None:
    harness.fake.add_group(OTHER_GROUP, "第二个群", creator_id=ADMIN, members=[MEMBER, STRANGER])
    await harness.private(STRANGER, "/start")
    for chat in (GROUP, OTHER_GROUP):
        joined = harness.updates.my_chat_member(chat, ADMIN, old="left", new="administrator", rights=ALL_RIGHTS)
        await harness.send(joined)
    before = len(harness.texts(STRANGER))
    demand = harness.updates.message(GROUP, STRANGER, "请大家看到后回复收到")
    edit = harness.updates.edited(GROUP, demand.message.message_id, "请大家看到后务必回复收到", user_id=STRANGER)
    elsewhere = harness.updates.message(OTHER_GROUP, MEMBER, "大家好")
    intake = Intake(harness.app)
    await intake.commit_batch([demand, edit, elsewhere])
    await intake.drain()
    assert len(harness.texts(STRANGER)) == before + 1
    assert await events(harness) == ["ack_demand"]


CHECK_IN = "从明天起，每天早上8点前在群里打卡，走访时拍照发群"


@pytest.mark.parametrize(
    ("first", "then"), [(CHECK_IN, CHECK_IN + "，消息必须秒回"), ("请大家看到后回复收到", "请大家看到后务必回复收到")]
)
async def test_a_demand_whose_edit_was_handled_first_is_stored_and_reminded_once(
    harness: Harness, first: str, then: str, caplog: pytest.LogCaptureFixture
) -> None:
    """Webhook deliveries can come out of order (a retried original, racing connections or
    replicas): the original, handled after its edit, neither fails nor reminds again."""
    await harness.private(ADMIN, "/start")
    await join(harness, **ALL_RIGHTS)
    before = len(harness.fake.sent(ADMIN))
    original = harness.updates.message(GROUP, ADMIN, first)
    edit = harness.updates.edited(GROUP, original.message.message_id, then, user_id=ADMIN)
    await harness.send(edit)
    await harness.send(original)
    assert len(harness.fake.sent(ADMIN)) == before + 1
    async with harness.session() as session:
        stored = list(await session.scalars(select(Notice.text).where(Notice.chat_id == GROUP)))
    assert stored in ([], [then])  # the edit's words stay
    assert [record.getMessage() for record in caplog.records if record.levelno >= logging.ERROR] == []
