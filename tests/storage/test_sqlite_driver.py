"""The SQLite driver: statements on the loop's thread, lock waits that never stall the loop."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError
from sqlalchemy.ext.asyncio import AsyncConnection

from storage import sqlite_driver
from storage.db import Database, create_engine


@pytest.fixture
async def file_url(tmp_path: Path) -> str:
    url = f"sqlite+aiosqlite:///{tmp_path / 'driver.db'}"
    database = Database.from_url(url)
    async with database.engine.begin() as connection:
        await connection.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)"))
    await database.dispose()
    return url


async def _driver_connection(connection: AsyncConnection) -> sqlite_driver.InlineConnection:
    return (await connection.get_raw_connection()).driver_connection


async def test_rows_rowcount_and_lastrowid_come_back(file_url: str) -> None:
    database = Database.from_url(file_url)
    async with database.engine.begin() as connection:
        inserted = await connection.execute(text("INSERT INTO t (v) VALUES ('a')"))
        assert inserted.lastrowid == 1
        await connection.execute(text("INSERT INTO t (v) VALUES (:v)"), [{"v": "b"}, {"v": "c"}])
        updated = await connection.execute(text("UPDATE t SET v = 'x' WHERE id > 1"))
        assert updated.rowcount == 2
        assert (await connection.execute(text("SELECT id, v FROM t ORDER BY id"))).all() == [
            (1, "a"),
            (2, "x"),
            (3, "x"),
        ]
        assert isinstance(await _driver_connection(connection), sqlite_driver.InlineConnection)
    await database.dispose()


async def test_a_locked_database_is_waited_for_without_stalling_the_loop(file_url: str) -> None:
    holder, waiter = Database.from_url(file_url), Database.from_url(file_url)
    async with holder.engine.connect() as holding:
        await holding.execute(text("INSERT INTO t (v) VALUES ('held')"))
        ticks = 0

        async def tick_then_commit() -> None:
            nonlocal ticks
            for _ in range(5):
                ticks += 1
                await asyncio.sleep(0.01)
            await holding.commit()

        async def write_when_free() -> None:
            async with waiter.engine.begin() as writing:
                await writing.execute(text("INSERT INTO t (v) VALUES ('waited')"))

        await asyncio.gather(write_when_free(), tick_then_commit())
        # The writer waited while the holder's coroutine kept running on the same loop.
        assert ticks == 5
    async with waiter.engine.connect() as reading:
        assert (await reading.execute(text("SELECT v FROM t ORDER BY id"))).scalars().all() == ["held", "waited"]
    await holder.dispose()
    await waiter.dispose()


async def test_a_lock_held_past_the_timeout_fails_the_writer(file_url: str) -> None:
    holder = Database.from_url(file_url)
    impatient = create_engine(file_url, connect_args={"timeout": 0.05})
    async with holder.engine.connect() as holding:
        await holding.execute(text("INSERT INTO t (v) VALUES ('held')"))
        with pytest.raises(OperationalError, match="database is locked"):
            async with impatient.begin() as writing:
                await writing.execute(text("INSERT INTO t (v) VALUES ('late')"))
        await holding.rollback()
    await holder.dispose()
    await impatient.dispose()


async def test_a_stale_snapshot_fails_at_once_instead_of_waiting(file_url: str) -> None:
    path = file_url.removeprefix("sqlite+aiosqlite:///")
    stale = await sqlite_driver.connect(path, timeout=30, isolation_level=None)
    await stale.run(lambda connection: connection.execute("BEGIN").close())
    await stale.run(lambda connection: connection.execute("SELECT count(*) FROM t").fetchall())
    other = sqlite3.connect(path)
    other.execute("INSERT INTO t (v) VALUES ('newer')")
    other.commit()
    started = time.monotonic()
    # Waiting cannot help a transaction that read before the other write: SQLite says so at once.
    with pytest.raises(sqlite3.OperationalError) as raised:
        await stale.run(lambda connection: connection.execute("INSERT INTO t (v) VALUES ('stale')"))
    assert raised.value.sqlite_errorcode == 517  # SQLITE_BUSY_SNAPSHOT
    assert time.monotonic() - started < 1
    other.close()
    await stale.close()


async def test_a_slow_statement_moves_to_the_worker_thread(file_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sqlite_driver, "SLOW_SECONDS", 0.0)
    database = Database.from_url(file_url)
    ran_on_thread: list[str] = []
    async with database.engine.connect() as connection:
        driver = await _driver_connection(connection)
        original = driver._execute

        async def recorded(function, *args):
            ran_on_thread.append(args[1] if len(args) > 1 else "")
            return await original(function, *args)

        monkeypatch.setattr(driver, "_execute", recorded)
        query = text("SELECT count(*) FROM t")
        assert (await connection.execute(query)).scalar() == 0
        assert ran_on_thread == []
        assert (await connection.execute(query)).scalar() == 0
        assert ran_on_thread == ["SELECT count(*) FROM t"]
    await database.dispose()


async def test_sqlite_itself_never_waits(tmp_path: Path) -> None:
    """The lock timeout is the driver's to honour: a wait inside sqlite3 would block the loop."""
    connection = await sqlite_driver.connect(tmp_path / "x.db", timeout=30)
    assert connection.lock_timeout == 30
    assert await connection.run(lambda raw: raw.execute("PRAGMA busy_timeout").fetchone()[0]) == 0
    await connection.close()


async def test_a_rollback_waits_for_a_cancelled_statement_still_on_the_worker(tmp_path: Path) -> None:
    """A cancelled caller leaves its slow write running on the worker thread; the rollback must
    come after it, or the write would open a new transaction that outlives the session."""
    connection = await sqlite_driver.connect(tmp_path / "x.db", timeout=5)
    await connection.run(lambda raw: raw.execute("CREATE TABLE t (v TEXT)"))
    await connection.commit()
    started, finished, go = asyncio.Event(), asyncio.Event(), threading.Event()
    loop = asyncio.get_running_loop()

    def slow_insert(raw: sqlite3.Connection) -> None:
        loop.call_soon_threadsafe(started.set)
        go.wait(5)  # held until the rollback has begun
        raw.execute("INSERT INTO t VALUES ('late')")
        loop.call_soon_threadsafe(finished.set)

    statement = "INSERT INTO t VALUES ('late')"
    connection.slow.add(statement)
    caller = asyncio.create_task(connection.run(slow_insert, statement=statement))
    await started.wait()
    caller.cancel()
    loop.call_soon(go.set)  # runs once the rollback below is waiting
    await connection.rollback()
    await finished.wait()
    assert not connection._conn.in_transaction
    assert await connection.run(lambda raw: raw.execute("SELECT count(*) FROM t").fetchone()[0]) == 0
    await connection.close()
