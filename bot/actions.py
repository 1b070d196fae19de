"""The one place that calls the Bot API to act: prepared actions in, outcomes out.

Every Telegram error becomes an Outcome here. A call Telegram clearly did not take (429, 5xx,
a refused connection) is RETRY_LATER; one it may have taken (a read timeout, a dropped
connection) is UNCERTAIN, and bot/pipeline.py decides per action whether repeating it is harmless.
Deletions of one chat that wait while a deletion there is in flight go out together as one
deleteMessages call (up to 100 ids).
"""

from __future__ import annotations

import asyncio
import base64
import logging
from collections.abc import Awaitable, Callable, Coroutine
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from telegram import (
    ChatPermissions,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    InputFile,
    LinkPreviewOptions,
    Message,
    ReplyParameters,
)
from telegram.constants import ParseMode
from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TelegramError, TimedOut
from telegram.ext import ExtBot

from bot import metrics
from bot.telegram_http import NOT_SENT
from policies.actions import (
    AnswerCallback,
    Delete,
    Edit,
    Keyboard,
    Leave,
    Outcome,
    Pin,
    Rename,
    RevokeLink,
    Send,
    SendFile,
    SetPermissions,
    Unpin,
)

__all__ = ["Outcome", "Result", "Telegram", "classify"]

log = logging.getLogger(__name__)

NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
READ_ONLY = ChatPermissions.no_permissions()
# What a member may do in an ordinary group (restored when a close is undone).
DEFAULT_PERMISSIONS = ChatPermissions.all_permissions()
MAX_BATCH = 100
# Set while actions decided together are started (a backlog's held batches): their deletions of
# one chat meet in its lane and go out as one call. Otherwise a quiet chat's deletion goes at once.
GATHERING: ContextVar[bool] = ContextVar("jianfu_gathering", default=False)
CALLS_AT_ONCE = 8
# Transport failures that happen before Telegram could have seen the request (aiohttp's, sorted
# by bot/telegram_http.py, the transport that raises them).
_NOT_SENT = NOT_SENT


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    # The message a send created, and the file it uploaded (Telegram's id for sending it again).
    message_id: int | None = None
    file_id: str = ""
    # The error's type (never its description: it may quote user content), for the log.
    error: str = ""


DONE = Result(Outcome.DONE)


def classify(error: TelegramError) -> Outcome:
    """Map a Bot API error to what it means for Jianfu."""
    if isinstance(error, RetryAfter):
        return Outcome.RETRY_LATER
    if isinstance(error, NetworkError) and not isinstance(error, BadRequest | Forbidden):
        return _network_outcome(error)
    text = error.message.lower()
    if isinstance(error, Forbidden):
        if "kicked" in text or "not a member" in text or "chat was deleted" in text:
            return Outcome.KICKED
        return Outcome.UNREACHABLE
    if isinstance(error, BadRequest):
        return _classify_bad_request(text)
    return Outcome.FAILED


def _network_outcome(error: NetworkError) -> Outcome:
    cause = error.__cause__
    if isinstance(cause, _NOT_SENT) or "pool timeout" in error.message.lower():
        return Outcome.RETRY_LATER  # the request never left this process
    if isinstance(error, TimedOut) or cause is not None:
        # No answer in time, or the connection broke: Telegram may have acted.
        return Outcome.UNCERTAIN
    # An answer without a transport failure: a 5xx, so Telegram did not act.
    return Outcome.RETRY_LATER


def _classify_bad_request(text: str) -> Outcome:
    if "not enough rights" in text or "chat_admin_required" in text or "have no rights" in text:
        return Outcome.NO_RIGHTS
    if "can't be deleted" in text or "can't be edited" in text:
        return Outcome.TOO_OLD
    if "not found" in text:
        # "chat not found" for a private chat means the person never started the bot.
        return Outcome.UNREACHABLE if "chat not found" in text else Outcome.NOT_FOUND
    if "not modified" in text:
        return Outcome.DONE
    if "query is too old" in text or "query id is invalid" in text:
        return Outcome.TOO_OLD
    return Outcome.FAILED


def markup(keyboard: Keyboard) -> InlineKeyboardMarkup | None:
    """A rendered keyboard as Telegram's markup."""
    if not keyboard:
        return None
    return InlineKeyboardMarkup([[_button(*key) for key in row] for row in keyboard])


