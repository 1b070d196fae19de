"""The one composition root: build_application(settings, deps=None)."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from datetime import datetime
from enum import IntEnum
from types import ModuleType
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, ApplicationBuilder, ContextTypes

from bot import access, callbacks, health, loads, menus, metrics, startup
from bot.actions import Telegram
from bot.context import BotData, Deps, JianfuContext
from bot.handlers import (
    departments,
    digest,
    errors,
    fallback,
    group_log,
    inbox,
    membership,
    notice_command,
    notices,
    received,
    roles,
    start,
    temporary,
    whistle,
    whistle_review,
)
from bot.jobs import digest as digest_jobs
from bot.jobs import sweep
from bot.pipeline import CURRENT_UNIT, Pipeline, Planned, Unit
from bot.ratelimit import SendingRateLimiter
from bot.services import countdown, group_close
from bot.services import notices as notice_service
from bot.settings import Settings
from policies.actions import SetMenu
from storage.db import UPDATE_ID_KEY, AlreadyHandled
from storage.repositories.outbox import HandledUpdates, Replicas
from storage.repositories.roles import RoleRepository

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [
    Update.MESSAGE,
    Update.EDITED_MESSAGE,
    Update.CALLBACK_QUERY,
    Update.CHAT_MEMBER,
    Update.MY_CHAT_MEMBER,
    Update.MESSAGE_REACTION,
    Update.MESSAGE_REACTION_COUNT,
]


class Lane(IntEnum):
    """PTB's handler groups: an update is offered to every group in ascending order, and in each
    group the first handler that matches takes it. Commands and buttons share group 0."""

    # A button press whose data the codec rejects (malformed, stale) is answered politely and
    # stops here, before any feature (or the observer) sees it.
    GUARD = -30
    # The anonymous whistle flow stops an update that belongs to a report before anything else
    # sees it: a whistle update must never be recorded as activity (not even by observation).
    WHISTLE = -20
    # Observation: people, groups and memberships, so every feature can rely on the rows existing.
    OBSERVE = -10
    # An awaited supervisor answer is taken here and goes no further; other private messages go on.
    ANSWER = -5
    # Commands, buttons, membership changes: the features below, in their order.
    FEATURES = 0
    # Notices are collected before the "received" rule, so an ack in the same second finds its notice.
    COLLECT = 1
    # The "received" rule on ordinary group messages.
    RULE = 2


@dataclass(frozen=True)
class Feature:
    """A feature module; `lane` is the handler group of its handlers that are not in group 0."""

    module: ModuleType
    lane: Lane | None = None

    def register(self, app: Application, deps: Deps) -> None:
        if self.lane is None:
            self.module.register(app, deps)
        else:
            self.module.register(app, deps, int(self.lane))


# The one place that says who sees an update first. Within group 0 the first feature listed
# wins; fallback stays last so it only sees what nobody took.
FEATURES = (
    Feature(callbacks, Lane.GUARD),
    Feature(membership, Lane.OBSERVE),
    Feature(whistle, Lane.WHISTLE),
    Feature(start),
    Feature(roles),
    Feature(departments),
    Feature(notices, Lane.COLLECT),
    Feature(notice_command),
    Feature(received, Lane.RULE),
    Feature(temporary),
    Feature(inbox),
    Feature(group_log),
    Feature(whistle_review, Lane.ANSWER),
    Feature(digest),
    Feature(fallback),
)


class JianfuApplication(Application[Any, JianfuContext, Any, Any, BotData, Any]):
    """PTB's Application with record, commit, act: one unit of work per update, in a transaction
    of its own or shared by a polled batch's groups (record_together)."""

    async def process_update(self, update: object) -> None:
        """Record the update's effects, commit, then carry out its Telegram actions."""
        committed, planned = await self.record_update(update)
        if committed:
            await self.bot_data.deps.pipeline.act(planned)

    async def record_update(self, update: object) -> tuple[bool, list[Planned]]:
        """Run the handlers in one transaction and commit it with the durable actions they decided.

        Returns whether the update is done with (committed, or handled before) and the actions
        to perform. Nothing here calls Telegram to act.
        """
        deps = self.bot_data.deps
        update_id = update.update_id if isinstance(update, Update) else None
        committed, planned, observed = False, [], None
        started = time.perf_counter()
        loaded = await loads.prefetch(deps, self.bot, update)
        try:
            async with deps.db.transaction() as session:
                if update_id is not None:
                    session.info[UPDATE_ID_KEY] = (update_id, self._claimed_at())
                unit = await self._handle(session, update, loaded)
                if not unit.failed:
                    planned = await self._record(session, unit)
                observed = session.info.get(membership.OBSERVED_KEY)
                # Handled before (AlreadyHandled marks the unit failed) counts as done.
                committed = not unit.failed or errors.already_handled(session)
        except Exception as error:
            # The commit failed (a lost connection, a lock timeout, a constraint at flush). PTB's
            # update fetcher would die with the exception and the bot would silently stop: log
            # it (type and place only) and go on with the next update.
            log.error("update %s could not be committed: %s", update_id, errors.describe(error))
            committed, planned = False, []
        finally:
            metrics.record_update(update, seconds=time.perf_counter() - started, at=deps.clock())
        if committed and observed and not errors.already_handled(session):
            membership.remember_observed(deps, observed)
        return committed, planned if committed else []

    async def _record(self, session: AsyncSession, unit: Unit) -> list[Planned]:
        """The unit's facts and durable actions, the transaction's last statement: on PostgreSQL,
        when it is also its first, the update's claim goes in with them (OutboxRepository.add)."""
        try:
            return await self.bot_data.deps.pipeline.record(session, unit.actions, ends_transaction=True)
        except AlreadyHandled:
            return []  # the claim found the update handled before: nothing was written

    async def record_together(self, updates: list[Update]) -> list[list[Planned]] | None:
        """Updates of one batch in one transaction: one claim, one outbox write, one commit.

        Each update still runs on its own (its unit, its loads) and in its order. When any of
        them fails nothing is committed and None is returned: the caller then records them in
        smaller groups or alone (record_update), with their own tries. Updates handled before
        are skipped (their claim is not new).
        """
        deps = self.bot_data.deps
        # What they need from Telegram is asked once for all of them (a group's admins, say).
        loaded = loads.Loads()
        for update in updates:
            await loads.prefetch(deps, self.bot, update, into=loaded)
        try:
            async with deps.db.transaction() as session:
                claims = HandledUpdates(session)
                fresh = await claims.claim_many([update.update_id for update in updates], self._claimed_at())
                await self._know_together(session, [update for update in updates if update.update_id in fresh])
                timed = [
                    await self._decide(session, update, loaded) if update.update_id in fresh else ([], None)
                    for update in updates
                ]
                decided = [planned for planned, _seconds in timed]
                await deps.pipeline.write_durable(session, [item for planned in decided for item in planned])
                observed = session.info.get(membership.OBSERVED_KEY)
        except _NotTogether:
            return None
        except Exception as error:
            log.info("a batch of updates is recorded one by one: %s", errors.describe(error))
            return None
        if observed:
            membership.remember_observed(deps, observed)
        for update, (_planned, seconds) in zip(updates, timed, strict=True):
            if seconds is not None:
                metrics.record_update(update, seconds=seconds, at=deps.clock())
        return decided

    async def _know_together(self, session: AsyncSession, updates: list[Update]) -> None:
        """What a batch's updates will each look up, written or read for all of them at once:
        their senders' sightings, which departments the senders are contacts of, and the latest
        notice of the groups where an ack may answer no message."""
        await membership.observe_together(self.bot_data.deps, session, updates)
        senders = [update.effective_user.id for update in updates if update.effective_user is not None]
        await RoleRepository(session).know_contacts(senders)
        await received.know_together(self.bot_data.deps, session, updates)

    async def _decide(
        self, session: AsyncSession, update: Update, loaded: loads.Loads
    ) -> tuple[list[Planned], float | None]:
        """One update of a shared transaction: its handlers, then its facts applied and actions
        rendered; with the seconds it took."""
        started = time.perf_counter()
        unit = await self._handle(session, update, loaded)
        if unit.failed:
            raise _NotTogether
        planned = await self.bot_data.deps.pipeline.prepare(session, unit.actions)
        return planned, time.perf_counter() - started

    async def _handle(self, session: AsyncSession, update: object, loaded: loads.Loads) -> Unit:
        """PTB's handlers for one update, in `session`, with the update's own unit and loads."""
        unit = Unit(session)
        unit_token, loads_token = CURRENT_UNIT.set(unit), loads.CURRENT_LOADS.set(loaded)
        try:
            await super().process_update(update)
        finally:
            CURRENT_UNIT.reset(unit_token)
            loads.CURRENT_LOADS.reset(loads_token)
        return unit

    def _claimed_at(self) -> datetime:
        """When an update's claim says it was handled: to the hour only (a whistleblower's update
        must not be dated to the second)."""
        return self.bot_data.deps.clock().replace(minute=0, second=0, microsecond=0)


