"""Replay's handling of what a history holds beyond plain messages: /notice and /urgent, temporary
groups' commands, forum topics, replies to messages the export lacks, posts on behalf of the
group, addressed commands, edits, and a group's own settings from the registry."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from bot.context import received_rule_for
from bot.replay.command import ReplayOptions, run
from bot.replay.engine import Replay, ReplaySettings
from bot.replay.export import index_export
from bot.replay.registry import Registry
from bot.settings import load_settings
from bot.testing.exports import ExportedChat, single_chat, write
from storage.repositories.registry import RegisteredGroup

MONDAY = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Shanghai
ADMIN, MEMBER, WANG = (2001, "李书记"), (3001, "张三"), (3002, "王芳")


def at(minutes: float) -> datetime:
    return MONDAY + timedelta(minutes=minutes)


def replayed(tmp_path: Path, chat: ExportedChat) -> dict:
    out = io.StringIO()
    path = write(tmp_path / "result.json", single_chat(chat))
    assert run(load_settings(None), ReplayOptions((path,), "en", as_json=True), stdout=out, stderr=io.StringIO()) == 0
    return json.loads(out.getvalue())


def test_notice_command_outside_quiet_hours_is_a_tracked_notice_acks_in_the_window_count_for(tmp_path: Path) -> None:
    chat = ExportedChat(1, "群")
    chat.message(ADMIN, "/notice 请于明天上午9点前报送台账", at=at(0))
    chat.message(MEMBER, "收到", at=at(2))
    report = replayed(tmp_path, chat)
    assert (report["notices"], report["after_hours_notices"], report["deadlines"], report["acks_removed"]) == (
        1,
        0,
        1,
        1,
    )


def test_notice_command_in_quiet_hours_waits_for_the_morning_and_is_not_after_hours(tmp_path: Path) -> None:
    chat = ExportedChat(1, "群")
    chat.message(ADMIN, "/notice 明天上午9点前上报积水点位", at=at(13 * 60))  # 22:00
    chat.message(MEMBER, "收到", at=at(13 * 60 + 5))  # nothing is published yet: kept
    chat.message(MEMBER, "早", at=at(22 * 60 + 31))  # 07:31 the next day: published at 07:30
    chat.message(WANG, "收到", at=at(22 * 60 + 32))  # counts for the published notice
    report = replayed(tmp_path, chat)
    assert (report["notices"], report["after_hours_notices"], report["acks_removed"]) == (1, 0, 1)
    # "明天上午9点" is read from when it was written: Tuesday 09:00, still ahead at 07:30.
    assert report["deadlines"] == 1 and report["weeks"][0]["notices"] == 1


def test_urgent_command_is_an_urgent_notice_never_after_hours(tmp_path: Path) -> None:
    chat = ExportedChat(1, "群")
    urgent = chat.message(ADMIN, "/urgent #通知 今晚防汛值班表已更新", at=at(13 * 60))
    chat.message(MEMBER, "收到", at=at(13 * 60 + 1), reply_to=urgent)
    report = replayed(tmp_path, chat)
    assert (report["notices"], report["after_hours_notices"], report["acks_removed"], report["acks_recorded"]) == (
        1,
        0,
        0,
        1,
    )


def test_temp_until_a_date_closes_three_days_after_it_and_reopen_and_extend_move_the_close(tmp_path: Path) -> None:
    until = ExportedChat(1, "普查群")
    until.message(ADMIN, "/temp 普查 until 11月24日", at=at(0))  # done on the 25th, closes on the 28th
    until.message(MEMBER, "最后一条", at=at(6 * 24 * 60))
    report = replayed(tmp_path, until)
    assert report["temporary_groups"] == [
        {"chat": 1, "name": "普查群", "close_at": "2026-11-28T00:00+08:00", "closed": True}
    ]
    moved = ExportedChat(2, "防汛群")
    moved.message(ADMIN, "/temp 防汛", at=at(0))
    moved.message(ADMIN, "/done", at=at(1))
    moved.message(ADMIN, "/extend 2 雨季延长", at=at(2))  # closes on the 28th instead of the 26th
    moved.message(ADMIN, "/reopen", at=at(3))  # and not at all
    moved.message(ADMIN, "/done", at=at(24 * 60))  # done again on Tuesday: closes Friday
    moved.message(MEMBER, "还在吗", at=at(4 * 24 * 60))  # Friday 09:00: the close comes first
    report = replayed(tmp_path, moved)
    closes = [(group["close_at"], group["closed"]) for group in report["temporary_groups"]]
    assert closes == [("2026-11-27T09:00+08:00", True)]
    assert report["by_chat"]["2"]["after_close"] == 1


def test_a_done_after_the_export_ends_is_a_pending_close(tmp_path: Path) -> None:
    chat = ExportedChat(1, "群")
    chat.message(ADMIN, "/temp", at=at(0))
    chat.message(ADMIN, "/done", at=at(1))
    report = replayed(tmp_path, chat)
    assert (report["temporary_closes"], report["temporary_closes_pending"]) == (0, 1)
    assert report["temporary_groups"][0]["closed"] is False


def test_posts_in_a_forum_topic_do_not_reply_to_the_topics_opening_message(tmp_path: Path) -> None:
    chat = ExportedChat(1, "论坛群")
    topic = chat.service(ADMIN, "topic_created", at=at(0), title="防汛")
    chat.message(ADMIN, "#通知 今晚值班表见附件", at=at(1), reply_to=topic)
    chat.message(MEMBER, "收到", at=at(2), reply_to=topic)  # in the topic: an unreplied ack, the window applies
    report = replayed(tmp_path, chat)
    assert (report["notices"], report["acks_removed"]) == (1, 1)


def test_a_reply_to_a_message_the_export_lacks_answers_a_message_that_says_nothing(tmp_path: Path) -> None:
    chat = ExportedChat(1, "群")
    chat.message(MEMBER, "收到", at=at(0), reply_to=999)  # a strong ack: removed
    chat.message(WANG, "好的", at=at(1), reply_to=999)  # a weak one: kept
    report = replayed(tmp_path, chat)
    assert (report["acks_removed"], report["acks_recorded"]) == (1, 0)


def test_posts_on_behalf_of_the_group_are_not_judged_but_can_be_answered(tmp_path: Path) -> None:
    chat = ExportedChat(1, "群")
    notice = chat.post_as_group("#通知 周六停水，收到请回复", at=at(0))
    chat.message(MEMBER, "收到", at=at(1), reply_to=notice)
    report = replayed(tmp_path, chat)
    # The bot never sees who posted it: no notice, no demand; the ack under it is still an ack.
    assert (report["notices"], report["ack_demands"], report["acks_removed"]) == (0, 0, 1)


def test_commands_addressed_to_another_bot_and_edits(tmp_path: Path) -> None:
    chat = ExportedChat(1, "群")
    chat.message(ADMIN, "/temp@other_bot 普查", at=at(0))
    chat.message(ADMIN, "/done@other_bot", at=at(1))
    chat.message(ADMIN, "#通知 明天下午3点开会", at=at(2), edited=at(5))  # first written as plain talk
    report = replayed(tmp_path, chat)
    assert (report["temporary_closes"], report["temporary_closes_pending"], report["notices"]) == (0, 0, 1)


def test_a_name_then_an_ack_counts_only_from_its_owner_though_verdicts_are_remembered(tmp_path: Path) -> None:
    chat = ExportedChat(1, "群")
    notice = chat.message(ADMIN, "#通知 周五前报送台账", at=at(0))
    chat.message(WANG, "王芳收到", at=at(1), reply_to=notice)
    chat.message(MEMBER, "王芳收到", at=at(2), reply_to=notice)  # 张三 writing 王芳's name: kept
    chat.message(WANG, "王芳收到", at=at(3), reply_to=notice)
    assert replayed(tmp_path, chat)["acks_removed"] == 2


def test_a_groups_own_settings_from_the_registry_apply(tmp_path: Path) -> None:
    chat = ExportedChat(1234500001, "群")
    notice = chat.message(ADMIN, "#通知 周五前报送台账，收到请回复", at=at(13 * 60))  # 22:00
    chat.message(MEMBER, "收到", at=at(13 * 60 + 1), reply_to=notice)
    chat.message(ADMIN, "请大家每天在群里打卡报平安", at=at(13 * 60 + 2))
    [index] = index_export(write(tmp_path / "result.json", single_chat(chat)))
    group = RegisteredGroup(
        -1001234500001, "群", None, {"received": "record", "quiet": "off", "checkin": "off"}, member_count=11
    )
    registry = Registry(groups={group.id: group}, loaded=True)
    settings = load_settings(None)
    engine = Replay(ReplaySettings.from_settings(settings, received_rule_for(settings)), registry, [index])
    for raw in chat.messages:
        engine.feed(int(raw["date_unixtime"]), index.order, raw)
    totals = engine.tally.total()
    # Record only: the ack is kept as a read, the demand counted without a reminder; quiet hours
    # off: nothing after hours; the check-in rule off: not counted.
    assert (totals["acks_removed"], totals["acks_recorded"], totals["ack_demands"], totals["reminders"]) == (0, 1, 1, 0)
    assert totals["after_hours_notices"] == 0 and totals["checkin"] == 0
    assert engine.chats[index.order].readers == 10