def _button(label: str, data: str, url: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(label, url=url) if url else InlineKeyboardButton(label, callback_data=data)


def rows_of(keyboard: InlineKeyboardMarkup | None) -> Keyboard:
    """Telegram's markup as a rendered keyboard (for handlers that build one with PTB's types)."""
    if keyboard is None:
        return ()
    return tuple(
        tuple((key.text, str(key.callback_data or ""), key.url or "") for key in row)
        for row in keyboard.inline_keyboard
    )


@dataclass
class _Lane:
    """One chat's deletions while it has a call in flight (or about to start): what waits for
    the next call. A chat has a lane only then."""

    waiting: list[tuple[int, asyncio.Future[Result]]]


class Telegram:
    """Performs prepared actions; never raises for a Telegram error."""

    def __init__(self, bot: ExtBot[None], *, calls_at_once: int = CALLS_AT_ONCE) -> None:
        self.bot = bot
        self._lanes: dict[int, _Lane] = {}
        self._draining: set[asyncio.Task[None]] = set()
        # A few calls in flight keep Telegram busy; hundreds only cost the HTTP client's pool
        # bookkeeping (it walks every connection for every request).
        self._in_flight = asyncio.Semaphore(calls_at_once)
        # Actions whose calls live with their feature (menus), by type.
        self.performers: dict[type, Callable[[Telegram, Any], Awaitable[Result]]] = dict(_PERFORMERS)

    def register(self, kind: type, performer: Callable[[Telegram, Any], Awaitable[Result]]) -> None:
        self.performers[kind] = performer

    async def perform(self, action: Any) -> Result:
        perform = self.performers.get(type(action))
        if perform is None:
            raise TypeError(f"not a prepared Telegram action: {type(action).__name__}")
        return await perform(self, action)

    async def call(self, method: str, chat_id: int, call: Callable[[], Awaitable[Any]]) -> tuple[Result, Any]:
        """Run one Bot API call once a slot is free; its error becomes the Result's outcome."""
        async with self._in_flight:
            return await self._call_now(method, chat_id, call)

    async def _call_now(self, method: str, chat_id: int, call: Callable[[], Awaitable[Any]]) -> tuple[Result, Any]:
        """Run one Bot API call in a slot the caller holds."""
        try:
            value = await call()
        except TelegramError as error:
            outcome = classify(error)
            _log_failure(method, chat_id, error, outcome)
            metrics.record_call(method, outcome.value, error)
            return Result(outcome, error=type(error).__name__), None
        metrics.record_call(method, Outcome.DONE.value)
        if not isinstance(value, Message):
            return Result(Outcome.DONE), value
        file_id = value.photo[-1].file_id if value.photo else value.document.file_id if value.document else ""
        return Result(Outcome.DONE, value.message_id, file_id), value

    # Sending ---------------------------------------------------------------------------------

    async def _send(self, action: Send) -> Result:
        reply = ReplyParameters(action.reply_to, allow_sending_without_reply=True) if action.reply_to else None
        result, _ = await self.call(
            "sendMessage",
            action.chat_id,
            lambda: self.bot.send_message(
                action.chat_id,
                action.html,
                parse_mode=ParseMode.HTML,
                reply_markup=markup(action.keyboard),
                reply_parameters=reply,
                link_preview_options=NO_PREVIEW,
            ),
        )
        return result

    async def _send_file(self, action: SendFile) -> Result:
        upload: Any = action.file
        if action.uploaded:
            upload = InputFile(base64.b64decode(action.file), filename="chart.png")
        caption = action.caption or None
        if action.kind == "photo":
            method, call = (
                "sendPhoto",
                lambda: self.bot.send_photo(action.chat_id, upload, caption=caption, parse_mode=ParseMode.HTML),
            )
        else:
            method, call = (
                "sendDocument",
                lambda: self.bot.send_document(action.chat_id, upload, caption=caption, parse_mode=ParseMode.HTML),
            )
        result, _ = await self.call(method, action.chat_id, call)
        return result

    async def _edit(self, action: Edit) -> Result:
        if action.html is None:
            result, _ = await self.call(
                "editMessageReplyMarkup",
                action.chat_id,
                lambda: self.bot.edit_message_reply_markup(
                    chat_id=action.chat_id,
                    message_id=action.message_id,
                    reply_markup=markup(action.keyboard),
                ),
            )
            return result
        result, _ = await self.call(
            "editMessageText",
            action.chat_id,
            lambda: self.bot.edit_message_text(
                action.html,
                chat_id=action.chat_id,
                message_id=action.message_id,
                parse_mode=ParseMode.HTML,
                reply_markup=markup(action.keyboard),
                link_preview_options=NO_PREVIEW,
            ),
        )
        return result

    async def _answer(self, action: AnswerCallback) -> Result:
        result, _ = await self.call(
            "answerCallbackQuery",
            action.person_id,
            lambda: self.bot.answer_callback_query(
                action.query_id,
                text=action.text or None,
                show_alert=action.alert,
            ),
        )
        return result

    # Group administration --------------------------------------------------------------------

    async def _pin(self, action: Pin) -> Result:
        result, _ = await self.call(
            "pinChatMessage",
            action.chat_id,
            lambda: self.bot.pin_chat_message(
                action.chat_id,
                action.message_id,
                disable_notification=True,
            ),
        )
        return result

    async def _unpin(self, action: Unpin) -> Result:
        result, _ = await self.call(
            "unpinChatMessage",
            action.chat_id,
            lambda: self.bot.unpin_chat_message(
                action.chat_id,
                action.message_id,
            ),
        )
        return result

    async def _permissions(self, action: SetPermissions) -> Result:
        permissions = READ_ONLY if action.read_only else DEFAULT_PERMISSIONS
        result, _ = await self.call(
            "setChatPermissions",
            action.chat_id,
            lambda: self.bot.set_chat_permissions(
                action.chat_id,
                permissions,
            ),
        )
        return result

    async def _rename(self, action: Rename) -> Result:
        result, _ = await self.call(
            "setChatTitle", action.chat_id, lambda: self.bot.set_chat_title(action.chat_id, action.title)
        )
        return result

    async def _revoke(self, action: RevokeLink) -> Result:
        result, _ = await self.call(
            "revokeChatInviteLink",
            action.chat_id,
            lambda: self.bot.revoke_chat_invite_link(
                action.chat_id,
                action.invite_link,
            ),
        )
        return result

    async def _leave(self, action: Leave) -> Result:
        result, _ = await self.call("leaveChat", action.chat_id, lambda: self.bot.leave_chat(action.chat_id))
        return result

    # Deleting --------------------------------------------------------------------------------

    async def _delete(self, action: Delete) -> Result:
        """Join the chat's lane: alone it goes out at once, behind a call it goes out in a batch.

        No timer waits for more: deletions that arrive while the chat's call is in flight go
        out together in the next one, so a busy chat's calls batch themselves and a quiet
        chat's deletion is never held back."""
        future: asyncio.Future[Result] = asyncio.get_running_loop().create_future()
        lane = self._lanes.get(action.chat_id)
        if lane is not None:
            lane.waiting.append((action.message_id, future))
            return await future
        lane = self._lanes[action.chat_id] = _Lane([(action.message_id, future)])
        if GATHERING.get():
            self._start(self._drain(action.chat_id, lane))
        else:
            await self._delete_at_once(action.chat_id, lane)
        return await future

    async def _delete_at_once(self, chat_id: int, lane: _Lane) -> None:
        """A quiet chat's lone deletion, sent from the caller's own task: a task of its own would
        start only after whatever the loop already had queued (the next long poll, say)."""
        try:
            await self._send_waiting(chat_id, lane)
        except Exception:
            pass  # the waiting futures carry the error to their callers
        finally:
            if lane.waiting:  # more arrived during the call: they go out together, from a task
                self._start(self._drain(chat_id, lane))
            else:
                self._rest(chat_id)

    def _start(self, drain: Coroutine[Any, Any, None]) -> None:
        """A lane's drain as a task, kept referenced until it ends (asyncio holds tasks weakly)."""
        task = asyncio.get_running_loop().create_task(drain)
        self._draining.add(task)
        task.add_done_callback(self._draining.discard)

    def _rest(self, chat_id: int) -> None:
        """Nothing in flight and nothing waiting: the lane is forgotten (the next deletion opens one)."""
        del self._lanes[chat_id]

    async def _drain(self, chat_id: int, lane: _Lane) -> None:
        try:
            while lane.waiting:
                await self._send_waiting(chat_id, lane)
        finally:
            self._rest(chat_id)

    async def _send_waiting(self, chat_id: int, lane: _Lane) -> None:
        # The batch is taken once a slot is free: deletions that arrive while the lane waits
        # for one go out in the same call.
        async with self._in_flight:
            batch, lane.waiting = lane.waiting[:MAX_BATCH], lane.waiting[MAX_BATCH:]
            await self._delete_batch(chat_id, batch)

    async def _delete_batch(self, chat_id: int, batch: list[tuple[int, asyncio.Future[Result]]]) -> None:
        ids = sorted({message_id for message_id, _future in batch})
        try:
            if len(ids) == 1:
                result, _ = await self._call_now(
                    "deleteMessage", chat_id, lambda: self.bot.delete_message(chat_id, ids[0])
                )
            else:
                # Telegram skips ids it cannot find or delete: True means each is gone.
                result, _ = await self._call_now(
                    "deleteMessages", chat_id, lambda: self.bot.delete_messages(chat_id, ids)
                )
        except BaseException as error:
            for _id, future in batch:
                if not future.done():
                    future.set_exception(error)
            raise
        for _id, future in batch:
            if not future.done():
                future.set_result(result)


_PERFORMERS: dict[type, Callable[[Telegram, Any], Awaitable[Result]]] = {
    Send: Telegram._send,
    SendFile: Telegram._send_file,
    Edit: Telegram._edit,
    Delete: Telegram._delete,
    Pin: Telegram._pin,
    Unpin: Telegram._unpin,
    SetPermissions: Telegram._permissions,
    Rename: Telegram._rename,
    RevokeLink: Telegram._revoke,
    Leave: Telegram._leave,
    AnswerCallback: Telegram._answer,
}


def _log_failure(method: str, chat_id: int, error: TelegramError, outcome: Outcome) -> None:
    # The error's type and outcome only: descriptions may quote user content. A private chat's
    # id is the person's user id, so it is not logged (a whistleblower's chat must leave no trace).
    where = chat_id if chat_id < 0 else "a private chat"
    log.info("%s to %s: %s -> %s", method, where, type(error).__name__, outcome.value)
