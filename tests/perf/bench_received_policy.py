"""Benchmark: how many messages per second the received and formalism policies classify on one core.

Two figures on the same messages, in the same run: the ack and demand verdicts (the figure this
benchmark has always reported), and the whole classification every group message gets
(ReceivedRule.classify: acks, demands, urgency, notices and the four formalism rules), with the
ratio of the two.

Run: python tests/perf/bench_received_policy.py  (prints JSON; target >= 100,000/s for the ack and
demand verdicts, the figure the target was set for)
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

from policies.acks import AckRule
from policies.demands import DemandRule
from policies.received import ReceivedRule
from policies.types import ChatRef, ChatType, Message, Person
from tests.perf.corpus import mixed

TARGET = 100_000


def measure(judge: Callable[[object], object], items: list, rounds: int = 5) -> float:
    best = 0.0
    for _ in range(rounds):
        started = time.perf_counter()
        for item in items:
            judge(item)
        best = max(best, len(items) / (time.perf_counter() - started))
    return best


def main() -> None:
    texts = mixed(100_000)
    acks, demands = AckRule(), DemandRule()
    ack_and_demand = measure(lambda text: (acks.judge(text), demands.judge(text)), texts)
    rule, sender, chat, now = ReceivedRule(), Person(1, "王芳"), ChatRef(-1, ChatType.SUPERGROUP), datetime.now(UTC)
    messages = [Message(chat, index, now, sender, text=text) for index, text in enumerate(texts)]
    full = measure(rule.classify, messages)
    print(
        json.dumps(
            {
                "benchmark": "received_policy_classification",
                "messages": len(texts),
                "messages_per_second": round(ack_and_demand),
                "full_classification_per_second": round(full),
                "full_to_ack_and_demand_ratio": round(full / ack_and_demand, 2),
                "target_per_second": TARGET,
                "meets_target": ack_and_demand >= TARGET,
                "note": (
                    "ack + demand verdicts, and the whole classification with the formalism rules; best of 5, one core"
                ),
            }
        )
    )


if __name__ == "__main__":
    main()
