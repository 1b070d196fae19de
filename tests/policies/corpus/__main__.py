"""`python -m tests.policies.corpus`: the rules' figures on both parts, and the tuning part's misses.

The held-out part's misses are never printed: rules are tuned on what this shows, and the
held-out figures stay a fair measure of messages the rules were not fitted to.
"""

from __future__ import annotations

from policies.received import ReceivedRule
from tests.policies.corpus import HELD_OUT, TAGS, TUNING, evaluate, load


def main() -> None:
    rule, lines = ReceivedRule(), load()
    for part in (TUNING, HELD_OUT):
        report = evaluate(rule, [line for line in lines if line.part == part])
        scores = report.scores
        figures = ", ".join(f"{tag} P {scores[tag].precision:.3f} R {scores[tag].recall:.3f}" for tag in TAGS)
        print(f"{part} ({len([line for line in lines if line.part == part])} lines): {figures}")
        if part == TUNING:
            for line, got in report.misses:
                wanted = " ".join(sorted(line.expected)) or "-"
                said = " ".join(sorted(got)) or "-"
                sender = f"{line.sender}: " if line.sender else ""
                print(f"  want {wanted:<22} got {said:<22} [{line.category}] {sender}{line.text}")


if __name__ == "__main__":
    main()
