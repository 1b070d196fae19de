"""Telegram Desktop's JSON chat exports: found, checked and indexed in one pass, then read again per chat.

Two shapes exist: a single chat's `result.json` ({"name", "type", "id", "messages": [...]}) and the
whole account's ({"chats": {"list": [chat, ...]}, "left_chats": {...}, "contacts": ...}). The first
pass reads every message once, checks what replay relies on, and keeps per chat only the byte offset
of its message list, its size and which of its messages are replied to (and how often): the rule
needs to know what a reply answers without replay keeping every text. The second pass reads each
group's messages again from that offset, so the groups can be merged in time order.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any

from bot.replay.jsonstream import NOT_UTF8, JsonStream, JsonSyntaxError

# The chat types Jianfu works in; the others (personal chats, bots, channels) are skipped.
GROUP_TYPES = frozenset({"private_group", "private_supergroup", "public_supergroup"})
SUPERGROUP_TYPES = frozenset({"private_supergroup", "public_supergroup"})
# Each group's reader in the second pass holds one buffer of this size.
CHAT_CHUNK = 1 << 16
PROGRESS_EVERY = 4096


@dataclass(frozen=True)
class Place:
    """Where in an export a problem is: the file, the chat, the message (1 for the first), the byte."""

    file: Path
    chat: str | None = None
    chat_id: int | None = None
    message: int | None = None
    byte: int | None = None


class ExportError(Exception):
    """An export that cannot be replayed: where, and what is wrong (a catalog key `replay.error.*`
    with its parameters), told to the user in one line."""

    def __init__(self, place: Place, problem: str, **params: Any) -> None:
        super().__init__(f"{place}: {problem} {params}")
        self.place, self.problem, self.params = place, problem, params


@dataclass
class ChatIndex:
    """What the first pass learns about one chat of an export."""

    source: Path
    order: int
    name: str = ""
    type: str = ""
    export_id: int | None = None
    # The byte offset of the '[' that opens the chat's message list.
    messages_offset: int | None = None
    messages: int = 0
    # Message id -> how many messages of the chat reply to it.
    replied: Counter[int] = field(default_factory=Counter)

    @property
    def is_group(self) -> bool:
        return self.type in GROUP_TYPES

    @property
    def bot_chat_id(self) -> int:
        """The id the Bot API gives the group: -100… for a supergroup, -… for a basic group."""
        if self.type in SUPERGROUP_TYPES:
            return -(10**12 + self.export_id)
        return -self.export_id

    def place(self, **details: Any) -> Place:
        return Place(self.source, self.name or "?", self.export_id, **details)


Progress = Callable[[int], None]


def index_export(path: Path, first_order: int = 0, progress: Progress | None = None) -> list[ChatIndex]:
    """Every chat of the export at `path`, checked; raises ExportError naming what is wrong and where."""
    try:
        stream = JsonStream(path)
    except OSError as error:
        raise ExportError(Place(path), "unreadable", reason=error.strerror or str(error)) from None
    with stream:
        indexer = _Indexer(path, stream, first_order, progress)
        try:
            return indexer.run()
        except JsonSyntaxError as error:
            problem = "not_utf8" if error.problem == NOT_UTF8 else "invalid_json"
            raise ExportError(indexer.place(byte=error.byte_offset), problem, detail=error.problem) from None


class _Indexer:
    """The first pass over one file."""

    def __init__(self, path: Path, stream: JsonStream, first_order: int, progress: Progress | None) -> None:
        self.path, self.stream, self.progress = path, stream, progress
        self.next_order = first_order
        self.chats: list[ChatIndex] = []
        self.current: ChatIndex | None = None
        self.message_index: int | None = None

    def place(self, **details: Any) -> Place:
        """Where reading is, for an error message."""
        if self.current is None:
            return Place(self.path, **details)
        if self.message_index is None:
            return self.current.place(**details)
        return self.current.place(message=self.message_index + 1, **details)

    def run(self) -> list[ChatIndex]:
        first = self.stream.peek()
        if first != "{":
            raise ExportError(Place(self.path), _not_an_export(first), found=first)
        single = self._new_chat()
        for key in self.stream.members():
            if key in ("chats", "left_chats"):
                self._chat_list(key)
            elif not self._chat_member(single, key):
                self.stream.skip()
        if self.stream.peek() != "":
            raise ExportError(Place(self.path, byte=self.stream.byte_offset()), "trailing")
        if single.messages_offset is not None:
            self._check_chat(single)
            self.chats.insert(0, single)
        if not self.chats:
            raise ExportError(Place(self.path), "not_an_export")
        return self.chats

    def _new_chat(self) -> ChatIndex:
        chat = ChatIndex(self.path, self.next_order)
        self.next_order += 1
        return chat

    def _chat_list(self, key: str) -> None:
        """{"about": ..., "list": [chat, ...]} (a bare list is accepted too)."""
        if self.stream.peek() == "[":
            self._chats()
            return
        for member in self.stream.members():
            if member == "list":
                self._chats()
            else:
                self.stream.skip()

    def _chats(self) -> None:
        for _index in self.stream.items():
            chat = self._new_chat()
            self.current = chat
            for key in self.stream.members():
                if not self._chat_member(chat, key):
                    self.stream.skip()
            self._check_chat(chat)
            self.chats.append(chat)
            self.current = None

    def _chat_member(self, chat: ChatIndex, key: str) -> bool:
        """Read one of a chat's own keys; False for keys it does not use."""
        if key == "name":
            chat.name = self._scalar(chat, key, str, "text") or ""
        elif key == "type":
            chat.type = self._scalar(chat, key, str, "text") or ""
        elif key == "id":
            chat.export_id = self._scalar(chat, key, int, "number")
        elif key == "messages":
            self._messages(chat)
        else:
            return False
        return True

    def _scalar(self, chat: ChatIndex, key: str, kind: type, described: str) -> Any:
        self.current = chat
        value = self.stream.value()
        if value is not None and (not isinstance(value, kind) or isinstance(value, bool)):
            raise ExportError(self.place(), f"chat_{described}", key=key)
        return value

    def _messages(self, chat: ChatIndex) -> None:
        self.current = chat
        if self.stream.peek() != "[":
            raise ExportError(self.place(), "messages_not_list")
        chat.messages_offset = self.stream.byte_offset()
        try:
            skimmed = self.stream.skim_indented_array("reply_to_message_id")
        except JsonSyntaxError:
            # The list never ends: read it again message by message to say where it breaks.
            with JsonStream(self.path, start=chat.messages_offset) as careful:
                self._read_messages(chat, careful)
            raise
        if skimmed is None:
            self._read_messages(chat, self.stream)
            return
        # Laid out as Telegram Desktop writes it: counted without decoding (the second pass checks
        # each message). A reply to another chat's message counts too: it only keeps a message's
        # traits a little longer.
        chat.messages, targets = skimmed
        chat.replied.update(targets)
        if self.progress is not None:
            self.progress(self.stream.bytes_read())

    def _read_messages(self, chat: ChatIndex, stream: JsonStream) -> None:
        """Decode and check every message of the list at `stream`, counting replies."""
        # Counted before each message is read, so a broken one is named by its position.
        self.message_index = 0
        for raw in stream.values():
            problem = message_problem(raw)
            if problem is not None:
                raise ExportError(self.place(byte=stream.byte_offset(stream.item_start)), problem[0], **problem[1])
            target = replied_to(raw)
            if target is not None:
                chat.replied[target] += 1
            chat.messages += 1
            self.message_index += 1
            if self.progress is not None and self.message_index % PROGRESS_EVERY == 0:
                self.progress(self.stream.bytes_read())
        self.message_index = None

    def _check_chat(self, chat: ChatIndex) -> None:
        if chat.is_group and chat.export_id is None:
            raise ExportError(chat.place(), "chat_no_id")


