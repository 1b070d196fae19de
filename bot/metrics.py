"""Prometheus metrics, recorded at single points and served by bot.health on /metrics.

Where each figure is recorded:
- `record_update`: once per update, where the application processes it (bot.app);
- `record_call`: once per Bot API call, where bot.actions classifies its outcome;
- `record_fetch_error`: errors fetching updates (getUpdates), from the error handler;
- `record_claimed`: once per sweep, for the tasks it claimed (bot.jobs.sweep);
- `set_due_work`, `set_database_up`: gauges bot.health reads from the database when asked.

Metrics live in their own registry (not prometheus_client's global one) with the process
collectors added, so what /metrics shows is exactly Jianfu's. Labels never carry ids or text.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from prometheus_client import (
    GC_COLLECTOR,
    PLATFORM_COLLECTOR,
    PROCESS_COLLECTOR,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
)
from telegram import Update
from telegram.error import (
    BadRequest,
    Conflict,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

if TYPE_CHECKING:
    from storage.models import Task

REGISTRY = CollectorRegistry(auto_describe=True)
for _collector in (PROCESS_COLLECTOR, PLATFORM_COLLECTOR, GC_COLLECTOR):
    REGISTRY.register(_collector)

UPDATES = Counter("jianfu_updates", "Updates processed, by type.", ["type"], registry=REGISTRY)
UPDATE_SECONDS = Histogram(
    "jianfu_update_seconds",
    "Time to process one update: handlers, database and the Telegram calls they make.",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
    registry=REGISTRY,
)
LAST_UPDATE = Gauge(
    "jianfu_last_update_timestamp_seconds", "When the last update was processed (Unix time).", registry=REGISTRY
)
ACTIONS = Counter(
    "jianfu_actions",
    "Bot API calls Jianfu made, by method and what came of them.",
    ["kind", "outcome"],
    registry=REGISTRY,
)
TELEGRAM_ERRORS = Counter(
    "jianfu_telegram_errors",
    "Errors from the Bot API by HTTP code (network: no connection or a 5xx answer; timeout: no answer in time).",
    ["code"],
    registry=REGISTRY,
)
SWEEPS = Counter("jianfu_sweeps", "Sweeps of due work run.", registry=REGISTRY)
CLAIM_LAG = Histogram(
    "jianfu_due_work_claim_lag_seconds",
    "How late each task (a close, a reminder, a digest delivery) was when the sweep took it, by kind.",
    ["kind"],
    buckets=(1, 5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, 24 * 3600),
    registry=REGISTRY,
)
DUE_BACKLOG = Gauge("jianfu_due_work_backlog", "Tasks due now that no worker is doing.", registry=REGISTRY)
DUE_LAG = Gauge(
    "jianfu_due_work_lag_seconds", "How long the oldest due task has waited (0 when none waits).", registry=REGISTRY
)
DATABASE_UP = Gauge(
    "jianfu_database_up", "1 when the last health or metrics check reached the database.", registry=REGISTRY
)

_UPDATE_TYPES = tuple(str(kind) for kind in Update.ALL_TYPES)


@dataclass
class _Activity:
    """What /healthz reports about updates; process-wide, like the metrics."""

    last_update_at: datetime | None = None


ACTIVITY = _Activity()


def update_type(update: object) -> str:
    """The update's kind as the Bot API names it (message, callback_query, …)."""
    for kind in _UPDATE_TYPES:
        if getattr(update, kind, None) is not None:
            return kind
    return "other"


def record_update(update: object, *, seconds: float, at: datetime) -> None:
    UPDATES.labels(update_type(update)).inc()
    UPDATE_SECONDS.observe(seconds)
    LAST_UPDATE.set(at.timestamp())
    ACTIVITY.last_update_at = at


def record_call(method: str, outcome: str, error: TelegramError | None = None) -> None:
    ACTIONS.labels(method, outcome).inc()
    if error is not None:
        TELEGRAM_ERRORS.labels(error_code(error)).inc()


def record_fetch_error(error: BaseException) -> None:
    """An error while fetching updates (a second poller's 409, an outage), not from an action."""
    if isinstance(error, TelegramError):
        TELEGRAM_ERRORS.labels(error_code(error)).inc()


def error_code(error: TelegramError) -> str:
    """The Bot API's HTTP code behind a PTB exception."""
    for kind, code in _CODES:
        if isinstance(error, kind):
            return code
    return "other"


# Order matters: TimedOut is a NetworkError, ChatMigrated-like 400s are BadRequests.
_CODES: tuple[tuple[type[TelegramError], str], ...] = (
    (RetryAfter, "429"),
    (TimedOut, "timeout"),
    (InvalidToken, "401"),
    (Forbidden, "403"),
    (Conflict, "409"),
    (BadRequest, "400"),
    (NetworkError, "network"),
)


def record_claimed(tasks: Iterable[Task], now: datetime) -> None:
    """One sweep and how late each task it claimed was."""
    SWEEPS.inc()
    for task in tasks:
        CLAIM_LAG.labels(task.kind).observe(max(0.0, (now - task.due_at).total_seconds()))


def set_due_work(backlog: int, lag_seconds: float) -> None:
    DUE_BACKLOG.set(backlog)
    DUE_LAG.set(lag_seconds)


def set_database_up(up: bool) -> None:
    DATABASE_UP.set(1 if up else 0)
