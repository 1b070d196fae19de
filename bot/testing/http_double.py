"""The in-memory Bot API double (FakeTelegram) served over loopback HTTP, for running `jianfu run` as a process.

`HttpTelegram` runs a tornado server on 127.0.0.1 in a thread of its own with its own event loop,
answering `GET/POST /bot<TOKEN>/<method>` (form-encoded, JSON or multipart parameters) exactly as
the in-process double answers PTB. Around that it adds what only a server can do: long polling,
webhook delivery (bot/testing/webhook.py), seeded faults (bot/testing/faults.py) and a record of
every call with whether it acted and when. Tests add people's actions with the scenario helpers
(`message`, `reply`, `press`, `react`, `join` ...) and read the world through `world()`, which
holds the lock the server holds while it answers.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from telegram import Bot
from telegram.error import TimedOut
from tornado.httpserver import HTTPServer
from tornado.netutil import bind_sockets
from tornado.web import Application, RequestHandler

from bot.testing.fake import FakeError, FakeTelegram, JSONDict
from bot.testing.faults import Fault, FaultInjector, FaultPlan, error_answer
from bot.testing.updates import UpdateFactory, as_json
from bot.testing.webhook import DoubleStopped, WebhookDelivery

HOST = "127.0.0.1"
UNAUTHORIZED = FakeError(401, "Unauthorized")
NOT_FOUND = FakeError(404, "Not Found")
TERMINATED = FakeError(
    409, "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
)
# Parameters that are text even when they look like JSON ("123", "true", "[1]"); every other
# form value is JSON-decoded, as PTB JSON-encodes every value that is not a string.
_TEXT_PARAMS = frozenset({
    "text", "caption", "title", "description", "short_description", "name", "custom_title", "emoji",
    "url", "secret_token", "callback_query_id", "invite_link", "action", "parse_mode", "language_code",
    "inline_message_id", "ip_address", "photo", "document", "sticker", "video", "audio", "voice",
    "animation", "thumbnail", "question", "business_connection_id", "message_effect_id", "query",
})  # fmt: skip
_DELETES = ("deletemessage", "deletemessages")
_WEBHOOK_METHODS = ("setwebhook", "deletewebhook")


@dataclass(frozen=True)
class HttpCall:
    """One HTTP request to the double: what was asked, the fault that hit it, whether it acted."""

    seq: int
    method: str
    params: JSONDict
    # None when the client got no answer (a held or dropped response).
    status: int | None
    fault: Fault | None
    # Whether the double carried the call out successfully (the world may have changed).
    acted: bool
    at: float  # time.monotonic() when it acted or was answered


def decode_form(values: dict[str, str]) -> JSONDict:
    """Form or query parameters as PTB meant them: JSON-encoded values decoded, text kept as text."""
    return {name: _decode_value(name, raw) for name, raw in values.items()}


def _decode_value(name: str, raw: str) -> Any:
    if name in _TEXT_PARAMS:
        return raw
    try:
        return json.loads(raw)
    except ValueError:
        return raw  # A chat_id like "@channel", a file id.


class HttpTelegram:
    """FakeTelegram on 127.0.0.1:port; use as a context manager (it starts and stops the server thread)."""

    def __init__(
        self, token: str, fake: FakeTelegram | None = None, *, port: int = 0, hold_seconds: float = 2.0
    ) -> None:
        self.token = token
        self.fake = fake or FakeTelegram()
        self.port = port
        # How long a timed-out answer is held: longer than the client's read timeout.
        self.hold_seconds = hold_seconds
        self.faults = FaultInjector()
        self.webhook = WebhookDelivery(self)
        self.lock = threading.RLock()
        self._updates = UpdateFactory(self.fake, Bot(token))
        self._next_update_id = 1
        self._calls: list[HttpCall] = []
        self._posted_at: dict[int, float] = {}
        self._message_updates: dict[tuple[int, int], int] = {}
        self._held: list[JSONDict] | None = None
        self._deleted_at: dict[tuple[int, int], float] = {}
        self._poll_generation = 0
        self._poll_arrivals: list[float] = []
        self._waiters: set[asyncio.Future[None]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._failure: BaseException | None = None

    # --- lifecycle ---------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        """What bot.toml's telegram.base_url is set to."""
        return f"http://{HOST}:{self.port}"

    @property
    def api_url(self) -> str:
        """The URL prefix of every method: {api_url}/getMe."""
        return f"{self.base_url}/bot{self.token}"

    def __enter__(self) -> HttpTelegram:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def start(self, timeout: float = 10.0) -> None:
        """Start serving; returns once the port is bound."""
        self._thread = threading.Thread(target=self._serve_in_thread, name="http-telegram", daemon=True)
        self._thread.start()
        if not self._started.wait(timeout) or self._failure is not None:
            raise RuntimeError(f"the HTTP double did not start: {self._failure!r}")

    def stop(self, timeout: float = 10.0) -> None:
        """Stop serving: held answers and long polls end, webhook delivery stops, the thread exits."""
        if self._thread is None:
            return
        if self._loop is not None and self._stopping is not None:
            self._loop.call_soon_threadsafe(self._stopping.set)
        self._thread.join(timeout)
        if self._thread.is_alive():
            raise RuntimeError(f"the HTTP double did not stop within {timeout} s")
        self._thread = None

    def _serve_in_thread(self) -> None:
        try:
            asyncio.run(self._serve())
        except BaseException as error:  # Reported to start() instead of dying silently in the thread.
            self._failure = error
            self._started.set()

    async def _serve(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stopping = asyncio.Event()
        sockets = bind_sockets(self.port, HOST)
        self.port = sockets[0].getsockname()[1]
        app = Application(
            [(r"/bot([^/]*)/([A-Za-z0-9_]+)/?", _BotApiHandler, {"double": self}), (r".*", _NotFoundHandler)],
            log_function=lambda handler: None,
        )
        server = HTTPServer(app, max_body_size=64 * 1024 * 1024)
        server.add_sockets(sockets)
        self._started.set()
        await self._stopping.wait()
        server.stop()
        self._wake()
        await self.webhook.stop()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(server.close_all_connections(), 5)

    def call_in_loop(self, callback: Callable[[], Any]) -> None:
        """Run `callback` on the server's loop (from any thread); nothing once the double has stopped."""
        if self._loop is not None:
            with contextlib.suppress(RuntimeError):  # the loop is closed
                self._loop.call_soon_threadsafe(callback)

    # --- the world, under the server's lock --------------------------------------------------

    @contextlib.contextmanager
    def world(self) -> Iterator[FakeTelegram]:
        """The FakeTelegram, held still: the server answers nothing while the block runs."""
        with self.lock:
            yield self.fake

    def calls(self, method: str | None = None, *, since: int = 0) -> list[HttpCall]:
        """Every HTTP call (of `method`) with seq >= since, in order."""
        with self.lock:
            return [c for c in self._calls[since:] if method is None or c.method.lower() == method.lower()]

    def acted(self, method: str | None = None) -> list[HttpCall]:
        """The calls (of `method`) that the double carried out, whatever the client heard."""
        return [call for call in self.calls(method) if call.acted]

    @property
    def call_count(self) -> int:
        """How many calls were answered (or failed) so far: a mark for `calls(since=...)`."""
        with self.lock:
            return len(self._calls)

    def polls_since(self, moment: float) -> int:
        """How many getUpdates calls arrived after time.monotonic() `moment` (answered or still waiting)."""
        with self.lock:
            return sum(1 for arrival in self._poll_arrivals if arrival > moment)

    def deleted_at(self) -> dict[tuple[int, int], float]:
        """(chat, message) -> time.monotonic() when a delete call removed it."""
        with self.lock:
            return dict(self._deleted_at)

    def posted_at(self) -> dict[tuple[int, int], float]:
        """(chat, message) -> time.monotonic() when its update became available to the bot."""
        with self.lock:
            posted = self._posted_at
            return {key: posted[update_id] for key, update_id in self._message_updates.items() if update_id in posted}

    def pending_updates(self) -> int:
        """Updates not yet confirmed (polling) or delivered (webhook)."""
        with self.lock:
            return len(self.fake.updates)

    def wait_until(self, condition: Callable[[], bool], *, timeout: float, what: str = "condition") -> None:
        """Poll `condition` (called under the lock) until it holds; AssertionError after `timeout` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                if condition():
                    return
            if time.monotonic() >= deadline:
                raise AssertionError(f"{what} did not happen within {timeout} s")
            time.sleep(0.01)

    # --- faults ------------------------------------------------------------------------------

    def inject(self, plan: FaultPlan | None) -> None:
        """Fail a seeded share of calls from now on (None: stop)."""
        with self.lock:
            self.faults.use(plan)

    def fail_next(self, method: str, fault: Fault | str, *, times: int = 1) -> None:
        """The next `times` calls of `method` ("*": any) meet `fault`."""
        with self.lock:
            self.faults.fail_next(method, fault, times=times)

    # --- scenario: people act, the double makes updates ----------------------------------------

    def message(self, chat_id: int, user_id: int, text: str, *, reply_to: int | None = None) -> int:
        """A person writes in a group (or, with chat_id == user_id, privately); returns the message id."""
        with self.lock:
            return self._post_message(self._updates.message(chat_id, user_id, text, reply_to=reply_to).to_dict())

    def reply(self, chat_id: int, user_id: int, text: str, to: int) -> int:
        """A person replies to message `to`; returns the message id."""
        return self.message(chat_id, user_id, text, reply_to=to)

    def command(self, chat_id: int, user_id: int, text: str) -> int:
        """A /command with its bot_command entity; returns the message id."""
        with self.lock:
            return self._post_message(self._updates.command(chat_id, user_id, text).to_dict())

    def private(self, user_id: int, text: str) -> int:
        """A person writes to the bot privately; returns the message id."""
        return self.message(user_id, user_id, text)

    def sticker(self, chat_id: int, user_id: int, emoji: str = "👌", *, reply_to: int | None = None) -> int:
        """A person sends a sticker; returns the message id."""
        with self.lock:
            return self._post_message(self._updates.sticker(chat_id, user_id, emoji, reply_to=reply_to).to_dict())

    def press(self, user_id: int, chat_id: int, message_id: int, data: str) -> int:
        """A person presses an inline button of a bot message; returns the update id."""
        with self.lock:
            return self._push(as_json(self._updates.callback(user_id, chat_id, message_id, data)))

    def react(self, chat_id: int, message_id: int, user_id: int, emoji: str = "👍") -> int:
        """A person reacts to a message (delivered only when allowed_updates asks); returns the update id."""
        with self.lock:
            return self._push(as_json(self._updates.reaction(chat_id, message_id, user_id, new=(emoji,))))

    def join(self, chat_id: int, user_ids: Iterable[int]) -> int:
        """People join a group: the service message, and chat_member updates where the bot is an admin.

        Returns the service message's id."""
        user_ids = list(user_ids)
        with self.lock:
            message_id = self._post_message(self._updates.new_members(chat_id, user_ids).to_dict())
            if self.fake.member_status(chat_id, self.fake.bot_id) in ("administrator", "creator"):
                for user_id in user_ids:
                    self._push(as_json(self._updates.chat_member(chat_id, user_id, old="left", new="member")))
            return message_id

    def bot_joined(self, chat_id: int, by_user_id: int, *, status: str = "administrator", **rights: Any) -> int:
        """Someone adds or promotes the bot (my_chat_member); returns the update id."""
        with self.lock:
            old = self.fake.member_status(chat_id, self.fake.bot_id)
            update = self._updates.my_chat_member(chat_id, by_user_id, old=old, new=status, rights=rights or None)
            return self._push(as_json(update))

    def push(self, update: JSONDict) -> int:
        """Queue a raw update (its update_id is replaced by the next one); returns the update id."""
        with self.lock:
            return self._push(dict(update))

    @contextlib.contextmanager
    def together(self) -> Iterator[None]:
        """Updates made in the block become available at once when it ends: a burst, timed as one."""
        with self.lock:
            self._held = []
        try:
            yield
        finally:
            with self.lock:
                held, self._held = self._held or [], None
                self._offer(held)

    def _post_message(self, update: JSONDict) -> int:
        message = update["message"]
        self._message_updates[(message["chat"]["id"], message["message_id"])] = self._push(update)
        return message["message_id"]

    def _push(self, update: JSONDict) -> int:
        update_id = self._next_update_id
        self._next_update_id += 1
        update["update_id"] = update_id
        if self._held is not None:
            self._held.append(update)
        else:
            self._offer([update])
        return update_id

    def _offer(self, updates: list[JSONDict]) -> None:
        """Make updates available to getUpdates and webhook delivery."""
        now = time.monotonic()
        for update in updates:
            self._posted_at[update["update_id"]] = now
        self.fake.updates.extend(updates)
        self.call_in_loop(self._wake)

    # --- waiting on the server's loop ----------------------------------------------------------

    def _wake(self) -> None:
        """Wake every long poll and webhook worker (an update arrived, a poll began, shutdown)."""
        for waiter in self._waiters:
            if not waiter.done():
                waiter.set_result(None)
        self._waiters.clear()

    async def wait_for_news(self, seconds: float) -> None:
        """Sleep until woken or `seconds` pass; raises DoubleStopped when the double shuts down."""
        if self.stopping:
            raise DoubleStopped
        waiter: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._waiters.add(waiter)
        try:
            await asyncio.wait([waiter], timeout=max(seconds, 0))
        finally:
            self._waiters.discard(waiter)
        if self.stopping:
            raise DoubleStopped

    @property
    def stopping(self) -> bool:
        """Whether the server is shutting down."""
        return self._stopping is not None and self._stopping.is_set()

    async def hold(self) -> None:
        """Keep an answer back for hold_seconds (less when the double stops)."""
        assert self._stopping is not None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stopping.wait(), self.hold_seconds)

    # --- answering a call ----------------------------------------------------------------------

    async def answer(self, method: str, params: JSONDict, files: list[tuple[str, bytes]]) -> tuple[int, bytes] | None:
        """The HTTP answer to one call, or None when the connection is to close without one."""
        with self.lock:
            fault = self.faults.choose(method, params)
            retry_after = self.faults.retry_after
        if method.lower() == "getupdates":
            try:
                await self._long_poll(params, fault)
            except _PollSuperseded:
                self._record(method, params, TERMINATED.code, fault, acted=False)
                return TERMINATED.response()
        return await self._carry_out(method, params, files, fault, retry_after)

    async def _carry_out(
        self, method: str, params: JSONDict, files: list[tuple[str, bytes]], fault: Fault | None, retry_after: int
    ) -> tuple[int, bytes] | None:
        if fault is not None and fault.answers:
            error = error_answer(fault, retry_after)
            self._record(method, params, error.code, fault, acted=False)
            return error.response()
        if fault is Fault.TIMEOUT_BEFORE:
            self._record(method, params, None, fault, acted=False)
            await self.hold()
            return None
        try:
            status, body = self._act(method, params, files, fault)
        except TimedOut:  # FakeTelegram.fail_next(..., TIMEOUT): nothing happened, no answer.
            self._record(method, params, None, Fault.TIMEOUT_BEFORE, acted=False)
            await self.hold()
            return None
        if fault is None:
            return status, body
        if fault is Fault.TIMEOUT_AFTER:
            await self.hold()
        return None  # It acted, and the client never hears of it (held past its timeout, or dropped).

    def _act(
        self, method: str, params: JSONDict, files: list[tuple[str, bytes]], fault: Fault | None
    ) -> tuple[int, bytes]:
        """Let FakeTelegram answer, under the lock; record the call and any deletions it made."""
        with self.lock:
            targets = self._delete_targets(method, params)
            status, body = self.fake.handle(method, params, files)
            self._record(method, params, None if fault else status, fault, acted=status == 200)
            now = time.monotonic()
            for target in targets:
                if self.fake.is_deleted(*target):
                    self._deleted_at.setdefault(target, now)
        if status == 200 and method.lower() in _WEBHOOK_METHODS:
            self.webhook.configure(params if method.lower() == "setwebhook" else None)
        return status, body

    def _delete_targets(self, method: str, params: JSONDict) -> list[tuple[int, int]]:
        if method.lower() not in _DELETES:
            return []
        ids = params.get("message_ids") if method.lower() == "deletemessages" else [params.get("message_id")]
        chat_id = params.get("chat_id")
        if not isinstance(chat_id, int) or not isinstance(ids, list):
            return []
        return [(chat_id, int(i)) for i in ids if isinstance(i, int) and not self.fake.is_deleted(chat_id, i)]

    def _record(self, method: str, params: JSONDict, status: int | None, fault: Fault | None, *, acted: bool) -> None:
        with self.lock:
            call = HttpCall(len(self._calls), method, params, status, fault, acted, time.monotonic())
            self._calls.append(call)

    # --- long polling ----------------------------------------------------------------------------

    async def _long_poll(self, params: JSONDict, fault: Fault | None) -> None:
        """Wait (up to the call's timeout) until an update is deliverable, as Telegram does.

        A later getUpdates ends this one with 409, as Telegram ends the older of two polls."""
        self._poll_generation += 1
        generation = self._poll_generation
        with self.lock:
            self._poll_arrivals.append(time.monotonic())
        self._wake()
        if fault is not None:
            return  # Faults answer at once (or hold on their own).
        timeout = _seconds(params.get("timeout"))
        deadline = time.monotonic() + timeout
        while not self._poll_can_answer(params) and time.monotonic() < deadline:
            try:
                await self.wait_for_news(deadline - time.monotonic())
            except DoubleStopped:
                return
            if self._poll_generation != generation:
                raise _PollSuperseded

    def _poll_can_answer(self, params: JSONDict) -> bool:
        with self.lock:
            if self.fake.webhook.get("url"):
                return True  # The 409 "webhook is active" comes at once.
            offset = _int(params.get("offset"))
            allowed = params.get("allowed_updates")
            allowed = list(allowed) if isinstance(allowed, list) else None
            return any(
                (offset <= 0 or update["update_id"] >= offset) and self.fake.delivers(update, allowed)
                for update in self.fake.updates
            )


