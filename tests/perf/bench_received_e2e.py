"""Benchmark: group messages per second through the real application, end to end.

Each message goes update JSON in -> Update.de_json -> observation -> notice collection ->
"received" rule -> database writes -> deleteMessage (or a reminder) out, against the in-memory
Bot API double. The traffic is a busy deployment's: many groups, members who sit in several of
them (first sightings included, so membership writes are paid for), notices and ack demands from
each group's admins, acks that reply to a notice or follow it, and ordinary chat. Some members and
admins have started the bot (tips and reminders go privately); for the others a reminder is kept
for their first /start and the group's admins are told once a week; one group has not given the
bot the delete right (reads recorded, admins told once).
The rate limiter is off: it models Telegram's limits, not Jianfu's own speed. Only the updates'
processing is timed; building them (the Telegram side) is not.

Updates go in as `jianfu run` takes them: in batches (a getUpdates answer holds up to 100), each
batch committed by the intake (chats concurrently, each in order) while the Telegram actions of
earlier updates run; the time counts until the last action is done. `--sequential` instead
processes one update at a time and waits for its actions (how the tests drive the application).

Run: python tests/perf/bench_received_e2e.py [COUNT] [--database postgresql+asyncpg://…] [--batch N | --sequential]
(prints JSON; target >= 1,000/s on SQLite). A PostgreSQL run uses a scratch schema it drops.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import random
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from sqlalchemy import func, make_url, select, text
from telegram import Update

from bot.app import JianfuApplication, build_application
from bot.context import POOL_HEADROOM, Deps
from bot.intake import Intake
from bot.settings import load_settings
from bot.testing.fake import FakeTelegram
from bot.testing.updates import UpdateFactory
from policies.clock import FakeClock
from storage.db import Database, create_engine
from storage.migrate import upgrade
from storage.models import Event, Read
from tests.perf.corpus import ACKS, CHAT, DEMANDS, NOTICES

TARGET = 1_000
GROUPS, PEOPLE, MEMBERS_PER_GROUP = 20, 400, 30
# Simulated time between two messages of the whole deployment (20 groups: one message a
# second in each), so the minute-long membership throttle meets the traffic it is built for.
SPACING = timedelta(milliseconds=50)
RIGHTS = dict.fromkeys(
    ("can_delete_messages", "can_restrict_members", "can_pin_messages", "can_invite_users", "can_change_info"), True
)


@dataclass
class World:
    """Groups with their admin and members; who has a private chat with the bot."""

    admins: dict[int, int] = field(default_factory=dict)
    members: dict[int, list[int]] = field(default_factory=dict)
    without_delete_right: int = 0


def build_world(fake: FakeTelegram, rng: random.Random) -> World:
    world = World()
    people = list(range(1000, 1000 + PEOPLE))
    for person in people:
        fake.add_user(person, f"成员{person}")
        if rng.random() < 0.3:
            fake.start_private_chat(person)
    for number in range(GROUPS):
        group, admin = -1001000000001 - number, 100 + number
        fake.add_user(admin, f"管理员{number}")
        if number % 2 == 0:
            fake.start_private_chat(admin)
        members = rng.sample(people, MEMBERS_PER_GROUP)
        fake.add_group(group, f"工作群{number}", creator_id=admin, members=members)
        world.admins[group], world.members[group] = admin, members
    world.without_delete_right = -1001000000001 - (GROUPS - 1)
    return world


def script(world: World, count: int, rng: random.Random) -> list[tuple[int, int, str, bool]]:
    """(group, sender, text, replies to the group's latest notice), busy-group proportions."""
    groups = list(world.admins)
    # Some groups are busier than others.
    weights = [1 + (index % 5) for index in range(len(groups))]
    plan = []
    for group in rng.choices(groups, weights, k=count):
        roll = rng.random()
        if roll < 0.05:
            plan.append((group, world.admins[group], rng.choice(NOTICES), False))
        elif roll < 0.08:
            plan.append((group, world.admins[group], rng.choice(DEMANDS), False))
        elif roll < 0.45:
            plan.append((group, rng.choice(world.members[group]), rng.choice(ACKS), rng.random() < 0.7))
        else:
            plan.append((group, rng.choice(world.members[group]), rng.choice(CHAT), False))
    return plan


async def run(count: int, database: str | None = None, seed: int = 11, batch: int = 100) -> dict[str, object]:
    clock = FakeClock(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    fake = FakeTelegram(clock=clock)
    rng = random.Random(seed)
    world = build_world(fake, rng)
    with tempfile.TemporaryDirectory() as directory:
        async with scratch_database(database, Path(directory)) as url:
            (elapsed, cpu), stored = await drive(url, fake, clock, world, script(world, count, rng), batch)
    return {
        "benchmark": "received_rule_end_to_end",
        "database": "postgresql" if database else "sqlite",
        "messages": count,
        "groups": GROUPS,
        "people": PEOPLE,
        "seconds": round(elapsed, 3),
        # This process's CPU in the timed part (the PostgreSQL server's is not in it): on a shared
        # machine it moves less with the neighbours' load than the seconds do.
        "process_cpu_seconds": round(cpu, 3),
        "messages_per_second": round(count / elapsed),
        "batch": batch,
        "acks_deleted": len(fake.calls_to("deleteMessage"))
        + sum(len(c["message_ids"]) for c in fake.calls_to("deleteMessages")),
        "delete_calls": len(fake.calls_to("deleteMessage")) + len(fake.calls_to("deleteMessages")),
        "reads_recorded": stored["reads"],
        "events_recorded": stored["events"],
        "messages_sent": len(fake.calls_to("sendMessage")),
        "target_per_second": TARGET,
        "meets_target": count / elapsed >= TARGET,
    }


async def drive(
    url: str, fake: FakeTelegram, clock: FakeClock, world: World, plan: list[tuple[int, int, str, bool]], batch: int
) -> tuple[tuple[float, float], dict[str, int]]:
    """Build the real application on `url` and time the scripted group messages through it
    (seconds, and this process's CPU seconds)."""
    settings = load_settings(
        None, telegram={"token": "1:bench", "rate_limit": {"enabled": False}}, database={"url": url}
    )
    db = Database.from_url(url, connections=settings.updates.concurrent_chats + POOL_HEADROOM)  # as `jianfu run`
    await upgrade(db.engine)
    app = build_application(settings, Deps.create(settings, db=db, clock=clock, request=fake))
    try:
        async with app:
            updates = UpdateFactory(fake, app.bot)
            for group, admin in world.admins.items():
                rights = {} if group == world.without_delete_right else RIGHTS
                await app.process_update(
                    updates.my_chat_member(group, admin, old="left", new="administrator", rights=rights)
                )
            timed = _timed if batch <= 1 else functools.partial(_timed_in_batches, size=batch)
            elapsed = await timed(app, updates, clock, world, plan)
            return elapsed, await _stored(db)
    finally:
        await db.dispose()


async def _timed(
    app: JianfuApplication,
    updates: UpdateFactory,
    clock: FakeClock,
    world: World,
    plan: list[tuple[int, int, str, bool]],
) -> tuple[float, float]:
    """Only the application's work is timed: JSON to Update, then process_update."""
    watch, latest_notice = Stopwatch(), {}
    for group, sender, message_text, replies in plan:
        clock.advance(SPACING)
        # Telegram's side: the message exists and arrives as JSON (a webhook body, a getUpdates item).
        update = updates.message(group, sender, message_text, reply_to=latest_notice.get(group) if replies else None)
        if sender == world.admins[group]:
            latest_notice[group] = update.message.message_id
        data = update.to_dict()
        with watch:
            await app.process_update(Update.de_json(data, app.bot))
    return watch.seconds, watch.cpu_seconds


async def _timed_in_batches(
    app: JianfuApplication,
    updates: UpdateFactory,
    clock: FakeClock,
    world: World,
    plan: list[tuple[int, int, str, bool]],
    *,
    size: int,
) -> tuple[float, float]:
    """As `jianfu run` takes them: a batch of JSON updates committed by the intake, actions in the background."""
    intake, watch, latest_notice = Intake(app), Stopwatch(), {}
    for start in range(0, len(plan), size):
        batch = []
        for group, sender, message_text, replies in plan[start : start + size]:
            clock.advance(SPACING)
            update = updates.message(
                group, sender, message_text, reply_to=latest_notice.get(group) if replies else None
            )
            if sender == world.admins[group]:
                latest_notice[group] = update.message.message_id
            batch.append(update.to_dict())
        with watch:
            await intake.commit_batch([Update.de_json(data, app.bot) for data in batch])
    with watch:
        await intake.drain(timeout=600)
    return watch.seconds, watch.cpu_seconds


class Stopwatch:
    """Adds up the wall-clock and this process's CPU seconds of the blocks it times (`with watch:`)."""

    def __init__(self) -> None:
        self.seconds = self.cpu_seconds = 0.0

    def __enter__(self) -> None:
        self._started, self._used = time.perf_counter(), time.process_time()

    def __exit__(self, *_exc: object) -> None:
        self.seconds += time.perf_counter() - self._started
        self.cpu_seconds += time.process_time() - self._used


async def _stored(db: Database) -> dict[str, int]:
    async with db.transaction() as session:
        reads = await session.scalar(select(func.count()).select_from(Read))
        events = await session.scalar(select(func.count()).select_from(Event))
    return {"reads": int(reads or 0), "events": int(events or 0)}


@contextlib.asynccontextmanager
async def scratch_database(database: str | None, directory: Path):
    """A fresh SQLite file, or a fresh schema on the given PostgreSQL (dropped afterwards)."""
    if database is None:
        yield f"sqlite+aiosqlite:///{directory / 'bench.db'}"
        return
    schema = f"bench_{uuid.uuid4().hex[:10]}"
    await _schema(database, f'CREATE SCHEMA "{schema}"')
    try:
        yield make_url(database).update_query_dict({"search_path": schema}).render_as_string(hide_password=False)
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
    parser.add_argument("--batch", type=int, default=100, help="updates per getUpdates answer (default 100)")
    parser.add_argument("--sequential", action="store_true", help="one update at a time, waiting for its actions")
    args = parser.parse_args()
    print(json.dumps(asyncio.run(run(args.count, args.database, batch=1 if args.sequential else args.batch))))


if __name__ == "__main__":
    main()
