"""Button data: the one codec for every inline button's callback_data, and every kind of button.

A kind is a frozen dataclass declared with `@button(prefix, version=…)`; its fields are typed
(a 64-bit int, a row id, a page, a flag, a short token, one of a few words). On the wire a value is
`<prefix><version>:<field>:<field>…`, at most 64 bytes (Telegram's limit), e.g. `rd1:42`.

`decode` accepts only what `encode` makes, and raises Rejected for anything else: empty or too
long, an unknown prefix, another version of a kind (an old keyboard, or one from a newer replica),
a wrong number of fields, a number beyond its range. Bumping a kind's version makes its old
buttons stale on purpose; the bot answers them politely in one place (bot/callbacks.py).

Before this codec buttons carried `<old prefix><field>:…` without a version. A kind whose buttons
stay pressable for long (a group notice's Read button lives for weeks) names that old prefix as
`legacy`, and such data still decodes, the fields in the same order (or by the kind's
`from_legacy` when the old layout differed). Kinds without `legacy` answer old buttons as stale.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import typing
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from policies.whistle import CATEGORIES

MAX_BYTES = 64  # Telegram accepts 1–64 bytes of callback_data
SEPARATOR = ":"


class Rejected(ValueError):
    """Data our buttons do not make (any more): malformed, too long, unknown or of another version."""


# --- field types -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bounds:
    """An int field's range (both ends included)."""

    low: int
    high: int


@dataclass(frozen=True)
class Token:
    """A short str field: letters, digits, '-' and '_' (what secrets.token_urlsafe makes)."""

    max_length: int = 16


@dataclass(frozen=True)
class OneOf:
    """A str field that is one of a few words."""

    values: tuple[str, ...]


INT64 = Bounds(-(2**63), 2**63 - 1)
# Rows are numbered by 32-bit integer columns on PostgreSQL: anything larger is not one of ours.
RowId = Annotated[int, Bounds(0, 2**31 - 1)]
Page = Annotated[int, Bounds(0, 10**6)]
DraftToken = Annotated[str, Token(16)]

_DECIMAL = re.compile(r"-?(0|[1-9][0-9]{0,18})")
_TOKEN = re.compile(r"[A-Za-z0-9_-]+")


@dataclass(frozen=True)
class Field:
    name: str
    encode: Callable[[Any], str]
    decode: Callable[[str], Any]


def _int_field(name: str, bounds: Bounds) -> Field:
    def encode(value: Any) -> str:
        if isinstance(value, bool) or not isinstance(value, int) or not bounds.low <= value <= bounds.high:
            raise ValueError(f"{name}={value!r} is outside {bounds}")
        return str(value)

    def decode(text: str) -> int:
        # Only the canonical spelling: int() would also take " 5", "+5", "5_0" and "٥".
        if not _DECIMAL.fullmatch(text) or not bounds.low <= (number := int(text)) <= bounds.high:
            raise Rejected(f"{name} is not a number in range")
        return number

    return Field(name, encode, decode)


def _flag_field(name: str) -> Field:
    def decode(text: str) -> bool:
        if text not in ("0", "1"):
            raise Rejected(f"{name} is not 0 or 1")
        return text == "1"

    return Field(name, lambda value: "1" if value else "0", decode)


def _choice_field(name: str, values: tuple[str, ...]) -> Field:
    def encode(value: Any) -> str:
        if value not in values:
            raise ValueError(f"{name}={value!r} is not one of {values}")
        return str(value)

    def decode(text: str) -> str:
        if text not in values:
            raise Rejected(f"{name} is not one of its words")
        return text

    return Field(name, encode, decode)


def _token_field(name: str, token: Token) -> Field:
    def check(text: str, error: type[ValueError]) -> str:
        if len(text) > token.max_length or not _TOKEN.fullmatch(text):
            raise error(f"{name} is not a short token")
        return text

    return Field(name, lambda value: check(str(value), ValueError), lambda text: check(text, Rejected))


def _field(name: str, hint: Any) -> Field:
    base, marks = hint, ()
    if typing.get_origin(hint) is Annotated:
        base, *marks = typing.get_args(hint)
    mark = marks[0] if marks else None
    if base is bool:
        return _flag_field(name)
    if base is int:
        return _int_field(name, mark if isinstance(mark, Bounds) else INT64)
    if base is str and isinstance(mark, OneOf):
        return _choice_field(name, mark.values)
    if base is str:
        return _token_field(name, mark if isinstance(mark, Token) else Token())
    raise TypeError(f"a button field cannot be {hint!r}")


