"""Benchmark: inbox query time and duplicate detection against 100,000 stored notices, on SQLite.

Run: python tests/perf/bench_notices.py [NOTICES]   (prints JSON)
Targets: inbox p95 under 50 ms for a person in 50 groups; duplicate detection under 20 ms.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import insert

from policies.duplicates import bands, fingerprint
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Chat, Membership, Notice, Person, Read
from storage.repositories.notices import InboxRepository, NoticeRepository

PERSON, GROUPS, OTHER_GROUPS = 1, 50, 450
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
WORDS = [
    "请",
    "各",
    "社区",
    "网格",
    "于",
    "本周",
    "报送",
    "台账",
    "表格",
    "走访",
    "独居",
    "老人",
    "疫苗",
    "安全",
    "检查",
    "会议",
    "通知",
    "人口",
    "普查",
    "数据",
    "统计",
    "消防",
    "隐患",
    "排查",
    "汇总",
    "名单",
]


def notice_text(rng: random.Random) -> str:
    body = "".join(rng.choice(WORDS) for _ in range(rng.randint(12, 40)))
    return f"【通知】{body}{rng.randint(1, 12)}月{rng.randint(1, 28)}日前完成"


async def seed(db: Database, count: int, rng: random.Random) -> None:
    async with db.engine.begin() as connection:
        await connection.execute(
            insert(Person),
            [{"id": PERSON, "display_name": "p", "has_private_chat": True, "first_seen_at": NOW, "last_seen_at": NOW}],
        )
        chats = [
            {
                "id": -1000 - i,
                "title": f"群{i}",
                "type": "supergroup",
                "kind": "permanent",
                "state": "active",
                "settings": {},
                "bot_status": "administrator",
                "bot_rights": {},
                "joined_at": NOW,
                "close_step": 0,
            }
            for i in range(GROUPS + OTHER_GROUPS)
        ]
        await connection.execute(insert(Chat), chats)
        await connection.execute(
            insert(Membership),
            [
                {"chat_id": -1000 - i, "person_id": PERSON, "status": "member", "last_seen_at": NOW}
                for i in range(GROUPS)
            ],
        )
        for start in range(0, count, 5000):
            rows, reads = [], []
            for number in range(start, min(start + 5000, count)):
                text = notice_text(rng)
                chat = -1000 - rng.randrange(GROUPS + OTHER_GROUPS)
                keys = bands(text)
                rows.append(
                    {
                        "chat_id": chat,
                        "message_id": number,
                        "sender_id": 2,
                        "text": text,
                        "kind": "data_request",
                        "urgent": False,
                        "ack_demand": False,
                        "tracked": False,
                        "posted_at": NOW - timedelta(minutes=number % 20000),
                        "fingerprint": fingerprint(text),
                        "band_0": keys[0],
                        "band_1": keys[1],
                        "band_2": keys[2],
                        "band_3": keys[3],
                        "deadline_at": NOW + timedelta(hours=rng.randint(-100, 400)) if rng.random() < 0.6 else None,
                        # One in ten repeats an earlier notice (ids start at 1 and follow `number`).
                        "duplicate_of": rng.randint(1, number) if number and rng.random() < 0.1 else None,
                    }
                )
                if chat > -1000 - GROUPS and rng.random() < 0.5:
                    reads.append(
                        {"chat_id": chat, "message_id": number, "person_id": PERSON, "via": "button", "read_at": NOW}
                    )
            await connection.execute(insert(Notice), rows)
            if reads:
                await connection.execute(insert(Read), reads)


async def time_inbox(db: Database, rounds: int) -> list[float]:
    timings = []
    for round_number in range(rounds):
        async with db.transaction() as session:
            started = time.perf_counter()
            await InboxRepository(session).page(
                PERSON, include_read=round_number % 4 == 0, department_id=None, offset=(round_number % 3) * 5, limit=5
            )
            timings.append((time.perf_counter() - started) * 1000)
    return timings


async def time_duplicates(db: Database, rounds: int, rng: random.Random) -> list[float]:
    timings = []
    for number in range(rounds):
        text = notice_text(rng)
        keys = bands(text)
        notice = Notice(
            id=-number - 1,
            chat_id=-999,
            message_id=number,
            text=text,
            kind="data_request",
            posted_at=NOW,
            fingerprint=fingerprint(text),
            band_0=keys[0],
            band_1=keys[1],
            band_2=keys[2],
            band_3=keys[3],
        )
        async with db.transaction() as session:
            started = time.perf_counter()
            await NoticeRepository(session).find_original(notice, NOW - timedelta(days=14))
            timings.append((time.perf_counter() - started) * 1000)
    return timings


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


async def main(count: int) -> dict[str, object]:
    rng = random.Random(5)
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory) / "bench.db"
        db = Database.from_url(f"sqlite+aiosqlite:///{path}")
        await upgrade(db.engine)
        started = time.perf_counter()
        await seed(db, count, rng)
        seeded = time.perf_counter() - started
        await time_inbox(db, 10)  # warm the caches as a running bot would be
        inbox = await time_inbox(db, 200)
        duplicates = await time_duplicates(db, 200, rng)
        await db.dispose()
        size = sum(os.path.getsize(file) for file in Path(directory).iterdir())
    return {
        "benchmark": "notices",
        "database": "sqlite",
        "notices": count,
        "person_groups": GROUPS,
        "seed_seconds": round(seeded, 1),
        "inbox_ms_p50": round(statistics.median(inbox), 2),
        "inbox_ms_p95": round(percentile(inbox, 0.95), 2),
        "inbox_target_p95_ms": 50,
        "duplicate_ms_p50": round(statistics.median(duplicates), 2),
        "duplicate_ms_p95": round(percentile(duplicates, 0.95), 2),
        "duplicate_target_ms": 20,
        "database_mb_per_100k_notices": round(size / 1e6 * 100_000 / count, 1),
    }


if __name__ == "__main__":
    print(json.dumps(asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 100_000))))