class _PollSuperseded(Exception):
    """Internal: a newer getUpdates ended this long poll."""


def _seconds(value: Any) -> float:
    try:
        return max(float(value or 0), 0.0)
    except (TypeError, ValueError):
        return 0.0


def _int(value: Any) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


class _BotApiHandler(RequestHandler):
    """/bot<TOKEN>/<method>: parameters from the query string and the body, answered by the double."""

    def initialize(self, double: HttpTelegram) -> None:
        self.double = double

    async def get(self, token: str, method: str) -> None:
        await self._serve(token, method)

    async def post(self, token: str, method: str) -> None:
        await self._serve(token, method)

    async def _serve(self, token: str, method: str) -> None:
        if token != self.double.token:
            self._send(*UNAUTHORIZED.response())
            return
        try:
            params, files = self._parameters()
        except ValueError:
            self._send(*FakeError(400, "Bad Request: can't parse JSON object").response())
            return
        answer = await self.double.answer(method, params, files)
        if answer is None:
            self.detach().close()  # The client sees a timeout or a dropped connection.
        else:
            self._send(*answer)

    def _parameters(self) -> tuple[JSONDict, list[tuple[str, bytes]]]:
        params = decode_form(_last_values(self.request.query_arguments))
        content_type = self.request.headers.get("Content-Type", "")
        if content_type.startswith("application/json") and self.request.body:
            body = json.loads(self.request.body)
            if not isinstance(body, dict):
                raise ValueError("a JSON body must be an object")
            params |= body
        else:
            params |= decode_form(_last_values(self.request.body_arguments))
        files = [(upload.filename, upload.body) for uploads in self.request.files.values() for upload in uploads]
        return params, files

    def _send(self, status: int, body: bytes) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(body)


class _NotFoundHandler(RequestHandler):
    """Any other path: Telegram's 404."""

    def prepare(self) -> None:
        status, body = NOT_FOUND.response()
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(body)


def _last_values(arguments: dict[str, list[bytes]]) -> dict[str, str]:
    return {name: values[-1].decode() for name, values in arguments.items() if values}