# --- kinds -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Kind:
    cls: type
    prefix: str
    version: int
    fields: tuple[Field, ...]
    legacy: str | None

    @property
    def head(self) -> str:
        return f"{self.prefix}{self.version}"


KINDS: dict[str, Kind] = {}
_BY_CLASS: dict[type, Kind] = {}
T = TypeVar("T")


def button(prefix: str, *, version: int = 1, legacy: str | None = None) -> Callable[[type[T]], type[T]]:
    """Declare a kind of button (a frozen dataclass): its fields travel in its callback_data."""
    if not re.fullmatch(r"[a-z]{1,4}", prefix) or version < 1:
        raise ValueError(f"a prefix is 1–4 lowercase letters and a version is at least 1: {prefix}{version}")

    def declare(cls: type[T]) -> type[T]:
        hints = typing.get_type_hints(cls, include_extras=True)
        fields = tuple(_field(item.name, hints[item.name]) for item in dataclasses.fields(cls))
        if prefix in KINDS:
            raise ValueError(f"two kinds of button share the prefix {prefix!r}")
        KINDS[prefix] = _BY_CLASS[cls] = Kind(cls, prefix, version, fields, legacy)
        return cls

    return declare


def encode(value: object) -> str:
    """The callback_data of a button value; ValueError when a field cannot travel (a bug)."""
    kind = _kind_of(value)
    parts = [kind.head, *(field.encode(getattr(value, field.name)) for field in kind.fields)]
    data = SEPARATOR.join(parts)
    if len(data.encode()) > MAX_BYTES:
        raise ValueError(f"{data!r} is longer than Telegram's {MAX_BYTES} bytes")
    return data


def decode(data: object) -> Any:
    """The button value behind callback_data; Rejected when it is not one our buttons make."""
    if not isinstance(data, str) or not data or len(data.encode()) > MAX_BYTES:
        raise Rejected("empty, not text, or longer than 64 bytes")
    head, *parts = data.split(SEPARATOR)
    versioned = re.fullmatch(r"([a-z]+)([0-9]+)", head)
    if versioned is None:
        return _decode_legacy(data)
    kind = KINDS.get(versioned.group(1))
    if kind is None:
        raise Rejected("unknown prefix")
    if versioned.group(2) != str(kind.version):
        raise Rejected("another version")
    return _build(kind, parts)


def parse(data: object) -> Any | None:
    """The button value, or None when the data is rejected.

    Remembered per text: PTB offers a press to each button handler's pattern in turn, and the
    handler that takes it reads the value again (values are frozen, so sharing them is safe)."""
    return _parse_text(data) if isinstance(data, str) else None


@functools.lru_cache(maxsize=1024)
def _parse_text(data: str) -> Any | None:
    try:
        return decode(data)
    except Rejected:
        return None


def is_kind(data: object, *classes: type) -> bool:
    return isinstance(parse(data), classes)


def _kind_of(value: object) -> Kind:
    kind = _BY_CLASS.get(type(value))
    if kind is None:
        raise TypeError(f"{type(value).__name__} is not a kind of button")
    return kind


def _build(kind: Kind, parts: list[str]) -> Any:
    if len(parts) != len(kind.fields):
        raise Rejected("wrong number of fields")
    return kind.cls(**{field.name: field.decode(part) for field, part in zip(kind.fields, parts, strict=True)})


def _decode_legacy(data: str) -> Any:
    """Data from before the codec, for the kinds that still accept it (the longest old prefix wins)."""
    for kind in sorted((k for k in KINDS.values() if k.legacy), key=lambda k: -len(k.legacy or "")):
        old = kind.legacy or ""
        if data.startswith(old):
            rest = data[len(old) :]
            from_legacy = getattr(kind.cls, "from_legacy", None)
            if from_legacy is not None:
                return from_legacy(rest)
            return _build(kind, rest.split(SEPARATOR) if rest else [])
    raise Rejected("unknown prefix")


