"""Quiet hours: evenings and weekends, when non-urgent work messages should not arrive."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta


@dataclass(frozen=True)
class QuietHours:
    start: time = time(21, 0)
    end: time = time(7, 30)
    weekends: bool = True

    def contains(self, moment: datetime) -> bool:
        """Whether `moment` (in the group's local time) is outside working time."""
        if self.weekends and moment.weekday() >= 5:
            return True
        clock = moment.timetz().replace(tzinfo=None)
        if self.start <= self.end:
            return self.start <= clock < self.end
        return clock >= self.start or clock < self.end

    def next_working(self, moment: datetime) -> datetime:
        """`moment` itself when it is working time, else the start of the next working period."""
        candidate = moment
        for _ in range(8 * 24 * 4):  # at most a week ahead in quarter hours: always enough
            if not self.contains(candidate):
                return candidate
            candidate = _next_boundary(candidate, self.end)
        return moment


def hold_until(quiet: QuietHours | None, moment: datetime, *, urgent: bool) -> datetime | None:
    """When a notice written at `moment` (local time) is to be published: None means now.

    A non-urgent notice written in quiet hours waits for the start of the next working period;
    urgent ones, and groups whose quiet hours are off, never wait.
    """
    if urgent or quiet is None or not quiet.contains(moment):
        return None
    return quiet.next_working(moment)


def _next_boundary(moment: datetime, end: time) -> datetime:
    """The next time the clock shows `end` (when quiet hours stop)."""
    today_end = moment.replace(hour=end.hour, minute=end.minute, second=0, microsecond=0)
    return today_end if today_end > moment else today_end + timedelta(days=1)


def parse_clock(text: str) -> time:
    hours, _, minutes = text.partition(":")
    return time(int(hours), int(minutes or 0))


def group_quiet_hours(choice: str | None, *, start: str, end: str, weekends: bool) -> QuietHours | None:
    """A group's quiet hours: its `/set quiet` choice ("22:00-07:00", or "off" for none), else
    the deployment's."""
    if choice == "off":
        return None
    first, _dash, last = (choice or f"{start}-{end}").partition("-")
    return QuietHours(parse_clock(first), parse_clock(last), weekends)


def after_hours(quiet: QuietHours | None, local_moment: datetime, *, urgent: bool) -> bool:
    """Whether a notice posted at `local_moment` counts as sent after hours (urgent ones never do)."""
    return not urgent and quiet is not None and quiet.contains(local_moment)
