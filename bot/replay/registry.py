"""The department registry replay may read from a deployment's database: read-only, once."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncSession

from storage.db import read_only_engine
from storage.repositories.registry import RegisteredGroup, RegistryRepository


class RegistryError(Exception):
    """The database cannot be read: a catalog key `replay.error.*` and its parameters."""

    def __init__(self, problem: str, **params: str) -> None:
        super().__init__(f"{problem} {params}")
        self.problem, self.params = problem, params


@dataclass(frozen=True)
class Registry:
    """Departments, the groups attached to them, department contacts, who opened a private chat.
    Empty (not `loaded`) when replay is given no database: then groups stand for departments."""

    departments: dict[int, str] = field(default_factory=dict)
    groups: dict[int, RegisteredGroup] = field(default_factory=dict)
    contacts: dict[int, frozenset[int]] = field(default_factory=dict)
    private_chats: frozenset[int] = frozenset()
    loaded: bool = False


async def load_registry(url: str) -> Registry:
    """Read the registry through a connection that cannot write."""
    try:
        engine = read_only_engine(url)
    except FileNotFoundError as missing:
        raise RegistryError("no_database_file", path=str(missing)) from None
    try:
        # One connection, never committed: on PostgreSQL its transaction is read-only as well.
        async with engine.connect() as connection, AsyncSession(bind=connection) as session:
            repository = RegistryRepository(session)
            return Registry(
                departments=await repository.departments(),
                groups=await repository.groups(),
                contacts=await repository.contacts(),
                private_chats=await repository.people_with_private_chat(),
                loaded=True,
            )
    except (DBAPIError, OSError) as error:
        raise RegistryError("database", detail=_first_line(error)) from None
    finally:
        await engine.dispose()


def _first_line(error: Exception) -> str:
    text = str(getattr(error, "orig", None) or error)
    return text.splitlines()[0] if text else type(error).__name__
