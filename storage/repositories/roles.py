"""Roles given with /grant: supervisors and department contacts."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import RoleGrant
from storage.repositories._sql import cached_statement, core_execute, unasked

SUPERVISOR = "supervisor"
CONTACT = "contact"
# session.info key: person -> the departments they are a contact of, as this transaction read
# them (a batch's notices and counted facts ask for the same senders again and again).
CONTACTS_KEY = "jianfu.contact_departments"


class RoleRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def grant(
        self, person_id: int, role: str, *, by: int, now: datetime, department_id: int | None = None
    ) -> bool:
        """Give the role; False when the person already had it."""
        self._forget_contacts()
        if await self._find(person_id, role, department_id) is not None:
            return False
        self.session.add(
            RoleGrant(
                person_id=person_id,
                role=role,
                department_id=department_id,
                granted_by=by,
                granted_at=now,
            )
        )
        # Written now: contact_department_ids reads through the connection (no autoflush), and
        # its answer is kept for the rest of the transaction.
        await self.session.flush()
        return True

    async def revoke(self, person_id: int, role: str, department_id: int | None = None) -> bool:
        """Take the role back (every copy two concurrent grants may have made); False if none."""
        self._forget_contacts()
        statement = delete(RoleGrant).where(RoleGrant.person_id == person_id, RoleGrant.role == role)
        if department_id is None:
            statement = statement.where(RoleGrant.department_id.is_(None))
        else:
            statement = statement.where(RoleGrant.department_id == department_id)
        return (await self.session.execute(statement)).rowcount > 0

    async def granted_supervisors(self) -> set[int]:
        query = select(RoleGrant.person_id).where(RoleGrant.role == SUPERVISOR)
        return set(await self.session.scalars(query))

    async def is_granted_supervisor(self, person_id: int) -> bool:
        return await self._find(person_id, SUPERVISOR, None) is not None

    async def contact_department_ids(self, person_id: int) -> set[int]:
        known = self.session.info.setdefault(CONTACTS_KEY, {})
        if person_id not in known:
            await self.know_contacts([person_id])
        return set(known[person_id])

    async def know_contacts(self, person_ids: Iterable[int]) -> None:
        """Read the contact departments of these people in one query, for this transaction's
        later `contact_department_ids` (a batch's senders, before their updates run)."""
        known, wanted = unasked(self.session, CONTACTS_KEY, person_ids)
        if not wanted:
            return
        found: dict[int, set[int]] = {person_id: set() for person_id in wanted}
        query = cached_statement(self.session, "roles.contacts_of", _contacts_of)
        for person_id, department_id in await core_execute(self.session, query, {"people": wanted}):
            if department_id:
                found[person_id].add(department_id)
        known.update((person_id, frozenset(departments)) for person_id, departments in found.items())

    async def drop_department(self, department_id: int) -> None:
        self._forget_contacts()
        await self.session.execute(delete(RoleGrant).where(RoleGrant.department_id == department_id))

    def _forget_contacts(self) -> None:
        self.session.info.pop(CONTACTS_KEY, None)

    async def _find(self, person_id: int, role: str, department_id: int | None) -> RoleGrant | None:
        query = select(RoleGrant).where(RoleGrant.person_id == person_id, RoleGrant.role == role)
        if department_id is None:
            query = query.where(RoleGrant.department_id.is_(None))
        else:
            query = query.where(RoleGrant.department_id == department_id)
        return (await self.session.scalars(query)).first()


def _contacts_of(_session: AsyncSession) -> Any:
    """Asked for every batch of updates (and every recorded fact outside one): built once."""
    return select(RoleGrant.person_id, RoleGrant.department_id).where(
        RoleGrant.person_id.in_(bindparam("people", expanding=True)), RoleGrant.role == CONTACT
    )
