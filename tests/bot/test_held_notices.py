"""/notice in quiet hours: held, confirmed by its sender, published once at the next working period."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from bot.jobs.sweep import run_due_tasks
from bot.testing.fake import KICKED, too_many_requests
from storage.models import Event, Notice, Task
from tests.bot.conftest import ADMIN, ENGLISH, GROUP, MEMBER, STRANGER, Harness

ALL_RIGHTS = dict.fromkeys(
    ("can_delete_messages", "can_restrict_members", "can_pin_messages", "can_invite_users", "can_change_info"), True
)
EVENING = timedelta(hours=13)  # from Monday 09:00 to 22:00 in Shanghai
TO_MORNING = timedelta(hours=9, minutes=30)  # from 22:00 to Tuesday 07:30


async def join(harness: Harness, *starters: int) -> None:
    for person in starters:
        await harness.private(person, "/start")
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="administrator", rights=ALL_RIGHTS))
    harness.fake.reset_calls()


def group_posts(harness: Harness) -> list[dict]:
    """What the bot posted in the group after its introduction, deleted ones included."""
    return harness.fake.sent(GROUP, include_deleted=True)[1:]


async def notice_at_night(harness: Harness, user_id: int, text: str) -> int:
    harness.clock.advance(EVENING)
    update = harness.updates.command(GROUP, user_id, f"/notice {text}")
    await harness.send(update)
    return update.message.message_id


def buttons(message: dict) -> list[tuple[str, str]]:
    return [
        (button["text"], button["callback_data"])
        for row in message["reply_markup"]["inline_keyboard"]
        for button in row
    ]


async def press(harness: Harness, user_id: int, message: dict, label_part: str) -> None:
    [data] = [data for text, data in buttons(message) if label_part in text]
    await harness.send(harness.updates.callback(user_id, message["chat"]["id"], message["message_id"], data))


def popup(harness: Harness) -> str:
    return harness.fake.calls_to("answerCallbackQuery")[-1].get("text", "")


async def notices(harness: Harness) -> list[Notice]:
    async with harness.session() as session:
        return list(await session.scalars(select(Notice)))


async def held_task(harness: Harness) -> Task:
    async with harness.session() as session:
        return (await session.scalars(select(Task).where(Task.kind == "held_notice"))).one()


async def test_a_confirmed_notice_waits_for_the_morning_and_is_published_once(harness: Harness) -> None:
    await join(harness, ADMIN)
    command = await notice_at_night(harness, ADMIN, "周六上午停水，请提前储水。")
    assert harness.fake.is_deleted(GROUP, command)
    assert group_posts(harness) == [] and await notices(harness) == []
    question = harness.fake.sent(ADMIN)[-1]
    assert "免打扰时段" in question["text"] and "11-24 07:30" in question["text"] and "周六上午停水" in question["text"]
    assert [text for text, _data in buttons(question)] == ["⏰ 11-24 07:30 发布", "🚨 紧急，立即发布", "✖ 取消"]

    await press(harness, ADMIN, question, "07:30")
    confirmed = harness.fake.message(ADMIN, question["message_id"])
    assert "将于 <b>11-24 07:30</b>" in confirmed["text"] or "将于 11-24 07:30" in confirmed["text"]
    assert [text for text, _data in buttons(confirmed)] == ["🚨 紧急，立即发布", "✖ 取消"]

    harness.clock.advance(TO_MORNING - timedelta(minutes=1))
    await harness.sweep()
    assert group_posts(harness) == []
    harness.clock.advance(timedelta(minutes=1))
    await harness.sweep()
    [published] = group_posts(harness)
    assert "周六上午停水" in published["text"] and "已读 0/3" in published["text"]
    assert buttons(published)[0][0] == "✅ 已读"
    [stored] = await notices(harness)
    assert stored.tracked and stored.message_id == published["message_id"] and not stored.urgent
    assert stored.posted_at == harness.clock()
    assert "已发布" in harness.fake.message(ADMIN, question["message_id"])["text"]
    task = await held_task(harness)
    assert task.state == "done" and "text" not in task.payload  # the text lives on as the notice only
    await harness.sweep()
    assert len(group_posts(harness)) == 1
    # Published in working time: not an after-hours notice.
    async with harness.session() as session:
        assert list(await session.scalars(select(Event.kind).where(Event.kind == "after_hours_notice"))) == []


async def test_a_held_notice_survives_a_restart_and_two_replicas_publish_it_once(harness: Harness) -> None:
    await join(harness, ADMIN)
    await notice_at_night(harness, ADMIN, "#通知 周三例会改到下午三点")
    await press(harness, ADMIN, harness.fake.sent(ADMIN)[-1], "07:30")
    harness.clock.advance(TO_MORNING + timedelta(hours=1))  # the bot was down at 07:30
    async with harness.replica() as (deps, second):
        await asyncio.gather(harness.sweep(), run_due_tasks(deps, second.bot))
    assert len([post for post in group_posts(harness) if "周三例会" in post["text"]]) == 1
    assert len(await notices(harness)) == 1


async def test_the_sender_can_cancel_until_it_is_published(harness: Harness) -> None:
    await join(harness, ADMIN)
    await notice_at_night(harness, ADMIN, "#通知 明早检查消防通道")
    question = harness.fake.sent(ADMIN)[-1]
    await press(harness, ADMIN, question, "07:30")
    await press(harness, ADMIN, harness.fake.message(ADMIN, question["message_id"]), "取消")
    assert popup(harness) == "已取消。"
    assert "已取消" in harness.fake.message(ADMIN, question["message_id"])["text"]
    harness.clock.advance(TO_MORNING)
    await harness.sweep()
    assert group_posts(harness) == [] and await notices(harness) == []
    task = await held_task(harness)
    assert task.payload["outcome"] == "cancelled" and "text" not in task.payload
    # The old buttons of the first question: a polite answer, nothing changes.
    await press(harness, ADMIN, question, "07:30")
    assert popup(harness) == "这条通知已经发布、取消或作废了。"
    assert group_posts(harness) == []


async def test_publish_now_marks_it_urgent_and_publishes_at_once(harness: Harness) -> None:
    await join(harness, ADMIN)
    await notice_at_night(harness, ADMIN, "今晚暴雨，请各网格排查积水点")
    question = harness.fake.sent(ADMIN)[-1]
    await press(harness, ADMIN, question, "立即发布")
    [published] = group_posts(harness)
    assert "【紧急】今晚暴雨" in published["text"]
    [stored] = await notices(harness)
    assert stored.urgent
    assert "已发布" in harness.fake.message(ADMIN, question["message_id"])["text"]
    harness.clock.advance(TO_MORNING)
    await harness.sweep()
    assert len(group_posts(harness)) == 1
    await press(harness, ADMIN, question, "立即发布")
    assert popup(harness) == "这条通知已经发布、取消或作废了。" and len(group_posts(harness)) == 1


async def test_an_unconfirmed_notice_is_dropped_at_the_morning(harness: Harness) -> None:
    await join(harness, ADMIN)
    await notice_at_night(harness, ADMIN, "#通知 没人确认的通知")
    question = harness.fake.sent(ADMIN)[-1]
    harness.clock.advance(TO_MORNING)
    await harness.sweep()
    assert group_posts(harness) == [] and await notices(harness) == []
    assert "没有确认" in harness.fake.message(ADMIN, question["message_id"])["text"]
    assert "text" not in (await held_task(harness)).payload


async def test_urgent_notices_and_groups_without_quiet_hours_are_not_held(harness: Harness) -> None:
    await join(harness, ADMIN)
    await notice_at_night(harness, ADMIN, "【紧急】今晚十点前上报受灾情况")
    assert "今晚十点前" in group_posts(harness)[-1]["text"]
    await harness.command(GROUP, ADMIN, "/set quiet off")
    await harness.command(GROUP, ADMIN, "/notice 明天的例会照常")
    assert "明天的例会照常" in group_posts(harness)[-1]["text"]
    async with harness.session() as session:
        assert list(await session.scalars(select(Task).where(Task.kind == "held_notice"))) == []


async def test_a_sender_who_never_started_the_bot_is_asked_in_the_group(harness: Harness) -> None:
    await join(harness)
    command = await notice_at_night(harness, STRANGER, "#通知 周五大扫除")
    assert harness.fake.is_deleted(GROUP, command)
    [question] = group_posts(harness)
    assert question["text"].startswith("路人：") and "11-24 07:30" in question["text"]
    await press(harness, MEMBER, question, "07:30")
    assert popup(harness) == "只有发布这条通知的人可以操作。"
    assert (await held_task(harness)).payload["confirmed"] is False
    await press(harness, STRANGER, question, "07:30")
    confirmed = harness.fake.message(GROUP, question["message_id"])
    assert "路人 的通知将于" in confirmed["text"]
    # The question stays past the usual expiry, so its sender can still cancel it ...
    harness.clock.advance(timedelta(minutes=30))
    await harness.sweep()
    assert not harness.fake.is_deleted(GROUP, question["message_id"])
    # ... and goes when the notice is out.
    harness.clock.advance(TO_MORNING)
    await harness.sweep()
    assert harness.fake.is_deleted(GROUP, question["message_id"])
    assert "周五大扫除" in harness.fake.sent(GROUP)[-1]["text"]


async def test_an_unanswered_group_question_expires_like_other_bot_messages(harness: Harness) -> None:
    await join(harness)
    await notice_at_night(harness, STRANGER, "#通知 周五大扫除")
    [question] = group_posts(harness)
    harness.clock.advance(timedelta(minutes=10))
    await harness.sweep()
    assert harness.fake.is_deleted(GROUP, question["message_id"])


async def test_english_senders_are_asked_in_english(harness: Harness) -> None:
    await join(harness, ENGLISH)
    await notice_at_night(harness, ENGLISH, "Notice: the water is off on Saturday morning.")
    question = harness.fake.sent(ENGLISH)[-1]
    assert "quiet hours" in question["text"] and "11-24 07:30" in question["text"]
    assert [text for text, _data in buttons(question)] == [
        "⏰ Publish at 11-24 07:30",
        "🚨 Urgent: publish now",
        "✖ Cancel",
    ]
    await press(harness, ENGLISH, question, "Publish at")
    assert "will be published" in harness.fake.message(ENGLISH, question["message_id"])["text"]
    harness.clock.advance(TO_MORNING)
    await harness.sweep()
    assert "has been published" in harness.fake.message(ENGLISH, question["message_id"])["text"]
    await press(harness, ENGLISH, question, "Cancel")
    assert popup(harness) == "This notice has been published, cancelled or dropped already."


async def test_friday_night_waits_for_monday_and_deadlines_count_from_writing(harness: Harness) -> None:
    await join(harness, ADMIN)
    harness.clock.advance(timedelta(days=4))  # Friday 09:00
    await notice_at_night(harness, ADMIN, "【通知】明天上午9:30前报送台账")  # Friday 22:00
    question = harness.fake.sent(ADMIN)[-1]
    assert "11-30 07:30" in question["text"]
    await press(harness, ADMIN, question, "07:30")
    harness.clock.advance(timedelta(days=2, hours=9, minutes=30))  # Monday 07:30
    await harness.sweep()
    [stored] = await notices(harness)
    # "Tomorrow 9:30" as written on Friday: Saturday 09:30 in Shanghai, not Tuesday.
    assert stored.deadline_at == datetime(2026, 11, 28, 1, 30, tzinfo=UTC)


async def test_stale_and_malformed_buttons_change_nothing(harness: Harness) -> None:
    await join(harness, ADMIN)
    await notice_at_night(harness, ADMIN, "#通知 周五大扫除")
    question = harness.fake.sent(ADMIN)[-1]
    for data in ("hn:at:x", "hn:zz:1", "hn:at:999999", "hn:"):
        await harness.send(harness.updates.callback(ADMIN, ADMIN, question["message_id"], data))
        assert popup(harness) == "这个按钮已失效，请重新发送命令。"
    # A task of another kind is not a held notice.
    async with harness.session() as session:
        other = (await session.scalars(select(Task).where(Task.kind != "held_notice"))).first()
    if other is not None:
        await harness.send(harness.updates.callback(ADMIN, ADMIN, question["message_id"], f"hn:at:{other.id}"))
        assert popup(harness) == "这个按钮已失效，请重新发送命令。"
    assert (await held_task(harness)).payload["confirmed"] is False


async def test_telegram_errors_at_publishing_are_retried_until_the_notice_is_out_once(harness: Harness) -> None:
    await join(harness, ADMIN)
    await notice_at_night(harness, ADMIN, "#通知 周五大扫除")
    question = harness.fake.sent(ADMIN)[-1]
    # Publish now while Telegram is flooded: the post is kept (an outbox action) and retried.
    harness.fake.fail_next("sendMessage", too_many_requests(5), chat_id=GROUP)
    await press(harness, ADMIN, question, "立即发布")
    assert group_posts(harness) == [] and (await held_task(harness)).state == "done"
    await press(harness, ADMIN, question, "立即发布")
    assert "已经发布、取消或作废" in popup(harness)  # settled: a second press changes nothing
    harness.clock.advance(timedelta(minutes=1))
    await harness.sweep()
    assert len(group_posts(harness)) == 1
    assert "已发布到" in harness.fake.message(ADMIN, question["message_id"])["text"]
    harness.clock.advance(timedelta(hours=1))
    await harness.sweep()
    assert len(group_posts(harness)) == 1


async def test_a_held_notice_due_while_telegram_is_flooded_goes_out_once_later(harness: Harness) -> None:
    await join(harness, ADMIN)
    await notice_at_night(harness, ADMIN, "#通知 周五大扫除")
    await press(harness, ADMIN, harness.fake.sent(ADMIN)[-1], "07:30")
    harness.clock.advance(TO_MORNING)
    harness.fake.fail_next("sendMessage", too_many_requests(5), chat_id=GROUP)
    await harness.sweep()
    assert group_posts(harness) == [] and "text" not in (await held_task(harness)).payload
    harness.clock.advance(timedelta(minutes=1))
    await harness.sweep()
    harness.clock.advance(timedelta(minutes=10))
    await harness.sweep()
    assert len(group_posts(harness)) == 1


async def test_a_group_that_removed_the_bot_gets_nothing_and_the_sender_is_told(harness: Harness) -> None:
    await join(harness, ADMIN)
    await notice_at_night(harness, ADMIN, "#通知 周五大扫除")
    question = harness.fake.sent(ADMIN)[-1]
    await press(harness, ADMIN, question, "07:30")
    harness.fake.fail_next("sendMessage", KICKED, chat_id=GROUP)
    harness.clock.advance(TO_MORNING)
    await harness.sweep()
    assert await notices(harness) == []
    assert "未能在" in harness.fake.message(ADMIN, question["message_id"])["text"]
    task = await held_task(harness)
    assert task.state == "done" and task.payload["outcome"] == "failed" and "text" not in task.payload
