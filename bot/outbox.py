"""Actions to and from JSON: what an outbox row holds (the action and its follow-ups)."""

from __future__ import annotations

import dataclasses
from datetime import datetime, timedelta
from typing import Any

from bot.i18n import Html
from policies import actions

# Every action type that can be stored, by class name; bot facts register themselves.
_TYPES: dict[str, type] = {}


def register(*types: type) -> None:
    for kind in types:
        _TYPES[kind.__name__] = kind


register(
    actions.Then,
    actions.KeyList,
    actions.Button,
    actions.Say,
    actions.Send,
    actions.SendFile,
    actions.Edit,
    actions.EditSay,
    actions.Delete,
    actions.Pin,
    actions.Unpin,
    actions.SetPermissions,
    actions.Rename,
    actions.RevokeLink,
    actions.Leave,
    actions.SetMenu,
    actions.TipOnce,
    actions.TellAdminsOnce,
    actions.RecordRead,
    actions.RecordEvent,
    actions.ExpireLater,
    actions.RefreshCounter,
    actions.About,
    actions.Logged,
)


def encode(value: Any) -> Any:
    """JSON-ready form of an action (recursively), keeping what JSON alone would lose.

    A field still at its default is left out (decoding gives it back): an ack's deletion carries
    a tree of follow-ups whose many empty fields made most of its row."""
    fields = _fields_of(type(value))
    if fields is not None:
        encoded = {"@": type(value).__name__}
        for name, default in fields:
            item = getattr(value, name)
            if default is dataclasses.MISSING or item != default:
                encoded[name] = encode(item)
        return encoded
    if isinstance(value, Html):
        return {"@html": str(value)}
    if isinstance(value, timedelta):
        return {"@seconds": value.total_seconds()}
    if isinstance(value, datetime):
        return {"@at": value.isoformat()}
    if isinstance(value, list | tuple):
        return [encode(item) for item in value]
    if isinstance(value, dict):
        return {str(key): encode(item) for key, item in value.items()}
    return value


# Per dataclass type: its fields' names and defaults (MISSING when it has none); None for others.
_FIELDS: dict[type, tuple[tuple[str, Any], ...] | None] = {}


def _fields_of(kind: type) -> tuple[tuple[str, Any], ...] | None:
    if kind not in _FIELDS:
        _FIELDS[kind] = (
            tuple((f.name, f.default) for f in dataclasses.fields(kind)) if dataclasses.is_dataclass(kind) else None
        )
    return _FIELDS[kind]


def decode(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(decode(item) for item in value)
    if not isinstance(value, dict):
        return value
    if "@html" in value:
        return Html(value["@html"])
    if "@seconds" in value:
        return timedelta(seconds=value["@seconds"])
    if "@at" in value:
        return datetime.fromisoformat(value["@at"])
    if "@" in value:
        kind = _TYPES[value["@"]]
        names = {f.name for f in dataclasses.fields(kind) if f.init}
        return kind(**{name: decode(item) for name, item in value.items() if name in names})
    return {key: decode(item) for key, item in value.items()}
