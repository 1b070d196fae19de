"""The department registry as a whole, read once by `jianfu replay` (never written)."""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from policies.group_settings import CloseProgress, to_stored
from storage.models import Chat, RoleGrant
from storage.repositories.chats import stored_settings
from storage.repositories.digest import DigestRepository
from storage.repositories.roles import CONTACT


@dataclass(frozen=True)
class RegisteredGroup:
    """What replay needs of a group the bot knows."""

    id: int
    title: str
    department_id: int | None
    settings: dict[str, Any]
    member_count: int | None


class RegistryRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def departments(self) -> dict[int, str]:
        return await DigestRepository(self.session).department_names()

    async def groups(self) -> dict[int, RegisteredGroup]:
        query = select(Chat.id, Chat.title, Chat.department_id, Chat.settings, Chat.member_count)
        rows = (await self.session.execute(query)).all()
        return {
            row.id: RegisteredGroup(
                row.id, row.title, row.department_id, _own_settings(row.id, row.settings), row.member_count
            )
            for row in rows
        }

    async def contacts(self) -> dict[int, frozenset[int]]:
        """Person id -> the departments they are a contact of."""
        query = select(RoleGrant.person_id, RoleGrant.department_id).where(RoleGrant.role == CONTACT)
        found: dict[int, set[int]] = defaultdict(set)
        for person_id, department_id in (await self.session.execute(query)).all():
            if department_id is not None:
                found[person_id].add(department_id)
        return {person_id: frozenset(departments) for person_id, departments in found.items()}

    async def people_with_private_chat(self) -> frozenset[int]:
        return frozenset(await DigestRepository(self.session).people_with_private_chat())


def _own_settings(chat_id: int, raw: Any) -> dict[str, Any]:
    """The group's /set choices as stored, validated (replay has no use for its close progress)."""
    return to_stored(stored_settings(chat_id, raw).settings, CloseProgress())
