"""Two `jianfu run` webhook replicas on one PostgreSQL database, behind one public address.

Telegram's deliveries take turns between the replicas (a load balancer) and some arrive twice.
Nothing may happen twice, nothing may be lost (tests/bot/busy.py), and a whistle report whose
steps land on alternate replicas completes with one receipt and leaves no trace of its reporter.
"""

from __future__ import annotations

import random
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from bot.testing.http_double import HttpTelegram
from bot.testing.process import PUBLIC_URL, BotProcess
from storage.db import Database
from storage.models import Base, Whistle
from tests.bot.busy import SETTINGS, Busy

TOKEN = "123456:REPLICA-TEST"
SETTLE = 180.0
REPORTER = 987654321987


@pytest.fixture
def double() -> Iterator[HttpTelegram]:
    with HttpTelegram(TOKEN) as served:
        yield served


@pytest.fixture
def postgres_only(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("replicas share one PostgreSQL database (SQLite serves one process)")
    return database_url


def last_buttons(double: HttpTelegram, chat_id: int) -> list[tuple[str, str]]:
    """The buttons of the last message sent to `chat_id` that has any: (label, callback data)."""
    with double.world() as fake:
        for message in reversed(fake.sent(chat_id)):
            rows = (message.get("reply_markup") or {}).get("inline_keyboard") or []
            if rows:
                return [(button["text"], button.get("callback_data", "")) for row in rows for button in row]
    return []


def press(double: HttpTelegram, label: str) -> None:
    with double.world() as fake:
        message_id = next(m["message_id"] for m in reversed(fake.sent(REPORTER)) if m.get("reply_markup"))
    found = [data for text, data in last_buttons(double, REPORTER) if label in text]
    assert len(found) == 1, (label, last_buttons(double, REPORTER))
    [data] = found
    double.press(REPORTER, REPORTER, message_id, data)


def sent_to_reporter(double: HttpTelegram) -> list[str]:
    with double.world() as fake:
        return [message.get("text", "") for message in fake.sent(REPORTER)]


def wait_for_text(bots: list[BotProcess], double: HttpTelegram, marker: str) -> None:
    bots[0].wait_for(lambda: any(marker in text for text in sent_to_reporter(double)), timeout=60, what=marker)


async def dump(database_url: str) -> str:
    db = Database.from_url(database_url)
    try:
        values: list[str] = []
        async with db.transaction() as session:
            for table in Base.metadata.sorted_tables:
                for row in (await session.execute(select(table))).all():
                    values.extend(repr(value) for value in row)
        return "\n".join(values)
    finally:
        await db.dispose()


async def test_two_replicas_act_once_and_carry_a_whistle_report_between_them(
    double: HttpTelegram, postgres_only: str, tmp_path: Path
) -> None:
    database_url = postgres_only
    busy = Busy(double, database_url, random.Random(2))
    busy.build_world()
    with double.world() as fake:
        fake.add_user(REPORTER, "Qiuyue", last_name="Zhuangxiao", username="zx_qiuyue_77", language_code="zh-hans")
    await busy.seed()
    first = BotProcess(
        double, tmp_path, database_url, mode="webhook", settings=SETTINGS, name="first", route_webhook=False
    )
    second = BotProcess(
        double, tmp_path, database_url, mode="webhook", settings=SETTINGS, name="second", route_webhook=False
    )
    with first, second:
        first.start()
        second.start()
        double.webhook.route(PUBLIC_URL, first.webhook_backend, second.webhook_backend)
        double.webhook.duplicate(0.2, seed=2)
        busy.open_group()
        for _ in range(10):
            busy.burst(12)
            time.sleep(0.2)
        # A whistle report, step by step: deliveries take turns, so its steps alternate.
        double.private(REPORTER, "/start whistle")
        wait_for_text([first], double, "第 1 步")
        press(double, "民政局")
        wait_for_text([first], double, "第 2 步")
        press(double, "重复、多头")
        wait_for_text([first], double, "第 3 步")
        double.private(REPORTER, "民政局每周让我们重复填报同一张独居老人台账，已经第三次了。")
        wait_for_text([first], double, "第 4 步")
        press(double, "跳过")
        wait_for_text([first], double, "请确认你的反映")
        press(double, "提交")
        wait_for_text([first], double, "你的回执码")
        first.wait_for(busy.acks_done, timeout=SETTLE, what="every ack removed")
        deadline = time.monotonic() + SETTLE
        while not await busy.everything_settled():
            assert first.alive and second.alive
            assert time.monotonic() < deadline, "the outbox never emptied"
            time.sleep(0.5)
        assert first.terminate() == 0 and second.terminate() == 0
    await busy.check()
    deliveries = double.webhook.deliveries()
    for backend in (first.webhook_backend, second.webhook_backend):  # each replica took its turns
        assert sum(d.url.startswith(backend) for d in deliveries) > 20
    assert any(d.duplicate for d in deliveries)
    assert "Traceback" not in first.stderr() + second.stderr()
    receipts = [text for text in sent_to_reporter(double) if "你的回执码" in text]
    assert len(receipts) == 1 and re.search(r"[0-9A-Z]{4}-[0-9A-Z]{4}", receipts[0])
    db = Database.from_url(database_url)
    try:
        async with db.transaction() as session:
            assert len((await session.scalars(select(Whistle))).all()) == 2  # the seeded one and this one
    finally:
        await db.dispose()
    everything = await dump(database_url)
    for trace in (str(REPORTER), "Qiuyue", "Zhuangxiao", "zx_qiuyue_77"):
        assert trace not in everything, trace
