"""The weekly digest's schedule and delivery, through the tasks table.

Each (recipient, week) is delivered once: a planning task keyed by the week schedules one
delivery task per recipient keyed `digest:WEEK:KIND:ID`; the unique keys and the sweep's atomic
claim make restarts, retries and replicas add nothing. A check at start and every sweep interval
plans the most recent scheduled digest if nobody has, so one missed while the bot was down goes
out at the next start, marked late. A delivery saves which of its messages went out, so a
retry after "retry later" (429, 5xx, a timeout) sends only the rest.
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from telegram.ext import Application, ExtBot

from bot import access, records, report_data, reports
from bot.context import Deps, JianfuContext
from bot.pipeline import FactResult
from policies.actions import Then
from policies.digest import (
    STALE_AFTER,
    IsoWeek,
    Window,
    is_late,
    is_stale,
    latest_occurrence,
    parse_clock_time,
    reported_week,
)
from storage.models import Task
from storage.repositories.chats import ChatRepository
from storage.repositories.digest import DigestRepository
from storage.repositories.people import PeopleRepository
from storage.repositories.tasks import TaskRepository

log = logging.getLogger(__name__)

PLAN_TASK, SEND_TASK = "digest_plan", "digest_send"
SUPERVISOR, SUPERVISORS_CHAT, DEPARTMENT, GROUP, PERSON = (
    "supervisor",
    "supervisors_chat",
    "department",
    "group",
    "person",
)


def due_digest(deps: Deps) -> tuple[IsoWeek, datetime]:
    """The most recent scheduled moment, and the week its digest reports."""
    settings = deps.settings.digest
    occurrence = latest_occurrence(deps.clock(), deps.settings.tz, settings.weekday, parse_clock_time(settings.time))
    return reported_week(occurrence, deps.settings.tz), occurrence


async def plan_due_digest(deps: Deps) -> IsoWeek | None:
    """Make sure the most recent scheduled digest has its planning task; the week when this added it."""
    if not deps.settings.digest.enabled:
        return None
    week, occurrence = due_digest(deps)
    key = f"{PLAN_TASK}:{week}"
    async with deps.db.transaction() as session:
        tasks = TaskRepository(session)
        if await tasks.get_by_key(key) is not None:
            return None  # the usual case: a cheap read, no write
        first_group_at = await ChatRepository(session).first_joined_at()
        if first_group_at is None or first_group_at >= report_data.week_window(deps, week).end_at:
            return None  # a week before the bot was in any group: nothing to report
        payload = {"week": str(week), "scheduled_at": occurrence.isoformat(), "late": is_late(occurrence, deps.clock())}
        added = await tasks.schedule(PLAN_TASK, key, occurrence, payload)
    if added:
        log.info("digest for %s planned%s", week, " (late)" if payload["late"] else "")
    return week if added else None


async def plan(deps: Deps, bot: ExtBot[None], task: Task) -> bool:
    """One delivery task per recipient of the week's digest."""
    week, now = task.payload["week"], deps.clock()
    async with deps.db.transaction() as session:
        recipients = await _recipients(deps, session)
        tasks = TaskRepository(session)
        for kind, ident in recipients:
            await tasks.schedule(
                SEND_TASK, f"digest:{week}:{kind}:{ident}", now, {**task.payload, "kind": kind, "id": ident}
            )
    log.info("digest for %s: %d recipients", week, len(recipients))
    return True


async def _recipients(deps: Deps, session: AsyncSession) -> list[tuple[str, int]]:
    """Supervisors first (or their group), then department contacts, opted-in groups and people."""
    settings, digest = deps.settings.digest, DigestRepository(session)
    if settings.supervisors_chat_id:
        found = [(SUPERVISORS_CHAT, settings.supervisors_chat_id)]
    else:
        supervisors = await PeopleRepository(session).with_private_chat(await access.supervisor_ids(deps, session))
        found = [(SUPERVISOR, person) for person in supervisors]
    if settings.departments:
        found += [(DEPARTMENT, department) for department in sorted(await digest.contact_chats())]
    found += [(GROUP, chat) for chat in await digest.opted_in_groups()]
    if settings.personal:
        found += [(PERSON, person) for person in await digest.people_with_private_chat()]
    return found


@dataclass(frozen=True)
class Delivered:
    """How a recipient's digest ended, kept with its delivery task (the record of who got which week)."""

    task_id: int
    outcome: str


