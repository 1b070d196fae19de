"""Departments: the registry supervisors manage and groups attach to."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Chat, Department
from storage.repositories.chats import ChatRepository
from storage.repositories.events import pending_events


class DuplicateDepartment(Exception):
    """A department with that name or code exists already."""


class DepartmentRepository:
    """Names are compared by a normaliser from the caller (width, case and spacing folded), in
    Python, so SQLite and PostgreSQL agree: SQL lower() differs between them."""

    def __init__(self, session: AsyncSession, normalize: Callable[[str], str] = str.casefold) -> None:
        self.session = session
        self.normalize = normalize

    async def add(self, name: str, code: str, internal_units: int, now: datetime) -> Department:
        # Checked here rather than caught from the unique constraint: a SAVEPOINT around the
        # insert would, on SQLite's default driver, commit the outer transaction.
        await self._refuse_taken(name, code)
        department = Department(name=name, code=code, internal_units=internal_units, created_at=now)
        self.session.add(department)
        await self.session.flush()
        return department

    async def get(self, department_id: int) -> Department | None:
        return await self.session.get(Department, department_id)

    async def find_exact(self, name_or_code: str) -> Department | None:
        """The department whose name or code equals the text once both are normalised."""
        wanted = self.normalize(name_or_code)
        for department in await self.all():
            if wanted in (self.normalize(department.name), self.normalize(department.code)):
                return department
        return None

    async def all(self) -> list[Department]:
        return list(await self.session.scalars(select(Department).order_by(Department.name)))

    async def rename(self, department: Department, new_name: str) -> None:
        await self._refuse_taken(new_name, None, besides=department.id)
        department.name = new_name
        await self.session.flush()

    async def set_units(self, department: Department, units: int) -> None:
        department.internal_units = units

    async def set_quota(self, department: Department, quota: int | None) -> None:
        department.group_quota = quota

    async def set_contact_chat(self, department: Department, chat_id: int | None) -> None:
        department.contact_chat_id = chat_id

    async def remove(self, department: Department) -> None:
        """Delete it, detaching the groups the bot has left (they would block it forever)."""
        # Facts counted against it earlier in this transaction go in first: the database then
        # detaches them too (ON DELETE SET NULL), instead of refusing them at the commit.
        await pending_events.write(self.session)
        await self.session.execute(update(Chat).where(Chat.department_id == department.id).values(department_id=None))
        # Cached group snapshots may still name the department.
        ChatRepository(self.session).forget_snapshots()
        await self.session.delete(department)
        await self.session.flush()

    async def _refuse_taken(self, name: str, code: str | None, besides: int | None = None) -> None:
        wanted = {self.normalize(name)} | ({self.normalize(code)} if code else set())
        for department in await self.all():
            if department.id != besides and wanted & {self.normalize(department.name), self.normalize(department.code)}:
                raise DuplicateDepartment(name)
