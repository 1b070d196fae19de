"""`jianfu run` killed with SIGKILL at random moments of a busy hour, again and again.

Each kill lands wherever it lands: inside a transaction, between a commit and its Telegram call,
in the middle of a close or a digest. After every restart the invariants of tests/bot/busy.py
must hold: no ack deleted without its read, none dropped, no message people read sent twice,
nothing due skipped. Bounded: 30 kills per database, each after at most 0.6 s of traffic.
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bot.testing.http_double import HttpTelegram
from bot.testing.process import BotProcess
from tests.bot.busy import SETTINGS, Busy

TOKEN = "123456:CRASH-TEST"
KILLS = int(os.environ.get("JIANFU_TEST_KILLS", "30"))
SETTLE = 120.0  # seconds the last run may take to finish everything on a loaded machine


@pytest.fixture
def double() -> Iterator[HttpTelegram]:
    with HttpTelegram(TOKEN) as served:
        yield served


async def test_killed_thirty_times_nothing_is_lost_or_doubled(
    double: HttpTelegram, database_url: str, tmp_path: Path
) -> None:
    busy = Busy(double, database_url, random.Random(30))
    busy.build_world()
    await busy.seed()
    pause = random.Random(31)
    with BotProcess(double, tmp_path, database_url, settings=SETTINGS) as bot:
        bot.start()
        busy.open_group()
        for _kill in range(KILLS):
            busy.burst(pause.randrange(3, 15))
            time.sleep(pause.uniform(0.0, 0.6))  # the kill lands wherever the work has got to
            bot.kill()
            busy.burst(pause.randrange(0, 4))  # people go on while the bot is down
            bot.start()
        bot.wait_for(busy.acks_done, timeout=SETTLE, what="every ack removed")
        deadline = time.monotonic() + SETTLE
        while not await busy.everything_settled():
            assert time.monotonic() < deadline, "the outbox never emptied"
            time.sleep(0.5)
        assert bot.terminate() == 0
    counted = await busy.check()
    assert counted["acks"] > 100
    assert double.pending_updates() == 0
