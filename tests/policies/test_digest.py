"""The digest's pure parts: ISO weeks, the schedule, windows in the local zone, the scoreboard."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from zoneinfo import ZoneInfo

import pytest

from policies.commands import ParseError
from policies.digest import (
    FigureSpec,
    IsoWeek,
    WeekChoice,
    build_scoreboard,
    is_late,
    is_stale,
    latest_occurrence,
    parse_switch,
    parse_week_choice,
    reported_week,
    signed,
    window_for,
)

SHANGHAI = ZoneInfo("Asia/Shanghai")
NEW_YORK = ZoneInfo("America/New_York")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-W47", IsoWeek(2026, 47)),
        ("2026w47", IsoWeek(2026, 47)),
        (" 2026-W01 ", IsoWeek(2026, 1)),
        ("2026-W53", IsoWeek(2026, 53)),  # 2026 has 53 ISO weeks (it starts on a Thursday)
        ("2025-W53", None),  # 2025 does not
        ("2026-W00", None),
        ("2026-47", None),
        ("last week", None),
        ("", None),
    ],
)
def test_iso_weeks_are_parsed_strictly(text: str, expected: IsoWeek | None) -> None:
    assert IsoWeek.parse(text) == expected


def test_week_arithmetic_crosses_years() -> None:
    week = IsoWeek(2026, 47)
    assert (week.monday, week.sunday) == (date(2026, 11, 16), date(2026, 11, 22))
    assert str(week) == "2026-W47" and str(IsoWeek(2027, 1)) == "2027-W01"
    assert IsoWeek(2027, 1).previous() == IsoWeek(2026, 53)
    assert IsoWeek(2026, 53).next() == IsoWeek(2027, 1)
    assert IsoWeek.containing(date(2026, 1, 1)) == IsoWeek(2026, 1)
    assert IsoWeek.containing(date(2027, 1, 1)) == IsoWeek(2026, 53)


@pytest.mark.parametrize(
    ("now_utc", "expected_local"),
    [
        # Monday 09:00 Shanghai is 01:00 UTC: exactly on time counts as due.
        (datetime(2026, 11, 23, 1, 0, tzinfo=UTC), datetime(2026, 11, 23, 9, 0)),
        (datetime(2026, 11, 23, 0, 59, tzinfo=UTC), datetime(2026, 11, 16, 9, 0)),
        (datetime(2026, 11, 25, 12, 0, tzinfo=UTC), datetime(2026, 11, 23, 9, 0)),
        # Sunday 23:00 UTC is already Monday 07:00 in Shanghai, before the time: last week's.
        (datetime(2026, 11, 29, 23, 0, tzinfo=UTC), datetime(2026, 11, 23, 9, 0)),
        (datetime(2026, 11, 30, 1, 0, tzinfo=UTC), datetime(2026, 11, 30, 9, 0)),
    ],
)
def test_the_latest_occurrence_is_found_in_the_local_zone(now_utc: datetime, expected_local: datetime) -> None:
    found = latest_occurrence(now_utc, SHANGHAI, "monday", time(9, 0))
    assert found == expected_local.replace(tzinfo=SHANGHAI).astimezone(UTC)


def test_other_weekdays_and_the_week_each_reports() -> None:
    friday = latest_occurrence(datetime(2026, 11, 25, 12, 0, tzinfo=UTC), SHANGHAI, "friday", time(17, 30))
    assert friday.astimezone(SHANGHAI) == datetime(2026, 11, 20, 17, 30, tzinfo=SHANGHAI)
    # Monday's digest and a Friday's both report the last complete Monday-to-Sunday week.
    assert reported_week(datetime(2026, 11, 23, 1, 0, tzinfo=UTC), SHANGHAI) == IsoWeek(2026, 47)
    assert reported_week(friday, SHANGHAI) == IsoWeek(2026, 46)
    sunday_evening = datetime(2026, 11, 22, 20, 0, tzinfo=SHANGHAI)
    assert reported_week(sunday_evening, SHANGHAI) == IsoWeek(2026, 46)


def test_a_window_is_local_midnight_to_midnight() -> None:
    window = window_for(IsoWeek(2026, 47), SHANGHAI)
    assert (window.start_day, window.end_day) == (date(2026, 11, 16), date(2026, 11, 23))
    assert window.start_at == datetime(2026, 11, 15, 16, 0, tzinfo=UTC)
    assert window.end_at == datetime(2026, 11, 22, 16, 0, tzinfo=UTC)
    assert not window.partial


def test_a_window_follows_daylight_saving_time() -> None:
    # New York leaves daylight saving time on Sunday 1 November 2026: that week has 169 hours.
    window = window_for(IsoWeek(2026, 44), NEW_YORK)
    assert window.start_at == datetime(2026, 10, 26, 4, 0, tzinfo=UTC)
    assert window.end_at == datetime(2026, 11, 2, 5, 0, tzinfo=UTC)


def test_a_week_in_progress_ends_now() -> None:
    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)  # Wednesday 11:00 in Shanghai
    window = window_for(IsoWeek(2026, 48), SHANGHAI, now=now)
    assert window.partial and window.end_at == now
    assert window.end_day == date(2026, 11, 26)  # today's events count
    assert not window_for(IsoWeek(2026, 47), SHANGHAI, now=now).partial


def test_late_and_stale() -> None:
    due = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert not is_late(due, datetime(2026, 11, 23, 1, 30, tzinfo=UTC))
    assert is_late(due, datetime(2026, 11, 25, 1, 0, tzinfo=UTC))
    assert not is_stale(due, datetime(2026, 11, 29, 23, 0, tzinfo=UTC))
    assert is_stale(due, datetime(2026, 11, 30, 1, 0, tzinfo=UTC))


TODAY = date(2026, 11, 25)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", IsoWeek(2026, 47)),
        ("this", IsoWeek(2026, 48)),
        ("本周", IsoWeek(2026, 48)),
        ("2026-W40", IsoWeek(2026, 40)),
        ("2026-W48", IsoWeek(2026, 48)),
    ],
)
def test_week_choices(text: str, expected: IsoWeek) -> None:
    choice = parse_week_choice(text, TODAY)
    assert isinstance(choice, WeekChoice) and choice.resolve(TODAY) == expected


@pytest.mark.parametrize(
    ("text", "key"), [("W47", "digest.bad_week"), ("next", "digest.bad_week"), ("2026-W49", "digest.future_week")]
)
def test_bad_week_choices_are_explained(text: str, key: str) -> None:
    assert parse_week_choice(text, TODAY) == ParseError(key, {"value": text})


@pytest.mark.parametrize(
    ("text", "expected"), [("on", True), ("ON", True), ("开启", True), ("off", False), ("关闭", False), ("maybe", None)]
)
def test_switches(text: str, expected: bool | None) -> None:
    assert parse_switch(text) is expected


SPECS = (FigureSpec("notices", 1), FigureSpec("data_requests", 2), FigureSpec("acks_removed", 0))


def test_the_scoreboard_ranks_by_weighted_burden_and_compares_weeks() -> None:
    names = {1: "民政局", 2: "交通局", 3: "卫健委", 4: "水务局"}
    current = {
        1: {"notices": 3, "data_requests": 1},
        2: {"notices": 6, "acks_removed": 40},
        3: {"acks_removed": 5},
        None: {"notices": 2},
    }
    previous = {1: {"notices": 1}, 2: {"notices": 6}}
    board = build_scoreboard(SPECS, names, current, previous)
    assert [(row.name, row.burden) for row in board.rows] == [
        ("交通局", 6),
        ("民政局", 5),
        ("卫健委", 0),
        ("水务局", 0),
        ("", 2),
    ]
    # Groups without a department come last and are never among the top; nor is zero burden.
    assert [row.name for row in board.top(3)] == ["交通局", "民政局"]
    mz = board.row(1)
    assert (mz.burden_change, mz.change("notices"), mz.change("data_requests")) == (4, 2, 1)
    assert board.totals == {"notices": 11, "data_requests": 1, "acks_removed": 45}
    assert board.previous_totals["notices"] == 7
    assert (board.rank_of(2), board.rank_of(1), board.rank_of(4), board.departments) == (1, 2, 4, 4)


def test_ties_rank_by_last_week_then_by_name() -> None:
    names = {1: "B", 2: "A", 3: "C"}
    board = build_scoreboard(
        SPECS, names, {1: {"notices": 1}, 2: {"notices": 1}, 3: {"notices": 1}}, {3: {"notices": 5}}
    )
    assert [row.name for row in board.rows] == ["C", "A", "B"]


def test_groups_without_a_department_are_listed_only_when_they_did_something() -> None:
    board = build_scoreboard(SPECS, {1: "A"}, {}, {})
    assert [row.department_id for row in board.rows] == [1]
    assert board.top(3) == ()


@pytest.mark.parametrize(
    ("change", "shown"), [(3, "+3"), (-2, "−2"), (0, "±0"), (1234.4, "+1,234"), (-0.4, "±0"), (-1.6, "−2")]
)
def test_changes_are_signed(change: float, shown: str) -> None:
    assert signed(change) == shown


def test_the_totals_are_the_sum_of_the_departments_as_shown() -> None:
    from policies.digest import FigureSpec, build_scoreboard, number

    specs = (FigureSpec("notices", 1), FigureSpec("minutes_saved", 0))
    # Saved minutes are fractions: 1.5, 1.5 and 0.6 show as 2, 2 and 1, so the total shows 5 (not 3.6 rounded).
    current = {1: {"notices": 2, "minutes_saved": 1.5}, 2: {"minutes_saved": 1.5}, None: {"minutes_saved": 0.6}}
    board = build_scoreboard(specs, {1: "民政局", 2: "卫健委"}, current, {})
    shown = [int(number(row.value("minutes_saved"))) for row in board.rows]
    assert shown == [2, 2, 1] and number(board.totals["minutes_saved"]) == str(sum(shown))
