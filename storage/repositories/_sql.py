"""Dialect-aware statements shared by the repositories."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import String, bindparam, exists, func, literal, select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from storage.db import before_commit, without_nul

# Built statements by (dialect, model, columns, keys, updated columns) or (dialect, name).
# Building an ON CONFLICT statement (its `excluded` collection above all) costs far more than
# running it, and the per-message path runs the same few shapes over and over.
_UPSERTS: dict[tuple[Any, ...], Any] = {}
# session.info key: (transaction, its connection), see transaction_connection.
CONNECTION_KEY = "jianfu.connection"


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def insert_for(session: AsyncSession, model: Any) -> Any:
    """The INSERT construct with ON CONFLICT support for the session's backend."""
    if dialect_name(session) == "postgresql":
        return postgresql.insert(model)
    return sqlite.insert(model)


def insert_rows(
    session: AsyncSession,
    model: Any,
    columns: tuple[str, ...],
    *,
    prefix: str = "",
    constants: dict[str, Any] | None = None,
    only_if: Any = None,
) -> Any:
    """An INSERT of any number of rows of `columns` (each bound as `prefix + name`), with
    `constants` (SQL expressions) the same for every row; ON CONFLICT and RETURNING may follow.
    Its parameters come from `rows_parameters`. With `only_if` (PostgreSQL only: a condition of
    the statement it rides in, see Guard) the rows are written only when it holds.

    On PostgreSQL the rows travel as one array per column, unnested (INSERT … SELECT … FROM
    unnest(…) AS rows(…)): the statement's text is the same for any number of rows, so asyncpg
    prepares it once per connection, and SQLAlchemy binds a few arrays instead of every value
    of every row (its VALUES form for a batch of 100 claims costs twice the time, nearly all of
    it in this process). The rows keep their order (callers sort them to avoid deadlocks).
    Elsewhere it is the VALUES form, run as an executemany."""
    table, given = model.__table__, constants or {}
    constants = {**_scalar_defaults(table, columns, given), **given}
    if dialect_name(session) != "postgresql":
        if only_if is not None:
            raise ValueError("only_if is a condition of a PostgreSQL WITH clause")
        values = {name: bindparam(prefix + name, type_=table.c[name].type) for name in columns}
        return sqlite.insert(model).values({**values, **constants})
    rows = unnested(table, columns, prefix=prefix)
    source = select(*(rows.c[name] for name in columns), *constants.values())
    if only_if is not None:
        source = source.where(only_if)
    return postgresql.insert(model).from_select([*columns, *constants], source)


def _scalar_defaults(table: Any, columns: tuple[str, ...], constants: dict[str, Any]) -> dict[str, Any]:
    """The columns left out that have a constant default, as literals in the statement itself.

    SQLAlchemy fills such defaults in as parameters of the statement it executes, but not of one
    nested in another's WITH clause (with_deferred_rows), where they would go in as NULL."""
    given = {*columns, *constants}
    return {
        name: literal(value, type_=table.c[name].type)
        for name, value in constant_defaults(table).items()
        if name not in given
    }


def constant_defaults(table: Any) -> dict[str, Any]:
    """The table's columns whose default is a constant (not a function), with that constant."""
    return {
        column.key: column.default.arg
        for column in table.columns
        if column.default is not None and column.default.is_scalar
    }


def unnested(table: Any, columns: tuple[str, ...], *, prefix: str = "") -> Any:
    """PostgreSQL: FROM unnest(:a::T[], :b::U[], …) AS rows(a, b, …), one array parameter per
    column (see array_name), typed as the table's column. Its rows come in the arrays' order."""
    arrays = [bindparam(array_name(prefix, name), type_=_array_of(table.c[name].type)) for name in columns]
    return func.unnest(*arrays).table_valued(*columns).render_derived(name="rows")


def _array_of(column_type: Any) -> Any:
    # A VARCHAR(n)[] cast would cut a longer value without a word; unbounded, the value is
    # checked where it is stored and refused, as a VALUES list's would be.
    if isinstance(column_type, String) and column_type.length is not None:
        column_type = String()
    return postgresql.ARRAY(column_type)


def array_name(prefix: str, column: str) -> str:
    """The bind parameter of a column's array: never the column's own name, which SQLAlchemy
    keeps for the values of an INSERT or UPDATE."""
    return f"rows_{prefix}{column}"


