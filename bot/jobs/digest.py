"""The weekly digest's schedule and delivery, through the tasks table.

Each (recipient, week) is delivered once: a planning task keyed by the week schedules one
delivery task per recipient keyed `digest:WEEK:KIND:ID`; the unique keys and the sweep's atomic
claim make restarts, retries and replicas add nothing. A check at start and every sweep interval
plans the most recent scheduled digest if nobody has, so one missed while the bot was down goes
out at the next start, marked late. A delivery saves which of its messages went out, so a
retry after "retry later" (429, 5xx, a timeout) sends only the rest.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession
from telegram.ext import Application, ExtBot

from bot import access, actions, reports
from bot.context import Deps, JianfuContext
from policies.digest import IsoWeek, is_late, is_stale, latest_occurrence, parse_clock_time, reported_week
from storage.models import Task
from storage.repositories.digest import DigestRepository
from storage.repositories.people import PeopleRepository
from storage.repositories.tasks import TaskRepository

log = logging.getLogger(__name__)

PLAN_TASK, SEND_TASK = "digest_plan", "digest_send"
SUPERVISOR, SUPERVISORS_CHAT, DEPARTMENT, GROUP, PERSON = "supervisor", "supervisors_chat", "department", "group", "person"
GONE = (actions.Outcome.UNREACHABLE, actions.Outcome.KICKED)


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
            await tasks.schedule(SEND_TASK, f"digest:{week}:{kind}:{ident}", now, {**task.payload, "kind": kind, "id": ident})
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


async def deliver(deps: Deps, bot: ExtBot[None], task: Task) -> bool:
    """Send one recipient its digest, skipping the parts an earlier attempt sent."""
    progress = dict(task.payload)
    if is_stale(datetime.fromisoformat(progress["scheduled_at"]), deps.clock()):
        return await _finish(deps, task, progress, "superseded")
    async with deps.db.transaction() as session:
        chat_id, parts = await _content(deps, bot, session, progress)
    if chat_id is None or not parts:
        return await _finish(deps, task, progress, "nothing to send")
    sent = list(progress.get("sent", []))
    for part in parts:
        if part.key in sent:
            continue
        outcome = await reports.send_part(deps, bot, chat_id, part)
        if outcome is actions.Outcome.RETRY_LATER:
            return False  # retried after a backoff, from this part on
        if outcome in GONE:
            await _note(deps, bot, chat_id, outcome)
            return await _finish(deps, task, {**progress, "sent": sent}, "unreachable")
        if outcome is actions.Outcome.DONE:
            sent.append(part.key)
            await _save(deps, task, {**progress, "sent": sent})
        else:
            log.warning("digest part %s to %s not sent: %s", part.key, _where(chat_id), outcome.value)
    return await _finish(deps, task, {**progress, "sent": sent}, "delivered")


async def _content(deps: Deps, bot: ExtBot[None], session: AsyncSession, progress: dict) -> tuple[int | None, list[reports.Part]]:
    """Where this recipient's digest goes and what it says, in the recipient's language."""
    kind, ident = progress["kind"], int(progress["id"])
    chat_id: int | None = ident
    if kind == DEPARTMENT:
        chat_id = (await DigestRepository(session).contact_chats()).get(ident)
        if chat_id is None:
            return None, []  # the department or its contact chat is gone
    language = await actions.Executor(deps, bot, session).language_of(chat_id)
    window = reports.week_window(deps, IsoWeek.parse(progress["week"]))
    late = datetime.fromisoformat(progress["scheduled_at"]) if progress.get("late") else None
    note_html = reports.note(deps, language, window, late_since=late)
    if kind in (SUPERVISOR, SUPERVISORS_CHAT):
        return chat_id, await reports.supervisors_digest(deps, session, window, language, note_html=note_html)
    if kind == DEPARTMENT:
        return chat_id, await reports.department_card(deps, session, window, ident, language, note_html=note_html)
    if kind == GROUP:
        return chat_id, await reports.group_summary(deps, session, window, ident, language, note_html=note_html)
    return chat_id, await reports.personal_digest(deps, session, ident, language)


async def _note(deps: Deps, bot: ExtBot[None], chat_id: int, outcome: actions.Outcome) -> None:
    """A person who blocked the bot is no longer planned for; a group that removed it is marked."""
    async with deps.db.transaction() as session:
        await actions.Executor(deps, bot, session).note(chat_id, outcome)
    log.info("digest to %s skipped: %s", _where(chat_id), outcome.value)


async def _save(deps: Deps, task: Task, payload: dict) -> None:
    async with deps.db.transaction() as session:
        await TaskRepository(session).save_progress(task, payload)


async def _finish(deps: Deps, task: Task, progress: dict, outcome: str) -> bool:
    """Record how the delivery ended with the task (the record of who got which week)."""
    await _save(deps, task, {**progress, "outcome": outcome})
    return True


async def digest_schedule(context: JianfuContext) -> None:
    await plan_due_digest(context.deps)


def register(app: Application, deps: Deps) -> None:
    # Both are retried until they succeed: a delivery ends by itself once the next week's is due.
    deps.register_task(PLAN_TASK, plan, persistent=True)
    deps.register_task(SEND_TASK, deliver, persistent=True)
    # first=0: a digest missed while the bot was down is planned right at start.
    app.job_queue.run_repeating(digest_schedule, interval=deps.settings.jobs.sweep_seconds, first=0, name="digest_schedule")


def _where(chat_id: int) -> int | str:
    """A group's id, but never a person's: a private chat's id is their user id."""
    return chat_id if chat_id < 0 else "a private chat"
