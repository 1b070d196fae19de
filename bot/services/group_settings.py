"""A group's own /set choices, changed in one place: by /set and by /log's record-only button."""

from __future__ import annotations

from collections.abc import Callable, Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from bot.context import Deps
from policies.group_settings import GroupSettings
from storage.repositories.audit import AuditRepository
from storage.repositories.chats import ChatRepository


async def change(
    deps: Deps,
    session: AsyncSession,
    chat_id: int,
    actor_id: int,
    edit: Callable[[GroupSettings], GroupSettings],
    chosen: Mapping[str, str],
) -> None:
    """Apply `edit` to the group's settings and note it in the audit log (`chosen`: what was set, as typed)."""
    chats = ChatRepository(session)
    await chats.save_settings(chat_id, edit(await chats.group_settings(chat_id)))
    target = ",".join(f"{name}={value}" for name, value in chosen.items())
    await AuditRepository(session).record(
        "chat.set", actor_id=actor_id, now=deps.clock(), chat_id=chat_id, target=target
    )