def rows_parameters(session: AsyncSession, rows: list[dict[str, Any]], *, prefix: str = "") -> Any:
    """The parameters of an `insert_rows` statement for `rows` (dicts with the same keys): on
    PostgreSQL one list per column, elsewhere the rows (one row runs as a plain execute)."""
    if dialect_name(session) == "postgresql":
        return {array_name(prefix, name): [row[name] for row in rows] for name in rows[0]}
    named = [{prefix + name: value for name, value in row.items()} for row in rows] if prefix else rows
    return named if len(named) > 1 else named[0]


async def upsert(
    session: AsyncSession,
    model: Any,
    values: dict[str, Any] | list[dict[str, Any]],
    *,
    keys: Iterable[str],
    update: Iterable[str],
    returning: Iterable[str] = (),
) -> list[Any]:
    """INSERT, or UPDATE the named columns when a row with the same keys exists (race-free);
    the `returning` columns of every row written (none unless asked).

    Several rows (`values` a list of rows of the same columns) are written by one statement:
    on PostgreSQL one `insert_rows` statement, which may not touch one row twice, so when a key
    comes twice (without `returning`) the rows go as an executemany instead, each row its own
    statement; with `returning` each key must come once. The caller orders them by key: two
    transactions upserting overlapping rows in one order wait for each other instead of
    deadlocking."""
    rows = values if isinstance(values, list) else [values]
    if not rows:
        return []
    keys, update, returning = tuple(keys), tuple(update), tuple(returning)
    dialect = dialect_name(session)
    as_arrays = dialect == "postgresql" and len(rows) > 1 and (bool(returning) or _keys_once(rows, keys))
    shape = (dialect, model, tuple(sorted(rows[0])), keys, update, returning, as_arrays)
    statement = _UPSERTS.get(shape)
    if statement is None:
        statement = _build_upsert(session, model, shape[2], keys, update, returning, as_arrays=as_arrays)
        _UPSERTS[shape] = statement
    if as_arrays:
        parameters = rows_parameters(session, rows, prefix="v_")
    else:
        named = [{f"v_{name}": value for name, value in row.items()} for row in rows]
        # One row runs as a plain execute: an executemany of one costs more.
        parameters = named if len(named) > 1 else named[0]
    result = await core_execute(session, statement, parameters)
    return list(result.all()) if returning else []


def _keys_once(rows: list[dict[str, Any]], keys: tuple[str, ...]) -> bool:
    # As PostgreSQL will see them: "r" and "r\x00" are one key once NULs are dropped.
    return len({tuple(without_nul(row[key]) for key in keys) for row in rows}) == len(rows)


async def core_execute(session: AsyncSession, statement: Any, parameters: dict[str, Any] | list[dict[str, Any]]) -> Any:
    """Run a Core statement on the session's connection, skipping the ORM's bulk machinery.

    On the per-message path this halves the cost of an INSERT; the statement still runs in
    the session's transaction and is committed with it.
    """
    return await (await transaction_connection(session)).execute(statement, parameters)


async def transaction_connection(session: AsyncSession) -> AsyncConnection:
    """The connection of the session's transaction, asked of the session once per transaction.

    Asking the session each time costs a trip through SQLAlchemy's greenlet bridge (about a
    quarter of a small statement's time); the connection cannot change until the transaction ends.
    """
    transaction = session.sync_session.get_transaction()
    known = session.info.get(CONNECTION_KEY)
    if transaction is not None and known is not None and known[0] is transaction:
        return known[1]
    connection = await session.connection()
    session.info[CONNECTION_KEY] = (session.sync_session.get_transaction(), connection)
    return connection


def unasked(session: AsyncSession, memo_key: str, wanted: Iterable[Any]) -> tuple[dict[Any, Any], list[Any]]:
    """A transaction's answers kept under session.info[memo_key], and which of `wanted` it has
    none for yet (in order): a batch's look-ups are asked in one query, and each update's own
    look-up then finds its answer there."""
    known = session.info.setdefault(memo_key, {})
    return known, sorted({item for item in wanted if item not in known})


class DeferredRows:
    """Rows of one INSERT whose writers need nothing back, kept in the session and written by
    one statement: just before the transaction commits (storage.db.before_commit), or earlier,
    when the repository is about to ask the table anything (it calls `write` first).

    `build(session, prefix="", only_if=None)` makes an `insert_rows` statement of the rows'
    columns (all rows have the same keys) binding them with `prefix`; on PostgreSQL a key may
    come twice only with ON CONFLICT DO NOTHING. On PostgreSQL the rows may also go in with
    another statement of the transaction, in its WITH clause (see with_deferred_rows)."""

    def __init__(self, name: str, build: Callable[..., Any]) -> None:
        self.name, self.build = name, build
        self.key = f"jianfu.deferred.{name}"  # session.info key of the rows not written yet
        # Its CTE's name and its arrays' prefix when it rides with another statement.
        self.alias = _cte_alias(name)
        _DEFERRED_KINDS.append(self)

    def add(self, session: AsyncSession, row: dict[str, Any]) -> None:
        pending = session.info.get(self.key)
        if pending is None:
            pending = session.info[self.key] = []
            before_commit(session, self.write)
        pending.append(row)

    async def write(self, session: AsyncSession) -> None:
        """Write the rows kept so far; on PostgreSQL the other kinds' rows go in with them."""
        pending = session.info.pop(self.key, None)
        if pending:
            parameters = rows_parameters(session, pending)
            statement, parameters = with_deferred_rows(session, self.name, self.build, parameters)
            await core_execute(session, statement, parameters)


