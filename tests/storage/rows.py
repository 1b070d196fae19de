"""Rows the storage tests write often."""

from __future__ import annotations

from datetime import datetime
from typing import Any


def removal_event(key: str, at: datetime, chat_id: int = -100) -> dict[str, Any]:
    """A counted ack removal, as EventRepository.record_later takes it."""
    return {"kind": "ack_removed", "at": at, "day": at.date(), "department_id": None, "chat_id": chat_id, "key": key}