async def deliver(deps: Deps, bot: ExtBot[None], task: Task) -> bool:
    """Send one recipient its digest: its parts as one chain of outbox sends, each once."""
    progress = dict(task.payload)
    scheduled_at = datetime.fromisoformat(progress["scheduled_at"])
    if is_stale(scheduled_at, deps.clock()):
        return await _finish(deps, task, progress, "superseded")
    async with deps.pipeline.unit(task=task) as unit:
        chat_id, parts = await _content(deps, unit.session, progress)
        if chat_id is None or not parts:
            await TaskRepository(unit.session).save_progress(task, {**progress, "outcome": "nothing to send"})
            return True
        await TaskRepository(unit.session).save_progress(task, {**progress, "outcome": "sending"})
        ended = functools.partial(Delivered, task.id)
        then = Then(
            done=(ended("delivered"),),
            gone=(ended("unreachable"),),
            no_rights=(ended("refused"),),
            too_old=(ended("refused"),),
            failed=(ended("refused"),),
            uncertain=(ended("uncertain"),),
            expired=(ended("superseded"),),
        )
        # Once the next week's digest is due, an undelivered one would only confuse.
        unit.emit(reports.chain(deps, chat_id, parts, then=then, valid_until=scheduled_at + STALE_AFTER))
    return True


async def _apply_delivered(deps: Deps, session: AsyncSession, delivered: Delivered) -> FactResult:
    tasks = TaskRepository(session)
    task = await tasks.get(delivered.task_id)
    if task is None:
        return FactResult(False)
    await tasks.set_payload(task.id, {**task.payload, "outcome": delivered.outcome})
    if delivered.outcome != "delivered":
        where = task.payload.get("kind")
        log.info("digest for %s to a %s not delivered: %s", task.payload.get("week"), where, delivered.outcome)
    return FactResult(True)


async def _content(deps: Deps, session: AsyncSession, progress: dict) -> tuple[int | None, list[reports.Part]]:
    """Where this recipient's digest goes and what it says, in the recipient's language."""
    kind, ident = progress["kind"], int(progress["id"])
    chat_id: int | None = ident
    if kind == DEPARTMENT:
        chat_id = (await DigestRepository(session).contact_chats()).get(ident)
        if chat_id is None:
            return None, []  # the department or its contact chat is gone
    language = await records.language_of(deps, session, chat_id)
    window = report_data.week_window(deps, IsoWeek.parse(progress["week"]))
    late = datetime.fromisoformat(progress["scheduled_at"]) if progress.get("late") else None
    note_html = reports.note(deps, language, window, late_since=late)
    return chat_id, await _parts(deps, session, kind, ident, window, language, note_html)


async def _parts(
    deps: Deps, session: AsyncSession, kind: str, ident: int, window: Window, language: str, note_html: str
) -> list[reports.Part]:
    """The recipient's digest: what it reports read from the database, then rendered."""
    if kind in (SUPERVISOR, SUPERVISORS_CHAT):
        board = await report_data.scoreboard(deps, session, window)
        return await reports.supervisors_digest(deps, board, window, language, note_html=note_html)
    if kind == DEPARTMENT:
        board = await report_data.scoreboard(deps, session, window)
        return reports.department_card(deps, board, window, ident, language, note_html=note_html)
    if kind == GROUP:
        figures = await report_data.group_figures(deps, session, window, ident)
        return reports.group_summary(deps, figures, window, language, note_html=note_html)
    unread, due = await report_data.unread_with_deadlines(deps, session, ident)
    return reports.personal_digest(deps, unread, due, language)


async def _finish(deps: Deps, task: Task, progress: dict, outcome: str) -> bool:
    """Record how the delivery ended with the task (the record of who got which week)."""
    async with deps.db.transaction() as session:
        await TaskRepository(session).save_progress(task, {**progress, "outcome": outcome})
    return True


async def digest_schedule(context: JianfuContext) -> None:
    await plan_due_digest(context.deps)


def register(app: Application, deps: Deps) -> None:
    # Both are retried until they succeed: a delivery ends by itself once the next week's is due.
    deps.register_task(PLAN_TASK, plan, persistent=True)
    deps.register_task(SEND_TASK, deliver, persistent=True)
    deps.pipeline.register_fact(Delivered, _apply_delivered)
    deps.pipeline.register_fact(reports.ChartUploaded, reports.apply_chart_uploaded)
    # A digest missed while the bot was down is planned right at start (bot.runner.JOBS_AT_START).
    app.job_queue.run_repeating(digest_schedule, interval=deps.settings.jobs.sweep_seconds, name="digest_schedule")