def _not_an_export(first: str) -> str:
    if first == "":
        return "empty"
    if first == "[":
        return "json_list"
    if first == "<":
        return "html"
    return "not_json"


# Messages --------------------------------------------------------------------------------------


def message_problem(raw: Any) -> tuple[str, dict[str, Any]] | None:
    """What keeps replay from reading this message (a catalog key and its parameters), or None."""
    if not isinstance(raw, dict):
        return "message_not_object", {}
    if not _is_int(raw.get("id")):
        return "message_no_id", {}
    if raw.get("type") not in ("message", "service"):
        return None  # "unsupported" and any future kind: counted, never judged
    if _unix_time(raw) is None and _local_time(raw.get("date")) is None:
        return "message_no_date", {"id": raw["id"]}
    text = raw.get("text", "")
    if not isinstance(text, str) and not (isinstance(text, list) and all(_is_text_piece(piece) for piece in text)):
        return "message_bad_text", {"id": raw["id"]}
    for key in ("reply_to_message_id", "message_id"):
        if key in raw and not _is_int(raw[key]):
            return "message_not_number", {"id": raw["id"], "key": key}
    for key in ("from_id", "actor_id", "sticker_emoji", "from"):
        if raw.get(key) is not None and not isinstance(raw[key], str):
            return "message_not_text", {"id": raw["id"], "key": key}
    return None


def replied_to(raw: dict) -> int | None:
    """The id of the message of the same chat this one replies to (a reply to another chat's is none)."""
    if "reply_to_peer_id" in raw:
        return None
    return raw.get("reply_to_message_id")


def timestamp(raw: dict, export_zone: tzinfo) -> int:
    """Seconds since the epoch: `date_unixtime`, else `date` read in the exporting machine's zone."""
    unix = _unix_time(raw)
    if unix is not None:
        return unix
    moment = _local_time(raw["date"])
    # An export's dates carry no offset: they are the exporting machine's local time.
    return int((moment if moment.tzinfo else moment.replace(tzinfo=export_zone)).timestamp())


def _unix_time(raw: dict) -> int | None:
    value = raw.get("date_unixtime")
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value if _is_int(value) else None


def _local_time(value: Any) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        return datetime.fromisoformat(value)
    except ValueError:
        return None


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_text_piece(piece: Any) -> bool:
    return isinstance(piece, str) or (isinstance(piece, dict) and isinstance(piece.get("text", ""), str))


# The second pass -------------------------------------------------------------------------------


def chat_messages(chat: ChatIndex, export_zone: tzinfo) -> Iterator[tuple[int, int, int, dict]]:
    """The group's messages again, as (timestamp, chat order, index, message): ready to merge.
    Each is checked here (the first pass may only have counted them)."""
    with JsonStream(chat.source, start=chat.messages_offset, chunk=CHAT_CHUNK) as stream:
        index = -1
        try:
            for index, raw in enumerate(stream.values()):
                problem = message_problem(raw)
                if problem is not None:
                    place = chat.place(message=index + 1, byte=stream.byte_offset(stream.item_start))
                    raise ExportError(place, problem[0], **problem[1])
                if raw["type"] in ("message", "service"):
                    yield timestamp(raw, export_zone), chat.order, index, raw
        except JsonSyntaxError as error:
            place = chat.place(message=index + 2, byte=error.byte_offset)
            raise ExportError(place, "invalid_json", detail=error.problem) from None
    if index + 1 != chat.messages:
        raise ExportError(chat.place(), "layout")
