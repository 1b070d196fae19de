"""Benchmark: how many messages per second the ack and demand policies classify on one core.

Run: python tests/perf/bench_received_policy.py  (prints JSON; target >= 100,000/s)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from policies.acks import AckRule
from policies.demands import DemandRule
from tests.perf.corpus import mixed

TARGET = 100_000


def measure(messages: list[str], rounds: int = 5) -> float:
    acks, demands = AckRule(), DemandRule()
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        for text in messages:
            acks.judge(text)
            demands.judge(text)
        best = max(best, len(messages) / (time.perf_counter() - started))
    return best


def main() -> None:
    messages = mixed(100_000)
    rate = measure(messages)
    print(json.dumps({
        "benchmark": "received_policy_classification",
        "messages": len(messages),
        "messages_per_second": round(rate),
        "target_per_second": TARGET,
        "meets_target": rate >= TARGET,
        "note": "ack + demand verdict per message, best of 5 rounds, one core",
    }))


if __name__ == "__main__":
    main()
