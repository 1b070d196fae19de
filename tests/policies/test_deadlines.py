"""Deadline expressions in both languages, read with a fixed clock: Monday 2026-11-23 09:00 in Shanghai."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.deadlines import _ENGLISH_WORDS, _PATTERNS, _may_match, find_deadline

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=SHANGHAI)


def at(month: int, day: int, hour: int = 23, minute: int = 59, year: int = 2026) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("请于11月30日前报送", at(11, 30)),
        ("12月5日17:00前上报台账", at(12, 5, 17, 0)),
        ("12月5号下午3点前", at(12, 5, 15, 0)),
        ("2026年12月8日前完成", at(12, 8)),
        ("2026-12-08 18:00前", at(12, 8, 18, 0)),
        ("本周五前报送", at(11, 27)),
        ("周五前", at(11, 27)),
        ("下星期三", at(12, 2)),
        ("明天上午9:30前到街道报送", at(11, 24, 9, 30)),
        ("今天下午5点前", at(11, 23, 17, 0)),
        ("后天", at(11, 25)),
        ("月底前报送", at(11, 30)),
        ("3天内完成", at(11, 26)),
        ("三个工作日内上报", at(11, 26)),
        ("1月5日前", at(1, 5, year=2027)),
        ("Please submit by Dec 3", at(12, 3)),
        ("by December 3rd 5pm", at(12, 3, 17, 0)),
        ("by 3 Dec", at(12, 3)),
        ("report next Monday at 9:30", at(11, 30, 9, 30)),
        ("by Friday", at(11, 27)),
        ("tomorrow 9am", at(11, 24, 9, 0)),
        ("within 3 days", at(11, 26)),
        ("【通知】请11月30日前报送，另12月5日开会", at(11, 30)),
    ],
)
def test_deadlines_are_read_in_the_groups_time_zone(text: str, expected: datetime) -> None:
    assert find_deadline(text, NOW) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # Chinese numerals and spoken times, with a date or a day.
        ("明天下午四点前报送", at(11, 24, 16, 0)),
        ("今晚八点前回复人数", at(11, 23, 20, 0)),
        ("明早八点前上报积水点位", at(11, 24, 8, 0)),
        ("12月5日下午三点一刻前", at(12, 5, 15, 15)),
        ("本周五上午十点前", at(11, 27, 10, 0)),
        ("周三下午三点四十五分前", at(11, 25, 15, 45)),
        ("明天中午12点前", at(11, 24, 12, 0)),
        ("明天中午1点前", at(11, 24, 13, 0)),
        ("12月5日下午3点半前报送", at(12, 5, 15, 30)),
        ("2026年12月8日17时前", at(12, 8, 17, 0)),
        ("十个工作日内", at(12, 3)),
        # A time alone is a deadline with 前 or 截止 after it: today, or tomorrow once it has passed.
        ("十点半前", at(11, 23, 10, 30)),
        ("两点前", at(11, 23, 14, 0)),
        ("下午3点半前把记录发我", at(11, 23, 15, 30)),
        ("请各村4点前报送", at(11, 23, 16, 0)),
        ("8点前", at(11, 24, 8, 0)),
        ("上午十一点截止", at(11, 23, 11, 0)),
        # An hour without 上午 or 下午 is a working hour: a bare 3点 in a notice is the afternoon.
        ("12月5日3点前", at(12, 5, 15, 0)),
        ("12月5日9点前", at(12, 5, 9, 0)),
        # An event's time is skipped for the deadline that follows it.
        ("本周五下午2点在区政务中心开展培训，名单周四前报我", at(11, 26)),
        ("截止时间：12月5日", at(12, 5)),
        ("Submit the training report by Friday", at(11, 27)),
    ],
)
def test_spoken_chinese_times_are_read(text: str, expected: datetime) -> None:
    assert find_deadline(text, NOW) == expected


@pytest.mark.parametrize(
    "text",
    [
        "周五上午九点在社区活动室集中",
        "12月5日上午9点半开会",
        "下周一上午10点开会",
        "明天上午9:30到街道开会",
        "明天开会",
        "【会议通知】定于11月28日（周五）上午9:00在区行政中心5楼召开会议",
        "meeting next Monday at 9:30",
        "下午3点半",
        "十点半",
        "请大家早一点前来签到",
        "周五前往区里参加培训",
        "后天上午体检",
    ],
)
def test_a_meeting_or_event_time_is_not_a_deadline(text: str) -> None:
    assert find_deadline(text, NOW) is None


@pytest.mark.parametrize(
    "text",
    [
        "大家好",
        "收到",
        "13月40日前",
        "2月30日前",
        "第3号楼",
        "请回复1",
        "by the way",
        "Dec 3",
        "周末愉快",
        "",
        "by Smarch 3",
    ],
)
def test_text_without_a_readable_deadline_has_none(text: str) -> None:
    assert find_deadline(text, NOW) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_crashes(text: str) -> None:
    found = find_deadline(text, NOW)
    assert found is None or found.tzinfo is not None


FRAGMENTS = [
    "请于", "12", "3", "月", "5", "日", "号", "前", "之前", "截止", "内", "天", "个工作日", "月底", "月末", "本",
    "今天", "明早", "后天", "周", "星期", "五", "三", "下午", "点", "半", ":30", "2026", "年", "-", "开会", " ",
    "by", "By ", "Dec", "next", "THIS", "monday", "today", "tonight", "within", "wıthın", "days", "5pm", "，",
    "3点前", "十点半截止", "两点之前", "3天内", "12月5日", "本周五", "明晚八点", "by Dec 3", "by 3 Dec", "next Monday",
    "within 3 days", "Tomorrow at 5pm", "2026-12-08", "THIS Friday",
]  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(st.lists(st.sampled_from(FRAGMENTS), max_size=12).map("".join))
def test_a_pattern_is_skipped_only_when_it_cannot_match(text: str) -> None:
    """find_deadline skips a pattern whose needed words the text lacks: never one that matches."""
    english = _ENGLISH_WORDS.search(text) is not None
    for pattern, kind in _PATTERNS:
        if pattern.search(text):
            assert _may_match(kind, text, english), (kind, text)