# Every kind of deferred rows (they are module-level, one per table that has them).
_DEFERRED_KINDS: list[DeferredRows] = []


@dataclass(frozen=True)
class Guard:
    """A statement whose RETURNING rows allow the others of its WITH clause: it goes first, and
    every INSERT with it writes its rows only if it returned one (an update's claim: nothing is
    written for an update handled before). `build(session)` makes it; it binds `parameters`."""

    name: str
    build: Callable[[AsyncSession], Any]
    parameters: dict[str, Any]

    @property
    def alias(self) -> str:
        return _cte_alias(self.name)


def _cte_alias(name: str) -> str:
    """A statement's cached name as the name of its CTE in another statement's WITH clause."""
    return name.replace(".", "_")


def with_deferred_rows(
    session: AsyncSession,
    name: str,
    build: Callable[..., Any],
    parameters: Any,
    *,
    guard: Guard | None = None,
) -> Any:
    """`build(session, only_if=None)`'s statement (cached as `name`) and its parameters, carrying on
    PostgreSQL every row the transaction deferred so far (DeferredRows) as INSERTs in its WITH
    clause, after the `guard` if one is given (see Guard).

    A round trip instead of one more for each table: the outbox rows written just before a
    commit take the reads and counted facts with them (one ack's transaction is this statement
    alone, its claim the guard: OutboxRepository.add), and deferred rows of one kind take the
    others' (an ack's outcome writes its audit-trail row and its counted removal in one
    statement). The statement must be an `insert_rows` one (its parameters are arrays).
    Elsewhere, or with nothing deferred and no guard, it is the statement alone."""
    postgres = dialect_name(session) == "postgresql"
    if guard is not None and not postgres:
        raise ValueError("a guard rides only in a PostgreSQL WITH clause")
    waiting = [kind for kind in _DEFERRED_KINDS if session.info.get(kind.key)]
    if not postgres or not (waiting or guard):
        return cached_statement(session, name, build), parameters

    def build_with_them(session: AsyncSession) -> Any:
        first = [guard.build(session).cte(guard.alias)] if guard else []
        only_if = exists(select(literal(1)).select_from(first[0])) if first else None
        ctes = [kind.build(session, prefix=f"{kind.alias}_", only_if=only_if).cte(kind.alias) for kind in waiting]
        return build(session, only_if=only_if).add_cte(*first, *ctes)

    names = [name, *([guard.name] if guard else []), *(kind.name for kind in waiting)]
    statement = cached_statement(session, "+".join(names), build_with_them)
    if guard:
        parameters = parameters | guard.parameters
    for kind in waiting:
        parameters = parameters | rows_parameters(session, session.info.pop(kind.key), prefix=f"{kind.alias}_")
    return statement, parameters


def cached_statement(session: AsyncSession, name: str, build: Any) -> Any:
    """A statement built once per dialect by `build(session)` and reused with bind parameters."""
    key = (dialect_name(session), name)
    statement = _UPSERTS.get(key)
    if statement is None:
        statement = build(session)
        _UPSERTS[key] = statement
    return statement


def _build_upsert(
    session: AsyncSession,
    model: Any,
    columns: tuple[str, ...],
    keys: tuple[str, ...],
    update: tuple[str, ...],
    returning: tuple[str, ...] = (),
    *,
    as_arrays: bool = False,
) -> Any:
    table = model.__table__
    if as_arrays:
        statement = insert_rows(session, model, columns, prefix="v_")
    else:
        values = {name: bindparam(f"v_{name}", type_=table.c[name].type) for name in columns}
        statement = insert_for(session, model).values(values)
    changes = {name: statement.excluded[name] for name in update}
    if changes:
        statement = statement.on_conflict_do_update(index_elements=list(keys), set_=changes)
    else:
        statement = statement.on_conflict_do_nothing(index_elements=list(keys))
    return statement.returning(*(table.c[name] for name in returning)) if returning else statement
