"""An in-memory Telegram Bot API double at PTB's HTTP seam (`BaseRequest`), for tests and `jianfu demo`.

It models users, chats, memberships with admin rights, and messages; it records every call and
answers with Telegram's own error shapes, so PTB raises the same exceptions it would in
production. It never touches the network and never sleeps.
"""

from __future__ import annotations

import itertools
import json
import random
import re
import string
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from telegram import Update
from telegram.error import TimedOut
from telegram.request import BaseRequest, RequestData

JSONDict = dict[str, Any]


@dataclass(frozen=True)
class FakeError:
    """An error answer in Telegram's shape; `retry_after` adds the flood-control parameters."""

    code: int
    description: str
    retry_after: int | None = None

    def response(self) -> tuple[int, bytes]:
        """The HTTP status and JSON body Telegram would send."""
        body: JSONDict = {"ok": False, "error_code": self.code, "description": self.description}
        if self.retry_after is not None:
            body["parameters"] = {"retry_after": self.retry_after}
        return self.code, json.dumps(body).encode()


CANT_DELETE = FakeError(400, "Bad Request: message can't be deleted")
DELETE_NOT_FOUND = FakeError(400, "Bad Request: message to delete not found")
NOT_MODIFIED = FakeError(
    400,
    "Bad Request: message is not modified: specified new message content and reply markup are "
    "exactly the same as a current content and reply markup of the message",
)
CHAT_NOT_FOUND = FakeError(400, "Bad Request: chat not found")
NOT_ENOUGH_RIGHTS = FakeError(400, "Bad Request: not enough rights to manage pinned messages in the chat")
RESTRICT_RIGHTS = FakeError(400, "Bad Request: not enough rights to restrict/unrestrict chat member")
CHANGE_INFO_RIGHTS = FakeError(400, "Bad Request: not enough rights to change chat title")
INVITE_RIGHTS = FakeError(400, "Bad Request: not enough rights to manage chat invite link")
KICKED = FakeError(403, "Forbidden: bot was kicked from the supergroup chat")
BLOCKED = FakeError(403, "Forbidden: bot was blocked by the user")
CANT_INITIATE = FakeError(403, "Forbidden: bot can't initiate conversation with a user")
BAD_GATEWAY = FakeError(502, "Bad Gateway")
SERVER_ERROR = FakeError(500, "Internal Server Error")
TIMEOUT = "timeout"
# The call is carried out, and then its answer is lost (the client times out): the hard case.
TIMEOUT_AFTER_ACTING = "timeout after acting"


def too_many_requests(retry_after: int) -> FakeError:
    """A 429 flood-control answer."""
    return FakeError(429, f"Too Many Requests: retry after {retry_after}", retry_after=retry_after)


def bad_request(detail: str) -> FakeError:
    """A 400 answer with Telegram's "Bad Request: " prefix."""
    return FakeError(400, f"Bad Request: {detail}")


class _Reject(Exception):
    """Internal: aborts a method with a Telegram error answer."""

    def __init__(self, error: FakeError) -> None:
        super().__init__(error.description)
        self.error = error


@dataclass(frozen=True)
class Call:
    """One request the bot made: the API method name and its decoded parameters."""

    method: str
    params: JSONDict


# --- HTML parse mode ---------------------------------------------------------------------------

_ENTITY_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}  # fmt: skip
_ATTR_VALUE = r"(?:\"[^\"]*\"|'[^']*'|[^\s>\"']+)"
_TAG_RE = re.compile(rf"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*{_ATTR_VALUE})?)*)\s*>")
_ATTR_RE = re.compile(r"([a-zA-Z-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>\"']+)))?")
_CHARREF_RE = re.compile(r"&(lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")
_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram uses for entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _parse_error(detail: str) -> _Reject:
    return _Reject(bad_request(f"can't parse entities: {detail}"))


def _byte_offset(html: str, index: int) -> int:
    return len(html[:index].encode())


def _unescape(value: str) -> str:
    return _CHARREF_RE.sub(lambda m: _charref(m.group(1)), value)


def _charref(ref: str) -> str:
    if ref in _NAMED_REFS:
        return _NAMED_REFS[ref]
    return chr(int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:]))


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    start: int
    language: str | None = None


