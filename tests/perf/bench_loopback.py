"""Benchmark: `jianfu run` against a minimal python-telegram-bot bot, as processes over loopback HTTP.

Both bots run as real processes against the Bot API double (bot/testing/http_double.py) on
127.0.0.1, in the same run, each on a fresh copy of the same world and a double of its own
(each phase runs for every bot in turn, so the machine's load hits them alike): 20 groups
of 30 members (from 400 people), the bot an admin allowed to delete, a notice from each group's
admin. Every time is taken in the double: when an update became available to the bot, and when
the delete call that removed an ack acted.

(a) Throughput: 2,000 replies to the notices, half of them exactly "收到", offered at once;
    messages per second from the offer to the last ack's deletion (the median of --rounds bursts).
    Each group's last reply is an ack, so its deletion also means every earlier reply of that
    group was handled.
(b) Latency: replies offered at 100 messages/s for 30 s in all (split over the rounds; half acks);
    p50 and p99 from offering an ack to its deletion, over every round's acks.

The reference is tests/perf/minimal_bot.py (PTB defaults, one deleteMessage per exact "收到").
Jianfu runs with its defaults on SQLite, and on PostgreSQL too when JIANFU_TEST_DATABASE_URL is
set (in a scratch schema it drops). Ratios are Jianfu's figure over the reference's: for
throughput higher is better, for latency lower is better.

Run: python tests/perf/bench_loopback.py [--messages 2000] [--rate 100] [--seconds 30] [--rounds 3]  (prints JSON)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from bot.testing.fake import FakeTelegram
from bot.testing.http_double import HttpTelegram
from bot.testing.process import BotProcess, ChildProcess
from tests.perf.bench_received_e2e import scratch_database
from tests.perf.corpus import CHAT, NOTICES

TOKEN = "424242:LOOPBACK-BENCH"
POSTGRES_ENV = "JIANFU_TEST_DATABASE_URL"
GROUPS, PEOPLE, MEMBERS_PER_GROUP = 20, 400, 30
ACK = "收到"
# Replies that are not acks and ask for nothing (a reply demanding acks would add reminders).
OTHER_REPLIES = [text for text in CHAT if "收到" not in text]
RIGHTS = dict.fromkeys(
    ("can_delete_messages", "can_restrict_members", "can_pin_messages", "can_invite_users", "can_change_info"), True
)
# Jianfu as deployed: bot.toml's defaults, only pointed at the double and its database.
JIANFU_SETTINGS = {
    "telegram": {"connect_timeout": 5.0, "read_timeout": 5.0},
    "jobs": {"sweep_seconds": 30, "lease_seconds": 300},
}
WAIT = 600.0  # seconds a phase may take before the benchmark gives up on a bot


@dataclass
class World:
    """Each group's admin and members, and the notice the replies answer."""

    admins: dict[int, int] = field(default_factory=dict)
    members: dict[int, list[int]] = field(default_factory=dict)
    notices: dict[int, int] = field(default_factory=dict)


def build_world(fake: FakeTelegram, rng: random.Random) -> World:
    world = World()
    people = list(range(1000, 1000 + PEOPLE))
    for person in people:
        fake.add_user(person, f"成员{person}")
    for number in range(GROUPS):
        group, admin = -1001000000001 - number, 100 + number
        fake.add_user(admin, f"管理员{number}")
        world.admins[group], world.members[group] = admin, rng.sample(people, MEMBERS_PER_GROUP)
        fake.add_group(group, f"工作群{number}", creator_id=admin, members=world.members[group])
    return world


class ReferenceBot(ChildProcess):
    """tests/perf/minimal_bot.py against the double."""

    def command(self) -> list[str]:
        script = Path(__file__).with_name("minimal_bot.py")
        return [sys.executable, str(script), "--token", self.double.token, "--base-url", self.double.base_url]


@dataclass
class Contender:
    """One bot with its own double, world and random sequence (the same seed for every contender)."""

    name: str
    double: HttpTelegram
    bot: ChildProcess
    world: World
    rng: random.Random


Reply = tuple[int, int, str]  # group, sender, text


