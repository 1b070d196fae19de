"""PostgreSQL connections are pinged before use only after sitting idle (storage.db)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from storage.db import create_engine
from tests.conftest import postgres_url_or_skip


def counting_pings(engine: Any, monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Count the dialect's pings (each is three round trips on asyncpg)."""
    pings: list[int] = []
    dialect = engine.sync_engine.dialect
    original = dialect.do_ping

    def do_ping(dbapi_connection: Any) -> bool:
        pings.append(1)
        return original(dbapi_connection)

    monkeypatch.setattr(dialect, "do_ping", do_ping)
    return pings


async def backend_pid(engine: Any) -> int:
    async with engine.begin() as connection:
        return int(await connection.scalar(text("SELECT pg_backend_pid()")))


async def terminate(url: str, pid: int) -> None:
    """Another session ends the backend (what a server restart or a cut connection does)."""
    admin = create_engine(url)
    try:
        async with admin.begin() as connection:
            await connection.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
    finally:
        await admin.dispose()


async def test_a_connection_used_moments_ago_is_not_pinged(monkeypatch: pytest.MonkeyPatch) -> None:
    engine = create_engine(postgres_url_or_skip(), pool_size=1)
    pings = counting_pings(engine, monkeypatch)
    try:
        pids = {await backend_pid(engine) for _ in range(5)}
    finally:
        await engine.dispose()
    assert len(pids) == 1 and pings == []


async def test_a_connection_idle_a_while_is_pinged_and_replaced_when_it_died(monkeypatch: pytest.MonkeyPatch) -> None:
    url = postgres_url_or_skip()
    engine = create_engine(url, pool_size=1, ping_after_idle=0.0)
    pings = counting_pings(engine, monkeypatch)
    try:
        first = await backend_pid(engine)
        assert await backend_pid(engine) == first and len(pings) == 1
        await terminate(url, first)
        # The ping finds it dead: the pool connects again and the transaction goes through.
        assert await backend_pid(engine) != first
    finally:
        await engine.dispose()


async def test_a_connection_that_died_moments_after_use_fails_once_then_the_pool_recovers() -> None:
    url = postgres_url_or_skip()
    engine = create_engine(url, pool_size=1)
    try:
        first = await backend_pid(engine)
        await terminate(url, first)
        # Not pinged (used moments ago): this transaction fails, as a lost connection does
        # mid-update (the update is tried again); the pool drops the dead connection.
        with pytest.raises(DBAPIError):
            await backend_pid(engine)
        assert await backend_pid(engine) != first
    finally:
        await engine.dispose()
