"""Shared fixtures: a database per test on SQLite, and on PostgreSQL when one is configured."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import text

from policies.clock import FakeClock
from storage.db import Database, create_engine
from storage.models import Base

# Opt in to PTB 23 behaviour (retry_after as timedelta) so its deprecation notice stays quiet.
os.environ.setdefault("PTB_TIMEDELTA", "1")

POSTGRES_ENV = "JIANFU_TEST_DATABASE_URL"
BACKENDS = ["sqlite", "postgresql"]


def pytest_report_header() -> str:
    if os.environ.get(POSTGRES_ENV):
        return "jianfu: database tests run on SQLite and PostgreSQL"
    return f"jianfu: {POSTGRES_ENV} is not set: PostgreSQL variants of the database tests are skipped"


@pytest.fixture
def clock() -> FakeClock:
    # A Monday morning in Shanghai (01:00 UTC = 09:00 CST).
    return FakeClock(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))


# The system catalogs that creating and dropping a schema of tables leaves dead rows in.
CHURNED_CATALOGS = (
    "pg_class",
    "pg_attribute",
    "pg_attrdef",
    "pg_depend",
    "pg_type",
    "pg_index",
    "pg_constraint",
    "pg_trigger",
    "pg_sequence",
    "pg_namespace",
    "pg_description",
)
# Whether this run made a schema on the test PostgreSQL (its catalogs then want a vacuum).
_made_schemas = False


def pytest_sessionfinish(session: pytest.Session) -> None:
    """Vacuum the catalogs of the test PostgreSQL after a run that made schemas there.

    Every PostgreSQL test creates and drops a schema of some twenty tables: a full run leaves
    about half a million dead catalog rows. A server with autovacuum off (this project's CI
    machine runs it so) never reclaims them, and each later run's schema changes and new
    connections get slower. Plain VACUUM takes no lock a test would wait on; a user who may not
    vacuum the catalogs is simply left as before."""
    url = os.environ.get(POSTGRES_ENV)
    if url and _made_schemas:
        asyncio.run(_vacuum_catalogs(url))


async def _vacuum_catalogs(url: str) -> None:
    engine = create_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as connection:
            await connection.execute(text(f"VACUUM {', '.join(f'pg_catalog.{name}' for name in CHURNED_CATALOGS)}"))
    except Exception as error:  # a courtesy to the server, never a test failure
        print(f"\njianfu: could not vacuum the test database's catalogs ({type(error).__name__})")
    finally:
        await engine.dispose()


def postgres_url_or_skip() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if not url:
        pytest.skip(f"{POSTGRES_ENV} is not set, so the PostgreSQL variant is skipped")
    return url


@pytest.fixture(params=BACKENDS)
async def database_url(request: pytest.FixtureRequest, tmp_path) -> AsyncIterator[str]:
    """An empty database: a fresh SQLite file, or a fresh schema on the test PostgreSQL."""
    global _made_schemas
    if request.param == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'test.db'}"
        return
    base_url = postgres_url_or_skip()
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base_url)
    async with admin.begin() as connection:
        await connection.execute(text(f'CREATE SCHEMA "{schema}"'))
    _made_schemas = True
    try:
        yield _with_search_path(base_url, schema)
    finally:
        async with admin.begin() as connection:
            await connection.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        await admin.dispose()


def _with_search_path(url: str, schema: str) -> str:
    separator = "&" if "?" in url else "?"
    return f"{url}{separator}search_path={schema}"


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    """A Database with the schema created from the models."""
    database = Database.from_url(database_url)
    async with database.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    yield database
    await database.dispose()
