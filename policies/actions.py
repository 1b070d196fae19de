"""Action values the rules return; bot/actions.py carries them out against the Bot API."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Say:
    """Send catalog text `key` to a chat; `expires` messages in groups delete themselves later."""

    chat_id: int
    key: str
    params: dict[str, Any] = field(default_factory=dict)
    language: str | None = None
    expires: bool = False
    rule: str = ""
    reason: str = ""


@dataclass(frozen=True)
class Delete:
    chat_id: int
    message_id: int
    rule: str = ""
    reason: str = ""


Action = Say | Delete


@dataclass(frozen=True)
class KeyList:
    """A parameter rendered as one localized line per item: catalog key `prefix` + item."""

    prefix: str
    items: tuple[str, ...]
