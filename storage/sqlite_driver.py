"""aiosqlite with statements run on the event loop's own thread, and lock waits as asyncio sleeps.

aiosqlite runs every sqlite3 call on a worker thread. A trip there and back is two thread
wake-ups (about 0.1 ms on a small virtual machine), more than a typical Jianfu statement takes
(an indexed insert or lookup: tens of microseconds), and SQLAlchemy's adapter makes up to four
trips per statement (open a cursor, execute, fetch, close). Here a statement runs in one call on
the loop's thread and its rows are kept, as the adapter keeps them anyway (it fetches eagerly;
Jianfu never streams results). Two things must not stall the loop:

- Waiting for another connection's write lock. The sqlite3 connection's own busy timeout is 0;
  "database is locked" is retried after an asyncio sleep until the configured timeout, as
  SQLite's busy handler would retry it. In WAL mode that is always safe: writers never deadlock,
  and a transaction whose snapshot went stale (SQLITE_BUSY_SNAPSHOT) fails at once, as it does
  with the busy handler.
- A slow statement (a large inbox page). One that ever takes longer than SLOW_SECONDS of this
  thread's CPU time (not wall time: on a busy machine any statement may wait for a core) runs on
  the worker thread from then on, in a single trip.

Writers queue in this process instead of polling: SQLite admits one writer at a time, and with
updates of many chats in flight, retrying "database is locked" with sleeps would turn every busy
moment into a storm of wake-ups and make latency random. A connection takes its database's write
gate (an asyncio lock per file) at its transaction's first write and gives it back at commit or
rollback; waiting for it is bounded by the lock timeout like SQLite's own busy wait. Reads never
wait (WAL). A statement running longer than the statement timeout is interrupted.

Commits and rollbacks run inline: a commit is a WAL append (synchronous=NORMAL: no fsync), and
the occasional checkpoint it triggers is passive (it does fsync the database file, a short stall
on a slow disk: the price of the inline path). A statement still running on the worker thread
after its caller was cancelled is waited for before anything else runs on the connection. It
relies on the internals of aiosqlite 0.22 that SQLAlchemy's own adapter relies on too:
`Connection._execute` and `Connection._conn`.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections import deque
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import aiosqlite

# Primary and extended result codes worth waiting for; anything else (SQLITE_BUSY_SNAPSHOT) fails.
RETRYABLE = frozenset({5, 261})  # SQLITE_BUSY, SQLITE_BUSY_RECOVERY
SLOW_SECONDS = 0.005
MAX_SLOW_STATEMENTS = 1000
FIRST_WAIT, LONGEST_WAIT = 0.001, 0.05
WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "CREATE", "DROP", "ALTER")
# How often (in SQLite VM instructions) a running statement checks its deadline.
PROGRESS_STEPS = 20_000

# One write gate per database file and event loop (tests run many loops in one process).
_GATES: dict[tuple[int, str], asyncio.Lock] = {}


def write_gate(location: str) -> asyncio.Lock:
    key = (id(asyncio.get_running_loop()), location)
    gate = _GATES.get(key)
    if gate is None:
        gate = _GATES[key] = asyncio.Lock()
    return gate


def _is_write(statement: str) -> bool:
    return statement.lstrip()[:7].upper().startswith(WRITES)


def _statement(
    connection: sqlite3.Connection, sql: str, parameters: Any, many: bool
) -> tuple[list[Any], Any, int, int | None]:
    """One statement, its rows and what the cursor knows afterwards."""
    cursor = connection.cursor()
    try:
        if many:
            cursor.executemany(sql, parameters)
        else:
            cursor.execute(sql, parameters)
        rows = cursor.fetchall() if cursor.description else []
        return rows, cursor.description, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class InlineCursor:
    """The part of aiosqlite's Cursor that SQLAlchemy uses; results are held in memory."""

    def __init__(self, connection: InlineConnection) -> None:
        self._connection = connection
        self._rows: deque[Any] = deque()
        self.description: Any = None
        self.rowcount = -1
        self.lastrowid: int | None = None
        self.arraysize = 1

    async def __aenter__(self) -> InlineCursor:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def execute(self, sql: str, parameters: Any = None) -> InlineCursor:
        return await self._run(sql, () if parameters is None else parameters, many=False)

    async def executemany(self, sql: str, parameters: Iterable[Any]) -> InlineCursor:
        return await self._run(sql, list(parameters), many=True)

    async def _run(self, sql: str, parameters: Any, *, many: bool) -> InlineCursor:
        outcome = await self._connection.run(_statement, sql, parameters, many, statement=sql)
        rows, self.description, self.rowcount, self.lastrowid = outcome
        self._rows = deque(rows)
        return self

    async def fetchone(self) -> Any:
        return self._rows.popleft() if self._rows else None

    async def fetchmany(self, size: int | None = None) -> list[Any]:
        count = min(self.arraysize if size is None else size, len(self._rows))
        return [self._rows.popleft() for _ in range(count)]

    async def fetchall(self) -> list[Any]:
        rows = list(self._rows)
        self._rows.clear()
        return rows

    async def close(self) -> None:
        # The sqlite3 cursor is closed already, right after its statement.
        self._rows.clear()


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection that keeps its worker thread for slow statements only."""

    def __init__(
        self,
        connector: Callable[[], sqlite3.Connection],
        iter_chunk_size: int,
        lock_timeout: float,
        location: str = "",
        statement_timeout: float | None = None,
    ) -> None:
        super().__init__(connector, iter_chunk_size)
        self.lock_timeout = lock_timeout
        self.statement_timeout = statement_timeout
        self.location = location
        self._gate: asyncio.Lock | None = None
        self._deadline = 0.0
        self.slow: set[str] = set()
        # A statement on the worker thread whose awaiting task may have been cancelled: the
        # worker still runs it, so nothing may run inline on the connection until it is over.
        self._in_flight: asyncio.Future[Any] | None = None

    def cursor(self) -> InlineCursor:  # type: ignore[override]
        # SQLAlchemy enters the cursor (`await cursor.__aenter__()`); there is nothing to wait for.
        return InlineCursor(self)

    async def commit(self) -> None:
        try:
            await self.run(sqlite3.Connection.commit)
        finally:
            self._release_gate()

    async def rollback(self) -> None:
        # Never waits for a lock: it only drops this connection's own changes, including those
        # of a cancelled statement still finishing on the worker thread.
        try:
            await self._settle_in_flight()
            self._conn.rollback()
        finally:
            self._release_gate()

    async def close(self) -> None:
        self._release_gate()
        await super().close()

    async def _take_gate(self) -> None:
        """This connection's transaction is about to write: wait for the file's other writers."""
        gate = write_gate(self.location)
        try:
            # asyncio.timeout, not wait_for: wait_for wraps the acquire in a task of its own,
            # a turn of the event loop on every write transaction even when the gate is free.
            async with asyncio.timeout(self.lock_timeout):
                await gate.acquire()
        except TimeoutError:
            raise sqlite3.OperationalError("database is locked (waited for another writer)") from None
        self._gate = gate

    def _release_gate(self) -> None:
        if self._gate is not None:
            gate, self._gate = self._gate, None
            gate.release()

    def _past_deadline(self) -> int:
        """SQLite's progress handler: a non-zero answer interrupts the running statement."""
        return int(self._deadline and time.monotonic() > self._deadline)

    async def _settle_in_flight(self) -> None:
        if self._in_flight is not None and not self._in_flight.done():
            await asyncio.wait([self._in_flight])
        self._in_flight = None

    async def run(self, function: Callable[..., Any], *args: Any, statement: str | None = None) -> Any:
        """`function(sqlite3 connection, *args)`, waiting out other connections' write locks."""
        if statement is not None and self._gate is None and self.location and _is_write(statement):
            await self._take_gate()
        deadline, wait = None, FIRST_WAIT
        while True:
            try:
                return await self._once(function, args, statement)
            except sqlite3.OperationalError as error:
                if error.sqlite_errorcode not in RETRYABLE:
                    raise
                now = time.monotonic()
                deadline = deadline or now + self.lock_timeout
                if now >= deadline:
                    raise
                await asyncio.sleep(min(wait, deadline - now))
                wait = min(wait * 2, LONGEST_WAIT)

    async def _once(self, function: Callable[..., Any], args: tuple[Any, ...], statement: str | None) -> Any:
        await self._settle_in_flight()
        self._deadline = time.monotonic() + self.statement_timeout if self.statement_timeout and statement else 0.0
        if statement is not None and statement in self.slow:
            self._in_flight = asyncio.ensure_future(self._execute(function, self._conn, *args))
            # Shielded: a cancelled caller leaves the statement to finish, and the next call
            # (a rollback, usually) waits for it above.
            return await asyncio.shield(self._in_flight)
        started = time.thread_time()
        result = function(self._conn, *args)
        if (
            statement is not None
            and time.thread_time() - started > SLOW_SECONDS
            and len(self.slow) < MAX_SLOW_STATEMENTS
        ):
            self.slow.add(statement)
        return result


