"""Apply Alembic migrations from code (`jianfu db upgrade`, `jianfu run`, tests)."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
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
    url = engine.url.render_as_string(hide_password=False)
    async with engine.connect() as connection:
        await connection.run_sync(_upgrade, alembic_config(url), revision)
        await connection.commit()


def _upgrade(connection: Connection, config: Config, revision: str) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:id)"), {"id": _UPGRADE_LOCK_ID})
    config.attributes["connection"] = connection
    command.upgrade(config, revision)


async def current_revision(engine: AsyncEngine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    from alembic.runtime.migration import MigrationContext

    async with engine.connect() as connection:
        return await connection.run_sync(
            lambda sync: MigrationContext.configure(sync).get_current_revision()
        )
