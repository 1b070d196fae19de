"""The groups' audit trail: which of the bot's actions a group's admins can read back, and how
they are written (gathered during a transaction, inserted in one statement before its commit,
on PostgreSQL together with the transaction's other deferred rows)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from policies.actions import (
    About,
    Delete,
    Leave,
    Logged,
    Outcome,
    Pin,
    Rename,
    RevokeLink,
    Send,
    SendFile,
    SetPermissions,
    Unpin,
)
from storage.repositories.group_actions import GroupActionRepository, trail_row

# Housekeeping rather than decisions about the group (the bot's own expiring messages), and a
# whistle's forwarding, which must leave no trace dated to the second.
UNLOGGED_RULES = frozenset({"quiet_group", "whistle"})
# What each action is called in the trail. Redrawing a read counter (an Edit) and answering a
# button press are not actions on the group.
KINDS: dict[type, str] = {
    Delete: "delete",
    Send: "send",
    SendFile: "file",
    Pin: "pin",
    Unpin: "unpin",
    SetPermissions: "permissions",
    Rename: "rename",
    RevokeLink: "revoke",
    Leave: "leave",
}
# A message sent to a person privately about a group (a reminder, a note to the admins).
PRIVATE = "private"


def row_for(action: Any, outcome: Outcome, now: datetime) -> dict[str, Any] | None:
    """The trail's row for an action's final outcome, or None when it is not the group's business."""
    kind = KINDS.get(type(action))
    if kind is None or not action.rule or action.rule in UNLOGGED_RULES:
        return None
    about: About = getattr(action, "about", None) or About()
    group = about.chat_id or action.chat_id
    if group >= 0:
        return None  # a private message about no group (a digest to a supervisor)
    private = action.chat_id > 0
    recipient = action.chat_id if private and about.name_recipient else None
    person = about.person_id if about.person_id is not None else recipient
    kind = PRIVATE if private else kind
    return trail_row(now, group, action.rule, kind, action.reason, outcome.value, person, about.text or None)


def logged_row(fact: Logged, now: datetime) -> dict[str, Any]:
    return trail_row(
        now, fact.chat_id, fact.rule, fact.kind, fact.reason, fact.outcome, fact.person_id, fact.text or None
    )


def keep(session: AsyncSession, row: dict[str, Any]) -> None:
    """Add a row to the transaction's trail (written with its other deferred rows before it commits)."""
    GroupActionRepository(session).add_later(row)
