"""Async engine, session factory and the transaction wrapper that owns commits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiosqlite

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine

from storage.sqlite_driver import connect_inline


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, echo: bool = False, **engine_options: Any) -> AsyncEngine:
    """An AsyncEngine configured for the backend behind the URL."""
    # Echoed SQL shows statements, never their values: those are user ids, names and notices.
    engine_options.setdefault("hide_parameters", True)
    if is_sqlite(url):
        # Several connections (and replicas in tests) share one file: wait for locks instead
        # of failing at once, and let SQLite enforce foreign keys as PostgreSQL does.
        engine_options.setdefault("connect_args", {}).setdefault("timeout", 30)
        # Every session here ends in COMMIT or ROLLBACK (Database.transaction), so the pool's
        # extra ROLLBACK on check-in is a wasted trip through aiosqlite's thread.
        engine_options.setdefault("pool_reset_on_return", None)
        engine = create_async_engine(url, echo=echo, **engine_options)
        event.listen(engine.sync_engine, "do_connect", connect_inline)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    engine_options.setdefault("pool_pre_ping", True)
    url_object = make_url(url)
    schema = url_object.query.get("search_path")
    if schema:
        # asyncpg has no URL parameter for the schema: `?search_path=NAME` is Jianfu's own,
        # turned into a server setting so every pooled connection lands in that schema.
        url_object = url_object.difference_update_query(["search_path"])
        connect_args = engine_options.setdefault("connect_args", {})
        connect_args.setdefault("server_settings", {})["search_path"] = str(schema)
    return create_async_engine(url_object, echo=echo, **engine_options)


def read_only_engine(url: str) -> AsyncEngine:
    """An engine that cannot write, for reading a deployment's database from outside the bot.

    SQLite opens the file read-only and never creates one (FileNotFoundError instead). When no
    -wal file is next to it, no bot is writing: it is opened immutable, so not even the -wal and
    -shm files a reader would otherwise add appear. PostgreSQL sessions are read-only.
    """
    if not is_sqlite(url):
        return create_engine(url, connect_args={"server_settings": {"default_transaction_read_only": "on"}})
    database = make_url(url).database
    path = Path(database or "").resolve()
    if not database or database == ":memory:" or not path.is_file():
        raise FileNotFoundError(str(path))
    options = "mode=ro" if Path(f"{path}-wal").exists() else "mode=ro&immutable=1"
    location = f"{path.as_uri()}?{options}"
    return create_async_engine("sqlite+aiosqlite://", async_creator=lambda: aiosqlite.connect(location, uri=True))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


# session.info key under which repositories find the process-local read cache.
CACHE_KEY = "jianfu.cache"
# session.info key: set it to True and the transaction rolls back instead of committing.
FAILED_KEY = "jianfu.failed"


class Database:
    """The engine plus a session factory; one AsyncSession per update or job."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)
        # Short-lived copies of hot rows (a group's settings), evicted by this process's
        # writes and expiring quickly so other replicas' writes show up soon.
        self.cache: dict[str, dict] = {}

    @classmethod
    def from_url(cls, url: str, *, echo: bool = False) -> Database:
        return cls(create_engine(url, echo=echo))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session committed when the block succeeds and rolled back when it raises.

        Most group messages need no database work at all; a session that never began a
        transaction holds no connection, so it is neither committed nor closed (each of
        those costs a trip through the driver's thread for nothing).
        """
        session = self.sessions()
        session.info[CACHE_KEY] = self.cache
        try:
            yield session
            if session.info.get(FAILED_KEY) and session.in_transaction():
                await session.rollback()
            elif session.in_transaction():
                await session.commit()
        except BaseException:
            if session.in_transaction():
                await session.rollback()
            raise
        finally:
            if session.in_transaction() or session.identity_map:
                await session.close()

    async def dispose(self) -> None:
        await self.engine.dispose()
