"""The digest's figures: named sources, each an aggregate query over a week per department (or group).

Adding a figure is adding a source to FIGURE_SOURCES, with its catalog labels
(`digest.figure.NAME`, `digest.short.NAME`) in both locale files: the scoreboard, the
department cards, the group summaries and the chart pick it up from there. Whistle reports
(new, open, rectified, open too long) are sources like the others: counts per department only,
never anything about who reported.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from sqlalchemy import Float, and_, case, cast, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from policies.digest import FigureSpec, Window
from policies.formalism import ALL_KINDS
from policies.lifecycle import GroupKind, GroupState
from storage.models import Chat, Department, Event, Notice, Person, Whistle, WhistleResponse
from storage.repositories.chats import stored_settings
from storage.repositories.events import pending_events

By = Literal["department", "chat"]
DEPARTMENT: By = "department"
CHAT: By = "chat"
PRESENT = ("member", "administrator")
# A source's query: rows of (department id or chat id, value) over the window.
Query = Callable[[Window, By], Any]


@dataclass(frozen=True)
class FigureSource:
    """One figure of the digest: its name, burden weight and the query that counts it."""

    spec: FigureSpec
    query: Query
    # Whether it also counts per group, for a group's own weekly summary.
    per_group: bool = True
    # Whether a department's own card shows it (whistle figures are for supervisors only).
    on_department_card: bool = True

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def label(self) -> str:
        """Catalog key of the figure's full label."""
        return f"digest.figure.{self.name}"

    @property
    def short_label(self) -> str:
        """Catalog key of its label in compact per-department lines."""
        return f"digest.short.{self.name}"


def _events(kind: str) -> Query:
    """Recorded events of one kind, on the window's local days."""

    def query(window: Window, by: By) -> Any:
        key = Event.department_id if by == DEPARTMENT else Event.chat_id
        return (
            select(key, func.count())
            .where(Event.day >= window.start_day, Event.day < window.end_day, Event.kind == kind)
            .group_by(key)
        )

    return query


def _minutes_saved(window: Window, by: By) -> Any:
    """Each removed ack spared every other member of its group a message to read: an estimate."""
    key = Event.department_id if by == DEPARTMENT else Event.chat_id
    # The member count includes the bot; an unknown count saves nothing (the estimate stays low).
    readers = case((Chat.member_count > 1, Chat.member_count - 1), else_=0)
    minutes = cast(func.sum(readers), Float) * (window.seconds_per_message / 60)
    return (
        select(key, minutes)
        .select_from(Event)
        .outerjoin(Chat, Chat.id == Event.chat_id)
        .where(Event.day >= window.start_day, Event.day < window.end_day, Event.kind == "ack_removed")
        .group_by(key)
    )


def _notices(*kinds: str) -> Query:
    """Notices posted in the window (a copy in each group counts: each group had to read it)."""

    def query(window: Window, by: By) -> Any:
        key = Notice.department_id if by == DEPARTMENT else Notice.chat_id
        return (
            select(key, func.count())
            .where(Notice.posted_at >= window.start_at, Notice.posted_at < window.end_at, Notice.kind.in_(kinds))
            .group_by(key)
        )

    return query


def _open_at_end(window: Window) -> Any:
    """Temporary groups that existed and were neither closed nor left by the window's end."""
    return and_(
        Chat.kind == GroupKind.TEMPORARY,
        Chat.bot_status != "migrated",
        Chat.joined_at < window.end_at,
        or_(Chat.closed_at.is_(None), Chat.closed_at >= window.end_at),
        or_(Chat.left_at.is_(None), Chat.left_at >= window.end_at),
    )


def _groups(condition: Callable[[Window], Any]) -> Query:
    """Temporary groups counted per department (a group's own summary has no such figure)."""

    def query(window: Window, by: By) -> Any:
        return select(Chat.department_id, func.count()).where(condition(window)).group_by(Chat.department_id)

    return query


def _overdue(window: Window) -> Any:
    """Still open at the end although the close time has passed, or quiet for `idle_days` without /done."""
    quiet_since = window.end_at - timedelta(days=window.idle_days)
    idle = and_(Chat.state == GroupState.ACTIVE, func.coalesce(Chat.last_activity_at, Chat.joined_at) < quiet_since)
    return and_(_open_at_end(window), or_(Chat.close_at < window.end_at, idle))


def _closed(window: Window) -> Any:
    return and_(Chat.kind == GroupKind.TEMPORARY, Chat.closed_at >= window.start_at, Chat.closed_at < window.end_at)


def _whistle_last_day(window: Window) -> Any:
    """The day after the last one whose reports count. A week in progress leaves out today:
    a supervisor polling `/digest this` must not learn of a report before its batch."""
    return window.end_day - timedelta(days=1) if window.partial else window.end_day


def _whistles_new(window: Window, by: By) -> Any:
    """Whistle reports submitted in the window (their date is all that is kept of the time)."""
    return (
        select(Whistle.department_id, func.count())
        .where(Whistle.created_on >= window.start_day, Whistle.created_on < _whistle_last_day(window))
        .group_by(Whistle.department_id)
    )


