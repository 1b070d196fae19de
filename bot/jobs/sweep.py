"""The sweep: claim due tasks from the database and run each with its registered runner."""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram.ext import Application, ExtBot

from bot import metrics, records
from bot.context import Deps, JianfuContext
from bot.logs import brief as describe
from bot.ratelimit import SendingRateLimiter
from policies.actions import Delete
from storage.models import Task
from storage.repositories.group_actions import GroupActionRepository
from storage.repositories.outbox import HandledUpdates, OutboxRepository, Replicas
from storage.repositories.tasks import TaskRepository

log = logging.getLogger(__name__)

# Retry backoff grows with attempts and is capped, so a long Telegram outage is ridden out.
BASE_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)


async def run_due_tasks(deps: Deps, bot: ExtBot[None]) -> int:
    """Run every task that is due now, then the outbox actions nobody is performing; how many were claimed."""
    settings = deps.settings.jobs
    lease = timedelta(seconds=settings.lease_seconds)
    now = deps.clock()
    async with deps.db.transaction() as session:
        claimed = await TaskRepository(session).claim_due(now, limit=settings.batch_size, lease=lease)
    metrics.record_claimed(claimed, now)
    for task in claimed:
        await _run_one(deps, bot, task)
    return len(claimed) + await deps.pipeline.resume_due(limit=settings.batch_size)


async def _run_one(deps: Deps, bot: ExtBot[None], task: Task) -> None:
    runner = deps.task_runners.get(task.kind)
    finished, error = False, ""
    if runner is None:
        error = f"no runner for task kind {task.kind}"
    else:
        try:
            finished = await runner(deps, bot, task)
        except Exception as failure:  # a bug in one task must not stop the others
            error = describe(failure)
            log.error("task %s (%s) failed: %s", task.id, task.kind, error)
    async with deps.db.transaction() as session:
        await _settle(deps, TaskRepository(session), task, finished, error or "retry later")


async def _settle(deps: Deps, tasks: TaskRepository, task: Task, finished: bool, error: str) -> None:
    if getattr(task, "completed_with_its_work", False):
        return  # completed in the transaction that wrote its actions (Pipeline.unit)
    now = deps.clock()
    if finished:
        owned = await tasks.complete(task, now)
    elif task.attempts >= deps.settings.jobs.max_attempts and task.kind not in deps.persistent_tasks:
        owned = await tasks.fail(task, now, error)
    else:
        backoff = min(BASE_BACKOFF * 2 ** (task.attempts - 1), MAX_BACKOFF)
        owned = await tasks.retry(task, now + backoff, error)
    if not owned:
        log.warning("task %s (%s) was claimed again while it ran; its new owner settles it", task.id, task.kind)


async def delete_expired_message(deps: Deps, bot: ExtBot[None], task: Task) -> bool:
    """Delete one of the bot's own expiring group messages (an outbox action, retried if need be)."""
    async with deps.pipeline.unit(task=task) as unit:
        unit.emit(Delete(task.payload["chat_id"], task.payload["message_id"], rule="quiet_group", reason="expired"))
    return True


# Telegram keeps an undelivered update for 24 hours: after that it cannot come again.
HANDLED_KEPT = timedelta(days=2)
# Finished outbox rows, kept a while for looking into what happened.
OUTBOX_KEPT = timedelta(days=7)
# How often what is kept for days is purged (handled update ids, finished outbox rows, the trail).
FORGET_SECONDS = 3600


async def sweep(context: JianfuContext) -> None:
    await run_due_tasks(context.deps, context.bot)


async def forget(context: JianfuContext) -> None:
    await forget_old_records(context.deps)


async def forget_old_records(deps: Deps) -> None:
    """Ids of updates that can no longer come again, finished outbox rows past their week, and
    the groups' action log past its retention ([audit] keep_days)."""
    now = deps.clock()
    async with deps.db.transaction() as session:
        await HandledUpdates(session).purge(now - HANDLED_KEPT)
        await OutboxRepository(session).purge(now - OUTBOX_KEPT)
        await GroupActionRepository(session).purge(now - deps.settings.audit.keep_for)


def beat_interval(deps: Deps) -> timedelta:
    return timedelta(seconds=min(deps.settings.jobs.sweep_seconds, 10))


async def replica_beat(context: JianfuContext) -> None:
    """Tell the other replicas this one is alive, and take this process's share of the sending limits."""
    deps = context.deps
    interval = beat_interval(deps)
    async with deps.db.transaction() as session:
        alive = await Replicas(session).beat(deps.replica_id, deps.clock(), alive_within=interval * 3)
    limiter = context.bot.rate_limiter
    if isinstance(limiter, SendingRateLimiter):
        limiter.share(alive)


def register(app: Application, deps: Deps) -> None:
    deps.register_task(records.DELETE_MESSAGE_TASK, delete_expired_message)
    # Work that fell due while the bot was down runs right at start (bot.runner.JOBS_AT_START).
    app.job_queue.run_repeating(sweep, interval=deps.settings.jobs.sweep_seconds, name="sweep")
    # Rows kept for days need no purge every sweep: each purge is a write transaction.
    app.job_queue.run_repeating(forget, interval=FORGET_SECONDS, name="forget_old_records")
    app.job_queue.run_repeating(replica_beat, interval=beat_interval(deps), name="replica_beat")
