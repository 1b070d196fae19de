"""Benchmark: what the Prometheus hooks cost on the busiest path, as a ratio measured in one run.

Two figures from one run:
- the hooks' own cost (`record_update` once per update, `record_call` once per Bot API call),
  timed directly, as a share of the time one message takes end to end (target: under 3%); this
  one is steady even on a busy machine;
- the end-to-end "received" benchmark (bench_received_e2e) with the hooks and with both replaced
  by no-ops, alternating, and the ratio of the medians (near 1.0; on a shared machine its noise
  is larger than the hooks' cost).

Run: python tests/perf/bench_metrics_overhead.py [COUNT] [--rounds N]   (prints JSON)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import timeit
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import bench_received_e2e
from telegram import Update

from bot import metrics

REAL_HOOKS = (metrics.record_update, metrics.record_call)


def _hooks(enabled: bool) -> None:
    if enabled:
        metrics.record_update, metrics.record_call = REAL_HOOKS
    else:
        metrics.record_update = metrics.record_call = lambda *args, **kwargs: None


def hook_microseconds(repeat: int = 100_000) -> float:
    """One update's hooks: record_update for a group message and record_call for its deleteMessage."""
    update = Update.de_json(
        {
            "update_id": 1,
            "message": {"message_id": 1, "date": 0, "chat": {"id": -1, "type": "supergroup"}, "text": "收到"},
        },
        None,
    )
    now = datetime.now(UTC)

    def hooks() -> None:
        metrics.record_update(update, seconds=0.001, at=now)
        metrics.record_call("deleteMessage", "done")

    return min(timeit.repeat(hooks, number=repeat, repeat=3)) / repeat * 1e6


def measure(count: int, rounds: int) -> dict[str, object]:
    rates: dict[str, list[float]] = {"with_metrics": [], "without_metrics": []}
    for _ in range(rounds):
        for label in rates:
            _hooks(label == "with_metrics")
            rates[label].append(asyncio.run(bench_received_e2e.run(count, None))["messages_per_second"])
    _hooks(True)
    with_metrics, without = (statistics.median(rates[label]) for label in rates)
    hooks = hook_microseconds()
    message = 1e6 / without
    return {
        "messages": count,
        "rounds": rounds,
        "hooks_us_per_message": round(hooks, 2),
        "message_us_end_to_end": round(message, 1),
        "hooks_share": round(hooks / message, 4),
        "target_hooks_share": 0.03,
        "with_metrics_per_second": with_metrics,
        "without_metrics_per_second": without,
        "ratio": round(with_metrics / without, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("count", nargs="?", type=int, default=3000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    print(json.dumps(measure(args.count, args.rounds)))


if __name__ == "__main__":
    main()
