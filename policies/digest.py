"""The weekly digest: ISO weeks in the local time zone, the schedule, and the burden scoreboard.

A digest reports one complete ISO week (Monday to Sunday, local time). Its figures come from
named sources (storage.repositories.digest); this module only knows each figure's name and its
burden weight, so a new source (whistle reports, say) joins the scoreboard without changes here.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta, tzinfo

from policies.clock import start_of_day
from policies.commands import ParseError

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")
# A digest planned this long after its scheduled time was missed (the bot was down): marked late.
LATE_AFTER = timedelta(hours=1)
# A week's digest not delivered by the time the next one is due is superseded, not sent.
STALE_AFTER = timedelta(days=7)
_WEEK = re.compile(r"^(?P<year>\d{4})-?W(?P<week>\d{1,2})$", re.IGNORECASE)
_THIS_WEEK = ("this", "now", "本周", "这周")
_ON_WORDS = ("on", "开启", "开", "打开")
_OFF_WORDS = ("off", "关闭", "关")


@dataclass(frozen=True, order=True)
class IsoWeek:
    """An ISO 8601 week, e.g. 2026-W47 (Monday 16 to Sunday 22 November 2026)."""

    year: int
    week: int

    def __str__(self) -> str:
        return f"{self.year}-W{self.week:02d}"

    @classmethod
    def containing(cls, day: date) -> IsoWeek:
        year, week, _weekday = day.isocalendar()
        return cls(year, week)

    @classmethod
    def parse(cls, text: str) -> IsoWeek | None:
        """2026-W47, 2026W47 or 2026-w47; None when it is not a week that exists."""
        match = _WEEK.match(text.strip())
        if match is None:
            return None
        try:
            monday = date.fromisocalendar(int(match.group("year")), int(match.group("week")), 1)
        except ValueError:
            return None
        return cls.containing(monday)

    @property
    def monday(self) -> date:
        return date.fromisocalendar(self.year, self.week, 1)

    @property
    def sunday(self) -> date:
        return self.monday + timedelta(days=6)

    def previous(self) -> IsoWeek:
        return IsoWeek.containing(self.monday - timedelta(days=7))

    def next(self) -> IsoWeek:
        return IsoWeek.containing(self.monday + timedelta(days=7))


@dataclass(frozen=True)
class Window:
    """The stretch of time one digest counts: local days [start_day, end_day) and the same as
    UTC instants [start_at, end_at). A week in progress ends at `now` instead (`partial`)."""

    week: IsoWeek
    start_day: date
    end_day: date
    start_at: datetime
    end_at: datetime
    partial: bool = False
    # Parameters some figures need: the saved-time estimate and when a temporary group is idle.
    seconds_per_message: float = 0
    idle_days: int = 7
    # A whistle report open longer than this is "open too long".
    whistle_open_days: int = 14


def window_for(
    week: IsoWeek,
    tz: tzinfo,
    *,
    now: datetime | None = None,
    seconds_per_message: float = 0,
    idle_days: int = 7,
    whistle_open_days: int = 14,
) -> Window:
    """The week's window in the time zone `tz`, cut at `now` when the week is not over yet."""
    start_day, end_day = week.monday, week.monday + timedelta(days=7)
    start_at, end_at = start_of_day(start_day, tz).astimezone(UTC), start_of_day(end_day, tz).astimezone(UTC)
    partial = now is not None and now < end_at
    if partial:
        end_at = max(now, start_at)
        end_day = end_at.astimezone(tz).date() + timedelta(days=1)
    return Window(
        week, start_day, end_day, start_at, end_at, partial, seconds_per_message, idle_days, whistle_open_days
    )


def latest_occurrence(now: datetime, tz: tzinfo, weekday: str, at: time) -> datetime:
    """The most recent scheduled moment at or before `now` (UTC), e.g. the last Monday 09:00 local."""
    local_now = now.astimezone(tz)
    days_back = (local_now.weekday() - WEEKDAYS.index(weekday)) % 7
    candidate = datetime.combine(local_now.date() - timedelta(days=days_back), at, tzinfo=tz)
    if candidate > local_now:
        candidate = datetime.combine(candidate.date() - timedelta(days=7), at, tzinfo=tz)
    return candidate.astimezone(UTC)


def reported_week(occurrence: datetime, tz: tzinfo) -> IsoWeek:
    """The last complete week before a scheduled moment: Monday's digest reports the week before."""
    day = occurrence.astimezone(tz).date()
    return IsoWeek.containing(day - timedelta(days=day.isoweekday()))


def is_late(occurrence: datetime, planned_at: datetime) -> bool:
    """Planned well after its time: the bot was not running when the digest was due."""
    return planned_at - occurrence > LATE_AFTER


def is_stale(occurrence: datetime, now: datetime) -> bool:
    """The next digest is due: an undelivered old one would only confuse."""
    return now - occurrence >= STALE_AFTER


def parse_clock_time(text: str) -> time:
    """'09:00' -> time(9, 0); settings validate the shape before this is called."""
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


