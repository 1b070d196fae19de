"""`jianfu run` through a busy hour while about one Bot API call in seven fails.

Telegram answers 429 with retry_after, 500 or 502, holds its answer past the client's timeout
before or after acting, drops the connection after acting, or refuses a private chat (403). The
bot must not crash, lose a recorded fact or do anything twice: the invariants of
tests/bot/busy.py hold once the outbox has emptied.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.testing.faults import FaultPlan
from bot.testing.http_double import HttpTelegram
from bot.testing.process import BotProcess
from tests.bot.busy import SETTINGS, Busy

TOKEN = "123456:FAULT-TEST"
SETTLE = 180.0
# Start-up calls are spared: a bot that cannot start is tested in tests/bot/test_startup.py.
SPARED = frozenset({"getMe", "getUpdates", "deleteWebhook", "setMyCommands", "deleteMyCommands", "setWebhook"})


@pytest.fixture
def double() -> Iterator[HttpTelegram]:
    with HttpTelegram(TOKEN, hold_seconds=1.5) as served:
        yield served


async def test_failing_calls_lose_and_double_nothing(double: HttpTelegram, database_url: str, tmp_path: Path) -> None:
    busy = Busy(double, database_url, random.Random(10))
    busy.build_world()
    await busy.seed()
    with BotProcess(double, tmp_path, database_url, settings=SETTINGS) as bot:
        bot.start()
        double.inject(FaultPlan(0.15, exclude=SPARED, seed=10))
        busy.open_group()
        for _ in range(20):
            busy.burst(15)
            time.sleep(0.3)
        bot.wait_for(busy.acks_done, timeout=SETTLE, what="every ack removed")
        deadline = time.monotonic() + SETTLE
        while not await busy.everything_settled():
            assert bot.alive, bot.stderr_tail()
            assert time.monotonic() < deadline, "the outbox never emptied"
            time.sleep(0.5)
        assert bot.terminate() == 0
    counted = await busy.check()
    faults = [call for call in double.calls() if call.fault is not None]
    assert len(faults) >= 5 and counted["acks"] >= 150
    assert "Traceback" not in bot.stderr()