def connect(
    database: str | bytes | Path,
    *,
    iter_chunk_size: int = 64,
    timeout: float = 5.0,
    statement_timeout: float | None = None,
    **kwargs: Any,
) -> InlineConnection:
    """aiosqlite.connect's signature (SQLAlchemy passes the same arguments), for InlineConnection.

    `timeout` becomes the asyncio wait for locks; sqlite3 itself never waits.
    """
    location = database.decode() if isinstance(database, bytes) else str(database)
    # Opened on the worker thread, used on the loop's: never by both at once (the adapter
    # awaits each call), so sqlite3's same-thread check would only get in the way.
    kwargs["check_same_thread"] = False
    gate_key = "" if location in ("", ":memory:") or "mode=memory" in location else str(Path(location).resolve())

    def open_connection() -> sqlite3.Connection:
        raw = sqlite3.connect(location, timeout=0, **kwargs)
        raw.set_progress_handler(connection._past_deadline, PROGRESS_STEPS)
        return raw

    connection = InlineConnection(open_connection, iter_chunk_size, timeout, gate_key, statement_timeout)
    # As SQLAlchemy does for aiosqlite: the worker thread never keeps the process alive.
    connection._thread.daemon = True
    return connection


def connect_inline(dialect: Any, _record: Any, cargs: tuple[Any, ...], cparams: dict[str, Any]) -> Any:
    """The engine's `do_connect` hook: the dialect's usual connection, made by `connect` above."""
    return dialect.dbapi.connect(*cargs, async_creator_fn=connect, **cparams)