class _NotTogether(Exception):
    """An update of a shared transaction failed: the transaction rolls back."""


def build_application(settings: Settings, deps: Deps | None = None) -> JianfuApplication:
    """Wire handlers, jobs, the error handler and the rate limiter around one set of dependencies."""
    deps = deps or Deps.create(settings)
    builder = (
        ApplicationBuilder()
        .token(settings.telegram.token.get_secret_value())
        .application_class(JianfuApplication)
        .context_types(ContextTypes(context=JianfuContext, bot_data=BotData))
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
    )
    if deps.request is not None:
        builder = builder.request(deps.request).get_updates_request(deps.request)
    if settings.telegram.base_url:
        base = settings.telegram.base_url.rstrip("/")
        builder = builder.base_url(f"{base}/bot").base_file_url(f"{base}/file/bot")
    if settings.telegram.rate_limit.enabled:
        builder = builder.rate_limiter(SendingRateLimiter(max_retries=settings.telegram.rate_limit.max_retries))
    app = builder.build()
    app.bot_data.deps = deps
    deps.pipeline = Pipeline(deps, Telegram(app.bot))
    deps.pipeline.telegram.register(SetMenu, menus.performer(deps))
    for service in (notice_service, countdown, group_close):
        service.register(deps)
    for feature in FEATURES:
        feature.register(app, deps)
    sweep.register(app, deps)
    digest_jobs.register(app, deps)
    app.add_error_handler(errors.on_error)
    return app


async def _post_init(app: JianfuApplication) -> None:
    deps = app.bot_data.deps
    async with deps.db.transaction() as session:
        supervisors = await access.supervisor_ids(deps, session)
    startup.announce(deps.settings, app.bot.bot, len(supervisors))
    app.bot_data.health = await health.start(deps, receiving=lambda: app.bot_data.receiving)
    await menus.publish_commands(app.bot, deps, supervisors)


async def _post_shutdown(app: JianfuApplication) -> None:
    deps = app.bot_data.deps
    await health.stop(app.bot_data.health)
    try:
        async with deps.db.transaction() as session:
            await Replicas(session).leave(deps.replica_id)
    except Exception as error:  # the database may be what failed; the row ages out anyway
        log.info("could not say goodbye to the other replicas: %s", type(error).__name__)
    await deps.db.dispose()
