"""An in-memory Telegram Bot API double at PTB's HTTP seam (`BaseRequest`), for tests and `jianfu demo`.

It models users, chats, memberships with admin rights, and messages; it records every call and
answers with Telegram's own error shapes, so PTB raises the same exceptions it would in
production. It never touches the network and never sleeps. This module holds the seam, the call
record, failure injection and the bot-level methods (getMe, commands, webhook, getUpdates); the
message and chat methods live in api_messages.py and api_chats.py, the world in world.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

from bot.testing.fake.api_chats import ChatMethods
from bot.testing.fake.api_messages import MessageMethods
from bot.testing.fake.errors import TIMEOUT, TIMEOUT_AFTER_ACTING, FakeError, JSONDict, Reject, bad_request


@dataclass(frozen=True)
class Call:
    """One request the bot made: the API method name and its decoded parameters."""

    method: str
    params: JSONDict


@dataclass
class _Injection:
    method: str
    error: FakeError | str
    times: int
    chat_id: int | str | None


# Updates that Telegram leaves out unless allowed_updates names them explicitly.
_OPT_IN_UPDATES = {"chat_member", "message_reaction", "message_reaction_count"}
# Parameters that reach do_request as JSON strings when a caller pre-encodes them.
_JSON_PARAMS = (
    "reply_markup", "permissions", "commands", "scope", "allowed_updates", "reaction",
    "reply_parameters", "link_preview_options", "entities", "caption_entities", "message_ids",
)  # fmt: skip


def _snake(name: str) -> str:
    return re.sub(r"(?<!^)([A-Z])", r"_\1", name).lower()


def _decode(params: JSONDict) -> JSONDict:
    decoded = dict(params)
    for key in _JSON_PARAMS:
        value = decoded.get(key)
        if isinstance(value, str):
            try:
                decoded[key] = json.loads(value)
            except ValueError:
                pass  # A plain string stays as sent; the method's own checks judge it.
    return decoded


class FakeTelegram(MessageMethods, ChatMethods, BaseRequest):
    """An in-memory Bot API: pass it as both `request` and `get_updates_request`."""

    METHODS = (
        "getMe", "setMyCommands", "getMyCommands", "deleteMyCommands", "setWebhook",
        "deleteWebhook", "getWebhookInfo", "getUpdates", "sendMessage", "sendPhoto",
        "sendDocument", "sendSticker", "copyMessage", "forwardMessage", "editMessageText",
        "editMessageReplyMarkup", "deleteMessage", "deleteMessages", "pinChatMessage",
        "unpinChatMessage", "unpinAllChatMessages", "answerCallbackQuery", "getChat",
        "getChatMember", "getChatAdministrators", "getChatMemberCount", "setChatPermissions",
        "setChatTitle", "createChatInviteLink", "editChatInviteLink", "revokeChatInviteLink",
        "exportChatInviteLink", "leaveChat", "sendChatAction",
    )  # fmt: skip

    def __init__(
        self,
        *,
        bot_id: int = 7000000001,
        bot_username: str = "jianfu_bot",
        bot_name: str = "减负 Jianfu",
        clock: Callable[[], datetime] | None = None,
    ) -> None:
        self.calls: list[Call] = []
        self.unknown_calls: list[Call] = []
        # Files the bot uploaded, in order: (method, chat_id, filename, content).
        self.uploads: list[tuple[str, Any, str, bytes]] = []
        # Called with each method's name before it is answered (tests check what the caller holds).
        self.before_call: Callable[[str], None] | None = None
        self._injections: list[_Injection] = []
        self._handlers = {name.lower(): getattr(self, "_api_" + _snake(name)) for name in self.METHODS}
        super().__init__(bot_id=bot_id, bot_username=bot_username, bot_name=bot_name, clock=clock)

    # --- BaseRequest -------------------------------------------------------------------------

    @property
    def read_timeout(self) -> float | None:
        """No real I/O, so no timeout of its own."""
        return None

    async def initialize(self) -> None:
        """Nothing to open."""

    async def shutdown(self) -> None:
        """Nothing to close."""

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: Any = BaseRequest.DEFAULT_NONE,
        write_timeout: Any = BaseRequest.DEFAULT_NONE,
        connect_timeout: Any = BaseRequest.DEFAULT_NONE,
        pool_timeout: Any = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """Answer one Bot API call from the in-memory world."""
        name = url.rstrip("/").rsplit("/", 1)[-1]
        if self.before_call is not None:
            self.before_call(name)
        files: list[tuple[str, bytes]] = []
        if request_data is not None and request_data.contains_files:
            for filename, content, _mime in request_data.multipart_data.values():
                files.append((filename or "", content if isinstance(content, bytes) else content.read()))
        return self.handle(name, request_data.parameters if request_data else {}, files)

    def handle(self, method: str, params: JSONDict, files: Iterable[tuple[str, bytes]] = ()) -> tuple[int, bytes]:
        """Answer one call given its parameters and uploaded files (name, content): the HTTP double's entry."""
        params = _decode(params)
        call = Call(method, params)
        self.calls.append(call)
        for filename, content in files:
            self.uploads.append((method, params.get("chat_id"), filename, content))
        try:
            result = self._dispatch(call)
        except Reject as rejected:
            return rejected.error.response()
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _dispatch(self, call: Call) -> Any:
        lost_answer = self._raise_injected(call)
        handler = self._handlers.get(call.method.lower())
        if handler is None:
            self.unknown_calls.append(call)
            raise Reject(bad_request(f"method not implemented by FakeTelegram: {call.method}"))
        result = handler(call.params)
        if lost_answer:
            raise TimedOut()
        return result

    # --- failure injection -------------------------------------------------------------------

    def fail_next(
        self, method: str, error: FakeError | str, *, times: int = 1, chat_id: int | str | None = None
    ) -> None:
        """Answer the next `times` calls of `method` (optionally only for `chat_id`) with `error`."""
        if isinstance(error, str) and error not in (TIMEOUT, TIMEOUT_AFTER_ACTING):
            raise ValueError(f"error must be a FakeError, {TIMEOUT!r} or {TIMEOUT_AFTER_ACTING!r}, got {error!r}")
        self._injections.append(_Injection(method.lower(), error, times, chat_id))

    def _raise_injected(self, call: Call) -> bool:
        """Raise the injected failure for this call; True when it is to act and then lose its answer."""
        for injection in self._injections:
            if injection.method != call.method.lower():
                continue
            if injection.chat_id is not None and str(injection.chat_id) != str(call.params.get("chat_id")):
                continue
            injection.times -= 1
            if injection.times <= 0:
                self._injections.remove(injection)
            if injection.error == TIMEOUT_AFTER_ACTING:
                return True
            if injection.error == TIMEOUT:
                raise TimedOut()
            raise Reject(injection.error)  # type: ignore[arg-type]
        return False

    # --- API: bot, commands, webhook, updates ------------------------------------------------

    def _api_get_me(self, params: JSONDict) -> JSONDict:
        return self.bot_user | {
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    @staticmethod
    def _commands_key(params: JSONDict) -> tuple[str, str]:
        scope = params.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), params.get("language_code") or ""

    def _api_set_my_commands(self, params: JSONDict) -> bool:
        commands = list(params.get("commands") or [])
        for command in commands:
            if not re.fullmatch(r"[a-z0-9_]{1,32}", command.get("command", "")):
                raise Reject(bad_request("BOT_COMMAND_INVALID"))
            if not 1 <= len(command.get("description", "")) <= 256:
                raise Reject(bad_request("BOT_COMMAND_DESCRIPTION_INVALID"))
        self.commands[self._commands_key(params)] = commands
        return True

    def _api_get_my_commands(self, params: JSONDict) -> list[JSONDict]:
        return self.commands.get(self._commands_key(params), [])

    def _api_delete_my_commands(self, params: JSONDict) -> bool:
        self.commands.pop(self._commands_key(params), None)
        return True

    def _api_set_webhook(self, params: JSONDict) -> bool:
        url = params.get("url", "")
        if url and not url.startswith("https://"):
            raise Reject(bad_request("bad webhook: An HTTPS URL must be provided for webhook"))
        self.webhook = {"url": url} | {
            key: params[key] for key in ("max_connections", "allowed_updates", "ip_address") if key in params
        }
        if "allowed_updates" in params:
            self.allowed_updates = list(params["allowed_updates"])
        if params.get("drop_pending_updates"):
            self.updates.clear()
        return True

    def _api_delete_webhook(self, params: JSONDict) -> bool:
        self.webhook = {"url": ""}
        if params.get("drop_pending_updates"):
            self.updates.clear()
        return True

    def _api_get_webhook_info(self, params: JSONDict) -> JSONDict:
        return self.webhook | {"has_custom_certificate": False, "pending_update_count": len(self.updates)}

    def _api_get_updates(self, params: JSONDict) -> list[JSONDict]:
        if self.webhook["url"]:
            raise Reject(
                FakeError(409, "Conflict: can't use getUpdates method while webhook is active; "
                          "use deleteWebhook to delete the webhook first")
            )  # fmt: skip
        if "allowed_updates" in params:
            self.allowed_updates = list(params["allowed_updates"])
        offset = int(params.get("offset", 0))
        if offset < 0:
            self.updates = self.updates[offset:]
        elif offset:
            self.updates = [u for u in self.updates if u["update_id"] >= offset]
        deliverable = [u for u in self.updates if self.delivers(u)]
        return deliverable[: int(params.get("limit", 100))]

    def delivers(self, update: JSONDict, allowed_updates: list[str] | None = None) -> bool:
        """Whether the bot receives this update under `allowed_updates` (default: the list it last set)."""
        allowed = self.allowed_updates if allowed_updates is None else allowed_updates
        kind = next(key for key in update if key != "update_id")
        if allowed:
            return kind in allowed
        return kind not in _OPT_IN_UPDATES
