"""`jianfu run` as a real process against the HTTP Bot API double, on SQLite and PostgreSQL.

These tests look only at outcomes (the world, the database, the exit code), never at the order of
calls, so they hold whatever the update pipeline does inside the process.
"""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from bot.testing.http_double import HttpTelegram
from bot.testing.process import BotProcess
from storage.db import Database
from storage.models import Notice, Read

TOKEN = "123456:PROCESS-TEST"
GROUP = -1001234500001
ADMIN, MEMBER, OTHER = 2001, 3001, 3002
RIGHTS = dict.fromkeys(
    ("can_delete_messages", "can_restrict_members", "can_pin_messages", "can_invite_users", "can_change_info"), True
)
WAIT = 30.0  # seconds any one outcome may take on a loaded machine


@pytest.fixture
def double() -> Iterator[HttpTelegram]:
    with HttpTelegram(TOKEN) as served:
        with served.world() as fake:
            fake.add_user(ADMIN, "李管理")
            fake.add_user(MEMBER, "张三")
            fake.add_user(OTHER, "王五")
            fake.add_group(GROUP, "朝阳社区工作群", creator_id=ADMIN, members=[MEMBER, OTHER])
        yield served
        served.fake.assert_no_unknown_calls()


def deleted(double: HttpTelegram, message_id: int) -> bool:
    with double.world() as fake:
        return fake.is_deleted(GROUP, message_id)


async def stored(database_url: str) -> tuple[set[tuple[int, int, str]], int]:
    """The reads recorded and the number of notices stored."""
    db = Database.from_url(database_url)
    try:
        async with db.transaction() as session:
            rows = await session.execute(select(Read.message_id, Read.person_id, Read.via))
            reads = {tuple(row) for row in rows.all()}
            notices = await session.scalar(select(func.count()).select_from(Notice))
    finally:
        await db.dispose()
    return reads, int(notices or 0)


@pytest.mark.parametrize("mode", ["polling", "webhook"])
async def test_an_ack_is_removed_and_recorded_across_a_sigterm_restart(
    double: HttpTelegram, database_url: str, tmp_path: Path, mode: str
) -> None:
    with BotProcess(double, tmp_path, database_url, mode=mode) as bot:
        bot.start()
        double.bot_joined(GROUP, ADMIN, **RIGHTS)
        notice = double.message(GROUP, ADMIN, "【通知】周五前报送台账")
        first = double.reply(GROUP, MEMBER, "收到", to=notice)
        bot.wait_for(lambda: deleted(double, first), timeout=WAIT, what="the first ack removed")
        assert bot.terminate() == 0
        assert await stored(database_url) == ({(notice, MEMBER, "ack")}, 1)

        second = double.reply(GROUP, OTHER, "收到", to=notice)  # arrives while the bot is down
        bot.start()
        bot.wait_for(lambda: deleted(double, second), timeout=WAIT, what="the ack sent during the restart removed")
        assert bot.terminate() == 0
    assert await stored(database_url) == ({(notice, MEMBER, "ack"), (notice, OTHER, "ack")}, 1)
    assert not deleted(double, notice)
    assert double.pending_updates() == 0
    assert "Traceback" not in bot.stderr()


async def test_a_rejected_token_stops_the_process_before_it_polls(double: HttpTelegram, tmp_path: Path) -> None:
    database_url = f"sqlite+aiosqlite:///{tmp_path / 'j.db'}"
    bot = BotProcess(double, tmp_path, database_url, settings={"telegram": {"token": "999:WRONG"}})
    with bot, pytest.raises(AssertionError, match="exited with 2 before"):
        bot.start(timeout=WAIT)
    assert "rejected the bot token" in bot.stderr() and "999:WRONG" not in bot.stderr()


async def test_a_wait_past_its_deadline_kills_the_process(double: HttpTelegram, tmp_path: Path) -> None:
    with BotProcess(double, tmp_path, f"sqlite+aiosqlite:///{tmp_path / 'j.db'}") as bot:
        bot.start()
        with pytest.raises(AssertionError, match=r"never: not within 0\.2 s; bot was killed"):
            bot.wait_for(lambda: False, timeout=0.2, what="never")
        assert not bot.alive and bot.returncode == -signal.SIGKILL
        bot.start()  # a killed deployment starts again on the same database
        assert bot.terminate() == 0
    assert len(bot.runs) == 2
