"""A small Bot API server on 127.0.0.1, for tests that run the real `jianfu` process.

FakeTelegram (in-process, at PTB's request seam) models Telegram in depth; this one answers over
real HTTP the few methods a starting and idling bot calls (getMe, webhooks, menus, getUpdates,
sendMessage), so start-up, shutdown, health and logging can be tested end to end. It can
refuse every token with 401, as Telegram does for a revoked one. Other methods get a 400.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qsl

JSONDict = dict[str, Any]

BOT_ID = 7000000001
BOT_USERNAME = "jianfu_bot"
# getUpdates waits at most this long for an update before answering with none.
LONG_POLL_SECONDS = 0.5
_TRUE_METHODS = {"setwebhook", "deletewebhook", "setmycommands", "deletemycommands", "sendchataction"}


class LoopbackBotApi:
    """Answers Bot API calls on an ephemeral loopback port; records every call."""

    def __init__(self, *, reject_token: bool = False) -> None:
        self.reject_token = reject_token
        self.calls: list[tuple[str, JSONDict]] = []
        self._updates: list[JSONDict] = []
        self._arrived = threading.Condition()
        self._message_ids = iter(range(1, 1_000_000))
        self._server = _QuietServer(("127.0.0.1", 0), _handler_for(self))
        self._server.daemon_threads = True

    @property
    def url(self) -> str:
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def methods(self) -> list[str]:
        return [method for method, _ in self.calls]

    def push_update(self, update: JSONDict) -> None:
        with self._arrived:
            self._updates.append(update)
            self._arrived.notify_all()

    @contextmanager
    def running(self) -> Iterator[LoopbackBotApi]:
        thread = threading.Thread(target=self._server.serve_forever, name="loopback-bot-api", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self._server.shutdown()
            self._server.server_close()
            thread.join(timeout=5)

    # --- answers ---------------------------------------------------------------------------------

    def answer(self, method: str, params: JSONDict) -> tuple[int, JSONDict]:
        self.calls.append((method, params))
        if self.reject_token:
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        name = method.lower()
        if name == "getme":
            return _ok(self._me())
        if name == "getupdates":
            return _ok(self._next_updates(int(params.get("offset") or 0), float(params.get("timeout") or 0)))
        if name == "sendmessage":
            return _ok(self._sent(params))
        if name == "getmycommands":
            return _ok([])
        if name in _TRUE_METHODS:
            return _ok(True)
        return 400, {"ok": False, "error_code": 400, "description": f"Bad Request: {method} is not served here"}

    @staticmethod
    def _me() -> JSONDict:
        return {
            "id": BOT_ID, "is_bot": True, "first_name": "减负 Jianfu", "username": BOT_USERNAME,
            "can_join_groups": True, "can_read_all_group_messages": False, "supports_inline_queries": False,
        }  # fmt: skip

    def _next_updates(self, offset: int, timeout: float) -> list[JSONDict]:
        deadline = time.monotonic() + min(timeout, LONG_POLL_SECONDS)
        with self._arrived:
            while True:
                self._updates = [update for update in self._updates if update["update_id"] >= offset]
                remaining = deadline - time.monotonic()
                if self._updates or remaining <= 0:
                    return list(self._updates)
                self._arrived.wait(remaining)

    def _sent(self, params: JSONDict) -> JSONDict:
        chat_id = int(params["chat_id"])
        chat = {"id": chat_id, "type": "private" if chat_id > 0 else "supergroup", "first_name": "?", "title": "?"}
        return {
            "message_id": next(self._message_ids),
            "date": int(time.time()),
            "chat": chat,
            "text": params.get("text", ""),
        }


class _QuietServer(ThreadingHTTPServer):
    def handle_error(self, request: Any, client_address: Any) -> None:
        """A bot that stops drops its long poll mid-answer: that is no error worth a traceback."""


def _ok(result: Any) -> tuple[int, JSONDict]:
    return 200, {"ok": True, "result": result}


def _handler_for(api: LoopbackBotApi) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length).decode() if length else ""
            params = json.loads(body) if body.startswith("{") else dict(parse_qsl(body))
            method = self.path.rstrip("/").rsplit("/", 1)[-1]
            status, payload = api.answer(method, params)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: the requests carry the token in their path."""

    return Handler
