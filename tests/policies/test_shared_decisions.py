"""The decisions the live bot and `jianfu replay` share: the received rule's group context, what is
kept as a notice, quiet hours, the charged department, temporary-group steps, the copy finder, and
the faster text folding (which must give what it gave before)."""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime, timedelta
from typing import NamedTuple

from hypothesis import given, settings
from hypothesis import strategies as st

from policies.demands import UrgencyRule
from policies.departments import charged_department
from policies.duplicates import CopyFinder
from policies.lifecycle import MarkTemporary, TemporaryGroup, closes_at, may
from policies.notices import NoticeKind
from policies.quiet import QuietHours, after_hours, group_quiet_hours, parse_clock
from policies.received import (
    Mode,
    ReceivedRule,
    acts_on,
    can_delete,
    command_notice_facts,
    group_context,
    mode_of,
    notice_facts,
)
from policies.text import fold, squeeze
from policies.types import ChatRef, ChatType, Message, Person

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
RULE = ReceivedRule()
CHAT = ChatRef(-100, ChatType.SUPERGROUP)
RIGHTS = {"is_admin": True, "can_delete_messages": True}


class Latest(NamedTuple):
    message_id: int
    text: str
    urgent: bool
    tracked: bool
    posted_at: datetime


def message(text: str, message_id: int = 9, reply_to: int | None = None) -> Message:
    return Message(CHAT, message_id, NOW, Person(1, "张三"), text=text, reply_to_message_id=reply_to)


def test_an_unreplied_ack_counts_for_the_latest_notice_within_the_window_only() -> None:
    notice = Latest(5, "【通知】明天几点开会另行通知", False, True, NOW - timedelta(minutes=10))
    context = group_context(
        RULE, message("收到"), mode=Mode.REMOVE, bot_rights=RIGHTS, now=NOW, replied=None, latest_notice=notice
    )
    assert context.recent_notice is not None
    assert (context.recent_notice.message_id, context.recent_notice.expects_ack, context.recent_notice.tracked) == (
        5,
        True,
        True,
    )
    # "几点" makes the notice ask something: an ack under it may be the answer.
    assert context.recent_notice.is_question and context.can_delete
    stale = notice._replace(posted_at=NOW - timedelta(minutes=31))
    assert (
        group_context(
            RULE, message("收到"), mode=Mode.REMOVE, bot_rights=RIGHTS, now=NOW, replied=None, latest_notice=stale
        ).recent_notice
        is None
    )
    itself = notice._replace(message_id=9)
    assert (
        group_context(
            RULE, message("收到"), mode=Mode.REMOVE, bot_rights=RIGHTS, now=NOW, replied=None, latest_notice=itself
        ).recent_notice
        is None
    )


def test_a_reply_is_judged_against_what_it_answers_never_the_latest_notice() -> None:
    replied = RULE.target_of(3, "明天谁值班？")
    notice = Latest(5, "#通知 停水", False, False, NOW)
    context = group_context(
        RULE,
        message("1", reply_to=3),
        mode=Mode.REMOVE,
        bot_rights=RIGHTS,
        now=NOW,
        replied=replied,
        latest_notice=notice,
    )
    assert context.recent_notice is None and context.replied.is_question
    assert RULE.judge(message("1", reply_to=3), context).actions == ()


def test_mode_and_rights() -> None:
    assert mode_of({"received": "record"}, "remove") is Mode.RECORD
    assert mode_of({}, "off") is Mode.OFF and mode_of(None, "remove") is Mode.REMOVE
    assert can_delete(RIGHTS) and not can_delete({"can_delete_messages": True}) and not can_delete(None)


def test_notices_and_demands_are_kept_as_notices_but_acks_never() -> None:
    facts = notice_facts(
        RULE, RULE.classify(message("【通知】周五前报送台账，收到请回复")), "【通知】周五前报送台账，收到请回复"
    )
    assert (facts.kind, facts.urgent, facts.ack_demand) == (NoticeKind.DATA_REQUEST, False, True)
    urgent = "【紧急】今晚前上报，收到请回复"
    assert notice_facts(RULE, RULE.classify(message(urgent)), urgent).ack_demand is False
    assert notice_facts(RULE, RULE.classify(message("请确认收到")), "请确认收到") is not None
    assert notice_facts(RULE, RULE.classify(message("确认收到")), "确认收到") is None  # an ack that reads like a demand
    assert notice_facts(RULE, RULE.classify(message("今天下午谁在办公室")), "今天下午谁在办公室") is None
    command = command_notice_facts(RULE, "明天上午9点开会", published_urgent=True)
    assert (command.kind, command.urgent, command.ack_demand) == (NoticeKind.MEETING, True, False)
    assert acts_on(RULE.classify(message("收到"))) and not acts_on(RULE.classify(message("大家好")))


