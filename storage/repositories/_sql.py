"""Dialect-aware statements shared by the repositories."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def insert_for(session: AsyncSession, model: Any) -> Any:
    """The INSERT construct with ON CONFLICT support for the session's backend."""
    if dialect_name(session) == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


async def upsert(
    session: AsyncSession,
    model: Any,
    values: dict[str, Any],
    *,
    keys: Iterable[str],
    update: Iterable[str],
) -> None:
    """INSERT, or UPDATE the named columns when a row with the same keys exists (race-free)."""
    statement = insert_for(session, model).values(**values)
    changes = {name: statement.excluded[name] for name in update}
    if changes:
        statement = statement.on_conflict_do_update(index_elements=list(keys), set_=changes)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(keys))
    await session.execute(statement)
