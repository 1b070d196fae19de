"""Telegram Desktop JSON exports written the way Telegram Desktop writes them, for tests, the demo and benchmarks.

A group's messages get ids in order; dates carry both forms Telegram Desktop writes ("date" in the
exporting machine's local time, without an offset, and "date_unixtime"). Texts with formatting are
written as the export's list of entity pieces, alongside "text_entities".
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOT_INCLUDED = "(File not included. Change data exporting settings to download.)"


@dataclass
class ExportedChat:
    """One chat of an export, filled message by message."""

    export_id: int
    name: str
    type: str = "private_supergroup"
    zone: tzinfo = SHANGHAI
    messages: list[dict[str, Any]] = field(default_factory=list)
    next_id: int = 1

    def message(
        self,
        sender: tuple[int, str],
        text: str = "",
        *,
        at: datetime,
        reply_to: int | None = None,
        pieces: list[Any] | None = None,
        edited: datetime | None = None,
        forwarded_from: str | None = None,
        photo: bool = False,
        file: str | None = None,
        media_type: str | None = None,
        sticker: str | None = None,
    ) -> int:
        """A person's message; returns its id. `pieces` writes the text as entity pieces."""
        user_id, name = sender
        entry = self._base("message", at)
        if edited is not None:
            entry |= {"edited": self._local(edited), "edited_unixtime": str(int(edited.timestamp()))}
        entry |= {"from": name, "from_id": f"user{user_id}"}
        if forwarded_from is not None:
            entry["forwarded_from"] = forwarded_from
        if reply_to is not None:
            entry["reply_to_message_id"] = reply_to
        if photo:
            entry |= {"photo": "photos/photo_1@23-11-2026_09-00-00.jpg", "width": 1280, "height": 960}
        if sticker is not None:
            entry |= {
                "file": NOT_INCLUDED,
                "media_type": "sticker",
                "sticker_emoji": sticker,
                "width": 512,
                "height": 512,
            }
        elif file is not None:
            entry |= (
                {"file": file} | ({"media_type": media_type} if media_type else {}) | {"mime_type": "application/pdf"}
            )
        entry |= _text_fields(pieces if pieces is not None else [text])
        return self._add(entry)

    def post_as_group(self, text: str, *, at: datetime) -> int:
        """A message sent on behalf of the group (an anonymous admin): no person behind it."""
        entry = self._base("message", at) | {"from": self.name, "from_id": f"channel{self.export_id}"}
        return self._add(entry | _text_fields([text]))

    def service(self, actor: tuple[int, str], action: str, *, at: datetime, **fields: Any) -> int:
        user_id, name = actor
        entry = self._base("service", at) | {"actor": name, "actor_id": f"user{user_id}", "action": action, **fields}
        return self._add(entry | _text_fields([""]))

    def as_json(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "id": self.export_id, "messages": self.messages}

    def _base(self, kind: str, at: datetime) -> dict[str, Any]:
        return {"id": self.next_id, "type": kind, "date": self._local(at), "date_unixtime": str(int(at.timestamp()))}

    def _add(self, entry: dict[str, Any]) -> int:
        self.messages.append(entry)
        self.next_id += 1
        return entry["id"]

    def _local(self, moment: datetime) -> str:
        return moment.astimezone(self.zone).replace(tzinfo=None).isoformat(timespec="seconds")


def _text_fields(pieces: list[Any]) -> dict[str, Any]:
    """ "text" as Telegram Desktop writes it (a plain string when unformatted), and "text_entities"."""
    entities = [
        piece if isinstance(piece, dict) else {"type": "plain", "text": piece} for piece in pieces if piece != ""
    ]
    plain = all(isinstance(piece, str) for piece in pieces)
    return {"text": "".join(pieces) if plain else pieces, "text_entities": entities}


def single_chat(chat: ExportedChat) -> dict[str, Any]:
    """A single chat's result.json (Export chat history)."""
    return chat.as_json()


def whole_account(chats: Iterable[ExportedChat], left: Iterable[ExportedChat] = ()) -> dict[str, Any]:
    """The whole account's result.json (Settings → Export Telegram data), with its other sections."""
    return {
        "about": "Here is the data you requested.",
        "personal_information": {
            "user_id": 1,
            "first_name": "导出",
            "last_name": "人",
            "phone_number": "+86 000",
            "bio": "",
        },
        "contacts": {
            "about": "contacts",
            "list": [
                {
                    "first_name": "张",
                    "last_name": "三",
                    "phone_number": "+86 1",
                    "date": "2026-01-01T00:00:00",
                    "date_unixtime": "1767196800",
                }
            ],
        },
        "frequent_contacts": {"about": "frequent", "list": []},
        "chats": {"about": "chats", "list": [chat.as_json() for chat in chats]},
        "left_chats": {"about": "left", "list": [chat.as_json() for chat in left]},
    }


def write(path: Path, export: dict[str, Any]) -> Path:
    """Written as Telegram Desktop does: UTF-8, one space of indent per level."""
    path.write_text(json.dumps(export, ensure_ascii=False, indent=1), encoding="utf-8")
    return path
