"""Benchmark: group messages per second through the real application, on SQLite.

Each message goes update in -> observation -> notice collection -> "received" rule ->
database writes -> deleteMessage out, against the in-memory Bot API double. The rate
limiter is off: it models Telegram's limits, not Jianfu's own speed.

Run: python tests/perf/bench_received_e2e.py [COUNT] [--database postgresql+asyncpg://…]
(prints JSON; target >= 1,000/s on SQLite). A PostgreSQL run uses a scratch schema it drops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import text

from bot.app import build_application
from bot.context import Deps
from bot.settings import load_settings
from bot.testing.fake_telegram import FakeTelegram
from bot.testing.updates import UpdateFactory
from policies.clock import FakeClock
from storage.db import Database, create_engine
from storage.migrate import upgrade
from tests.perf.corpus import ACKS, CHAT, DEMANDS, NOTICES

TARGET = 1_000
GROUP, ADMIN = -1001000000001, 100
MEMBERS = list(range(1000, 1030))
RIGHTS = dict.fromkeys(
    ("can_delete_messages", "can_restrict_members", "can_pin_messages", "can_invite_users", "can_change_info"), True
)


def script(count: int, seed: int = 11) -> list[tuple[int, str, bool]]:
    """(sender, text, replies to the latest notice) for each message, busy-group proportions."""
    rng = random.Random(seed)
    plan = []
    for _ in range(count):
        roll = rng.random()
        if roll < 0.05:
            plan.append((ADMIN, rng.choice(NOTICES), False))
        elif roll < 0.08:
            plan.append((ADMIN, rng.choice(DEMANDS), False))
        elif roll < 0.45:
            plan.append((rng.choice(MEMBERS), rng.choice(ACKS), rng.random() < 0.7))
        else:
            plan.append((rng.choice(MEMBERS), rng.choice(CHAT), False))
    return plan


async def run(count: int, database: str | None = None) -> dict[str, object]:
    clock = FakeClock(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    fake = FakeTelegram(clock=clock)
    fake.add_user(ADMIN, "管理员")
    for member in MEMBERS:
        fake.add_user(member, f"成员{member}")
    fake.add_group(GROUP, "压力测试群", creator_id=ADMIN, members=MEMBERS)
    with tempfile.TemporaryDirectory() as directory:
        async with scratch_database(database, Path(directory)) as url:
            elapsed = await drive(url, fake, clock, count)
    return {
        "benchmark": "received_rule_end_to_end",
        "database": "postgresql" if database else "sqlite",
        "messages": count,
        "seconds": round(elapsed, 3),
        "messages_per_second": round(count / elapsed),
        "acks_deleted": len(fake.calls_to("deleteMessage")),
        "target_per_second": TARGET,
        "meets_target": count / elapsed >= TARGET,
    }


async def drive(url: str, fake: FakeTelegram, clock: FakeClock, count: int) -> float:
    """Build the real application on `url` and time `count` scripted group messages through it."""
    settings = load_settings(None, telegram={"token": "1:bench", "rate_limit": {"enabled": False}}, database={"url": url})
    db = Database.from_url(url)
    await upgrade(db.engine)
    app = build_application(settings, Deps.create(settings, db=db, clock=clock, request=fake))
    try:
        async with app:
            updates = UpdateFactory(fake, app.bot)
            await app.process_update(updates.my_chat_member(GROUP, ADMIN, old="left", new="administrator", rights=RIGHTS))
            prepared, latest_notice = [], None
            for sender, text, replies in script(count):
                update = updates.message(GROUP, sender, text, reply_to=latest_notice if replies else None)
                if sender == ADMIN:
                    latest_notice = update.message.message_id
                prepared.append(update)
            started = time.perf_counter()
            for update in prepared:
                clock.advance(timedelta(milliseconds=50))
                await app.process_update(update)
            return time.perf_counter() - started
    finally:
        await db.dispose()


@contextlib.asynccontextmanager
async def scratch_database(database: str | None, directory: Path):
    """A fresh SQLite file, or a fresh schema on the given PostgreSQL (dropped afterwards)."""
    if database is None:
        yield f"sqlite+aiosqlite:///{directory / 'bench.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    await _schema(database, f'CREATE SCHEMA "{schema}"')
    try:
        yield f"{database}?search_path={schema}"
    finally:
        await _schema(database, f'DROP SCHEMA "{schema}" CASCADE')


async def _schema(url: str, statement: str) -> None:
    engine = create_engine(url)
    async with engine.begin() as connection:
        await connection.execute(text(statement))
    await engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=3000)
    parser.add_argument("--database", help="a postgresql+asyncpg:// URL; SQLite when absent")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.count, args.database))))


if __name__ == "__main__":
    main()
