"""The groups' audit trail: what the bot did in each group, read back by its admins with /log."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Chat, GroupAction, Membership
from storage.repositories._sql import DeferredRows, cached_statement, core_execute, insert_rows, rows_parameters
from storage.repositories.chats import ADMIN_STATUSES

# Column widths: longer values are cut, never refused (a reason is the rule's own words).
_WIDTHS = {"rule": 32, "kind": 16, "reason": 128, "outcome": 16, "text": 64}


@dataclass(frozen=True)
class GroupChoice:
    """A group someone may read the trail of."""

    chat_id: int
    title: str


def trail_row(
    at: datetime,
    chat_id: int,
    rule: str,
    kind: str,
    reason: str,
    outcome: str,
    person_id: int | None = None,
    text: str | None = None,
) -> dict[str, Any]:
    """One row, ready for add_many; values cut to their columns."""
    row: dict[str, Any] = {
        "at": at,
        "chat_id": chat_id,
        "rule": rule,
        "kind": kind,
        "reason": reason,
        "outcome": outcome,
        "person_id": person_id,
        "text": text,
    }
    for name, width in _WIDTHS.items():
        if row[name] is not None:
            row[name] = row[name][:width]
    return row


def _add_rows(session: AsyncSession, prefix: str = "", only_if: Any = None) -> Any:
    names = ("at", "chat_id", "rule", "kind", "reason", "outcome", "person_id", "text")
    return insert_rows(session, GroupAction, names, prefix=prefix, only_if=only_if)


# Rows added during a transaction, written before it commits (or before the trail is read).
pending_actions = DeferredRows("group_actions.add", _add_rows)


class GroupActionRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add_many(self, rows: Sequence[dict[str, Any]]) -> None:
        """All rows in one statement: a busy group's removals cost one round trip."""
        if not rows:
            return
        statement = cached_statement(self.session, "group_actions.add", _add_rows)
        await core_execute(self.session, statement, rows_parameters(self.session, list(rows)))

    def add_later(self, row: dict[str, Any]) -> None:
        """Keep a row to be written before the transaction commits: an action's outcome writes its
        trail row in the statement of its other deferred rows (on PostgreSQL), not one of its own."""
        pending_actions.add(self.session, row)

    async def page(self, chat_id: int, *, offset: int, limit: int) -> tuple[list[GroupAction], int]:
        """A group's actions, newest first, and how many there are."""
        return await self._page(GroupAction.chat_id == chat_id, offset, limit)

    async def removals_of(self, person_id: int, *, offset: int, limit: int) -> tuple[list[GroupAction], int]:
        """A person's own messages the bot removed, in every group, newest first."""
        where = (GroupAction.person_id == person_id) & (GroupAction.kind == "delete") & (GroupAction.outcome == "done")
        return await self._page(where, offset, limit)

    async def _page(self, where: Any, offset: int, limit: int) -> tuple[list[GroupAction], int]:
        await pending_actions.write(self.session)
        total = await self.session.scalar(select(func.count()).select_from(GroupAction).where(where)) or 0
        query = select(GroupAction).where(where).order_by(GroupAction.at.desc(), GroupAction.id.desc())
        rows = list(await self.session.scalars(query.offset(offset).limit(limit)))
        return rows, total

    async def counts_by_rule(self, chat_id: int, since: datetime) -> dict[str, int]:
        """How many actions each rule took in the group since `since`, most first."""
        await pending_actions.write(self.session)
        query = (
            select(GroupAction.rule, func.count())
            .where(GroupAction.chat_id == chat_id, GroupAction.at >= since)
            .group_by(GroupAction.rule)
            .order_by(func.count().desc(), GroupAction.rule)
        )
        return {rule: count for rule, count in (await self.session.execute(query)).all()}

    async def purge(self, before: datetime) -> int:
        await pending_actions.write(self.session)
        return (await self.session.execute(delete(GroupAction).where(GroupAction.at < before))).rowcount

    async def groups_administered_by(self, person_id: int) -> list[GroupChoice]:
        """The groups whose stored admins include the person, by title."""
        query = (
            select(Chat.id, Chat.title)
            .join(Membership, Membership.chat_id == Chat.id)
            .where(Membership.person_id == person_id, Membership.status.in_(ADMIN_STATUSES))
            .order_by(Chat.title, Chat.id)
        )
        return [GroupChoice(chat_id, title) for chat_id, title in (await self.session.execute(query)).all()]

    async def all_groups(self) -> list[GroupChoice]:
        """Every group the bot knows (a supervisor's choice), by title."""
        query = select(Chat.id, Chat.title).where(Chat.id < 0).order_by(Chat.title, Chat.id)
        return [GroupChoice(chat_id, title) for chat_id, title in (await self.session.execute(query)).all()]

    async def titles(self, chat_ids: set[int]) -> dict[int, str]:
        if not chat_ids:
            return {}
        rows = await self.session.execute(select(Chat.id, Chat.title).where(Chat.id.in_(chat_ids)))
        return dict(rows.all())