# --- every button of the bot ------------------------------------------------------------------
# Each kind says whether buttons posted before the codec still work, and why.


# A tracked notice's Read button stays in its group for weeks: old posts keep counting reads.
@button("rd", legacy="rd:")
@dataclass(frozen=True)
class ReadNotice:
    notice_id: RowId


# The private reminder to someone who demanded acks may be acted on hours later.
@button("cv", legacy="rcv:notice:")
@dataclass(frozen=True)
class ConvertDemand:
    chat_id: int
    message_id: int


IDLE_CHOICES = ("done", "active")


# The question whether an idle temporary group is done waits days for an admin.
@button("ti", legacy="tmp:idle:")
@dataclass(frozen=True)
class IdleAnswer:
    choice: Annotated[str, OneOf(IDLE_CHOICES)]
    chat_id: int


HELD_CHOICES = ("at", "now", "no")  # publish at the time, publish now, do not publish


# A notice held at night waits for its time; there is no command to ask the question again.
@button("hn", legacy="hn:")
@dataclass(frozen=True)
class HeldChoice:
    choice: Annotated[str, OneOf(HELD_CHOICES)]
    task_id: RowId


# /register's question stays in the group until an admin answers it.
@button("rg", legacy="reg:")
@dataclass(frozen=True)
class RegisterDepartment:
    department_id: RowId


@button("rgx", legacy="reg:cancel")
@dataclass(frozen=True)
class RegisterCancel:
    pass


# The inbox is a view of the moment, sent again by /inbox: old views answer as stale.
@button("ir")
@dataclass(frozen=True)
class InboxRead:
    notice_id: RowId
    include_read: bool
    department_id: RowId  # 0: every department
    page: Page


@button("ip")
@dataclass(frozen=True)
class InboxPage:
    include_read: bool
    department_id: RowId  # 0: every department
    page: Page


# A whistle draft expires within minutes: its old buttons answer as stale.
@button("wd")
@dataclass(frozen=True)
class WhistleDepartment:
    token: DraftToken
    department_id: RowId


@button("wc")
@dataclass(frozen=True)
class WhistleCategory:
    token: DraftToken
    category: Annotated[str, OneOf(CATEGORIES)]


DRAFT_PRESSES = ("x", "b", "k", "e", "s")  # cancel, start over, keep the typed name, evidence done, submit


@button("wp")
@dataclass(frozen=True)
class WhistlePress:
    token: DraftToken
    press: Annotated[str, OneOf(DRAFT_PRESSES)]


WHISTLE_SCOPES = ("o", "a", "d")  # open reports, all reports, one department's


# A supervisor's report card and list stay in their chat while the matter is followed up for days
# (rectified is pressed when the department has acted): old cards keep working.
@button("wl", legacy="ws:l:")
@dataclass(frozen=True)
class WhistleList:
    scope: Annotated[str, OneOf(WHISTLE_SCOPES)]
    department_id: RowId  # 0 unless the scope is one department
    page: Page

    @classmethod
    def from_legacy(cls, rest: str) -> WhistleList:
        """`ws:l:o:0`, `ws:l:a:3`, `ws:l:d12:0`: the scope and the department were one field."""
        scope, _, page = rest.partition(SEPARATOR)
        scope, department = ("d", scope[1:]) if scope.startswith("d") else (scope, "0")
        return _build(KINDS["wl"], [scope, department, page])


CARD_ACTIONS = ("o", "f", "r", "k", "j")  # open, forward, respond, rectified, rejected


@button("wr", legacy="ws:")
@dataclass(frozen=True)
class WhistleCard:
    action: Annotated[str, OneOf(CARD_ACTIONS)]
    whistle_id: RowId


# /log is a view of the moment, sent again by /log: old views answer as stale.
LOG_VIEWS = ("g", "c", "m")  # the groups to choose from, one group's trail, one's own removals
LOG_RULES = ("received", "formalism")  # the rules /log can turn down to record-only


@button("lv")
@dataclass(frozen=True)
class LogView:
    view: Annotated[str, OneOf(LOG_VIEWS)]
    chat_id: int  # 0 unless the view is one group's trail
    page: Page


@button("lr")
@dataclass(frozen=True)
class LogRecordOnly:
    chat_id: int
    rule: Annotated[str, OneOf(LOG_RULES)]
