"""What the digest's reports are rendered from, read through the repositories: a week's window and
scoreboard, a group's own figures, a person's unread notices with their deadlines. bot.reports
renders them; the weekly delivery (bot.jobs.digest), /digest and `jianfu digest` read, then render."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import Deps
from bot.memo import remembered
from policies.digest import IsoWeek, Scoreboard, Window, build_scoreboard, window_for
from storage.repositories.digest import CHAT, SPECS, DigestRepository
from storage.repositories.notices import InboxItem, InboxRepository

# The personal reminder lists unread notices due within this time, at most this many.
DEADLINE_HORIZON = timedelta(days=7)
DEADLINES_SHOWN = 5


def week_window(deps: Deps, week: IsoWeek, *, now: datetime | None = None) -> Window:
    return window_for(
        week,
        deps.settings.tz,
        now=now,
        seconds_per_message=deps.settings.digest.seconds_per_message,
        idle_days=deps.settings.temporary.idle_days,
        whistle_open_days=deps.settings.whistle.open_days_flag,
    )


async def scoreboard(deps: Deps, session: AsyncSession, window: Window) -> Scoreboard:
    """Every department's figures for the window and the whole week before, ranked."""

    async def compute() -> Scoreboard:
        repository = DigestRepository(session)
        previous = week_window(deps, window.week.previous())
        names, current = await repository.department_names(), await repository.figures(window)
        return build_scoreboard(SPECS, names, current, await repository.figures(previous))

    return await remembered(deps, ("scoreboard", window.week, window.end_at), compute)


async def group_figures(deps: Deps, session: AsyncSession, window: Window, chat_id: int) -> dict[str, float]:
    """The group's own figures for the window (every group's are read once, for all of them)."""

    async def compute() -> dict[int | None, dict[str, float]]:
        return await DigestRepository(session).figures(window, CHAT)

    return (await remembered(deps, ("chat_figures", window.week, window.end_at), compute)).get(chat_id, {})


async def unread_with_deadlines(deps: Deps, session: AsyncSession, person_id: int) -> tuple[int, list[InboxItem]]:
    """How many notices the person has not read, and those of them due in the coming days."""
    now = deps.clock()
    return await InboxRepository(session).unread_with_deadlines(
        person_id, since=now, until=now + DEADLINE_HORIZON, limit=DEADLINES_SHOWN
    )
