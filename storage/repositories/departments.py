"""Departments: the registry supervisors manage and groups attach to."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.models import Department


class DuplicateDepartment(Exception):
    """A department with that name or code exists already."""


class DepartmentRepository:
    def __init__(self, session: AsyncSession) -> None:
        self.session = session

    async def add(self, name: str, code: str, internal_units: int, now: datetime) -> Department:
        department = Department(name=name, code=code, internal_units=internal_units, created_at=now)
        try:
            async with self.session.begin_nested():
                self.session.add(department)
        except IntegrityError:
            raise DuplicateDepartment(name) from None
        return department

    async def get(self, department_id: int) -> Department | None:
        return await self.session.get(Department, department_id)

    async def find_exact(self, name_or_code: str) -> Department | None:
        """The department whose name or code equals the text, ignoring case."""
        wanted = name_or_code.strip().casefold()
        query = select(Department).where(
            (func.lower(Department.name) == wanted) | (func.lower(Department.code) == wanted)
        )
        return (await self.session.scalars(query)).first()

    async def all(self) -> list[Department]:
        return list(await self.session.scalars(select(Department).order_by(Department.name)))

    async def rename(self, department: Department, new_name: str) -> None:
        try:
            async with self.session.begin_nested():
                department.name = new_name
        except IntegrityError:
            raise DuplicateDepartment(new_name) from None

    async def set_units(self, department: Department, units: int) -> None:
        department.internal_units = units

    async def set_contact_chat(self, department: Department, chat_id: int | None) -> None:
        department.contact_chat_id = chat_id

    async def remove(self, department: Department) -> None:
        await self.session.delete(department)
