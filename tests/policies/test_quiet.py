"""Quiet hours: default 21:00–07:30 and weekends, in the group's local time."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

import pytest

from policies.quiet import QuietHours, hold_until, parse_clock

TZ = ZoneInfo("Asia/Shanghai")
QUIET = QuietHours()


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=TZ)  # 23rd is a Monday


@pytest.mark.parametrize(
    ("moment", "quiet"),
    [
        (at(23, 9), False),
        (at(23, 20, 59), False),
        (at(23, 21), True),
        (at(23, 23, 30), True),
        (at(24, 7, 29), True),
        (at(24, 7, 30), False),
        (at(28, 10), True),
        (at(29, 10), True),
    ],
)
def test_contains(moment: datetime, quiet: bool) -> None:
    assert QUIET.contains(moment) is quiet


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (at(23, 9), at(23, 9)),
        (at(23, 22), at(24, 7, 30)),
        (at(24, 3), at(24, 7, 30)),
        (at(27, 22), at(30, 7, 30)),  # Friday night -> Monday morning
        (at(28, 12), at(30, 7, 30)),
    ],
)
def test_next_working(moment: datetime, expected: datetime) -> None:
    assert QUIET.next_working(moment) == expected


def test_a_daytime_quiet_window_and_no_weekends() -> None:
    lunch = QuietHours(time(12, 0), time(13, 0), weekends=False)
    assert lunch.contains(at(28, 12, 30)) and not lunch.contains(at(28, 13))
    assert lunch.next_working(at(28, 12, 30)) == at(28, 13)
    assert parse_clock("7:30") == time(7, 30) and parse_clock("21") == time(21, 0)


@pytest.mark.parametrize(
    ("quiet", "moment", "urgent", "expected"),
    [
        (QUIET, at(23, 9), False, None),  # working time: published now
        (QUIET, at(23, 22), False, at(24, 7, 30)),  # a weekday evening: next morning
        (QUIET, at(24, 0, 15), False, at(24, 7, 30)),  # after midnight: the same morning
        (QUIET, at(27, 21, 5), False, at(30, 7, 30)),  # Friday night: Monday morning
        (QUIET, at(29, 15), False, at(30, 7, 30)),  # Sunday afternoon
        (QUIET, at(23, 22), True, None),  # urgent: never held
        (None, at(23, 22), False, None),  # quiet hours off in this group
        (QuietHours(time(22, 0), time(7, 0), weekends=False), at(28, 23), False, at(29, 7)),
    ],
)
def test_hold_until(quiet: QuietHours | None, moment: datetime, urgent: bool, expected: datetime | None) -> None:
    assert hold_until(quiet, moment, urgent=urgent) == expected
