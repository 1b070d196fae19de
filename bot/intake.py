"""Updates in: polling or webhook, each update committed before Telegram hears it was taken.

Telegram drops an update once it is confirmed: in polling, when a later getUpdates asks from a
higher offset; in webhook mode, when the POST is answered 200. python-telegram-bot confirms a
fetched batch before its updates are processed (and answers webhooks at once), so a crash loses
them. Here a batch is confirmed only after every update in it committed (or was set aside), and
a webhook is answered 200 only after its update committed. What an update does on Telegram is
durable in the outbox by then, so acting runs in the background and never delays the next batch.

Within a batch, groups' updates are committed in one transaction, each chat's in order; private
chats, and groups whose updates ask Telegram something first, are committed chat by chat,
concurrently.
An update that keeps failing is tried a few times and then set aside, logged by id and type only
(never its content); one that python-telegram-bot cannot even parse is set aside at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter, defaultdict
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from telegram import Update
from telegram.error import Conflict, InvalidToken, NetworkError, RetryAfter, TelegramError

from bot import loads, metrics
from bot.actions import GATHERING
from bot.app import ALLOWED_UPDATES, JianfuApplication
from policies.actions import Delete
from storage.repositories.outbox import HandledUpdates, OutboxRepository

log = logging.getLogger(__name__)

MAX_BATCH = 100
POLL_BACKOFF_START, POLL_BACKOFF_MAX = 1.0, 30.0
# After an empty answer that came back early (long polling off): never ask in a tight loop.
POLL_IDLE_SECONDS = 0.5
# How long a stopping bot waits for Telegram actions in flight (the rest stay in the outbox).
DRAIN_SECONDS = 10.0
# With a backlog (getUpdates answered a full batch) a batch's actions wait for the next
# batches', up to this many batches or seconds: a chat's deletions then go out in a few
# deleteMessages calls instead of one per batch, which is what lets a backlog clear.
HOLD_BATCHES, HOLD_SECONDS = 5, 0.5


def update_kind(data: dict[str, Any]) -> str:
    """An update's type, from its keys (never its content): what a log line may say about it."""
    return next((key for key in data if key != "update_id"), "unknown")


def chat_key(update: Update) -> int:
    """Updates of one chat are handled in order; ones without a chat by their sender."""
    if update.effective_chat is not None:
        return update.effective_chat.id
    if update.effective_user is not None:
        return update.effective_user.id
    return 0