class _HtmlParser:
    """Telegram's HTML parse mode, strict about unescaped `<`, `>` and `&` in text."""

    def __init__(self, html: str) -> None:
        self.html = html
        self.text: list[str] = []
        self.offset = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[JSONDict] = []

    def parse(self) -> tuple[str, list[JSONDict]]:
        """Plain text and its entities, or a _Reject with Telegram's "can't parse entities"."""
        index = 0
        while index < len(self.html):
            index = self._step(index)
        if self.stack:
            name = self.stack[-1].name
            raise _parse_error(f'Can\'t find end tag corresponding to start tag "{name}"')
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.text), self.entities

    def _step(self, index: int) -> int:
        char = self.html[index]
        if char == "<":
            return self._tag(index)
        if char == ">":
            raise _parse_error(f'unescaped ">" at byte offset {_byte_offset(self.html, index)}')
        if char == "&":
            ref = _CHARREF_RE.match(self.html, index)
            if not ref:
                raise _parse_error(f'unescaped "&" at byte offset {_byte_offset(self.html, index)}')
            self._emit(_charref(ref.group(1)))
            return ref.end()
        self._emit(char)
        return index + 1

    def _emit(self, text: str) -> None:
        self.text.append(text)
        self.offset += utf16_len(text)

    def _tag(self, index: int) -> int:
        match = _TAG_RE.match(self.html, index)
        at = _byte_offset(self.html, index)
        if not match:
            raise _parse_error(f'unescaped "<" (not a valid tag) at byte offset {at}')
        closing, name, raw_attrs = match.group(1), match.group(2).lower(), match.group(3)
        if closing:
            self._close(name, at)
        else:
            self._open(name, self._attrs(raw_attrs), at)
        return match.end()

    @staticmethod
    def _attrs(raw: str) -> dict[str, str]:
        attrs = {}
        for m in _ATTR_RE.finditer(raw):
            value = next((g for g in m.groups()[1:] if g is not None), "")
            attrs[m.group(1).lower()] = _unescape(value)
        return attrs

    def _open(self, name: str, attrs: dict[str, str], at: int) -> None:
        if name not in _ENTITY_TYPES or (name == "span" and attrs.get("class") != "tg-spoiler"):
            raise _parse_error(f'Unsupported start tag "{name}" at byte offset {at}')
        if name == "tg-emoji" and "emoji-id" not in attrs:
            raise _parse_error(f'Custom emoji entity must contain a tg://emoji URL at byte offset {at}')
        self.stack.append(_OpenTag(name, attrs, self.offset))

    def _close(self, name: str, at: int) -> None:
        if not self.stack or self.stack[-1].name != name:
            expected = f'"</{self.stack[-1].name}>"' if self.stack else "no end tag"
            raise _parse_error(
                f'Unmatched end tag at byte offset {at}, expected {expected}, found "</{name}>"'
            )
        tag = self.stack.pop()
        parent = self.stack[-1] if self.stack else None
        language = tag.attrs.get("class", "")
        # Telegram folds <pre><code class="language-x"> into one pre entity with a language.
        if tag.name == "code" and parent and parent.name == "pre" and language.startswith("language-"):
            parent.language = language.removeprefix("language-")
            return
        if self.offset > tag.start:
            self.entities.append(self._entity(tag))

    def _entity(self, tag: _OpenTag) -> JSONDict:
        entity: JSONDict = {
            "type": _ENTITY_TYPES[tag.name], "offset": tag.start, "length": self.offset - tag.start,
        }  # fmt: skip
        if tag.name == "a":
            entity["url"] = tag.attrs.get("href", "")
        elif tag.name == "tg-emoji":
            entity["custom_emoji_id"] = tag.attrs["emoji-id"]
        elif tag.name == "pre" and tag.language:
            entity["language"] = tag.language
        elif tag.name == "blockquote" and "expandable" in tag.attrs:
            entity["type"] = "expandable_blockquote"
        return entity


def parse_html(html: str) -> tuple[str, list[JSONDict]]:
    """Plain text and entities of an HTML-formatted text; raises ValueError if Telegram would reject it."""
    try:
        return _HtmlParser(html).parse()
    except _Reject as rejected:
        raise ValueError(rejected.error.description) from None


# --- members -----------------------------------------------------------------------------------

ADMIN_FLAGS = (
    "can_be_edited", "is_anonymous", "can_manage_chat", "can_delete_messages",
    "can_manage_video_chats", "can_restrict_members", "can_promote_members", "can_change_info",
    "can_invite_users", "can_post_stories", "can_edit_stories", "can_delete_stories",
    "can_pin_messages", "can_manage_topics",
)  # fmt: skip
ADMIN_OPTIONAL = (
    "can_post_messages", "can_edit_messages", "can_manage_direct_messages", "can_manage_tags", "custom_title",
)  # fmt: skip
# Fields PTB 22 requires of ChatMemberRestricted; ChatPermissions has the same ones, optional.
RESTRICTED_FLAGS = (
    "can_send_messages", "can_send_audios", "can_send_documents", "can_send_photos",
    "can_send_videos", "can_send_video_notes", "can_send_voice_notes", "can_send_polls",
    "can_send_other_messages", "can_add_web_page_previews", "can_change_info", "can_invite_users",
    "can_pin_messages", "can_manage_topics", "can_edit_tag",
    # Optional in the signature, yet ChatMemberRestricted raises TypeError without it.
    "can_react_to_messages",
)  # fmt: skip
_STATUS_KEYS = {
    "creator": {"is_anonymous", "custom_title"},
    "administrator": {*ADMIN_FLAGS, *ADMIN_OPTIONAL},
    "member": {"until_date", "tag"},
    "restricted": {*RESTRICTED_FLAGS, "is_member", "until_date", "tag"},
    "left": set(),
    "kicked": {"until_date"},
}
PERMISSION_FLAGS = RESTRICTED_FLAGS
DEFAULT_PERMISSIONS: JSONDict = {
    **dict.fromkeys(PERMISSION_FLAGS, True),
    "can_change_info": False, "can_pin_messages": False, "can_manage_topics": False,
    "can_edit_tag": False,
}  # fmt: skip


def _check_rights(status: str, rights: dict[str, Any]) -> None:
    if status not in _STATUS_KEYS:
        raise ValueError(f"unknown chat member status {status!r}")
    unknown = set(rights) - _STATUS_KEYS[status]
    if unknown:
        raise ValueError(f"not a field of a {status} ChatMember: {sorted(unknown)}")


def chat_member_dict(user: JSONDict, status: str, rights: dict[str, Any] | None = None) -> JSONDict:
    """A ChatMember dict with every field PTB 22 requires for `status`."""
    rights = dict(rights or {})
    _check_rights(status, rights)
    base: JSONDict = {"status": status, "user": user}
    if status == "creator":
        base["is_anonymous"] = False
    elif status == "administrator":
        # can_manage_chat is implied by any administrator right.
        base |= dict.fromkeys(ADMIN_FLAGS, False) | {"can_manage_chat": True}
    elif status == "restricted":
        base |= dict.fromkeys(RESTRICTED_FLAGS, False) | {"is_member": True, "until_date": 0}
    elif status == "kicked":
        base["until_date"] = 0
    return base | rights