# Commands ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class WeekChoice:
    """Which week /digest or `jianfu digest` shows: a given one, the last complete one, or this one so far."""

    week: IsoWeek | None = None
    this_week: bool = False

    def resolve(self, today: date) -> IsoWeek:
        if self.week is not None:
            return self.week
        current = IsoWeek.containing(today)
        return current if self.this_week else current.previous()


def parse_week_choice(text: str, today: date) -> WeekChoice | ParseError:
    """'' (the last complete week), 'this' / '本周' (so far), or '2026-W47'; not a future week."""
    text = text.strip()
    if not text:
        return WeekChoice()
    if text.lower() in _THIS_WEEK:
        return WeekChoice(this_week=True)
    week = IsoWeek.parse(text)
    if week is None:
        return ParseError("digest.bad_week", {"value": text})
    if week > IsoWeek.containing(today):
        return ParseError("digest.future_week", {"value": text})
    return WeekChoice(week=week)


def parse_switch(text: str) -> bool | None:
    """on/off in either language; None when it is neither."""
    word = text.strip().lower()
    if word in _ON_WORDS:
        return True
    if word in _OFF_WORDS:
        return False
    return None


# The scoreboard -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FigureSpec:
    """A figure's name and what one unit of it adds to a department's burden (0: shown, not counted)."""

    name: str
    weight: int = 0


Figures = Mapping[str, float]


@dataclass(frozen=True)
class Row:
    """One department's week: its figures, last week's, and the burden both add up to."""

    department_id: int | None
    name: str
    current: Figures
    previous: Figures
    burden: float
    previous_burden: float

    def value(self, figure: str) -> float:
        return self.current.get(figure, 0)

    def change(self, figure: str) -> float:
        return self.current.get(figure, 0) - self.previous.get(figure, 0)

    @property
    def burden_change(self) -> float:
        return self.burden - self.previous_burden

    @property
    def active(self) -> bool:
        return any(self.current.values()) or any(self.previous.values())


@dataclass(frozen=True)
class Scoreboard:
    """Every department ranked by burden, the totals, and the change against the previous week."""

    specs: tuple[FigureSpec, ...]
    rows: tuple[Row, ...]
    totals: Figures = field(default_factory=dict)
    previous_totals: Figures = field(default_factory=dict)

    def top(self, count: int = 3) -> tuple[Row, ...]:
        """The departments adding the most burden; groups without a department are not one."""
        return tuple(row for row in self.rows if row.department_id is not None and row.burden > 0)[:count]

    def rank_of(self, department_id: int) -> int | None:
        """1 for the heaviest burden, among registered departments."""
        ranked = [row.department_id for row in self.rows if row.department_id is not None]
        return ranked.index(department_id) + 1 if department_id in ranked else None

    def row(self, department_id: int | None) -> Row | None:
        return next((row for row in self.rows if row.department_id == department_id), None)

    @property
    def departments(self) -> int:
        return sum(1 for row in self.rows if row.department_id is not None)


def burden(specs: Iterable[FigureSpec], figures: Figures) -> float:
    """The weighted sum of the burden figures."""
    return sum(spec.weight * figures.get(spec.name, 0) for spec in specs)


def build_scoreboard(
    specs: tuple[FigureSpec, ...],
    names: Mapping[int, str],
    current: Mapping[int | None, Figures],
    previous: Mapping[int | None, Figures],
) -> Scoreboard:
    """Rank every department: the heaviest burden first, then last week's, then by name. Groups
    without a department come last (department None, no name) when they have figures."""
    rows = [_row(specs, department_id, name, current, previous) for department_id, name in names.items()]
    rows.sort(key=lambda row: (-row.burden, -row.previous_burden, row.name))
    unattached = _row(specs, None, "", current, previous)
    if unattached.active:
        rows.append(unattached)
    return Scoreboard(specs, tuple(rows), _sum(specs, current), _sum(specs, previous))


def _row(
    specs: tuple[FigureSpec, ...], department_id: int | None, name: str, current: Mapping, previous: Mapping
) -> Row:
    now, before = _shown(current.get(department_id, {})), _shown(previous.get(department_id, {}))
    return Row(department_id, name, now, before, burden(specs, now), burden(specs, before))


def _shown(figures: Figures) -> dict[str, float]:
    """Figures as the digest shows them, whole numbers (saved minutes are fractions), so a total
    is the sum of the lines above it."""
    return {name: round(value) for name, value in figures.items()}


def _sum(specs: tuple[FigureSpec, ...], by_department: Mapping[int | None, Figures]) -> dict[str, float]:
    shown = [_shown(figures) for figures in by_department.values()]
    return {spec.name: sum(figures.get(spec.name, 0) for figures in shown) for spec in specs}


def signed(change: float) -> str:
    """+3, −2 (a real minus sign) or ±0, as shown next to a figure."""
    rounded = round(change)
    if rounded > 0:
        return f"+{_number(rounded)}"
    if rounded < 0:
        return f"−{_number(-rounded)}"
    return "±0"


def _number(value: float) -> str:
    return f"{round(value):,}"


def number(value: float) -> str:
    """A figure as shown: a whole number with thousands separators."""
    return _number(value)