def test_quiet_hours_of_a_group_and_after_hours_notices() -> None:
    default = group_quiet_hours(None, start="21:00", end="07:30", weekends=True)
    assert default == QuietHours(parse_clock("21:00"), parse_clock("07:30"), True)
    assert group_quiet_hours("22:00-06:00", start="21:00", end="07:30", weekends=False) == QuietHours(
        parse_clock("22:00"), parse_clock("06:00"), False
    )
    assert group_quiet_hours("off", start="21:00", end="07:30", weekends=True) is None
    evening = datetime(2026, 11, 23, 22, 0)
    assert after_hours(default, evening, urgent=False)
    assert not after_hours(default, evening, urgent=True) and not after_hours(None, evening, urgent=False)
    assert not after_hours(default, evening.replace(hour=10), urgent=False)


def test_the_department_charged() -> None:
    assert charged_department({4}, 7) == 4
    assert charged_department(set(), 7) == 7 and charged_department({4, 5}, 7) == 7
    assert charged_department(set(), None) is None


def test_a_temporary_groups_life() -> None:
    group = TemporaryGroup()
    assert not group.done(NOW, 3)  # not temporary yet
    group.mark(MarkTemporary("普查", None))
    assert group.done(NOW, 3) and group.close_at == closes_at(NOW, 3) == NOW + timedelta(days=3)
    assert not group.done(NOW, 3) and may("extend", group.state)
    assert group.extend(2) and group.close_at == NOW + timedelta(days=5)
    assert not group.close(NOW + timedelta(days=3))  # the old close time is stale after /extend
    assert group.reopen() and group.state == "active" and group.close_at is None
    assert not group.extend(1) and not group.reopen()
    group.done(NOW + timedelta(days=1), 3)
    assert group.close(NOW + timedelta(days=4)) and (group.state, group.closed_at) == (
        "closed",
        NOW + timedelta(days=4),
    )
    assert not group.reopen() and not group.done(NOW, 3)


def test_copies_are_found_across_groups_within_the_window_and_linked_to_the_first() -> None:
    finder = CopyFinder(timedelta(days=14))
    request = "【通知】请各社区于12月5日前报送第四季度独居老人走访台账，联系人王芳。"
    near = "【通知】请各社区于12月5日前报送第四季度独居老人走访台账，联系人：李明。"
    assert finder.add("a1", 1, NOW, "data_request", request, "民政局") is None
    assert (
        finder.add("a2", 1, NOW + timedelta(hours=1), "data_request", request, "民政局") is None
    )  # same group: not a copy
    copy = finder.add("b1", 2, NOW + timedelta(hours=2), "data_request", request + "！", "卫健委")
    assert (copy.key, copy.department) == ("a1", "民政局")
    assert finder.add("c1", 3, NOW + timedelta(hours=3), "data_request", near, None).key == "a1"
    assert (
        finder.add("d1", 4, NOW + timedelta(hours=4), "notice", near, None) is None
    )  # near-copies count for data requests only
    # Fourteen days on, the first has left the window; the second (same group, so no copy) is next.
    assert finder.add("e1", 5, NOW + timedelta(days=14, minutes=30), "data_request", request, None).key == "a2"
    assert (
        finder.add("g1", 7, NOW + timedelta(days=30), "data_request", request, None) is None
    )  # every earlier one forgotten
    assert finder.add("h1", 8, NOW + timedelta(days=30, hours=1), "data_request", request, None).key == "g1"


def test_the_urgent_pre_check_never_hides_a_marker() -> None:
    rule = UrgencyRule(("【紧急】", "紧急", "特急", "urgent", "asap", "#急件"))
    for text in ("紧 急：今晚上报", "ＵＲＧＥＮＴ reply", "请尽快 A.S.A.P.", "急件请阅", "特特急", "#urgent"):
        assert rule.judge(text).hit, text
    for text in ("不紧急", "紧急联系人：王芳", "普通通知", ""):
        assert not rule.judge(text).hit, text


def _fold_before(text: str) -> str:
    """fold as it was written before the full-width shortcut and the memo."""
    if text.isascii():
        return text.lower()
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return re.sub("[\u200b-\u200d\u2060\ufeff\u180e\u00ad\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]", "", text.casefold())


@settings(max_examples=500, deadline=None)
@given(st.text(alphabet=st.sampled_from(
    [chr(code) for code in [*range(0x20, 0x7F), *range(0xFF01, 0xFF5F), 0x3000, 0x2460, 0x3392, 0xF900, 0x200B, 0x1F44D,
                            0x1F3FB, 0x6536, 0x5230, 0xFE0F, 0x2163, 0xFF61, 0xFFE5, 0x00C5, 0x212B, 0x1E9E, 0x0130]]
), max_size=16))  # fmt: skip
def test_folding_gives_what_it_gave_before(text: str) -> None:
    assert fold(text) == _fold_before(text)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("aab收收到到!!!  ，，11👍👍_x")), max_size=24))
def test_squeezing_gives_what_the_template_substitution_gave(text: str) -> None:
    dropped = re.sub(r"[^\w\u2190-\u21ff\u2600-\u27bf\u2b00-\u2bff\U0001F000-\U0001FAFF]+|_+", "", text)
    assert squeeze(text) == re.sub(r"(.)\1+", r"\1", dropped)
