"""Tables for temporary groups: dates, /temp and /extend, close steps, titles, quotas."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from policies.commands import ParseError
from policies.lifecycle import (
    CLOSE_STEPS,
    TRANSITIONS,
    Extend,
    GroupEvent,
    GroupKind,
    GroupState,
    MarkTemporary,
    counting_down,
    may,
    moved,
    parse_date,
    parse_extend,
    parse_temp,
    quota_for,
    reminder_due,
    renamed,
    steps_from,
    until_due,
)

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("text", "today", "expected"),
    [
        ("2026-12-05", TODAY, date(2026, 12, 5)),
        ("2026/12/5", TODAY, date(2026, 12, 5)),
        ("2026年12月5日", TODAY, date(2026, 12, 5)),
        ("12-05", TODAY, date(2026, 12, 5)),
        ("12月5日", TODAY, date(2026, 12, 5)),
        ("11-01", TODAY, date(2027, 11, 1)),
        ("2月29日", date(2028, 3, 1), date(2032, 2, 29)),
        ("2月29日", date(2026, 11, 23), date(2028, 2, 29)),
        ("2026-02-30", TODAY, None),
        ("13月1日", TODAY, None),
        ("next week", TODAY, None),
    ],
)
def test_parse_date(text: str, today: date, expected: date | None) -> None:
    assert parse_date(text, today) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", MarkTemporary("", None)),
        ("第七次人口普查", MarkTemporary("第七次人口普查", None)),
        ("普查 until 2026-12-05", MarkTemporary("普查", date(2026, 12, 5))),
        ("普查 到 12月5日", MarkTemporary("普查", date(2026, 12, 5))),
        ("until 12/31", MarkTemporary("", date(2026, 12, 31))),
        ("普查 until 2025-01-01", ParseError("temp.error.past_date", {"value": "2025-01-01"})),
        ("普查 until soon", ParseError("temp.error.bad_date", {"value": "soon"})),
        # The year 9999 is not temporary (and once overflowed the close time's arithmetic).
        ("防汛 until 9999-12-31", ParseError("temp.error.far_date", {"value": "9999-12-31", "days": 366})),
        ("长" * 101, ParseError("temp.error.purpose_too_long", {"max": 100})),
    ],
)
def test_parse_temp(text: str, expected) -> None:
    assert parse_temp(text, TODAY) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2 还需收尾", Extend(2, "还需收尾")),
        ("30 最后一次", Extend(30, "最后一次")),
        ("0 x", ParseError("temp.error.bad_days", {"value": "0", "max": 30})),
        ("31 x", ParseError("temp.error.bad_days", {"value": "31", "max": 30})),
        ("two x", ParseError("temp.error.bad_days", {"value": "two", "max": 30})),
        ("", ParseError("temp.error.bad_days", {"value": "?", "max": 30})),
        ("2", ParseError("temp.error.no_reason")),
        ("2 " + "因" * 201, ParseError("temp.error.reason_too_long", {"max": 200})),
    ],
)
def test_parse_extend(text: str, expected) -> None:
    assert parse_extend(text, 30) == expected


def test_until_includes_its_day_in_the_local_time_zone() -> None:
    shanghai = ZoneInfo("Asia/Shanghai")
    assert until_due(date(2026, 12, 5), shanghai) == datetime(2026, 12, 5, 16, 0, tzinfo=UTC)


def test_close_steps_resume_where_they_stopped_and_leaving_is_optional() -> None:
    names = [step.name for step in CLOSE_STEPS]
    assert names[-1] == "leave" and names[0] == "summary"
    assert [step.name for step in steps_from(5, leave=True)] == ["notify_owners", "leave"]
    assert "leave" not in [step.name for step in steps_from(0, leave=False)]
    assert {step.name: step.right for step in CLOSE_STEPS}["read_only"] == "can_restrict_members"


@pytest.mark.parametrize(
    ("title", "prefix", "expected"),
    [
        ("普查群", "[已结束]", "[已结束]普查群"),
        ("[已结束]普查群", "[已结束]", "[已结束]普查群"),
        ("普查群", "", "普查群"),
    ],
)
def test_renamed(title: str, prefix: str, expected: str) -> None:
    assert renamed(title, prefix) == expected


def test_reminder_due_only_in_the_future() -> None:
    now = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
    assert reminder_due(now + timedelta(days=3), timedelta(hours=24), now) == now + timedelta(days=2)
    assert reminder_due(now + timedelta(hours=2), timedelta(hours=24), now) is None


@pytest.mark.parametrize(
    ("units", "per_unit", "fixed", "expected"),
    [(3, 0, None, None), (3, 2, None, 6), (3, 2, 1, 1), (3, 0, 4, 4)],
)
def test_quota_for(units: int, per_unit: int, fixed: int | None, expected: int | None) -> None:
    assert quota_for(units, per_unit, fixed) == expected


# Every (state, event) pair of a group's life: the state it leads to, or None when refused.
_ = None
A, D, C, X = GroupState.ACTIVE, GroupState.DONE, GroupState.CLOSING, GroupState.CLOSED
LIFE = {
    #                     active  done  closing  closed
    GroupEvent.DONE:     (D,      _,    _,       _),
    GroupEvent.REOPEN:   (_,      A,    _,       _),
    GroupEvent.EXTEND:   (_,      D,    _,       _),
    GroupEvent.CLOSE:    (_,      C,    _,       _),
    GroupEvent.FINISH:   (_,      _,    X,       _),
    GroupEvent.GONE:     (X,      X,    X,       _),
    GroupEvent.JOINED:   (A,      A,    A,       A),
}  # fmt: skip


@pytest.mark.parametrize("state", list(GroupState), ids=str)
@pytest.mark.parametrize("event", list(GroupEvent), ids=str)
def test_every_state_and_event_of_a_groups_life(state: GroupState, event: GroupEvent) -> None:
    expected = LIFE[event][list(GroupState).index(state)]
    assert moved(event, state) == expected
    assert may(event, state) == (expected is not None)
    # Stored rows hold plain strings: the table answers them the same.
    assert moved(str(event.value), str(state.value)) == expected


def test_the_table_covers_every_event_and_states_keep_their_stored_values() -> None:
    assert set(LIFE) == set(GroupEvent) == set(TRANSITIONS)
    assert [state.value for state in GroupState] == ["active", "done", "closing", "closed"]
    assert [kind.value for kind in GroupKind] == ["permanent", "temporary"]


def test_a_state_the_table_does_not_know_moves_nowhere() -> None:
    assert not may(GroupEvent.DONE, "archived") and not counting_down("archived")


@pytest.mark.parametrize("state", list(GroupState), ids=str)
def test_the_countdown_runs_while_done_or_closing(state: GroupState) -> None:
    assert counting_down(state) == (state in (GroupState.DONE, GroupState.CLOSING))
