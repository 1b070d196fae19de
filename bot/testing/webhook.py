"""Webhook delivery for the HTTP Bot API double: Telegram's side of setWebhook.

Once the bot sets a webhook, each pending update is POSTed as JSON to it with the
X-Telegram-Bot-Api-Secret-Token header, in order, and retried after a short backoff on a non-2xx
answer or a connection error until it is accepted; only then is it dropped from the queue. The
webhook's public https:// address is routed to loopback backends (`route`), several of them for
a load balancer in front of replicas (deliveries take turns). Some updates can be delivered
twice, as Telegram does when it misses an answer. Nothing is ever sent beyond 127.0.0.1.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import httpx

from bot.testing.fake import JSONDict

if TYPE_CHECKING:
    from bot.testing.http_double import HttpTelegram

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
LOOPBACK = "127.0.0.1"


class DoubleStopped(Exception):
    """The HTTP double is shutting down: whatever waits on it ends."""


@dataclass(frozen=True)
class Delivery:
    """One POST of an update (or the attempt at one)."""

    update_id: int
    url: str
    # The bot's HTTP status, or None when no answer came (error says why).
    status: int | None
    error: str | None
    duplicate: bool
    at: float  # time.monotonic()

    @property
    def accepted(self) -> bool:
        """Whether the bot answered 2xx."""
        return self.status is not None and 200 <= self.status < 300


class WebhookDelivery:
    """Delivers the double's pending updates to the webhook the bot set; runs on the double's loop."""

    def __init__(self, double: HttpTelegram) -> None:
        self.double = double
        # Seconds before the first retry; doubled per failure up to max_backoff.
        self.backoff = 0.05
        self.max_backoff = 1.0
        # How long the bot may take to answer one POST.
        self.timeout = 10.0
        # Updates in flight at once: 1 keeps strict order; more lets replicas see them out of order.
        self.concurrency = 1
        self._routes: dict[str, list[str]] = {}
        self._turn = 0
        self._duplicate_ratio = 0.0
        self._duplicate_rng = random.Random(0)
        self._twice: set[int] = set()
        self._deliveries: list[Delivery] = []
        self._url = ""
        self._secret = ""
        self._generation = 0
        self._in_flight: set[int] = set()
        self._workers: list[asyncio.Task[None]] = []
        self._client: httpx.AsyncClient | None = None

    # --- what a test sets --------------------------------------------------------------------

    def route(self, public_url: str, *backends: str) -> None:
        """Send what Telegram would post under `public_url` to these loopback URLs, taking turns."""
        for backend in backends:
            if urlsplit(backend).hostname != LOOPBACK:
                raise ValueError(f"backends must be on {LOOPBACK}, got {backend!r}")
        if not backends:
            raise ValueError("a route needs at least one backend")
        with self.double.lock:
            self._routes[public_url.rstrip("/")] = [backend.rstrip("/") for backend in backends]

    def duplicate(self, ratio: float, *, seed: int = 0) -> None:
        """Deliver a seeded share of updates twice (the second time to the next backend)."""
        if not 0 <= ratio <= 1:
            raise ValueError(f"ratio must be between 0 and 1, got {ratio}")
        with self.double.lock:
            self._duplicate_ratio, self._duplicate_rng = ratio, random.Random(seed)

    def deliver_twice(self, update_ids: Iterable[int]) -> None:
        """Deliver these updates twice."""
        with self.double.lock:
            self._twice.update(update_ids)

    def deliveries(self) -> list[Delivery]:
        """Every POST so far, in order."""
        with self.double.lock:
            return list(self._deliveries)

    def accepted(self) -> list[int]:
        """Update ids the bot accepted, once per accepted POST, in order."""
        return [delivery.update_id for delivery in self.deliveries() if delivery.accepted]

    # --- what the double calls (on its loop) ---------------------------------------------------

    def configure(self, params: JSONDict | None) -> None:
        """setWebhook succeeded (params) or deleteWebhook did (None): restart delivery accordingly."""
        url = str(params.get("url") or "") if params else ""
        secret = str(params.get("secret_token") or "") if params else ""
        self._generation += 1
        self._url, self._secret = url, secret
        for worker in self._workers:
            worker.cancel()
        self._workers = []
        if url:
            self._workers = [asyncio.create_task(self._work(self._generation)) for _ in range(self.concurrency)]

    async def stop(self) -> None:
        """Stop delivering and close the HTTP client."""
        self._generation += 1
        for worker in self._workers:
            worker.cancel()
        await asyncio.gather(*self._workers, return_exceptions=True)
        self._workers = []
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    # --- delivering ------------------------------------------------------------------------------

    async def _work(self, generation: int) -> None:
        with contextlib.suppress(DoubleStopped):
            while generation == self._generation:
                update = self._claim()
                if update is None:
                    await self.double.wait_for_news(1.0)
                    continue
                try:
                    await self._deliver(update, generation)
                finally:
                    self._in_flight.discard(update["update_id"])

    def _claim(self) -> JSONDict | None:
        """The oldest pending update nobody is delivering; updates the bot did not ask for are dropped."""
        with self.double.lock:
            fake = self.double.fake
            for update in list(fake.updates):
                if update["update_id"] in self._in_flight:
                    continue
                if not fake.delivers(update):
                    fake.updates.remove(update)
                    continue
                self._in_flight.add(update["update_id"])
                return update
        return None

    async def _deliver(self, update: JSONDict, generation: int) -> None:
        if not await self._post_until_accepted(update, generation, duplicate=False):
            return
        if self._deliver_again(update["update_id"]):
            await self._post_until_accepted(update, generation, duplicate=True)
        with self.double.lock:
            updates = self.double.fake.updates
            updates[:] = [pending for pending in updates if pending is not update]

    def _deliver_again(self, update_id: int) -> bool:
        with self.double.lock:
            roll = self._duplicate_rng.random()
            return update_id in self._twice or roll < self._duplicate_ratio

    async def _post_until_accepted(self, update: JSONDict, generation: int, *, duplicate: bool) -> bool:
        """POST until the bot answers 2xx; False if the webhook changed meanwhile."""
        delay = self.backoff
        while generation == self._generation:
            if await self._post(update, duplicate):
                return True
            await self._pause(delay)
            delay = min(delay * 2, self.max_backoff)
        return False

    async def _pause(self, seconds: float) -> None:
        if self.double.stopping:
            raise DoubleStopped
        await asyncio.sleep(seconds)

    async def _post(self, update: JSONDict, duplicate: bool) -> bool:
        target = self._target()
        status, error = None, None
        if target is None:
            error = f"no route to {urlsplit(self._url).hostname} (HttpTelegram.webhook.route)"
        else:
            status, error = await self._send(target, update)
        delivery = Delivery(update["update_id"], target or self._url, status, error, duplicate, time.monotonic())
        with self.double.lock:
            self._deliveries.append(delivery)
            if not delivery.accepted:
                self._note_error(error or f"Wrong response from the webhook: {status}")
        return delivery.accepted

    async def _send(self, url: str, update: JSONDict) -> tuple[int | None, str | None]:
        if self._client is None:
            self._client = httpx.AsyncClient(trust_env=False)
        headers = {SECRET_HEADER: self._secret} if self._secret else {}
        try:
            answer = await self._client.post(url, json=update, headers=headers, timeout=self.timeout)
        except httpx.HTTPError as error:
            return None, f"{type(error).__name__}: {error}"
        return answer.status_code, None

    def _target(self) -> str | None:
        """The loopback URL for this attempt: the route's backends take turns."""
        with self.double.lock:
            for public, backends in sorted(self._routes.items(), key=lambda item: -len(item[0])):
                if self._url == public or self._url.startswith(public + "/"):
                    backend = backends[self._turn % len(backends)]
                    self._turn += 1
                    return backend + self._url[len(public) :]
        return None

    def _note_error(self, message: str) -> None:
        """Shown in getWebhookInfo, as Telegram does."""
        if self.double.fake.webhook.get("url"):
            self.double.fake.webhook |= {"last_error_date": int(time.time()), "last_error_message": message}
