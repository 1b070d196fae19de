"""Deadline expressions in both languages, read with a fixed clock: Monday 2026-11-23 09:00 in Shanghai."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.deadlines import find_deadline

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
        ("12月5日上午9点半开会", at(12, 5, 9, 30)),
        ("2026年12月8日前完成", at(12, 8)),
        ("2026-12-08 18:00前", at(12, 8, 18, 0)),
        ("本周五前报送", at(11, 27)),
        ("周五前", at(11, 27)),
        ("下周一上午10点开会", at(11, 30, 10, 0)),
        ("下星期三", at(12, 2)),
        ("明天上午9:30到街道开会", at(11, 24, 9, 30)),
        ("今天下午5点前", at(11, 23, 17, 0)),
        ("后天", at(11, 25)),
        ("月底前报送", at(11, 30)),
        ("3天内完成", at(11, 26)),
        ("三个工作日内上报", at(11, 26)),
        ("1月5日前", at(1, 5, year=2027)),
        ("Please submit by Dec 3", at(12, 3)),
        ("by December 3rd 5pm", at(12, 3, 17, 0)),
        ("by 3 Dec", at(12, 3)),
        ("meeting next Monday at 9:30", at(11, 30, 9, 30)),
        ("by Friday", at(11, 27)),
        ("tomorrow 9am", at(11, 24, 9, 0)),
        ("within 3 days", at(11, 26)),
        ("【通知】请11月30日前报送，另12月5日开会", at(11, 30)),
    ],
)
def test_deadlines_are_read_in_the_groups_time_zone(text: str, expected: datetime) -> None:
    assert find_deadline(text, NOW) == expected


@pytest.mark.parametrize(
    "text",
    ["大家好", "收到", "13月40日前", "2月30日前", "第3号楼", "请回复1", "by the way", "Dec 3", "周末愉快", "", "by Smarch 3"],
)
def test_text_without_a_readable_deadline_has_none(text: str) -> None:
    assert find_deadline(text, NOW) is None


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=200))
def test_random_text_never_crashes(text: str) -> None:
    found = find_deadline(text, NOW)
    assert found is None or found.tzinfo is not None
