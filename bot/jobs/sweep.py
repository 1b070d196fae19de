"""The sweep: claim due tasks from the database and run each with its registered runner."""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram.ext import Application, ExtBot

from bot import actions, metrics
from bot.context import Deps, JianfuContext
from bot.handlers.errors import describe
from storage.models import Task
from storage.repositories.tasks import TaskRepository

log = logging.getLogger(__name__)

# Retry backoff grows with attempts and is capped, so a long Telegram outage is ridden out.
BASE_BACKOFF = timedelta(seconds=30)
MAX_BACKOFF = timedelta(hours=1)


async def run_due_tasks(deps: Deps, bot: ExtBot[None]) -> int:
    """Run every task that is due now; returns how many were claimed."""
    settings = deps.settings.jobs
    lease = timedelta(seconds=settings.lease_seconds)
    now = deps.clock()
    async with deps.db.transaction() as session:
        claimed = await TaskRepository(session).claim_due(now, limit=settings.batch_size, lease=lease)
    metrics.record_claimed(claimed, now)
    for task in claimed:
        await _run_one(deps, bot, task)
    return len(claimed)


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
    """Delete one of the bot's own expiring group messages; anything but 'retry later' is final."""
    outcome = await actions.delete(bot, task.payload["chat_id"], task.payload["message_id"])
    return outcome.final


async def sweep(context: JianfuContext) -> None:
    await run_due_tasks(context.deps, context.bot)


def register(app: Application, deps: Deps) -> None:
    deps.register_task(actions.DELETE_MESSAGE_TASK, delete_expired_message)
    # first=0: work that fell due while the bot was down runs right at start.
    app.job_queue.run_repeating(sweep, interval=deps.settings.jobs.sweep_seconds, first=0, name="sweep")
