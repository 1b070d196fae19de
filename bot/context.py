"""Dependencies and the typed callback context through which handlers reach them."""

from __future__ import annotations

import functools
import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from telegram.ext import CallbackContext, ExtBot
from telegram.request import BaseRequest

from bot.i18n import Catalog
from bot.settings import Settings
from bot.whistle_keys import WhistleKeys
from policies.clock import Clock, system_clock
from policies.group_settings import GroupDefaults
from policies.received import ReceivedRule, config_from
from storage.db import Database

if TYPE_CHECKING:
    from bot.health import HealthServer
    from bot.pipeline import Pipeline
    from storage.models import Task

# Connections kept beside one per chat being committed: the actions' outcome transactions, the
# jobs, /healthz.
POOL_HEADROOM = 8

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
    # A note to a group's admins (its event key) -> when this process last looked whether to
    # send it; see Pipeline._tell_admins.
    recently_told: dict[str, datetime] = field(default_factory=dict)
    # Results worth computing once for many recipients (a week's scoreboard, its chart), with
    # the time they were computed; see bot.memo.
    memo: dict[tuple[Any, ...], tuple[datetime, Any]] = field(default_factory=dict)
    # Record, commit, act: set by the composition root once the bot exists.
    pipeline: Pipeline = field(default=None)  # type: ignore[assignment]
    # This process among the bot's replicas (they share Telegram's sending limits).
    replica_id: str = field(default_factory=lambda: secrets.token_hex(8))

    @classmethod
    def create(cls, settings: Settings, **overrides: Any) -> Deps:
        if "db" not in overrides:
            database = settings.database
            overrides["db"] = Database.from_url(
                database.url,
                echo=database.echo,
                lock_timeout=database.lock_timeout_seconds,
                statement_timeout=database.statement_timeout_seconds,
                connections=settings.updates.concurrent_chats + POOL_HEADROOM,
            )
        return cls(settings=settings, **overrides)

    @functools.cached_property
    def received_rule(self) -> ReceivedRule:
        """The "received" rule with bot.toml's words and markers, compiled once."""
        return received_rule_for(self.settings)

    @functools.cached_property
    def group_defaults(self) -> GroupDefaults:
        """What a group that chose nothing with /set gets (bot.toml)."""
        notices = self.settings.notices
        mode = self.settings.received.mode
        return GroupDefaults(mode, notices.quiet_start, notices.quiet_end, notices.quiet_weekends)

    @functools.cached_property
    def whistle_keys(self) -> WhistleKeys:
        """The keys that name and seal whistle drafts and key the rate limits, derived once."""
        return WhistleKeys.from_settings(self.settings)

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
            kept_reminder_days=received.kept_reminder_days,
            extra_ack_words=received.extra_ack_words,
            urgent_markers=received.urgent_markers,
            notice_tags=settings.notices.tags,
            formalism=settings.formalism.model_dump(),
        )
    )


class BotData:
    """The application's bot_data: typed, holding the dependencies."""

    deps: Deps
    # /healthz and /metrics while the application runs (bot.health).
    health: HealthServer | None = None
    # Whether updates are being taken from Telegram (polling, or the webhook server listening).
    receiving: bool = False


class JianfuContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], BotData]):
    """CallbackContext with `deps`, so handlers never look things up by string key."""

    @property
    def deps(self) -> Deps:
        return self.bot_data.deps
