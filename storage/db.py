"""Async engine, session factory and the transaction wrapper that owns commits."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path
from typing import Any

import aiosqlite
from sqlalchemy import event, exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker, create_async_engine
from sqlalchemy.orm import Session

from storage.sqlite_driver import connect_inline


def is_sqlite(url: str) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


# How long a statement may wait for another transaction's lock, and run at most: one stuck
# update must not stall the others (its transaction fails, and it is tried again).
LOCK_TIMEOUT, STATEMENT_TIMEOUT = 5.0, 30.0
# A pooled PostgreSQL connection idle this long is pinged before use (see _ping_idle_connections).
PING_AFTER_IDLE_SECONDS = 10.0
# connection_record.info key: when the pool got the connection back (time.monotonic()).
RETURNED_AT_KEY = "jianfu.returned_at"
# connection_record.info key, while a connection runs one statement on its own: whether it ran.
ONE_STATEMENT_KEY = "jianfu.one_statement"


def create_engine(
    url: str,
    *,
    echo: bool = False,
    lock_timeout: float = LOCK_TIMEOUT,
    statement_timeout: float = STATEMENT_TIMEOUT,
    ping_after_idle: float = PING_AFTER_IDLE_SECONDS,
    **engine_options: Any,
) -> AsyncEngine:
    """An AsyncEngine configured for the backend behind the URL."""
    # Echoed SQL shows statements, never their values: those are user ids, names and notices.
    engine_options.setdefault("hide_parameters", True)
    if is_sqlite(url):
        # Several connections (and replicas in tests) share one file: wait for locks instead
        # of failing at once, and let SQLite enforce foreign keys as PostgreSQL does.
        connect_args = engine_options.setdefault("connect_args", {})
        connect_args.setdefault("timeout", lock_timeout)
        connect_args.setdefault("statement_timeout", statement_timeout)
        # Every session here ends in COMMIT or ROLLBACK (Database.transaction), so the pool's
        # extra ROLLBACK on check-in is a wasted trip through aiosqlite's thread.
        engine_options.setdefault("pool_reset_on_return", None)
        engine = create_async_engine(url, echo=echo, **engine_options)
        event.listen(engine.sync_engine, "do_connect", connect_inline)
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    # The most recently returned connection is handed out first: under light load a few stay in
    # use (and need no ping) while the rest sit idle, instead of each idling past the ping limit.
    engine_options.setdefault("pool_use_lifo", True)
    url_object = make_url(url)
    server_settings = engine_options.setdefault("connect_args", {}).setdefault("server_settings", {})
    server_settings.setdefault("lock_timeout", f"{int(lock_timeout * 1000)}")
    server_settings.setdefault("statement_timeout", f"{int(statement_timeout * 1000)}")
    # A transaction left open (a process stalled mid-update) gives its row locks back.
    server_settings.setdefault("idle_in_transaction_session_timeout", f"{int(max(statement_timeout * 2, 60) * 1000)}")
    schema = url_object.query.get("search_path")
    if schema:
        # asyncpg has no URL parameter for the schema: `?search_path=NAME` is Jianfu's own,
        # turned into a server setting so every pooled connection lands in that schema.
        url_object = url_object.difference_update_query(["search_path"])
        server_settings["search_path"] = str(schema)
    engine = create_async_engine(url_object, echo=echo, **engine_options)
    event.listen(engine.sync_engine, "before_cursor_execute", _without_nul, retval=True)
    _ping_idle_connections(engine, ping_after_idle)
    event.listen(engine.sync_engine, "before_cursor_execute", _refuse_a_second_statement)
    event.listen(engine.sync_engine.pool, "checkin", _forget_the_one_statement)
    return engine


def _ping_idle_connections(engine: AsyncEngine, idle_seconds: float) -> None:
    """Ping a pooled connection before use only when it sat idle `idle_seconds` or more.

    SQLAlchemy's pre-ping pings at every checkout, and on asyncpg a ping is three round trips
    (BEGIN, a statement, ROLLBACK): as many as a short transaction's own statements. A
    connection used moments ago is almost surely alive; one that died anyway (the server
    restarted) fails its transaction, which is tried again, and the pool then drops every
    connection older than the failure. One idle longer (a proxy or firewall may have cut it)
    is pinged, and replaced with all older ones when the ping fails.
    """
    pool, dialect = engine.sync_engine.pool, engine.sync_engine.dialect

    def returned(_dbapi_connection: Any, record: Any) -> None:
        record.info[RETURNED_AT_KEY] = time.monotonic()

    def checked_out(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        returned_at = record.info.pop(RETURNED_AT_KEY, None)
        if returned_at is None or time.monotonic() - returned_at < idle_seconds:
            return  # just connected, or used moments ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:
            raise exc.InvalidatePoolError("the connection did not answer a ping") from error

    event.listen(pool, "checkin", returned)
    event.listen(pool, "checkout", checked_out)


class OneStatementOnly(RuntimeError):
    """A statement after an update's one autocommit statement (it would run outside its atomicity)."""