@dataclass
class Member:
    """A user's status in a group and the rights that come with it."""

    status: str
    rights: dict[str, Any] = field(default_factory=dict)

    @property
    def present(self) -> bool:
        """Counted by getChatMemberCount."""
        return self.status in ("creator", "administrator", "member") or (
            self.status == "restricted" and self.rights.get("is_member", True)
        )


@dataclass
class StoredMessage:
    """A message as Telegram returns it (`data`) plus what the bot sent to produce it."""

    data: JSONDict
    parse_mode: str | None = None
    raw_text: str | None = None
    deleted: bool = False

    @property
    def sender_id(self) -> int | None:
        """The id of the `from` user."""
        return self.data.get("from", {}).get("id")

    def view(self) -> JSONDict:
        """The Telegram dict plus the fake's bookkeeping keys."""
        reply = self.data.get("reply_to_message")
        return self.data | {
            "parse_mode": self.parse_mode,
            "raw_text": self.raw_text,
            "reply_to_message_id": reply["message_id"] if reply else None,
            "deleted": self.deleted,
        }


@dataclass
class FakeChat:
    """A chat in the fake world; private chats have the user's id and `started`/`blocked` flags."""

    id: int
    type: str
    title: str | None = None
    username: str | None = None
    members: dict[int, Member] = field(default_factory=dict)
    messages: dict[int, StoredMessage] = field(default_factory=dict)
    permissions: JSONDict = field(default_factory=lambda: dict(DEFAULT_PERMISSIONS))
    invite_links: dict[str, JSONDict] = field(default_factory=dict)
    primary_link: str | None = None
    pinned: list[int] = field(default_factory=list)
    blocked: bool = False
    next_message_id: int = 1

    @property
    def is_private(self) -> bool:
        """True for a one-to-one chat with a user."""
        return self.type == "private"


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
_MAX_TEXT = 4096
_MAX_CAPTION = 1024
_DELETE_WINDOW = timedelta(hours=48)


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


def _timestamp(moment: datetime) -> int:
    return int(moment.timestamp())


# ChatFullInfo requires accepted_gift_types, and AcceptedGiftTypes requires all of these.
_GIFT_TYPES = ("unlimited_gifts", "limited_gifts", "unique_gifts", "premium_subscription", "gifts_from_channels")


