"""`jianfu replay --database`: the registry is read through a connection that cannot write, and
nothing in the database (or next to a SQLite file) changes."""

from __future__ import annotations

import hashlib
import io
import json
import os
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from bot.replay.command import ReplayOptions, run_async
from bot.settings import load_settings
from bot.testing.exports import ExportedChat, single_chat, write
from storage.db import Database, read_only_engine
from storage.migrate import upgrade
from storage.models import Chat, Department, RoleGrant

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
CONTACT, MEMBER = 2001, 3001


async def registry_database(url: str) -> None:
    """Two departments, a group attached to one with a member count, and a department contact."""
    db = Database.from_url(url)
    await upgrade(db.engine)
    async with db.transaction() as session:
        civil, health = (
            Department(name="民政局", code="MZ", created_at=NOW),
            Department(name="卫健委", code="WJW", created_at=NOW),
        )
        session.add_all([civil, health])
        await session.flush()
        session.add(Chat(id=-1001234500001, title="朝阳社区工作群", type="supergroup", department_id=civil.id,
                         settings={}, bot_rights={}, member_count=31, joined_at=NOW))  # fmt: skip
        session.add(RoleGrant(person_id=CONTACT, role="contact", department_id=health.id, granted_by=1, granted_at=NOW))
    await db.dispose()


def export(tmp_path: Path) -> Path:
    chat = ExportedChat(1234500001, "朝阳社区工作群")
    notice = chat.message((CONTACT, "卫健委联络员"), "【通知】请于周五前报送台账，收到请回复", at=NOW)
    chat.message((MEMBER, "张三"), "收到", at=NOW.replace(minute=1), reply_to=notice)
    return write(tmp_path / "result.json", single_chat(chat))


async def replay(tmp_path: Path, database: str) -> tuple[int, dict | None, str]:
    out, err = io.StringIO(), io.StringIO()
    options = ReplayOptions((export(tmp_path),), "en", database=database, as_json=True)
    code = await run_async(load_settings(None), options, stdout=out, stderr=err)
    return code, json.loads(out.getvalue()) if code == 0 else None, err.getvalue()


def snapshot(directory: Path) -> dict[str, tuple[str, int]]:
    """Every file next to the database: its bytes' hash and its modification time."""
    return {
        path.name: (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
        for path in sorted(directory.iterdir())
    }


def assert_registry_used(report: dict) -> None:
    chat = report["by_chat"]["1234500001"]
    # The group's department, and its size from the registry: 31 members less the bot.
    assert (chat["department"], chat["readers"]) == ("民政局", 30)
    # The demand is charged to the sender's department: they are its contact.
    rows = {row["name"]: row["figures"] for row in report["by_department"]}
    assert rows["卫健委"]["ack_demands"] == 1 and rows["民政局"]["acks_removed"] == 1


async def test_a_sqlite_registry_is_read_and_the_files_stay_as_they_were(tmp_path: Path) -> None:
    folder = tmp_path / "deployment"
    folder.mkdir()
    url = f"sqlite+aiosqlite:///{folder / 'jianfu.db'}"
    await registry_database(url)
    before = snapshot(folder)
    assert list(before) == ["jianfu.db"]  # the bot is not running: no -wal, no -shm
    code, report, err = await replay(tmp_path, url)
    assert code == 0, err
    assert_registry_used(report)
    assert snapshot(folder) == before


async def test_a_sqlite_database_in_use_is_read_without_touching_the_database_or_its_log(tmp_path: Path) -> None:
    folder = tmp_path / "deployment"
    folder.mkdir()
    url = f"sqlite+aiosqlite:///{folder / 'jianfu.db'}"
    await registry_database(url)
    running = Database.from_url(url)
    async with running.engine.connect() as connection:  # a bot holding the database open
        await connection.execute(text("SELECT 1 FROM departments"))
        assert (folder / "jianfu.db-wal").exists()
        files = ("jianfu.db", "jianfu.db-wal")
        before = {name: value for name, value in snapshot(folder).items() if name in files}
        code, report, err = await replay(tmp_path, url)
        assert code == 0, err
        assert_registry_used(report)
        # The -shm file is shared memory where readers take their read locks; nothing else changes.
        assert {name: value for name, value in snapshot(folder).items() if name in files} == before
    await running.dispose()


async def test_a_missing_sqlite_file_is_named_and_never_created(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.db"
    code, _report, err = await replay(tmp_path, f"sqlite+aiosqlite:///{missing}")
    assert (
        code == 2
        and err == f"jianfu replay: --database: there is no database file {missing} (replay never creates one).\n"
    )
    assert not missing.exists()


async def test_a_database_without_jianfus_tables_is_refused_in_one_line(tmp_path: Path) -> None:
    empty = tmp_path / "empty.db"
    empty.write_bytes(b"")
    code, _report, err = await replay(tmp_path, f"sqlite+aiosqlite:///{empty}")
    assert (
        code == 2
        and err.startswith("jianfu replay: --database: the database cannot be read: ")
        and err.count("\n") == 1
    )
    assert empty.read_bytes() == b""


async def test_the_registry_connection_refuses_to_write_on_each_database(database_url: str, tmp_path: Path) -> None:
    await registry_database(database_url)
    engine = read_only_engine(database_url)
    try:
        async with engine.connect() as connection:
            with pytest.raises(DBAPIError):
                await connection.execute(text("DELETE FROM departments"))
    finally:
        await engine.dispose()
    code, report, err = await replay(tmp_path, database_url)
    assert code == 0, err
    assert_registry_used(report)
    check = Database.from_url(database_url)
    async with check.transaction() as session:
        assert await session.scalar(select(func.count()).select_from(Department)) == 2
    await check.dispose()


def test_nothing_runs_against_a_database_unless_one_is_named(tmp_path: Path, monkeypatch) -> None:
    # bot.toml's database is not opened: replay without --database never looks at it.
    monkeypatch.chdir(tmp_path)
    configured = tmp_path / "jianfu.db"
    from bot import cli

    assert cli.main(["replay", str(export(tmp_path)), "--json"]) == 0
    assert not configured.exists() and not os.path.exists(f"{configured}-wal")
