"""Benchmark: CPU per Bot API call, PTB's HTTPXRequest against Jianfu's AiohttpRequest, side by side.

Both transports call the HTTP Bot API double (bot/testing/http_double.py) on 127.0.0.1 through
PTB's Bot, as Jianfu does: getMe (no parameters, a small answer), deleteMessage (a form post,
each call deleting a message that exists) and getUpdates answering with the same 100 updates
(a large answer that PTB turns into Update objects, and the same call up to its parsed JSON
only: the transport's share, which PTB's Update objects dwarf). The double runs in a thread of this
process, so its work is left out: `cpu_us` is this thread's CPU per call (time.thread_time),
`process_cpu_us` the whole process's minus the double's thread (it also counts any worker
threads a transport uses), `wall_us` the elapsed time per call. PTB's own work (encoding the
parameters, parsing the answer) is in every figure, the same for both. The transports take
turns within each round; each figure is the median over --rounds, and the ratios are
aiohttp's figure over httpx's (lower is better).

Run: python tests/perf/bench_http_transport.py [--calls 2000] [--rounds 3]  (prints JSON)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from telegram import Bot
from telegram.request import BaseRequest, HTTPXRequest

from bot.telegram_http import AiohttpRequest
from bot.testing.fake import FakeTelegram
from bot.testing.http_double import HttpTelegram

TOKEN = "424242:TRANSPORT-BENCH"
GROUP, OWNER, MEMBER = -1001, 11, 12
UPDATES_PER_ANSWER = 100
WARM_UP = 100
# Jianfu's settings (bot/cli.py telegram_request) for both.
TRANSPORTS: dict[str, Callable[[], BaseRequest]] = {
    "httpx": lambda: HTTPXRequest(connection_pool_size=16, connect_timeout=5.0, read_timeout=5.0),
    "aiohttp": lambda: AiohttpRequest(connection_pool_size=16, connect_timeout=5.0, read_timeout=5.0),
}
Call = Callable[[Bot], Awaitable[Any]]


def world() -> FakeTelegram:
    fake = FakeTelegram()
    fake.add_user(OWNER, "王")
    fake.add_user(MEMBER, "李")
    fake.add_group(GROUP, "工作群", creator_id=OWNER, members=[MEMBER])
    fake.set_bot_member(GROUP, "administrator", can_delete_messages=True)
    return fake


def cases(double: HttpTelegram, calls: int, rounds: int) -> dict[str, tuple[int, Callable[[], Call]]]:
    """Each case: how many calls one measurement makes, and a maker of its next call."""
    deletions = rounds * len(TRANSPORTS) * (calls + WARM_UP)
    with double.world() as fake:
        targets = iter([fake.add_message(GROUP, MEMBER, "收到")["message_id"] for _ in range(deletions)])
    for number in range(UPDATES_PER_ANSWER):
        double.message(GROUP, MEMBER, f"消息 {number}")  # stays pending: every poll answers all 100
    return {
        "getMe": (calls, lambda: lambda bot: bot.get_me()),
        "deleteMessage": (calls, lambda: _delete(next(targets))),
        f"getUpdates_{UPDATES_PER_ANSWER}": (max(calls // 4, 1), lambda: lambda bot: bot.get_updates(timeout=0)),
        # The same answer up to its JSON, without PTB's Update objects (most of the case above).
        f"getUpdates_{UPDATES_PER_ANSWER}_json": (calls, lambda: lambda bot: bot._post("getUpdates", {"timeout": 0})),
    }


def _delete(message_id: int) -> Call:
    return lambda bot: bot.delete_message(GROUP, message_id)


async def measure_one(
    double: HttpTelegram, make: Callable[[], BaseRequest], count: int, next_call: Callable[[], Call]
) -> dict[str, float]:
    transport = make()
    bot = Bot(TOKEN, base_url=f"{double.base_url}/bot", request=transport, get_updates_request=transport)
    async with bot:
        for _ in range(min(WARM_UP, count)):
            await next_call()(bot)
        server = _thread_clock("http-telegram")
        thread0, process0, server0, wall0 = time.thread_time(), time.process_time(), server(), time.perf_counter()
        for _ in range(count):
            await next_call()(bot)
        thread1, process1, server1, wall1 = time.thread_time(), time.process_time(), server(), time.perf_counter()
    return {
        "cpu_us": (thread1 - thread0) / count * 1e6,
        "process_cpu_us": ((process1 - process0) - (server1 - server0)) / count * 1e6,
        "wall_us": (wall1 - wall0) / count * 1e6,
    }


def _thread_clock(name: str) -> Callable[[], float]:
    """The CPU time of the thread with this name (the double's), in seconds."""
    [thread] = [t for t in threading.enumerate() if t.name == name]
    clock = time.pthread_getcpuclockid(thread.ident)  # type: ignore[arg-type]
    return lambda: time.clock_gettime(clock)


def run(calls: int, rounds: int) -> dict[str, Any]:
    samples: dict[str, dict[str, list[dict[str, float]]]] = {}
    with HttpTelegram(TOKEN, world()) as double:
        plan = cases(double, calls, rounds)
        for round_number in range(rounds):
            # Alternate who goes first, so neither always meets a warmer or busier machine.
            order = list(TRANSPORTS) if round_number % 2 == 0 else list(reversed(TRANSPORTS))
            for case, (count, next_call) in plan.items():
                for name in order:
                    figures = asyncio.run(measure_one(double, TRANSPORTS[name], count, next_call))
                    samples.setdefault(case, {}).setdefault(name, []).append(figures)
    return {"calls": calls, "rounds": rounds, "cases": {case: _summary(by) for case, by in samples.items()}}


def _summary(by_transport: dict[str, list[dict[str, float]]]) -> dict[str, Any]:
    medians = {
        name: {key: round(statistics.median(s[key] for s in runs), 1) for key in runs[0]}
        for name, runs in by_transport.items()
    }
    ratios = {
        key: round(medians["aiohttp"][key] / medians["httpx"][key], 3) for key in medians["httpx"]
    }  # fmt: skip
    return {**medians, "aiohttp_over_httpx": ratios}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000, help="calls per measurement (getUpdates: a quarter)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(run(args.calls, args.rounds), indent=2))


if __name__ == "__main__":
    main()
