"""Temporary groups: parsing /temp and /extend, and the steps that close a finished group.

The regulation: phase and temporary work groups are withdrawn within 3 days after their work
is complete. A bot cannot delete a group, so closing is a sequence of steps, each needing a
right the bot may lack; a missing right skips its step and is reported, never fatal.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import date, datetime, timedelta, tzinfo
from enum import StrEnum

from policies.clock import start_of_day
from policies.commands import ParseError, split_args

MAX_PURPOSE = 100
MAX_REASON = 200
# A temporary group's own end date is at most this far ahead: further is not temporary.
MAX_UNTIL = timedelta(days=366)
_UNTIL_WORDS = ("until", "到", "至", "截止", "截至")
_DATE_FORMATS = (
    re.compile(r"^(?P<y>\d{4})[-/.年](?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})日?$"),
    re.compile(r"^(?P<m>\d{1,2})[-/.月](?P<d>\d{1,2})日?$"),
)


@dataclass(frozen=True)
class MarkTemporary:
    purpose: str
    until: date | None


@dataclass(frozen=True)
class Extend:
    days: int
    reason: str


def parse_date(text: str, today: date) -> date | None:
    """2026-12-05, 2026/12/5, 2026年12月5日, 12-5, 12月5日; a date without a year is the next one."""
    for pattern in _DATE_FORMATS:
        match = pattern.match(text.strip())
        if match is None:
            continue
        month, day = int(match.group("m")), int(match.group("d"))
        if "y" in match.groupdict():
            return _valid_date(int(match.group("y")), month, day)
        return _next_date(today, month, day)
    return None


def _valid_date(year: int, month: int, day: int) -> date | None:
    try:
        return date(year, month, day)
    except ValueError:
        return None


def _next_date(today: date, month: int, day: int) -> date | None:
    """The next time month/day comes (2月29日 waits for a leap year)."""
    for year in range(today.year, today.year + 9):
        found = _valid_date(year, month, day)
        if found is not None and found >= today:
            return found
    return None


def parse_temp(text: str, today: date) -> MarkTemporary | ParseError:
    """`[purpose] [until DATE]`: both optional; the date must not be past."""
    args = split_args(text)
    if isinstance(args, ParseError):
        return args
    until = None
    if len(args) >= 2 and args[-2].lower() in _UNTIL_WORDS:
        until = parse_date(args[-1], today)
        if until is None:
            return ParseError("temp.error.bad_date", {"value": args[-1]})
        if until < today:
            return ParseError("temp.error.past_date", {"value": args[-1]})
        if until > today + MAX_UNTIL:
            return ParseError("temp.error.far_date", {"value": args[-1], "days": MAX_UNTIL.days})
        args = args[:-2]
    purpose = " ".join(args).strip()
    if len(purpose) > MAX_PURPOSE:
        return ParseError("temp.error.purpose_too_long", {"max": MAX_PURPOSE})
    return MarkTemporary(purpose, until)


def parse_extend(text: str, max_days: int) -> Extend | ParseError:
    """`N reason`: N days more (1..max_days), and why (it goes to the audit log)."""
    days, _space, reason = text.strip().partition(" ")
    if not days.isdigit() or not 1 <= int(days) <= max_days:
        return ParseError("temp.error.bad_days", {"value": days or "?", "max": max_days})
    if not reason.strip():
        return ParseError("temp.error.no_reason")
    if len(reason) > MAX_REASON:
        return ParseError("temp.error.reason_too_long", {"max": MAX_REASON})
    return Extend(int(days), reason.strip())


def until_due(until: date, zone: tzinfo) -> datetime:
    """ "Until 12月5日" includes the 5th: the work is done when the 6th begins."""
    return start_of_day(until + timedelta(days=1), zone)


@dataclass(frozen=True)
class Step:
    """One step of closing a group; `right` is the admin right it needs, if any."""

    name: str
    right: str | None = None


# In this order: the summary is posted and pinned while members can still read the group,
# then it becomes read-only, loses its links and its name says it is over; the owners learn
# they can delete it; the bot leaves last (after that it can do nothing more there).
CLOSE_STEPS = (
    Step("summary"),
    Step("pin_summary", "can_pin_messages"),
    Step("read_only", "can_restrict_members"),
    Step("revoke_links", "can_invite_users"),
    Step("rename", "can_change_info"),
    Step("notify_owners"),
    Step("leave"),
)


def steps_from(reached: int, *, leave: bool) -> tuple[Step, ...]:
    """The steps still to run after a crash or restart at step index `reached`."""
    steps = CLOSE_STEPS if leave else tuple(step for step in CLOSE_STEPS if step.name != "leave")
    return steps[reached:]


def renamed(title: str, prefix: str) -> str:
    """The closed group's title; already-prefixed titles are left alone (a resumed close)."""
    if not prefix or title.startswith(prefix):
        return title
    return f"{prefix}{title}"[:128]