def allow_one_statement(connection_info: dict[str, Any]) -> None:
    """The connection runs one statement on its own (autocommit) until it goes back to the pool:
    a second one is refused, as it would commit apart from the first (OutboxRepository.add)."""
    connection_info[ONE_STATEMENT_KEY] = False


def _refuse_a_second_statement(connection: Any, *_statement: Any) -> None:
    ran = connection.info.get(ONE_STATEMENT_KEY)
    if ran:
        raise OneStatementOnly("a statement after the update's one autocommit statement")
    if ran is not None:
        connection.info[ONE_STATEMENT_KEY] = True


def _forget_the_one_statement(_dbapi_connection: Any, record: Any) -> None:
    record.info.pop(ONE_STATEMENT_KEY, None)


def _without_nul(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, executemany: bool) -> Any:
    """PostgreSQL's text refuses NUL characters, which a person can send: they are dropped."""
    if executemany:
        return statement, [_clean_row(row) for row in parameters]
    return statement, _clean_row(parameters)


def _clean_row(row: Any) -> Any:
    # Every statement passes here: a row without a NUL (nearly all) is returned as it is.
    if isinstance(row, dict):
        if any(_has_nul(value) for value in row.values()):
            return {key: without_nul(value) for key, value in row.items()}
        return row
    if isinstance(row, list | tuple) and any(_has_nul(value) for value in row):
        return type(row)(without_nul(value) for value in row)
    return row


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    # A column's values as one array (storage.repositories._sql.insert_rows).
    return isinstance(value, list) and any(isinstance(item, str) and "\x00" in item for item in value)


def without_nul(value: Any) -> Any:
    """The value as PostgreSQL gets it: NUL characters dropped from a text, or from a list's texts."""
    if isinstance(value, list):
        return [without_nul(item) for item in value]
    return value.replace("\x00", "") if isinstance(value, str) and "\x00" in value else value


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
# session.info key: (update id, now) of the Telegram update this transaction handles. Its id is claimed as the
# transaction begins (see UpdateSession), so a second delivery changes nothing.
UPDATE_ID_KEY = "jianfu.update_id"
# session.info key: set when the update turned out to be handled before.
HANDLED_BEFORE_KEY = "jianfu.handled_before"


# session.info key: what runs just before the transaction commits (see before_commit).
BEFORE_COMMIT_KEY = "jianfu.before_commit"


def before_commit(session: AsyncSession, flush: Callable[[AsyncSession], Awaitable[None]]) -> None:
    """Run `flush(session)` once, just before this session's transaction commits (never when it
    rolls back): writes gathered during the transaction (the groups' action log, outcomes
    settled together) go in as one statement each, whichever path commits it."""
    hooks = session.info.setdefault(BEFORE_COMMIT_KEY, [])
    if flush not in hooks:
        hooks.append(flush)


async def _flush_gathered(session: AsyncSession) -> None:
    hooks = session.info.pop(BEFORE_COMMIT_KEY, None) or []
    for flush in hooks:
        await flush(session)


# session.info key: what runs once the transaction committed (see after_commit).
AFTER_COMMIT_KEY = "jianfu.after_commit"


def after_commit(session: AsyncSession, then: Callable[[AsyncSession], None]) -> None:
    """Run `then(session)` once this session's transaction committed (never when it rolls back):
    for process memory that must only learn what the database now holds."""
    hooks = session.info.setdefault(AFTER_COMMIT_KEY, [])
    if then not in hooks:
        hooks.append(then)


def _after_commit(session: AsyncSession) -> None:
    for then in session.info.pop(AFTER_COMMIT_KEY, None) or []:
        then(session)


