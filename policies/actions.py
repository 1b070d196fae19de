"""Action values the rules return; bot/actions.py carries them out against the Bot API."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any


@dataclass(frozen=True)
class KeyList:
    """A parameter rendered as one localized line per item: catalog key `prefix` + item."""

    prefix: str
    items: tuple[str, ...]
    # On one line after the header, joined by the catalog's `{prefix}_separator`.
    inline: bool = False


@dataclass(frozen=True)
class Button:
    """An inline button: catalog key of its label, and its callback data."""

    key: str
    data: str


@dataclass(frozen=True)
class Say:
    """Send catalog text `key` to a chat; `expires` messages in groups delete themselves later."""

    chat_id: int
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    language: str | None = None
    expires: bool = False
    # Overrides the configured expiry for this message (e.g. 2 minutes for a demand reminder).
    expire_after: timedelta | None = None
    reply_to: int | None = None
    buttons: tuple[Button, ...] = ()
    rule: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Delete:
    chat_id: int
    message_id: int
    rule: str = ""
    reason: str = ""


@dataclass(frozen=True)
class RecordRead:
    """`person_id` has seen message `message_id` of `chat_id` (via button, reaction, ack, inbox)."""

    chat_id: int
    message_id: int
    person_id: int
    via: str
    rule: str = ""
    reason: str = ""


@dataclass(frozen=True)
class RecordEvent:
    """A countable fact for the digest; `key` makes recording it idempotent."""

    kind: str
    chat_id: int
    key: str
    sender_id: int | None = None
    rule: str = ""
    reason: str = ""


@dataclass(frozen=True)
class TipOnce:
    """A private tip to a person, at most once per `period`."""

    person_id: int
    key: str
    period: timedelta
    rule: str = ""
    reason: str = ""


@dataclass(frozen=True)
class TellAdminsOnce:
    """Tell the group's admins privately, once per chat and `key`, or once per `period` (e.g. an
    ISO week, or a person and a week) when one is given."""

    chat_id: int
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    rule: str = ""
    reason: str = ""
    period: str = ""


@dataclass(frozen=True)
class SayWhenReachable:
    """A private message for someone the bot cannot write to yet (they never opened a chat with
    it): kept, and delivered when they next send /start, if that is within `keep_for`. `key`
    keeps one such message per subject: a second one with the same key is not kept."""

    message: Say
    keep_for: timedelta
    key: str
    rule: str = ""
    reason: str = ""


Action = Say | Delete | RecordRead | RecordEvent | TipOnce | TellAdminsOnce | SayWhenReachable