class Intake:
    """Takes updates from Telegram and commits each once; shared by polling and the webhook server."""

    def __init__(self, app: JianfuApplication) -> None:
        self.app = app
        self.deps = app.bot_data.deps
        settings = self.deps.settings.updates
        self.attempts = settings.attempts
        self.chats_at_once = asyncio.Semaphore(settings.concurrent_chats)
        self._chat_locks: dict[int, asyncio.Lock] = defaultdict(asyncio.Lock)
        self._acting: set[asyncio.Task[None]] = set()
        # Committed actions held back while a backlog is read (see HOLD_BATCHES), and since when;
        # a timer releases them if the backlog turns out to have ended with the last full batch.
        self._held: list[list[Any]] = []
        self._held_batches, self._held_since = 0, 0.0
        self._release_timer: asyncio.TimerHandle | None = None
        self.last_update_at: float | None = None
        # Until the first batch after the start is in (see commit_first_batch).
        self._fresh = True
        self.started_at = self.deps.clock()

    # Committing ------------------------------------------------------------------------------

    async def commit_batch(self, updates: Iterable[Update], *, more_waiting: bool = False) -> None:
        """Commit every update, each chat's in their order (see _commit_all).

        The batch's Telegram actions start together once all of it committed: deletions of one
        chat then meet in its lane and go out as one deleteMessages call (bot/actions.py). When
        `more_waiting` (a backlog), they may wait for the next batches' (HOLD_BATCHES)."""
        self._hold(await self._commit_all(list(updates)))
        if not more_waiting or self._held_batches >= HOLD_BATCHES or self._held_too_long():
            self.release_held()

    async def _commit_all(self, updates: list[Update]) -> list[list[Any]]:
        """The batch's group messages in one transaction: one claim, one write of each kind, one
        commit; the other chats each on their own, at the same time.

        A transaction costs several statements' worth of time (and on PostgreSQL a round trip
        each for BEGIN and COMMIT), and a busy deployment's batch holds a few updates of each of
        many groups. Kept apart (see _shares_the_batch): private chats, so a whistleblower's
        report never shares a transaction (on PostgreSQL, its rows' transaction id) with other
        people's activity; and groups whose updates may ask Telegram first (a command's admins),
        so a slow answer holds back only that group. If any shared update fails, nothing of the
        shared transaction is committed and its chats are committed on their own instead."""
        by_chat: dict[int, list[Update]] = defaultdict(list)
        for update in updates:
            by_chat[chat_key(update)].append(update)
        shared = [chat for chat, chat_updates in by_chat.items() if _shares_the_batch(chat, chat_updates)]
        if len(shared) < 2:
            shared = []
        decided = await asyncio.gather(
            self._commit_shared([by_chat[chat] for chat in shared]),
            *(self._commit_chat(chat_updates) for chat, chat_updates in by_chat.items() if chat not in shared),
        )
        return [planned for chat in decided for planned in chat]

    async def _commit_shared(self, chats: list[list[Update]]) -> list[list[Any]]:
        """Several chats' updates in one transaction; if that fails, each chat on its own."""
        if not chats:
            return []
        together = await self._commit_together([update for chat_updates in chats for update in chat_updates])
        if together is not None:
            return together
        per_chat = await asyncio.gather(*(self._commit_chat(chat_updates) for chat_updates in chats))
        return [planned for chat in per_chat for planned in chat]

    def _hold(self, planned: list[list[Any]]) -> None:
        if not self._held_batches:
            loop = asyncio.get_running_loop()
            self._held_since = loop.time()
            self._release_timer = loop.call_later(HOLD_SECONDS, self.release_held)
        self._held.extend(planned)
        self._held_batches += 1

    def _held_too_long(self) -> bool:
        return asyncio.get_running_loop().time() - self._held_since >= HOLD_SECONDS

    def release_held(self) -> None:
        """Start every held action (they are committed: the outbox keeps the durable ones)."""
        held, self._held, self._held_batches = self._held, [], 0
        if self._release_timer is not None:
            self._release_timer.cancel()
            self._release_timer = None
        # Started together, a chat's deletions meet in its lane and go out as one call.
        together = GATHERING.set(_deletions_meet(held))
        try:
            for planned in held:
                self._act(planned)
        finally:
            GATHERING.reset(together)

    async def _commit_chat(self, updates: list[Update]) -> list[list[Any]]:
        async with self.chats_at_once:
            if len(updates) > 1:
                together = await self._commit_together(updates)
                if together is not None:
                    return together
            return [(await self.commit(update, act=False))[1] for update in updates]

    async def _commit_together(self, updates: list[Update]) -> list[list[Any]] | None:
        """Updates in one transaction (see JianfuApplication.record_together); None when that
        failed and nothing was committed."""
        self.last_update_at = asyncio.get_running_loop().time()
        async with contextlib.AsyncExitStack() as held:
            # Every chat's lock, in one order: no chat is ever committed by two tasks at once.
            for chat in sorted({chat_key(update) for update in updates}):
                await held.enter_async_context(self._chat_locks[chat])
            return await self.app.record_together(updates)

    async def commit(self, update: Update, *, act: bool = True) -> tuple[bool, list[Any]]:
        """Commit one update (tries it again if it fails): whether it needs nothing more, and
        its Telegram actions, started in the background at once unless `act` is False."""
        self.last_update_at = asyncio.get_running_loop().time()
        async with self._chat_locks[chat_key(update)]:
            for _attempt in range(self.attempts):
                committed, planned = await self.app.record_update(update)
                if committed:
                    if act:
                        self._act(planned)
                    return True, planned
                if await self._count_failure(update.update_id):
                    return True, []
        return False, []

    def _act(self, planned: list[Any]) -> None:
        if not planned:
            return
        task = asyncio.get_running_loop().create_task(self._act_safely(planned))
        self._acting.add(task)
        task.add_done_callback(self._acting.discard)

    async def _act_safely(self, planned: list[Any]) -> None:
        try:
            await self.deps.pipeline.act(planned)
        except Exception as error:  # the outbox keeps what was not done; the sweep retries it
            log.error("acting on a committed update failed: %s", type(error).__name__)

    async def _count_failure(self, update_id: int) -> bool:
        """One more failed try, kept in the database (replicas and restarts count together).

        True when the update is now set aside."""
        async with self.deps.db.transaction() as session:
            tries = await HandledUpdates(session).count_failure(
                update_id, self.deps.clock(), give_up_after=self.attempts
            )
        if tries >= self.attempts or tries == 0:
            if tries:
                log.error("update %s set aside after %d failed tries", update_id, tries)
            return True
        return False

    async def set_aside(self, data: dict[str, Any], reason: str) -> None:
        """An update that cannot be handled at all: remembered by id, logged by id and type."""
        update_id = data.get("update_id")
        log.error("update %s (%s) set aside: %s", update_id, update_kind(data), reason)
        if isinstance(update_id, int):
            async with self.deps.db.transaction() as session:
                await HandledUpdates(session).set_aside(update_id, self.deps.clock())

    async def parse(self, data: dict[str, Any]) -> Update | None:
        try:
            return Update.de_json(data, self.app.bot)
        except Exception as error:
            await self.set_aside(data, f"python-telegram-bot could not read it ({type(error).__name__})")
            return None

    async def commit_first_batch(self, updates: list[Update]) -> None:
        """After a start, one update at a time, each counting a try before it runs.

        The first batch may hold what killed the last process. Counting a try for an update just
        before it runs means that only the update in hand when a process dies is charged with
        it, so one that kills the process at every start is set aside after a few starts, while
        updates that merely waited behind it are not.
        """
        for update in updates:
            if await self._count_try(update.update_id):
                await self.commit(update)

    async def _count_try(self, update_id: int) -> bool:
        """A try for an update about to run; False when it has now failed too often to run again."""
        async with self.deps.db.transaction() as session:
            handled = HandledUpdates(session)
            if await handled.state_of(update_id) == "done":
                return True  # handled before the crash: claiming it will say so
            tries = await handled.count_failure(update_id, self.deps.clock(), give_up_after=self.attempts + 1)
        if tries > self.attempts:
            log.error("update %s set aside: the bot stopped while handling it %d times", update_id, tries - 1)
            return False
        return True

    async def drain(self, timeout: float = DRAIN_SECONDS) -> None:
        """Wait for the Telegram actions in flight (a stopping bot); the rest stay in the outbox."""
        self.release_held()
        if self._acting:
            await asyncio.wait(set(self._acting), timeout=timeout)

    # Polling ---------------------------------------------------------------------------------

    async def poll(self, stop: asyncio.Event) -> None:
        """getUpdates, commit the batch, then ask for the next one (which confirms this one)."""
        offset: int | None = None
        backoff = POLL_BACKOFF_START
        await self.app.bot.delete_webhook()
        while not stop.is_set():
            try:
                raw = await self._get_updates(offset, stop)
            except (InvalidToken, asyncio.CancelledError):
                raise
            except TelegramError as error:
                self.release_held()
                backoff = await self._poll_failed(error, backoff, stop)
                continue
            backoff = POLL_BACKOFF_START
            if raw is None:
                continue
            if not raw and self.deps.settings.updates.poll_timeout_seconds == 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), POLL_IDLE_SECONDS)
            updates = [update for data in raw if (update := await self.parse(data)) is not None]
            if self._fresh:
                await self._after_first_contact()
                await self.commit_first_batch(updates)
                self._fresh = False
            else:
                await self.commit_batch(updates, more_waiting=len(raw) >= MAX_BATCH)
            if raw:
                offset = raw[-1]["update_id"] + 1
        self.release_held()
        if offset is not None:
            await self._confirm(offset)

    def poll_timeout(self) -> int:
        """How long getUpdates may wait for news: not at all while actions are held for a
        backlog (an empty answer ends it and releases them at once)."""
        return 0 if self._held else self.deps.settings.updates.poll_timeout_seconds

    async def _get_updates(self, offset: int | None, stop: asyncio.Event) -> list[dict[str, Any]] | None:
        """One long poll, as raw JSON (so an update PTB cannot parse is set aside, not refetched forever)."""
        timeout = self.poll_timeout()
        data = {"timeout": timeout, "limit": MAX_BATCH, "allowed_updates": ALLOWED_UPDATES}
        if offset is not None:
            data["offset"] = offset
        call = asyncio.ensure_future(self.app.bot._post("getUpdates", data, read_timeout=timeout + 10))
        stopping = asyncio.ensure_future(stop.wait())
        done, _pending = await asyncio.wait({call, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if call not in done:
            call.cancel()
            with contextlib.suppress(asyncio.CancelledError, TelegramError):
                await call
            return None
        return list(call.result() or [])

    async def _poll_failed(self, error: TelegramError, backoff: float, stop: asyncio.Event) -> float:
        metrics.record_fetch_error(error)
        if isinstance(error, Conflict):
            log.warning("another process polls with this token (or a webhook is set): waiting")
        elif isinstance(error, RetryAfter):
            backoff = max(
                backoff,
                error.retry_after.total_seconds()
                if isinstance(error.retry_after, timedelta)
                else float(error.retry_after),
            )
        elif not isinstance(error, NetworkError):
            log.warning("getUpdates failed: %s", type(error).__name__)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), backoff)
        return min(backoff * 2, POLL_BACKOFF_MAX)

    async def _after_first_contact(self) -> None:
        """Only one process may poll a token: outbox rows still leased belong to a dead one."""
        async with self.deps.db.transaction() as session:
            taken = await OutboxRepository(session).take_over_leases(
                self.deps.clock(), self.started_at, self.deps.pipeline.lease
            )
        if taken:
            log.info("%d Telegram action(s) left by the previous run are resumed", taken)

    async def _confirm(self, offset: int) -> None:
        """Tell Telegram the last batch was taken, so a restart does not fetch it again."""
        with contextlib.suppress(TelegramError):
            await self.app.bot._post("getUpdates", {"offset": offset, "timeout": 0, "limit": 1}, read_timeout=10)


def _shares_the_batch(chat: int, updates: list[Update]) -> bool:
    """A group's updates that need nothing from Telegram before they run (group ids are negative)."""
    return chat < 0 and not any(loads.may_ask_telegram(update) for update in updates)


def _deletions_meet(held: list[list[Any]]) -> bool:
    """Whether a chat has several deletions among actions started together (a lone one goes at once)."""
    per_chat = Counter(item.action.chat_id for planned in held for item in planned if isinstance(item.action, Delete))
    return any(count > 1 for count in per_chat.values())


def webhook_body(raw: bytes) -> dict[str, Any] | None:
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError):
        return None
    return data if isinstance(data, dict) and isinstance(data.get("update_id"), int) else None