def burst(world: World, count: int, rng: random.Random) -> list[Reply]:
    """`count` replies, half acks, groups interleaved at random; each group's last reply is an ack."""
    per_group = {group: _group_replies(world, group, count // GROUPS, rng) for group in world.admins}
    order = [group for group, replies in per_group.items() for _ in replies]
    rng.shuffle(order)
    return [per_group[group].pop(0) for group in order]


def _group_replies(world: World, group: int, count: int, rng: random.Random) -> list[Reply]:
    texts = [ACK] * (count // 2) + [rng.choice(OTHER_REPLIES) for _ in range(count - count // 2)]
    rng.shuffle(texts)
    last_ack = max(index for index, text in enumerate(texts) if text == ACK)
    texts.append(texts.pop(last_ack))
    return [(group, rng.choice(world.members[group]), text) for text in texts]


def paced(world: World, count: int, rng: random.Random) -> list[Reply]:
    """`count` replies in random groups, every other one an ack."""
    groups = list(world.admins)
    replies = []
    for number in range(count):
        group = rng.choice(groups)
        text = ACK if number % 2 == 0 else rng.choice(OTHER_REPLIES)
        replies.append((group, rng.choice(world.members[group]), text))
    return replies


def offer(double: HttpTelegram, world: World, reply: Reply) -> tuple[tuple[int, int], bool]:
    """Post one reply to its group's notice: ((group, message id), whether it is an ack)."""
    group, sender, text = reply
    return (group, double.reply(group, sender, text, to=world.notices[group])), text == ACK


def wait_deleted(c: Contender, acks: list[tuple[int, int]], what: str) -> dict[tuple[int, int], float]:
    """Until every ack is gone; returns the double's deletion times."""
    c.bot.wait_for(lambda: c.double.deleted_at().keys() >= set(acks), timeout=WAIT, what=f"{c.name}: {what}")
    return c.double.deleted_at()


def prepare(c: Contender) -> None:
    """The bot becomes an admin of every group, each admin posts a notice, one ack per group warms up."""
    for group, admin in c.world.admins.items():
        c.double.bot_joined(group, admin, **RIGHTS)
        c.world.notices[group] = c.double.message(group, admin, c.rng.choice(NOTICES))
    acks = [offer(c.double, c.world, (group, c.world.members[group][0], ACK))[0] for group in c.world.admins]
    wait_deleted(c, acks, "the warm-up acks removed")


@dataclass
class Burst:
    """One burst: messages per second until its last ack went, how many acks, non-acks deleted."""

    messages_per_second: float
    acks: int
    others_deleted: int


@dataclass
class Paced:
    """What one paced stretch offered, and how long each of its acks took to go (ms)."""

    messages: int
    offered_per_second: float
    delays_ms: list[float]
    others_deleted: int


def burst_rate(c: Contender, count: int) -> Burst:
    """(a) once: all replies offered at once, timed until the last ack is deleted."""
    with c.double.together():
        offered = [offer(c.double, c.world, reply) for reply in burst(c.world, count, c.rng)]
    acks = [key for key, is_ack in offered if is_ack]
    deleted, posted = wait_deleted(c, acks, "the burst's acks removed"), c.double.posted_at()
    seconds = max(deleted[key] for key in acks) - min(posted[key] for key, _ in offered)
    others = sum(1 for key, is_ack in offered if not is_ack and key in deleted)
    return Burst(len(offered) / seconds, len(acks), others)


def paced_delays(c: Contender, rate: float, seconds: float) -> Paced:
    """(b) once: replies offered at `rate` per second for `seconds`."""
    plan = paced(c.world, round(rate * seconds), c.rng)
    started = time.monotonic()
    offered = []
    for number, reply in enumerate(plan):
        pause = started + number / rate - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        offered.append(offer(c.double, c.world, reply))
    acks = [key for key, is_ack in offered if is_ack]
    deleted, posted = wait_deleted(c, acks, "the paced acks removed"), c.double.posted_at()
    span = max(posted[key] for key, _ in offered) - min(posted[key] for key, _ in offered)
    return Paced(
        messages=len(offered),
        offered_per_second=(len(offered) - 1) / span if span else 0.0,
        delays_ms=[(deleted[key] - posted[key]) * 1000 for key in acks],
        others_deleted=sum(1 for key, is_ack in offered if not is_ack and key in deleted),
    )


def throughput_figures(runs: list[Burst], count: int) -> dict[str, Any]:
    rates = [run.messages_per_second for run in runs]
    return {
        "messages": count,
        "acks": runs[0].acks,
        "messages_per_second": round(statistics.median(rates), 1),
        "runs": [round(rate, 1) for rate in rates],
        "others_deleted": sum(run.others_deleted for run in runs),
    }


def latency_figures(runs: list[Paced]) -> dict[str, Any]:
    delays = sorted(delay for run in runs for delay in run.delays_ms)
    cuts = statistics.quantiles(delays, n=100, method="inclusive")
    return {
        "messages": sum(run.messages for run in runs),
        "acks": len(delays),
        "offered_per_second": round(min(run.offered_per_second for run in runs), 1),
        "p50_ms": round(cuts[49], 1),
        "p99_ms": round(cuts[98], 1),
        "max_ms": round(delays[-1], 1),
        "others_deleted": sum(run.others_deleted for run in runs),
    }


@contextlib.contextmanager
def running(name: str, database_url: str | None, directory: Path, seed: int) -> Iterator[Contender]:
    """A fresh world served by a double of its own, and the bot started and warmed up against it."""
    rng = random.Random(seed)
    with HttpTelegram(TOKEN) as double:
        with double.world() as fake:
            world = build_world(fake, rng)
        bot: ChildProcess
        if database_url is None:
            bot = ReferenceBot(double, directory, name=name)
        else:
            bot = BotProcess(double, directory, database_url, settings=JIANFU_SETTINGS, name=name)
        with bot:
            bot.start(timeout=120)
            contender = Contender(name, double, bot, world, rng)
            prepare(contender)
            yield contender
            bot.terminate()
        with double.world() as fake:
            fake.assert_no_unknown_calls()


def measure(contenders: list[Contender], args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """Round by round, each phase for every bot in turn, so a change in the machine's load hits them alike.

    Throughput is the median of the rounds' bursts; latency pools every round's acks."""
    bursts: dict[str, list[Burst]] = {c.name: [] for c in contenders}
    stretches: dict[str, list[Paced]] = {c.name: [] for c in contenders}
    for _round in range(args.rounds):
        for c in contenders:
            bursts[c.name].append(burst_rate(c, args.messages))
        for c in contenders:
            stretches[c.name].append(paced_delays(c, args.rate, args.seconds / args.rounds))
    return {
        c.name: {
            "throughput": throughput_figures(bursts[c.name], args.messages),
            "latency": latency_figures(stretches[c.name]),
        }
        for c in contenders
    }


@contextlib.contextmanager
def databases(directory: Path) -> Iterator[dict[str, str]]:
    """jianfu_sqlite always; jianfu_postgresql in a scratch schema when the test PostgreSQL is configured."""
    urls = {"jianfu_sqlite": f"sqlite+aiosqlite:///{directory / 'jianfu.db'}"}
    postgres = os.environ.get(POSTGRES_ENV)
    if not postgres:
        yield urls
        return
    with asyncio.Runner() as runner:
        schema = scratch_database(postgres, directory)
        urls["jianfu_postgresql"] = runner.run(schema.__aenter__())
        try:
            yield urls
        finally:
            runner.run(schema.__aexit__(None, None, None))


def ratios(reference: dict[str, Any], figures: dict[str, Any]) -> dict[str, float]:
    """Jianfu over the reference: throughput (higher is better), p50 and p99 latency (lower is better)."""
    return {
        "throughput": round(
            figures["throughput"]["messages_per_second"] / reference["throughput"]["messages_per_second"], 2
        ),
        "p50_latency": round(figures["latency"]["p50_ms"] / reference["latency"]["p50_ms"], 2),
        "p99_latency": round(figures["latency"]["p99_ms"] / reference["latency"]["p99_ms"], 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    load_at_start = os.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory() as directory,
        databases(Path(directory)) as urls,
        contextlib.ExitStack() as stack,
    ):
        bots = {"minimal": None, **urls}
        contenders = [stack.enter_context(running(name, url, Path(directory), args.seed)) for name, url in bots.items()]
        figures = measure(contenders, args)
    return {
        "benchmark": "loopback_ack_removal",
        "groups": GROUPS,
        "members_per_group": MEMBERS_PER_GROUP,
        "burst_messages": args.messages,
        "offered_per_second": args.rate,
        "offered_seconds": args.seconds,
        "rounds": args.rounds,
        # The machine is shared: a bot that cannot keep up with the offered rate under load shows
        # queueing (seconds), not its own latency. The 1-minute load average at start and end:
        "load_average": [round(load_at_start, 2), round(os.getloadavg()[0], 2)],
        "bots": figures,
        "ratios": {name: ratios(figures["minimal"], bot) for name, bot in figures.items() if name != "minimal"},
    }


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=2000, help="replies in the throughput burst")
    parser.add_argument("--rate", type=float, default=100, help="replies offered per second in the latency phase")
    parser.add_argument("--seconds", type=float, default=30, help="how long the latency phase offers replies")
    parser.add_argument(
        "--rounds", type=int, default=3, help="bursts per bot; the paced time is split over as many stretches"
    )
    parser.add_argument("--seed", type=int, default=11)
    return parser.parse_args(argv)


def main() -> None:
    print(json.dumps(run(parse())))


if __name__ == "__main__":
    main()