def reminder_due(close_at: datetime, before: timedelta, now: datetime) -> datetime | None:
    """When to remind before closing, or None when that moment has passed already."""
    due = close_at - before
    return due if due > now else None


def quota_for(units: int, per_unit: int, fixed: int | None) -> int | None:
    """A department's allowed active groups: its own fixed number, else per unit; None is no quota."""
    if fixed is not None:
        return fixed
    return units * per_unit if per_unit > 0 else None


class GroupKind(StrEnum):
    PERMANENT = "permanent"
    TEMPORARY = "temporary"


class GroupState(StrEnum):
    """A work group's lifecycle (the chats row's `state`), not the bot's presence in it."""

    ACTIVE = "active"
    DONE = "done"  # the work is complete and the close countdown runs
    CLOSING = "closing"  # the close's steps run: no way back
    CLOSED = "closed"


class GroupEvent(StrEnum):
    DONE = "done"  # /done, the group's until date, or its admins answering the idle question
    REOPEN = "reopen"
    EXTEND = "extend"
    CLOSE = "close"  # the close time came: the close's steps start
    FINISH = "finish"  # every close step ran
    GONE = "gone"  # the bot was removed (or the group deleted) before the close finished
    JOINED = "joined"  # the bot was added to the group (again): it is a working group once more


_ANY_STATE = frozenset(GroupState)
_COUNTING_DOWN = frozenset({GroupState.DONE, GroupState.CLOSING})

# Each event of a group's life: the states it may happen in and the state it leads to. The bot
# applies them as compare-and-set on the group's row; `jianfu replay` to its own copy.
TRANSITIONS: dict[GroupEvent, tuple[frozenset[GroupState], GroupState]] = {
    GroupEvent.DONE: (frozenset({GroupState.ACTIVE}), GroupState.DONE),
    GroupEvent.REOPEN: (frozenset({GroupState.DONE}), GroupState.ACTIVE),
    GroupEvent.EXTEND: (frozenset({GroupState.DONE}), GroupState.DONE),
    GroupEvent.CLOSE: (frozenset({GroupState.DONE}), GroupState.CLOSING),
    GroupEvent.FINISH: (frozenset({GroupState.CLOSING}), GroupState.CLOSED),
    GroupEvent.GONE: (_ANY_STATE - {GroupState.CLOSED}, GroupState.CLOSED),
    GroupEvent.JOINED: (_ANY_STATE, GroupState.ACTIVE),
}


def may(event: str, state: str) -> bool:
    """Whether a group in `state` can take `event` (a /done, /reopen, /extend, the close...)."""
    return state in TRANSITIONS[GroupEvent(event)][0]


def moved(event: str, state: str) -> GroupState | None:
    """The state a group in `state` is in after `event`; None when the event cannot happen there."""
    return TRANSITIONS[GroupEvent(event)][1] if may(event, state) else None


def leads_to(event: str) -> GroupState:
    """The state `event` leads to (the set side of a compare-and-set)."""
    return TRANSITIONS[GroupEvent(event)][1]


def counting_down(state: str) -> bool:
    """The close countdown runs (or the close itself): a close time and its reminder are due."""
    return state in _COUNTING_DOWN


def closes_at(done_at: datetime, close_after_days: int) -> datetime:
    """When a group marked done at `done_at` closes."""
    return done_at + timedelta(days=close_after_days)


@dataclass
class TemporaryGroup:
    """A group's temporary life as its history tells it: replay's copy of the chats row."""

    temporary: bool = False
    state: str = GroupState.ACTIVE
    until: date | None = None
    done_at: datetime | None = None
    close_at: datetime | None = None
    closed_at: datetime | None = None

    def mark(self, parsed: MarkTemporary) -> None:
        """/temp: the group is temporary, with its work's end date when one was given."""
        self.temporary, self.until = True, parsed.until

    def done(self, now: datetime, close_after_days: int) -> bool:
        """/done, or the until date reached: the close countdown starts."""
        if not self.temporary or not may(GroupEvent.DONE, self.state):
            return False
        self.state, self.done_at, self.close_at = leads_to(GroupEvent.DONE), now, closes_at(now, close_after_days)
        return True

    def reopen(self) -> bool:
        if not may(GroupEvent.REOPEN, self.state):
            return False
        self.state, self.done_at, self.close_at = leads_to(GroupEvent.REOPEN), None, None
        return True

    def extend(self, days: int) -> bool:
        if not may(GroupEvent.EXTEND, self.state) or self.close_at is None:
            return False
        self.close_at += timedelta(days=days)
        return True

    def close(self, due: datetime) -> bool:
        """The close falls due at `due`: it happens unless the countdown changed since it was set."""
        if not may(GroupEvent.CLOSE, self.state) or self.close_at != due:
            return False
        # Replay does not run the close's steps: the group counts as closed at its close time.
        self.state, self.closed_at = leads_to(GroupEvent.FINISH), due
        return True
