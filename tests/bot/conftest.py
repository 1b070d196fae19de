"""The application driven through the in-memory Bot API, on each test database."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import pytest
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update

from bot.app import build_application
from bot.context import Deps
from bot.jobs.sweep import run_due_tasks
from bot.logs import keep_content_out_of_library_logs
from bot.settings import load_settings
from bot.testing.fake import FakeTelegram
from bot.testing.updates import UpdateFactory
from policies.clock import FakeClock
from storage.db import Database, transaction_open_in_this_task
from storage.models import Base

SUPERVISOR = 1001
ADMIN = 2001
MEMBER = 3001
STRANGER = 4001
ENGLISH = 5001
GROUP = -1001234500001
TOKEN = "123456:TEST-TOKEN-jianfu"


@dataclass
class Harness:
    """One application with its fake Telegram, update factory, clock and database."""

    app: Any
    fake: FakeTelegram
    updates: UpdateFactory
    clock: FakeClock
    db: Database
    deps: Deps
    database_url: str

    async def send(self, update: Update) -> None:
        await self.app.process_update(update)

    async def command(self, chat_id: int, user_id: int, text: str, **options: Any) -> None:
        await self.send(self.updates.command(chat_id, user_id, text, **options))

    async def private(self, user_id: int, text: str) -> None:
        await self.send(self.updates.private(user_id, text))

    def texts(self, chat_id: int, *, include_deleted: bool = True) -> list[str]:
        return [m.get("text", "") for m in self.fake.sent(chat_id, include_deleted=include_deleted)]

    def last_text(self, chat_id: int) -> str:
        texts = self.texts(chat_id)
        assert texts, f"the bot sent nothing to {chat_id}"
        return texts[-1]

    async def sweep(self) -> int:
        return await run_due_tasks(self.deps, self.app.bot)

    def session(self) -> Any:
        return self.db.transaction()

    @asynccontextmanager
    async def replica(self) -> AsyncIterator[tuple[Deps, Any]]:
        """A second application on the same database, Telegram and clock (another replica,
        or the same bot after a restart)."""
        settings = make_settings()
        db = Database.from_url(self.database_url)
        deps = Deps.create(settings, db=db, clock=self.clock, request=self.fake)
        app = build_application(settings, deps)
        try:
            async with app:
                yield deps, app
        finally:
            await db.dispose()


def build_world(fake: FakeTelegram) -> None:
    fake.add_user(SUPERVISOR, "王主任", language_code="zh-hans")
    fake.add_user(ADMIN, "李管理", language_code="zh-hans")
    fake.add_user(MEMBER, "张三", language_code="zh-hans")
    fake.add_user(STRANGER, "路人", language_code="zh-hans")
    fake.add_user(ENGLISH, "Alice", last_name="Smith", language_code="en")
    fake.add_group(GROUP, "朝阳社区工作群", creator_id=ADMIN, members=[MEMBER, STRANGER, ENGLISH])


def make_settings(**overrides: Any):
    values: dict[str, Any] = {
        "telegram": {"token": TOKEN, "rate_limit": {"enabled": False}},
        "roles": {"supervisors": [SUPERVISOR]},
        # The in-process double answers getUpdates at once: no long polling against it.
        "updates": {"poll_timeout_seconds": 0},
        # Tests that serve /healthz start it themselves, on a free port.
        "health": {"port": 0},
    }
    values.update(overrides)
    return load_settings(None, **values)


@pytest.fixture
def debug_logging(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Everything at DEBUG, with the library limits `jianfu run -v` applies."""
    libraries = [logging.getLogger(name) for name in ("httpx", "telegram", "aiosqlite", "asyncpg")]
    levels = [logger.level for logger in libraries]
    keep_content_out_of_library_logs(logging.DEBUG)
    caplog.set_level(logging.DEBUG)
    yield caplog
    for logger, level in zip(libraries, levels, strict=True):
        logger.setLevel(level)


def no_transaction_open(method: str) -> None:
    """Record, commit, then act: no Bot API call is made while its caller holds a transaction."""
    assert not transaction_open_in_this_task(), f"{method} called inside an open database transaction"


@asynccontextmanager
async def configured_harness(database_url: str, clock: FakeClock, **overrides: Any) -> AsyncIterator[Harness]:
    """The application on a fresh schema and Telegram double; `overrides` are bot.toml sections."""
    fake = FakeTelegram(clock=clock)
    fake.before_call = no_transaction_open
    build_world(fake)
    settings = make_settings(**overrides)
    db = Database.from_url(database_url)
    async with db.engine.begin() as connection:
        await connection.run_sync(Base.metadata.create_all)
    deps = Deps.create(settings, db=db, clock=clock, request=fake)
    app = build_application(settings, deps)
    async with app:
        yield Harness(app, fake, UpdateFactory(fake, app.bot), clock, db, deps, database_url)
    await db.dispose()
    fake.assert_no_unknown_calls()


@pytest.fixture
async def harness(database_url: str, clock: FakeClock) -> AsyncIterator[Harness]:
    async with configured_harness(database_url, clock) as harness:
        yield harness


async def scalar(session: AsyncSession, statement: Any) -> Any:
    return (await session.execute(statement)).scalar()