class AlreadyHandled(Exception):
    """The update's effects were committed before (a retry, a replica, a redelivery)."""


class UpdateSession(Session):
    """A Session that claims its update's id in the first statement of its transaction.

    Claiming at the start, not at the end, means a replica handling the same update waits for
    the first one's commit (PostgreSQL's unique index) instead of repeating its work, and an
    update handled before stops at its first database access. When the first statement is also
    the last (an ack's outbox write on PostgreSQL), it carries the claim itself (take_claim).
    """


def _claim_update(session: Session, _transaction: object, connection: object) -> None:
    claim = session.info.get(UPDATE_ID_KEY)
    if claim is None:
        return
    from storage.repositories.outbox import claim_update

    update_id, now = claim
    if not claim_update(connection, update_id, now):
        raise handled_before(session.info, update_id)


def handled_before(info: dict[str, Any], update_id: int) -> AlreadyHandled:
    """Mark the session's update as handled before (nothing of it is committed); the error to raise."""
    info[FAILED_KEY] = True
    info[HANDLED_BEFORE_KEY] = True
    return AlreadyHandled(update_id)


def take_claim(session: AsyncSession) -> tuple[int, datetime] | None:
    """The update's claim (its id, and when), taken from the begin event while no statement has
    run yet: the caller makes it part of the transaction's one statement (OutboxRepository.add).

    An ORM object added and not flushed yet also counts as begun (session.add() opens the
    session's transaction), so its INSERT can never follow the one statement apart from it."""
    if session.in_transaction():
        return None
    return session.info.pop(UPDATE_ID_KEY, None)


event.listen(UpdateSession, "after_begin", _claim_update)

# Sessions with a transaction open on a connection, and the asyncio task that opened each:
# lets tests prove that no Telegram call is made while the calling task holds a transaction.
_OPEN: dict[int, object] = {}


def _opened(session: Session, _transaction: object, _connection: object) -> None:
    try:
        _OPEN[id(session)] = asyncio.current_task()
    except RuntimeError:  # no running loop: a synchronous use (migrations)
        pass


def _closed(session: Session, transaction: Any) -> None:
    if transaction.parent is None:
        _OPEN.pop(id(session), None)


def transaction_open_in_this_task() -> bool:
    """Whether the current asyncio task holds an open database transaction."""
    try:
        task = asyncio.current_task()
    except RuntimeError:
        return False
    return task is not None and any(owner is task for owner in _OPEN.values())


event.listen(UpdateSession, "after_begin", _opened)
event.listen(UpdateSession, "after_transaction_end", _closed)


class Database:
    """The engine plus a session factory; one AsyncSession per update or job."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self.sessions = async_sessionmaker(engine, expire_on_commit=False, sync_session_class=UpdateSession)
        # Short-lived copies of hot rows (a group's settings), evicted by this process's
        # writes and expiring quickly so other replicas' writes show up soon.
        self.cache: dict[str, dict] = {}

    @classmethod
    def from_url(
        cls,
        url: str,
        *,
        echo: bool = False,
        lock_timeout: float = LOCK_TIMEOUT,
        statement_timeout: float = STATEMENT_TIMEOUT,
        connections: int | None = None,
    ) -> Database:
        """`connections`: how many the pool keeps open (SQLAlchemy's default of 5 when None).

        The bot commits up to `[updates] concurrent_chats` chats at once: with a smaller pool the
        connections beyond it are opened for one transaction and closed again (on PostgreSQL a
        server process started and ended each time: 299 of them per 3,000 group messages).
        """
        # An in-memory SQLite database is one connection (SQLAlchemy's StaticPool): no size to set.
        in_memory = is_sqlite(url) and (make_url(url).database or ":memory:") == ":memory:"
        options: dict[str, Any] = {} if connections is None or in_memory else {"pool_size": connections}
        engine = create_engine(
            url, echo=echo, lock_timeout=lock_timeout, statement_timeout=statement_timeout, **options
        )
        return cls(engine)

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
            if session.info.get(FAILED_KEY):
                if session.in_transaction():
                    await session.rollback()
            else:
                await _flush_gathered(session)
                if session.in_transaction():
                    await session.commit()
                _after_commit(session)
        except BaseException:
            if session.in_transaction():
                await session.rollback()
            raise
        finally:
            if session.in_transaction() or session.identity_map:
                await session.close()

    async def dispose(self) -> None:
        await self.engine.dispose()
