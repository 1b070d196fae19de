"""Async engine, session factory and the transaction wrapper that owns commits."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def create_engine(url: str, *, echo: bool = False, **engine_options: Any) -> AsyncEngine:
    """An AsyncEngine configured for the backend behind the URL."""
    if is_sqlite(url):
        # Several connections (and replicas in tests) share one file: wait for locks instead
        # of failing at once, and let SQLite enforce foreign keys as PostgreSQL does.
        engine_options.setdefault("connect_args", {}).setdefault("timeout", 30)
        engine = create_async_engine(url, echo=echo, **engine_options)
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


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


class Database:
    """The engine plus a session factory; one AsyncSession per update or job."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False)

    @classmethod
    def from_url(cls, url: str, *, echo: bool = False) -> Database:
        return cls(create_engine(url, echo=echo))

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncSession]:
        """A session committed when the block succeeds and rolled back when it raises."""
        async with self.sessions() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise
            await session.commit()

    async def dispose(self) -> None:
        await self.engine.dispose()
