"""Apply Alembic migrations from code (`jianfu db upgrade`, `jianfu run`, tests)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

MIGRATIONS = Path(__file__).with_name("migrations")
# Any constant works; it only has to be the same for every replica of this application.
_UPGRADE_LOCK_ID = 0x6A69616E6675


def alembic_config(url: str) -> Config:
    """An Alembic Config pointing at storage/migrations, without needing an alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


async def upgrade(engine: AsyncEngine, revision: str = "head") -> None:
    """Bring the database to `revision`; replicas starting together upgrade one at a time."""
    await _migrate(engine, command.upgrade, revision)


async def downgrade(engine: AsyncEngine, revision: str) -> None:
    """Undo migrations down to `revision` (what an older Jianfu expects), one replica at a time."""
    await _migrate(engine, command.downgrade, revision)


async def _migrate(engine: AsyncEngine, step: Callable[[Config, str], None], revision: str) -> None:
    url = engine.url.render_as_string(hide_password=False)
    async with engine.connect() as connection:
        await connection.run_sync(_locked, step, alembic_config(url), revision)
        await connection.commit()


def _locked(connection: Connection, step: Callable[[Config, str], None], config: Config, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _UPGRADE_LOCK_ID})
    config.attributes["connection"] = connection
    step(config, revision)


def _scripts() -> ScriptDirectory:
    return ScriptDirectory.from_config(alembic_config("sqlite://"))


def known_revisions() -> list[tuple[str, str]]:
    """(revision, title) of every migration this version ships, oldest first."""
    return [(script.revision, script.doc) for script in reversed(list(_scripts().walk_revisions()))]


def revisions_between(target: str, current: str | None) -> list[tuple[str, str]] | None:
    """The migrations a downgrade from `current` to `target` undoes, newest first; None for an
    unknown target ("base" means all of them)."""
    known = known_revisions()
    order = [revision for revision, _ in known]
    if target != "base" and target not in order:
        return None
    floor = 0 if target == "base" else order.index(target) + 1
    ceiling = order.index(current) + 1 if current in order else 0
    return list(reversed(known[floor:ceiling]))


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as connection:
        return await connection.run_sync(lambda sync: MigrationContext.configure(sync).get_current_revision())
