"""Dependencies and the typed callback context through which handlers reach them."""

from __future__ import annotations

import functools
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from telegram.ext import CallbackContext, ExtBot
from telegram.request import BaseRequest

from bot.i18n import Catalog
from bot.settings import Settings
from bot.whistle_memory import WhistleMemory
from policies.clock import Clock, system_clock
from policies.received import ReceivedRule, config_from
from policies.whistle import RotatingLimiter
from storage.db import Database

if TYPE_CHECKING:
    from storage.models import Task

# A task runner returns True when the task is finished, False to retry it later.
TaskRunner = Callable[["Deps", ExtBot[None], "Task"], Awaitable[bool]]


@dataclass
class Deps:
    """Everything a handler or job needs; built once by the composition root."""

    settings: Settings
    db: Database
    clock: Clock = system_clock
    catalog: Catalog = field(default_factory=Catalog.load)
    # The HTTP seam to Telegram; None means the real network client.
    request: BaseRequest | None = None
    task_runners: dict[str, TaskRunner] = field(default_factory=dict)
    # Task kinds retried until they succeed, never given up after max_attempts.
    persistent_tasks: set[str] = field(default_factory=set)
    # (chat, person), (0, person) or (chat, 0) -> when this process last wrote that membership,
    # person or group on seeing them; see handlers.membership.
    recently_observed: dict[tuple[int, int], datetime] = field(default_factory=dict)
    # (tip key, person) -> when this process last gave or claimed that tip: a repeat acker
    # costs no database round trip (the database claim stays the authority across replicas).
    recently_tipped: dict[tuple[str, int], datetime] = field(default_factory=dict)
    # Results worth computing once for many recipients (a week's scoreboard, its chart), with
    # the time they were computed; see bot.reports.
    memo: dict[tuple[Any, ...], tuple[datetime, Any]] = field(default_factory=dict)

    @classmethod
    def create(cls, settings: Settings, **overrides: Any) -> Deps:
        overrides.setdefault("db", Database.from_url(settings.database.url, echo=settings.database.echo))
        return cls(settings=settings, **overrides)

    @functools.cached_property
    def received_rule(self) -> ReceivedRule:
        """The "received" rule with bot.toml's words and markers, compiled once."""
        return received_rule_for(self.settings)

    @functools.cached_property
    def whistle_memory(self) -> WhistleMemory:
        """The whistle flow's in-memory state and its keyed rate limits (never stored)."""
        whistle = self.settings.whistle
        return WhistleMemory(
            expire_after=timedelta(minutes=whistle.flow_expire_minutes),
            reports=RotatingLimiter(whistle.reports_per_day, timedelta(days=1), self.settings.tz),
            code_attempts=RotatingLimiter(whistle.code_attempts_per_hour, timedelta(hours=1), self.settings.tz),
        )

    def register_task(self, kind: str, runner: TaskRunner, *, persistent: bool = False) -> None:
        if kind in self.task_runners:
            raise ValueError(f"task kind {kind!r} registered twice")
        self.task_runners[kind] = runner
        if persistent:
            self.persistent_tasks.add(kind)


def received_rule_for(settings: Settings) -> ReceivedRule:
    """The "received" rule configured by bot.toml (the bot, `jianfu explain` and `jianfu replay` use it)."""
    received = settings.received
    return ReceivedRule(
        config_from(
            mode=received.mode,
            notice_window_minutes=received.notice_window_minutes,
            demand_reply_expires_minutes=received.demand_reply_expire_minutes,
            extra_ack_words=received.extra_ack_words,
            urgent_markers=received.urgent_markers,
            notice_tags=settings.notices.tags,
        )
    )


class BotData:
    """The application's bot_data: typed, holding the dependencies."""

    deps: Deps


class JianfuContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """CallbackContext with `deps`, so handlers never look things up by string key."""

    @property
    def deps(self) -> Deps:
        return self.bot_data.deps


