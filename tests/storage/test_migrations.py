"""Migrations build exactly the schema the models describe, on every backend."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect

from storage.db import create_engine
from storage.migrate import alembic_config, current_revision, upgrade
from storage.models import Base

HEAD = ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


async def test_upgrade_head_on_empty_database_matches_models(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        assert await current_revision(engine) is None
        await upgrade(engine)
        assert await current_revision(engine) == HEAD
        async with engine.connect() as connection:
            differences = await connection.run_sync(
                lambda sync: compare_metadata(
                    MigrationContext.configure(sync, opts={"compare_type": True}), Base.metadata
                )
            )
            tables = await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))
        assert differences == []
        assert {
            "chats",
            "departments",
            "people",
            "memberships",
            "audit_log",
            "tasks",
            "notices",
            "reads",
            "events",
        } <= tables
    finally:
        await engine.dispose()


async def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine)
        await upgrade(engine)
        assert await current_revision(engine) == HEAD
    finally:
        await engine.dispose()


async def test_migrations_upgrade_step_by_step(database_url: str) -> None:
    engine = create_engine(database_url)
    try:
        await upgrade(engine, "0001")
        assert await current_revision(engine) == "0001"
        await upgrade(engine)
        assert await current_revision(engine) == HEAD
    finally:
        await engine.dispose()


async def test_upgrading_keeps_existing_rows(database_url: str) -> None:
    from sqlalchemy import text

    engine = create_engine(database_url)
    try:
        await upgrade(engine, "0002")
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO chats (id, title, type, kind, state, settings, bot_status, bot_rights, joined_at)"
                    " VALUES (-1, 'g', 'group', 'permanent', 'active', '{}', 'member', '{}',"
                    " '2026-11-23 01:00:00+00:00')"
                )
            )
        await upgrade(engine)
        async with engine.connect() as connection:
            assert (await connection.execute(text("SELECT close_step FROM chats WHERE id = -1"))).scalar() == 0
    finally:
        await engine.dispose()


async def test_the_group_actions_table_comes_with_0009_and_goes_with_its_downgrade(database_url: str) -> None:
    from sqlalchemy import text

    from storage.migrate import downgrade

    engine = create_engine(database_url)

    async def tables() -> set[str]:
        async with engine.connect() as connection:
            return await connection.run_sync(lambda sync: set(inspect(sync).get_table_names()))

    try:
        await upgrade(engine, "0009")
        async with engine.begin() as connection:
            await connection.execute(
                text(
                    "INSERT INTO group_actions (at, chat_id, rule, kind, reason, outcome, person_id, text)"
                    " VALUES ('2026-11-23 01:00:00+00:00', -1, 'received', 'delete', 'ack', 'done', 7, '收到')"
                )
            )
        await downgrade(engine, "0008")
        assert await current_revision(engine) == "0008" and "group_actions" not in await tables()
        await upgrade(engine)
        assert "group_actions" in await tables()
    finally:
        await engine.dispose()


async def test_the_sweeps_purge_of_settled_outbox_rows_reads_an_index(database_url: str) -> None:
    """One row per removed ack is kept a week: the purge every sweep must not read them all."""
    from sqlalchemy import text

    from storage.migrate import downgrade

    engine = create_engine(database_url)

    async def indexes() -> set[str]:
        async with engine.connect() as connection:
            found = await connection.run_sync(lambda sync: inspect(sync).get_indexes("outbox"))
        return {index["name"] for index in found}

    try:
        await upgrade(engine)
        assert "ix_outbox_state_done_at" in await indexes()
        if engine.dialect.name == "sqlite":
            async with engine.connect() as connection:
                plan = " ".join(
                    str(row[-1])
                    for row in await connection.execute(
                        text(
                            "EXPLAIN QUERY PLAN DELETE FROM outbox WHERE state IN ('done', 'uncertain', 'failed')"
                            " AND done_at < '2026-11-23 01:00:00+00:00'"
                        )
                    )
                )
            assert "ix_outbox_state_done_at" in plan and "done_at<" in plan.replace(" ", "")
        await downgrade(engine, "0009")
        assert "ix_outbox_state_done_at" not in await indexes()
    finally:
        await engine.dispose()