def _settled_by(window: Window) -> Any:
    """The report was rectified or rejected before the window's end."""
    return (
        select(WhistleResponse.id)
        .where(
            WhistleResponse.whistle_id == Whistle.id,
            WhistleResponse.kind.in_(("rectified", "rejected")),
            WhistleResponse.at < window.end_at,
        )
        .exists()
    )


def _whistles_open(*, too_long: bool) -> Query:
    """Reports open at the window's end: submitted before it and not settled by then; with
    `too_long`, only those open for more than the configured days."""

    def query(window: Window, by: By) -> Any:
        last_day = _whistle_last_day(window) - timedelta(days=window.whistle_open_days + 1 if too_long else 0)
        return (
            select(Whistle.department_id, func.count())
            .where(Whistle.created_on < last_day, ~_settled_by(window))
            .group_by(Whistle.department_id)
        )

    return query


def _whistles_rectified(window: Window, by: By) -> Any:
    return (
        select(Whistle.department_id, func.count())
        .join(WhistleResponse, WhistleResponse.whistle_id == Whistle.id)
        .where(
            WhistleResponse.kind == "rectified",
            WhistleResponse.at >= window.start_at,
            WhistleResponse.at < window.end_at,
        )
        .group_by(Whistle.department_id)
    )


# In display order. Weights: how much one unit adds to a department's burden index.
FIGURE_SOURCES: tuple[FigureSource, ...] = (
    FigureSource(FigureSpec("notices", 1), _notices("notice", "meeting")),
    FigureSource(FigureSpec("data_requests", 2), _notices("data_request")),
    FigureSource(FigureSpec("duplicate_data_requests", 3), _events("duplicate_data_request")),
    FigureSource(FigureSpec("ack_demands", 2), _events("ack_demand")),
    # Check-ins, photo proof, promotion tasks and instant-reply demands, each counted like an ack demand.
    *(FigureSource(FigureSpec(f"formalism_{kind}", 2), _events(f"formalism_{kind}")) for kind in ALL_KINDS),
    FigureSource(FigureSpec("acks_removed", 0), _events("ack_removed")),
    FigureSource(FigureSpec("minutes_saved", 0), _minutes_saved),
    FigureSource(FigureSpec("after_hours_notices", 2), _events("after_hours_notice")),
    FigureSource(FigureSpec("temp_open", 0), _groups(_open_at_end), per_group=False),
    FigureSource(FigureSpec("temp_overdue", 3), _groups(_overdue), per_group=False),
    FigureSource(FigureSpec("temp_closed", 0), _groups(_closed), per_group=False),
    FigureSource(FigureSpec("quota_overruns", 3), _events("quota_overrun")),
    # Whistle figures weigh nothing and stay off the departments' own cards: a department that
    # saw its index or a count move in a quiet week could guess who reported it.
    *(
        FigureSource(FigureSpec(name, 0), query, per_group=False, on_department_card=False)
        for name, query in (
            ("whistles_new", _whistles_new),
            ("whistles_open", _whistles_open(too_long=False)),
            ("whistles_overdue", _whistles_open(too_long=True)),
            ("whistles_rectified", _whistles_rectified),
        )
    ),
)
SPECS = tuple(source.spec for source in FIGURE_SOURCES)


class DigestRepository:
    """The week's figures, and who receives the digest."""

    def __init__(self, session: AsyncSession, sources: tuple[FigureSource, ...] = FIGURE_SOURCES) -> None:
        self.session = session
        self.sources = sources

    async def figures(self, window: Window, by: By = DEPARTMENT) -> dict[int | None, dict[str, float]]:
        """Every source's value per department (or per group), one grouped query per source."""
        await pending_events.write(self.session)
        found: dict[int | None, dict[str, float]] = defaultdict(dict)
        for source in self.sources:
            if by == CHAT and not source.per_group:
                continue
            for key, value in (await self.session.execute(source.query(window, by))).all():
                found[key][source.name] = float(value or 0)
        return dict(found)

    async def department_names(self) -> dict[int, str]:
        rows = await self.session.execute(select(Department.id, Department.name).order_by(Department.name))
        return dict(rows.all())

    async def contact_chats(self) -> dict[int, int]:
        """Department id -> the chat its card goes to."""
        rows = await self.session.execute(
            select(Department.id, Department.contact_chat_id).where(Department.contact_chat_id.is_not(None))
        )
        return dict(rows.all())

    async def opted_in_groups(self) -> list[int]:
        """Groups that asked for their weekly summary (/set digest on) and still have the bot."""
        query = (
            select(Chat.id, Chat.settings)
            .where(Chat.bot_status.in_(PRESENT), Chat.state != GroupState.CLOSED)
            .order_by(Chat.id)
        )
        # Filtered here rather than in SQL: JSON operators differ between SQLite and PostgreSQL.
        rows = (await self.session.execute(query)).all()
        return [chat_id for chat_id, settings in rows if stored_settings(chat_id, settings).settings.digest]

    async def people_with_private_chat(self) -> list[int]:
        query = select(Person.id).where(Person.has_private_chat.is_(True)).order_by(Person.id)
        return list(await self.session.scalars(query))
