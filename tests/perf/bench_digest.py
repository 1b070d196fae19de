"""Benchmark: computing the supervisors' weekly digest on SQLite, and how its time grows with events.

Run: python tests/perf/bench_digest.py [EVENTS ...] [--weeks W]   (prints JSON)
Defaults: 100,000 and 1,000,000 events, spread over W = 8 weeks that end with the reported
week (the digest reads that week and the one before, so about 2/W of the events; --weeks 2
puts every event in them). Each database also has 2,000 groups (10% temporary), 100 departments
and one notice per ten events. The digest is computed in a fresh process, the way a bot that
just started would (no memo): the scoreboard of both weeks, the chart and the texts.
Targets: under 10 s and under 300 MB for 1,000,000 events.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import tracemalloc
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import insert

from bot.context import Deps
from bot.report_data import scoreboard, week_window
from bot.reports import supervisors_digest
from bot.settings import load_settings
from policies.clock import FakeClock
from policies.digest import IsoWeek
from storage.db import Database
from storage.migrate import upgrade
from storage.models import Chat, Department, Event, Notice

DEPARTMENTS, GROUPS = 100, 2000
WEEK = IsoWeek(2026, 47)
NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday 09:00 in Shanghai: W47's digest is due
BATCH = 50_000
# How often each recorded kind occurs, roughly as a busy deployment would see them.
KINDS = [
    ("ack_removed", 50), ("ack_demand", 12), ("deadline_reminder", 15), ("after_hours_notice", 8),
    ("duplicate_data_request", 5), ("notice_converted", 4), ("admins_told", 3), ("quota_overrun", 1),
    ("whatever_comes_later", 2),
]  # fmt: skip


def group_rows(rng: random.Random) -> list[dict]:
    rows = []
    for number in range(GROUPS):
        temporary = number % 10 == 0
        state = rng.choice(["active", "done", "closed"]) if temporary else "active"
        rows.append({
            "id": -1_000_000 - number, "title": f"群{number}", "type": "supergroup",
            "department_id": number % DEPARTMENTS + 1 if number % 50 else None,
            "kind": "temporary" if temporary else "permanent", "state": state, "settings": {},
            "bot_status": "administrator", "bot_rights": {}, "member_count": rng.randint(5, 200),
            "joined_at": NOW - timedelta(days=rng.randint(10, 200)), "close_step": 0,
            "last_activity_at": NOW - timedelta(days=rng.randint(0, 20)),
            "close_at": NOW - timedelta(days=rng.randint(-5, 10)) if state == "done" else None,
            "closed_at": NOW - timedelta(days=rng.randint(0, 20)) if state == "closed" else None,
        })  # fmt: skip
    return rows


def event_rows(rng: random.Random, count: int, first_day: date, days: int, groups: list[dict]) -> list[dict]:
    kinds, weights = zip(*KINDS, strict=True)
    rows = []
    for kind in rng.choices(kinds, weights, k=count):
        group = rng.choice(groups)
        day = first_day + timedelta(days=rng.randrange(days))
        rows.append({
            "kind": kind, "day": day, "department_id": group["department_id"], "chat_id": group["id"],
            "key": None, "at": datetime(day.year, day.month, day.day, 3, tzinfo=UTC),
        })  # fmt: skip
    return rows


def notice_rows(
    rng: random.Random, start: int, count: int, first_day: date, days: int, groups: list[dict]
) -> list[dict]:
    rows = []
    for number in range(start, start + count):
        group = rng.choice(groups)
        posted = datetime(first_day.year, first_day.month, first_day.day, tzinfo=UTC) + timedelta(
            minutes=rng.randrange(days * 1440)
        )
        rows.append({
            "chat_id": group["id"], "message_id": number, "sender_id": 1, "department_id": group["department_id"],
            "text": f"【通知】第{number}号", "kind": rng.choice(["notice", "meeting", "data_request"]), "urgent": False,
            "ack_demand": False, "tracked": False, "posted_at": posted,
        })  # fmt: skip
    return rows


async def seed(db: Database, events: int, weeks: int, rng: random.Random) -> None:
    first_day = WEEK.monday - timedelta(days=7 * (weeks - 1))
    days = 7 * weeks
    groups = group_rows(rng)
    async with db.engine.begin() as connection:
        departments = [
            {"id": n, "name": f"部门{n:03d}", "code": f"D{n:03d}", "internal_units": 3, "created_at": NOW}
            for n in range(1, DEPARTMENTS + 1)
        ]
        await connection.execute(insert(Department), departments)
        await connection.execute(insert(Chat), groups)
    for start in range(0, events, BATCH):
        size = min(BATCH, events - start)
        async with db.engine.begin() as connection:
            await connection.execute(insert(Event), event_rows(rng, size, first_day, days, groups))
            notices = size // 10
            await connection.execute(insert(Notice), notice_rows(rng, start // 10, notices, first_day, days, groups))


def settings_for(path: Path):
    return load_settings(None, telegram={"token": "1:bench"}, database={"url": f"sqlite+aiosqlite:///{path}"})


async def compute(path: Path, *, trace: bool) -> dict[str, float]:
    """One supervisors' digest, from a cold start: the figures, the chart and the texts.

    With `trace`, tracemalloc measures the peak of Python's own allocations; it slows
    allocation-heavy code (the chart) several times over, so timed runs go without it.
    """
    settings = settings_for(path)
    deps = Deps.create(settings, clock=FakeClock(NOW))
    window = week_window(deps, WEEK)
    if trace:
        tracemalloc.start()
    started = time.perf_counter()
    async with deps.db.transaction() as session:
        board = await scoreboard(deps, session, window)
        figures_done = time.perf_counter()
        parts = await supervisors_digest(deps, board, window, "zh-CN")
    finished = time.perf_counter()
    result = {
        "figures_s": figures_done - started,
        "total_s": finished - started,
        # The whole process at its peak: interpreter, libraries, SQLite's cache, the chart.
        "process_peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3,
        "departments_ranked": len(board.rows),
        "messages": len(parts),
    }
    if trace:
        result = {"python_peak_mb": tracemalloc.get_traced_memory()[1] / 1e6}
        tracemalloc.stop()
    await deps.db.dispose()
    return result


def cold_run(path: Path, flag: str) -> dict[str, float]:
    output = subprocess.run(
        [sys.executable, __file__, flag, str(path)], check=True, capture_output=True, text=True
    ).stdout
    return json.loads(output)


def measure(path: Path, rounds: int) -> dict[str, float]:
    """The median of `rounds` cold computations, each in a new process, and one traced run."""
    runs = [cold_run(path, "--compute") for _round in range(rounds)]
    medians = {key: round(statistics.median(run[key] for run in runs), 3) for key in runs[0]}
    return medians | {key: round(value, 1) for key, value in cold_run(path, "--trace").items()}


async def build(path: Path, events: int, weeks: int) -> float:
    db = Database.from_url(f"sqlite+aiosqlite:///{path}")
    await upgrade(db.engine)
    started = time.perf_counter()
    await seed(db, events, weeks, random.Random(events))
    await db.dispose()
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("events", nargs="*", type=int, default=[100_000, 1_000_000])
    parser.add_argument("--weeks", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--compute", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--trace", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.compute or args.trace:
        print(json.dumps(asyncio.run(compute(args.compute or args.trace, trace=bool(args.trace)))))
        return
    results = []
    with tempfile.TemporaryDirectory() as directory:
        for events in args.events:
            path = Path(directory) / f"digest-{events}.db"
            seeded = asyncio.run(build(path, events, args.weeks))
            results.append({"events": events, "seed_s": round(seeded, 1), **measure(path, args.rounds)})
            path.unlink()
    report = {
        "benchmark": "digest",
        "database": "sqlite",
        "groups": GROUPS,
        "departments": DEPARTMENTS,
        "weeks_of_events": args.weeks,
        "runs": results,
        "target_s": 10,
        "target_mb": 300,
    }
    if len(results) > 1:
        report["growth"] = {
            "events_ratio": round(results[-1]["events"] / results[0]["events"], 1),
            "time_ratio": round(results[-1]["total_s"] / results[0]["total_s"], 2),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main()