class FakeTelegram(BaseRequest):
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
        self.bot_id = bot_id
        self.bot_username = bot_username
        self.clock = clock or (lambda: datetime.now(UTC))
        self.calls: list[Call] = []
        self.unknown_calls: list[Call] = []
        self.users: dict[int, JSONDict] = {}
        self.chats: dict[int, FakeChat] = {}
        self.commands: dict[tuple[str, str], list[JSONDict]] = {}
        self.webhook: JSONDict = {"url": ""}
        self.updates: list[JSONDict] = []
        self.allowed_updates: list[str] | None = None
        self.callback_queries: set[str] = set()
        self.answered_callbacks: dict[str, JSONDict] = {}
        # Files the bot uploaded, in order: (method, chat_id, filename, content).
        self.uploads: list[tuple[str, Any, str, bytes]] = []
        # Called with each method's name before it is answered (tests check what the caller holds).
        self.before_call: Callable[[str], None] | None = None
        self._log: list[StoredMessage] = []
        self._injections: list[_Injection] = []
        self._rng = random.Random(bot_id)  # Deterministic links and file ids across runs.
        self._file_counter = itertools.count(1)
        self._handlers = {name.lower(): getattr(self, "_api_" + _snake(name)) for name in self.METHODS}
        self.bot_user = self.add_user(bot_id, bot_name, username=bot_username, is_bot=True)

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
        except _Reject as rejected:
            return rejected.error.response()
        return 200, json.dumps({"ok": True, "result": result}).encode()

    def _dispatch(self, call: Call) -> Any:
        lost_answer = self._raise_injected(call)
        handler = self._handlers.get(call.method.lower())
        if handler is None:
            self.unknown_calls.append(call)
            raise _Reject(bad_request(f"method not implemented by FakeTelegram: {call.method}"))
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
            raise _Reject(injection.error)  # type: ignore[arg-type]
        return False

    # --- world building ----------------------------------------------------------------------

    def add_user(
        self,
        user_id: int,
        first_name: str,
        *,
        last_name: str | None = None,
        username: str | None = None,
        language_code: str | None = "zh-hans",
        is_bot: bool = False,
    ) -> JSONDict:
        """Register a user and return its Telegram User dict."""
        user: JSONDict = {"id": user_id, "is_bot": is_bot, "first_name": first_name}
        optional = {"last_name": last_name, "username": username}
        if not is_bot:
            optional["language_code"] = language_code
        user |= {key: value for key, value in optional.items() if value is not None}
        self.users[user_id] = user
        return user

    def add_group(
        self,
        chat_id: int,
        title: str,
        *,
        creator_id: int,
        members: Iterable[int] = (),
        admins: Iterable[int] = (),
        type: str = "supergroup",
        username: str | None = None,
    ) -> JSONDict:
        """Create a group with the bot as a plain member; returns the Chat dict."""
        if type not in ("group", "supergroup"):
            raise ValueError(f"group type must be group or supergroup, not {type!r}")
        chat = FakeChat(chat_id, type, title=title, username=username)
        self.chats[chat_id] = chat
        self.set_member(chat_id, creator_id, "creator")
        for user_id in admins:
            self.set_member(chat_id, user_id, "administrator")
        for user_id in members:
            self.set_member(chat_id, user_id, "member")
        self.set_bot_member(chat_id, "member")
        return self.chat(chat_id)

    def start_private_chat(self, user_id: int) -> JSONDict:
        """The user presses /start: the bot may now message them (also undoes a block)."""
        self._user(user_id)
        chat = self.chats.setdefault(user_id, FakeChat(user_id, "private"))
        chat.blocked = False
        return self.chat(user_id)

    def block_bot(self, user_id: int) -> None:
        """The user blocks the bot: sends to them answer 403."""
        self.start_private_chat(user_id)
        self.chats[user_id].blocked = True

    def set_member(self, chat_id: int, user_id: int, status: str, **rights: Any) -> JSONDict:
        """Set a user's status and rights in a group; returns the ChatMember dict."""
        _check_rights(status, rights)
        self._user(user_id)
        self._group(chat_id).members[user_id] = Member(status, rights)
        return self.member(chat_id, user_id)

    def set_bot_member(self, chat_id: int, status: str, **rights: Any) -> JSONDict:
        """Set the bot's own status and rights in a group."""
        return self.set_member(chat_id, self.bot_id, status, **rights)

    def remove_bot(self, chat_id: int, kicked: bool = True) -> None:
        """The bot is removed from a group: every later call on that chat answers 403."""
        self.set_bot_member(chat_id, "kicked" if kicked else "left")

    def add_message(
        self, chat_id: int, from_user_id: int, text: str | None = None, *, date: datetime | None = None, **extra: Any
    ) -> JSONDict:
        """Store a user's message (so the bot can reply to or delete it); returns the Message dict."""
        sender = self._user(from_user_id)
        if chat_id == from_user_id and chat_id not in self.chats:
            self.start_private_chat(chat_id)  # A user can only write to a bot they have started.
        chat = self._known_chat(chat_id)
        if not chat.is_private and from_user_id not in chat.members:
            chat.members[from_user_id] = Member("member")
        content = dict(extra)
        reply_to = content.pop("reply_to_message_id", None)
        if reply_to is not None:
            target = self._reply_target(chat, reply_to, strict=False)
            if target is None:
                raise KeyError(f"no message {reply_to} in chat {chat_id} to reply to")
            content["reply_to_message"] = target
        if text is not None:
            content["text"] = text
        return self._store(chat, sender, content, date=date).data

    def push_update(self, update: JSONDict | Update) -> None:
        """Queue an update for getUpdates."""
        self.updates.append(update.to_dict() if isinstance(update, Update) else dict(update))

    def register_callback_query(self, query_id: str) -> None:
        """Make a callback query id answerable (the update factory does this)."""
        self.callback_queries.add(query_id)

    # --- inspection --------------------------------------------------------------------------

    def calls_to(self, method: str) -> list[JSONDict]:
        """Parameters of every call to `method`, in order."""
        return [call.params for call in self.calls if call.method.lower() == method.lower()]

    def sent(self, chat_id: int | None = None, *, include_deleted: bool = False) -> list[JSONDict]:
        """Messages the bot sent, oldest first, with bookkeeping keys (see StoredMessage.view)."""
        return [
            stored.view()
            for stored in self._log
            if stored.sender_id == self.bot_id
            and (chat_id is None or stored.data["chat"]["id"] == chat_id)
            and (include_deleted or not stored.deleted)
        ]

    def message(self, chat_id: int, message_id: int) -> JSONDict | None:
        """A stored message (deleted ones included, marked `deleted`), or None."""
        stored = self._stored(chat_id, message_id)
        return stored.view() if stored else None

    def telegram_message(self, chat_id: int, message_id: int) -> JSONDict:
        """A stored message exactly as Telegram would serialize it."""
        stored = self._stored(chat_id, message_id)
        if stored is None:
            raise KeyError(f"no message {message_id} in chat {chat_id}")
        return stored.data

    def is_deleted(self, chat_id: int, message_id: int) -> bool:
        """Whether the message exists and was deleted."""
        stored = self._stored(chat_id, message_id)
        return bool(stored and stored.deleted)

    def reset_calls(self) -> None:
        """Forget recorded calls (not the world)."""
        self.calls.clear()
        self.unknown_calls.clear()

    def assert_no_unknown_calls(self) -> None:
        """Fail if the bot called a method this fake does not implement."""
        if self.unknown_calls:
            listed = ", ".join(f"{call.method}({call.params})" for call in self.unknown_calls)
            raise AssertionError(f"methods not implemented by FakeTelegram were called: {listed}")

    def user(self, user_id: int) -> JSONDict:
        """A registered user's User dict."""
        return self._user(user_id)

    def chat(self, chat_id: int) -> JSONDict:
        """A chat's short Chat dict, as found in messages and updates."""
        chat = self._known_chat(chat_id)
        if chat.is_private:
            user = self._user(chat.id)
            names = {key: user[key] for key in ("first_name", "last_name", "username") if key in user}
            return {"id": chat.id, "type": "private", **names}
        data: JSONDict = {"id": chat.id, "type": chat.type, "title": chat.title}
        return data | ({"username": chat.username} if chat.username else {})

    def member(self, chat_id: int, user_id: int) -> JSONDict:
        """A user's ChatMember dict in a chat ("left" when unknown to it)."""
        chat = self._known_chat(chat_id)
        user = self._user(user_id)
        if chat.is_private:
            status = "kicked" if chat.blocked and user_id == self.bot_id else "member"
            return chat_member_dict(user, status)
        member = chat.members.get(user_id, Member("left"))
        return chat_member_dict(user, member.status, member.rights)

    def member_status(self, chat_id: int, user_id: int) -> str:
        """A user's status string in a chat."""
        return self.member(chat_id, user_id)["status"]

    # --- lookups and checks ------------------------------------------------------------------

    def _user(self, user_id: int) -> JSONDict:
        if user_id not in self.users:
            raise KeyError(f"unknown user {user_id}: call add_user first")
        return self.users[user_id]

    def _known_chat(self, chat_id: int) -> FakeChat:
        if chat_id not in self.chats:
            raise KeyError(f"unknown chat {chat_id}: call add_group or start_private_chat first")
        return self.chats[chat_id]

    def _group(self, chat_id: int) -> FakeChat:
        chat = self._known_chat(chat_id)
        if chat.is_private:
            raise ValueError(f"chat {chat_id} is private; memberships exist only in groups")
        return chat

    def _stored(self, chat_id: int, message_id: int) -> StoredMessage | None:
        chat = self.chats.get(chat_id)
        return chat.messages.get(message_id) if chat else None

    def _resolve(self, raw: Any) -> FakeChat:
        """The chat a chat_id parameter names, if the bot may act in it."""
        if isinstance(raw, str) and raw.startswith("@"):
            chat = next((c for c in self.chats.values() if c.username and f"@{c.username}" == raw), None)
            if chat is None:
                raise _Reject(CHAT_NOT_FOUND)
            return self._accessible(chat)
        try:
            chat_id = int(raw)
        except (TypeError, ValueError):
            raise _Reject(CHAT_NOT_FOUND) from None
        if chat_id in self.chats:
            return self._accessible(self.chats[chat_id])
        raise _Reject(CANT_INITIATE if chat_id in self.users else CHAT_NOT_FOUND)

    def _accessible(self, chat: FakeChat) -> FakeChat:
        if chat.is_private:
            if chat.blocked:
                raise _Reject(BLOCKED)
            return chat
        status = chat.members.get(self.bot_id, Member("left")).status
        kind = "supergroup chat" if chat.type == "supergroup" else "group chat"
        if status == "kicked":
            raise _Reject(FakeError(403, f"Forbidden: bot was kicked from the {kind}"))
        if status == "left":
            raise _Reject(FakeError(403, f"Forbidden: bot is not a member of the {kind}"))
        return chat

    def _chat_param(self, params: JSONDict, key: str = "chat_id") -> FakeChat:
        if key not in params:
            raise _Reject(bad_request(f"{key} is empty"))
        return self._resolve(params[key])

    def _bot_can(self, chat: FakeChat, right: str) -> bool:
        """Whether the bot holds an administrator right (creators hold them all)."""
        if chat.is_private:
            return right == "can_pin_messages"  # Bots may pin in private chats.
        member = chat.members.get(self.bot_id, Member("left"))
        if member.status == "creator":
            return True
        return member.status == "administrator" and bool(member.rights.get(right))

    def _require(self, chat: FakeChat, right: str, error: FakeError) -> None:
        if not self._bot_can(chat, right):
            raise _Reject(error)

    def _require_send(self, chat: FakeChat, permission: str, what: str) -> None:
        """Members follow the chat's default permissions; restricted members their own."""
        if chat.is_private:
            return
        member = chat.members[self.bot_id]
        allowed = {
            "member": chat.permissions.get(permission, True),
            "restricted": member.rights.get(permission, False),
        }.get(member.status, True)
        if not allowed:
            raise _Reject(bad_request(f"not enough rights to send {what} to the chat"))

    def _now(self) -> datetime:
        return self.clock()

    # --- messages ----------------------------------------------------------------------------

    def _store(
        self, chat: FakeChat, sender: JSONDict, content: JSONDict, *, date: datetime | None = None, **meta: Any
    ) -> StoredMessage:
        data: JSONDict = {
            "message_id": chat.next_message_id,
            "from": sender,
            "chat": self.chat(chat.id),
            "date": _timestamp(date or self._now()),
            **content,
        }
        chat.next_message_id += 1
        stored = StoredMessage(data, **meta)
        chat.messages[data["message_id"]] = stored
        self._log.append(stored)
        return stored

    def _reply_target(self, chat: FakeChat, message_id: int, *, strict: bool) -> JSONDict | None:
        stored = chat.messages.get(message_id)
        if stored is None or stored.deleted:
            if strict:
                raise _Reject(bad_request("message to be replied not found"))
            return None
        # Telegram nests only one level of replies.
        return {k: v for k, v in stored.data.items() if k != "reply_to_message"}

    def _reply_content(self, chat: FakeChat, params: JSONDict) -> JSONDict:
        reply = params.get("reply_parameters") or {}
        message_id = reply.get("message_id", params.get("reply_to_message_id"))
        if message_id is None:
            return {}
        target_chat = self._resolve(reply["chat_id"]) if "chat_id" in reply else chat
        strict = not reply.get("allow_sending_without_reply", params.get("allow_sending_without_reply", False))
        target = self._reply_target(target_chat, int(message_id), strict=strict)
        return {"reply_to_message": target} if target else {}

    @staticmethod
    def _markup_content(params: JSONDict) -> JSONDict:
        """Telegram echoes only inline keyboards back in the Message."""
        markup = params.get("reply_markup")
        if not isinstance(markup, dict) or "inline_keyboard" not in markup:
            return {}
        for row in markup["inline_keyboard"]:
            for button in row:
                if len(button.get("callback_data", "").encode()) > 64:
                    raise _Reject(bad_request("BUTTON_DATA_INVALID"))
        return {"reply_markup": markup}

    def _formatted(
        self, params: JSONDict, key: str, *, limit: int, required: bool
    ) -> tuple[str | None, list[JSONDict]]:
        """Text (or caption) after entity parsing, checked against Telegram's limits."""
        raw = params.get(key)
        if raw is None or raw == "":
            if required:
                raise _Reject(bad_request("message text is empty"))
            return None, []
        entities_key = "entities" if key == "text" else "caption_entities"
        text, entities = str(raw), list(params.get(entities_key) or [])
        if params.get("parse_mode") == "HTML":
            text, entities = _HtmlParser(text).parse()
        if required and not text.strip():
            raise _Reject(bad_request("message text is empty"))
        if len(text) > limit:
            raise _Reject(bad_request("message is too long" if key == "text" else "message caption is too long"))
        return text, entities

    def _text_content(self, params: JSONDict) -> JSONDict:
        text, entities = self._formatted(params, "text", limit=_MAX_TEXT, required=True)
        return {"text": text} | ({"entities": entities} if entities else {})

    def _caption_content(self, params: JSONDict) -> JSONDict:
        caption, entities = self._formatted(params, "caption", limit=_MAX_CAPTION, required=False)
        if caption is None:
            return {}
        return {"caption": caption} | ({"caption_entities": entities} if entities else {})

    def _send(self, chat: FakeChat, params: JSONDict, content: JSONDict, raw_key: str | None) -> JSONDict:
        content = content | self._reply_content(chat, params) | self._markup_content(params)
        stored = self._store(
            chat, self.bot_user, content, parse_mode=params.get("parse_mode"), raw_text=params.get(raw_key or "")
        )
        return stored.data

    def _file(self, params: JSONDict, key: str) -> tuple[str, str]:
        """A file id and unique id; a file_id string is kept, uploads and URLs get a new one."""
        number = next(self._file_counter)
        value = params.get(key)
        unique = f"AgADfake{number:04d}"
        if isinstance(value, str) and not value.startswith(("attach://", "http://", "https://")):
            return value, unique
        return f"BQACAgUAAxkBfake{key}{number:04d}", unique

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
                raise _Reject(bad_request("BOT_COMMAND_INVALID"))
            if not 1 <= len(command.get("description", "")) <= 256:
                raise _Reject(bad_request("BOT_COMMAND_DESCRIPTION_INVALID"))
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
            raise _Reject(bad_request("bad webhook: An HTTPS URL must be provided for webhook"))
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
            raise _Reject(
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

    # --- API: sending ------------------------------------------------------------------------

    def _api_send_message(self, params: JSONDict) -> JSONDict:
        chat = self._chat_param(params)
        self._require_send(chat, "can_send_messages", "text messages")
        return self._send(chat, params, self._text_content(params), "text")

    def _api_send_photo(self, params: JSONDict) -> JSONDict:
        chat = self._chat_param(params)
        self._require_send(chat, "can_send_photos", "photos")
        file_id, unique = self._file(params, "photo")
        sizes = [
            {"file_id": f"{file_id}", "file_unique_id": f"{unique}s", "width": 90, "height": 67, "file_size": 1200},
            {"file_id": f"{file_id}", "file_unique_id": unique, "width": 1280, "height": 960, "file_size": 98000},
        ]
        return self._send(chat, params, {"photo": sizes} | self._caption_content(params), "caption")

    def _api_send_document(self, params: JSONDict) -> JSONDict:
        chat = self._chat_param(params)
        self._require_send(chat, "can_send_documents", "documents")
        file_id, unique = self._file(params, "document")
        document = {"file_id": file_id, "file_unique_id": unique, "file_name": "document", "file_size": 4096}
        return self._send(chat, params, {"document": document} | self._caption_content(params), "caption")

    def _api_send_sticker(self, params: JSONDict) -> JSONDict:
        chat = self._chat_param(params)
        self._require_send(chat, "can_send_other_messages", "stickers")
        file_id, unique = self._file(params, "sticker")
        sticker = {
            "file_id": file_id, "file_unique_id": unique, "width": 512, "height": 512,
            "is_animated": False, "is_video": False, "type": "regular", "emoji": params.get("emoji", "👍"),
        }  # fmt: skip
        return self._send(chat, params, {"sticker": sticker}, None)

    _COPYABLE = ("text", "entities", "caption", "caption_entities", "photo", "document", "sticker")

    def _source(self, params: JSONDict, action: str) -> StoredMessage:
        chat = self._chat_param(params, "from_chat_id")
        stored = chat.messages.get(int(params.get("message_id", 0)))
        if stored is None or stored.deleted:
            raise _Reject(bad_request(f"message to {action} not found"))
        if not any(key in stored.data for key in self._COPYABLE):
            verb = "forwarded" if action == "forward" else "copied"
            raise _Reject(bad_request(f"message can't be {verb}"))
        return stored

    def _api_copy_message(self, params: JSONDict) -> JSONDict:
        source = self._source(params, "copy")
        chat = self._chat_param(params)
        content = {k: v for k, v in source.data.items() if k in self._COPYABLE}
        if "caption" in params:
            content = {k: v for k, v in content.items() if k not in ("caption", "caption_entities")}
            content |= self._caption_content(params)
        sent = self._send(chat, params, content, "caption")
        return {"message_id": sent["message_id"]}

    def _api_forward_message(self, params: JSONDict) -> JSONDict:
        source = self._source(params, "forward")
        chat = self._chat_param(params)
        origin = {"type": "user", "sender_user": source.data["from"], "date": source.data["date"]}
        content = {k: v for k, v in source.data.items() if k in self._COPYABLE}
        stored = self._store(chat, self.bot_user, content | {"forward_origin": origin})
        return stored.data

    # --- API: editing and deleting -----------------------------------------------------------

    def _editable(self, params: JSONDict) -> StoredMessage:
        if "inline_message_id" in params:
            raise _Reject(bad_request("inline messages are not modelled by FakeTelegram"))
        chat = self._chat_param(params)
        stored = chat.messages.get(int(params.get("message_id", 0)))
        if stored is None or stored.deleted:
            raise _Reject(bad_request("message to edit not found"))
        if stored.sender_id != self.bot_id:
            raise _Reject(bad_request("message can't be edited"))
        return stored

    def _apply_edit(self, stored: StoredMessage, changes: JSONDict, removed: Iterable[str]) -> JSONDict:
        new = {k: v for k, v in stored.data.items() if k not in removed} | changes
        if {k: v for k, v in new.items() if k != "edit_date"} == {
            k: v for k, v in stored.data.items() if k != "edit_date"
        }:
            raise _Reject(NOT_MODIFIED)
        stored.data = new | {"edit_date": _timestamp(self._now())}
        return stored.data

    def _api_edit_message_text(self, params: JSONDict) -> JSONDict:
        stored = self._editable(params)
        if "text" not in stored.data:
            raise _Reject(bad_request("there is no text in the message to edit"))
        # Editing without reply_markup drops the inline keyboard, as Telegram does.
        changes = self._text_content(params) | self._markup_content(params)
        result = self._apply_edit(stored, changes, removed=("entities", "reply_markup"))
        stored.parse_mode, stored.raw_text = params.get("parse_mode"), params.get("text")
        return result

    def _api_edit_message_reply_markup(self, params: JSONDict) -> JSONDict:
        stored = self._editable(params)
        return self._apply_edit(stored, self._markup_content(params), removed=("reply_markup",))

    def _check_deletable(self, chat: FakeChat, stored: StoredMessage) -> None:
        if self._now() - datetime.fromtimestamp(stored.data["date"], UTC) > _DELETE_WINDOW:
            raise _Reject(CANT_DELETE)
        if stored.sender_id == self.bot_id or chat.is_private:
            return  # Bots delete their own messages, and incoming ones in private chats.
        member = chat.members.get(self.bot_id, Member("left"))
        in_basic_group_as_admin = chat.type == "group" and member.status == "administrator"
        if not (in_basic_group_as_admin or self._bot_can(chat, "can_delete_messages")):
            raise _Reject(CANT_DELETE)

    def _api_delete_message(self, params: JSONDict) -> bool:
        chat = self._chat_param(params)
        stored = chat.messages.get(int(params.get("message_id", 0)))
        if stored is None or stored.deleted:
            raise _Reject(DELETE_NOT_FOUND)
        self._check_deletable(chat, stored)
        stored.deleted = True
        return True

    def _api_delete_messages(self, params: JSONDict) -> bool:
        chat = self._chat_param(params)
        ids = list(params.get("message_ids") or [])
        if not 1 <= len(ids) <= 100:
            raise _Reject(bad_request("message_ids must contain 1-100 message identifiers"))
        found = [chat.messages[i] for i in ids if i in chat.messages and not chat.messages[i].deleted]
        for stored in found:  # Check all first: the call deletes everything or nothing.
            self._check_deletable(chat, stored)
        for stored in found:
            stored.deleted = True
        return True

    # --- API: pins, callbacks, chat info -----------------------------------------------------

    def _api_pin_chat_message(self, params: JSONDict) -> bool:
        chat = self._chat_param(params)
        self._require(chat, "can_pin_messages", NOT_ENOUGH_RIGHTS)
        message_id = int(params.get("message_id", 0))
        stored = chat.messages.get(message_id)
        if stored is None or stored.deleted:
            raise _Reject(bad_request("message to pin not found"))
        chat.pinned = [m for m in chat.pinned if m != message_id] + [message_id]
        return True

    def _api_unpin_chat_message(self, params: JSONDict) -> bool:
        chat = self._chat_param(params)
        self._require(chat, "can_pin_messages", NOT_ENOUGH_RIGHTS)
        message_id = params.get("message_id")
        if message_id is None:
            chat.pinned = chat.pinned[:-1]
        elif int(message_id) in chat.pinned:
            chat.pinned.remove(int(message_id))
        else:
            raise _Reject(bad_request("message to unpin not found"))
        return True

    def _api_unpin_all_chat_messages(self, params: JSONDict) -> bool:
        chat = self._chat_param(params)
        self._require(chat, "can_pin_messages", NOT_ENOUGH_RIGHTS)
        chat.pinned = []
        return True

    def _api_answer_callback_query(self, params: JSONDict) -> bool:
        query_id = str(params.get("callback_query_id", ""))
        if query_id not in self.callback_queries:
            raise _Reject(bad_request("query is too old and response timeout expired or query ID is invalid"))
        if len(params.get("text", "")) > 200:
            raise _Reject(bad_request("MESSAGE_TOO_LONG"))
        self.callback_queries.discard(query_id)  # A query can be answered once.
        self.answered_callbacks[query_id] = params
        return True

    def _api_get_chat(self, params: JSONDict) -> JSONDict:
        chat = self._chat_param(params)
        info = self.chat(chat.id) | {
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": dict.fromkeys(_GIFT_TYPES, False),
        }
        if not chat.is_private:
            info["permissions"] = chat.permissions
        if chat.primary_link:
            info["invite_link"] = chat.primary_link
        if chat.pinned:
            info["pinned_message"] = chat.messages[chat.pinned[-1]].data
        return info

    def _api_get_chat_member(self, params: JSONDict) -> JSONDict:
        chat = self._chat_param(params)
        user_id = int(params.get("user_id", 0))
        if user_id not in self.users:
            raise _Reject(bad_request("user not found"))
        return self.member(chat.id, user_id)

    def _api_get_chat_administrators(self, params: JSONDict) -> list[JSONDict]:
        chat = self._chat_param(params)
        if chat.is_private:
            raise _Reject(bad_request("there are no administrators in the private chat"))
        admins = [uid for uid, m in chat.members.items() if m.status in ("creator", "administrator")]
        return [self.member(chat.id, uid) for uid in admins]

    def _api_get_chat_member_count(self, params: JSONDict) -> int:
        chat = self._chat_param(params)
        if chat.is_private:
            return 2
        return sum(1 for member in chat.members.values() if member.present)

    # --- API: chat administration ------------------------------------------------------------

    def _api_set_chat_permissions(self, params: JSONDict) -> bool:
        chat = self._chat_param(params)
        self._require(chat, "can_restrict_members", RESTRICT_RIGHTS)
        permissions = params.get("permissions")
        if not isinstance(permissions, dict):
            raise _Reject(bad_request("field \"permissions\" must be of type Object"))
        unknown = set(permissions) - set(PERMISSION_FLAGS)
        if unknown:
            raise _Reject(bad_request(f"unsupported permissions: {sorted(unknown)}"))
        # Telegram treats an omitted permission as false.
        new = dict.fromkeys(PERMISSION_FLAGS, False) | permissions
        if new == chat.permissions:
            raise _Reject(bad_request("CHAT_NOT_MODIFIED"))
        chat.permissions = new
        return True

    def _api_set_chat_title(self, params: JSONDict) -> bool:
        chat = self._chat_param(params)
        self._require(chat, "can_change_info", CHANGE_INFO_RIGHTS)
        title = str(params.get("title", "")).strip()
        if not 1 <= len(title) <= 128:
            raise _Reject(bad_request("chat title is empty" if not title else "chat title is too long"))
        if title == chat.title:
            raise _Reject(bad_request("chat title is not modified"))
        chat.title = title
        return True

    def _new_link(self) -> str:
        alphabet = string.ascii_letters + string.digits + "_-"
        return "https://t.me/+" + "".join(self._rng.choice(alphabet) for _ in range(16))

    @staticmethod
    def _link_options(params: JSONDict) -> JSONDict:
        keys = ("name", "expire_date", "member_limit", "creates_join_request")
        return {key: params[key] for key in keys if key in params}

    def add_bot_invite_link(self, chat_id: int) -> str:
        """An invite link the bot made earlier (whatever its rights are now); its URL."""
        url = self._new_link()
        self._group(chat_id).invite_links[url] = {
            "invite_link": url, "creator": self.bot_user, "creates_join_request": False,
            "is_primary": False, "is_revoked": False,
        }  # fmt: skip
        return url

    def invite_link_revoked(self, chat_id: int, url: str) -> bool:
        return bool(self._group(chat_id).invite_links[url]["is_revoked"])

    def _api_create_chat_invite_link(self, params: JSONDict) -> JSONDict:
        chat = self._chat_param(params)
        self._require(chat, "can_invite_users", INVITE_RIGHTS)
        options = self._link_options(params)
        if options.get("member_limit") and options.get("creates_join_request"):
            raise _Reject(bad_request("member limit can't be set on links that need approval"))
        link = {
            "invite_link": self._new_link(), "creator": self.bot_user, "creates_join_request": False,
            "is_primary": False, "is_revoked": False,
        } | options  # fmt: skip
        chat.invite_links[link["invite_link"]] = link
        return link

    def _chat_link(self, chat: FakeChat, params: JSONDict) -> JSONDict:
        link = chat.invite_links.get(str(params.get("invite_link", "")))
        if link is None:
            raise _Reject(bad_request("INVITE_HASH_EXPIRED"))
        return link

    def _api_edit_chat_invite_link(self, params: JSONDict) -> JSONDict:
        chat = self._chat_param(params)
        self._require(chat, "can_invite_users", INVITE_RIGHTS)
        link = self._chat_link(chat, params)
        if link["is_revoked"]:
            raise _Reject(bad_request("INVITE_REVOKED_MISSING"))
        link |= self._link_options(params)
        return link

    def _api_revoke_chat_invite_link(self, params: JSONDict) -> JSONDict:
        chat = self._chat_param(params)
        self._require(chat, "can_invite_users", INVITE_RIGHTS)
        link = self._chat_link(chat, params)
        link["is_revoked"] = True
        if link["is_primary"]:
            self._export_primary(chat)  # Telegram replaces a revoked primary link at once.
        return link

    def _export_primary(self, chat: FakeChat) -> str:
        if chat.primary_link:
            chat.invite_links[chat.primary_link]["is_revoked"] = True
        url = self._new_link()
        chat.invite_links[url] = {
            "invite_link": url, "creator": self.bot_user, "creates_join_request": False,
            "is_primary": True, "is_revoked": False,
        }  # fmt: skip
        chat.primary_link = url
        return url

    def _api_export_chat_invite_link(self, params: JSONDict) -> str:
        chat = self._chat_param(params)
        self._require(chat, "can_invite_users", INVITE_RIGHTS)
        return self._export_primary(chat)

    def _api_leave_chat(self, params: JSONDict) -> bool:
        chat = self._chat_param(params)
        if chat.is_private:
            raise _Reject(bad_request("chat member status can't be changed in private chats"))
        chat.members[self.bot_id] = Member("left")
        return True

    def _api_send_chat_action(self, params: JSONDict) -> bool:
        self._chat_param(params)
        if not params.get("action"):
            raise _Reject(bad_request("wrong parameter action in request"))
        return True
