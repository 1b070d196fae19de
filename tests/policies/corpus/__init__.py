"""The labelled corpus of work-group lines: loading, the deterministic split, and scoring.

Each line of messages.tsv is `expected<TAB>category<TAB>sender<TAB>text`: `expected` names the
verdicts the line should get (ack, demand, urgent, checkin, photo_proof, promotion,
instant_reply, exempt; "-" for none), `category` says what kind of line it is, `sender` is the
display name it is judged as sent by (for "王芳收到" from 王芳). A line belongs to the tuning
part or the held-out part by a hash of its text, so the split never changes when lines are added
elsewhere. Rules are tuned on the tuning part only (`python -m tests.policies.corpus`); the
held-out part is for the figures the accuracy test checks. tuning_extra.tsv holds lines written
after the first split, to widen the tuning data where the rules were thin; they are always in
the tuning part, so the held-out part stays lines written before any rule was tuned.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from policies.received import ReceivedRule
from policies.types import ChatRef, ChatType, Message, Person

CORPUS = Path(__file__).with_name("messages.tsv")
TUNING_ONLY = Path(__file__).with_name("tuning_extra.tsv")
TUNING, HELD_OUT = "tuning", "held_out"
FORMALISM_TAGS = ("checkin", "photo_proof", "promotion", "instant_reply")
TAGS = ("ack", "demand", "urgent", *FORMALISM_TAGS, "exempt")


@dataclass(frozen=True)
class Line:
    expected: frozenset[str]
    category: str
    sender: str
    text: str
    tuning_only: bool = False

    @property
    def part(self) -> str:
        if self.tuning_only:
            return TUNING
        return HELD_OUT if hashlib.sha256(self.text.encode()).digest()[0] % 2 else TUNING


def load() -> list[Line]:
    """Every line of both files."""
    return _read(CORPUS) + _read(TUNING_ONLY, tuning_only=True)


def _read(path: Path, *, tuning_only: bool = False) -> list[Line]:
    lines = []
    for row in path.read_text(encoding="utf-8").splitlines():
        if not row.strip() or row.startswith("#"):
            continue
        expected, category, sender, text = row.split("\t")
        tags = frozenset(tag for tag in expected.split() if tag != "-")
        unknown = tags - set(TAGS)
        if unknown:
            raise ValueError(f"unknown tags {sorted(unknown)} in {row!r}")
        lines.append(Line(tags, category, sender, text, tuning_only))
    return lines


def predicted(rule: ReceivedRule, line: Line) -> frozenset[str]:
    """The tags the rules give the line, judged as the group message of its sender."""
    sender = Person(1, line.sender or "某某")
    message = Message(ChatRef(-1, ChatType.SUPERGROUP), 1, datetime(2026, 11, 23, tzinfo=UTC), sender, text=line.text)
    judgement = rule.classify(message)
    tags = {kind for kind in judgement.formalism_kinds}
    if judgement.ack.hit:
        tags.add("ack")
    if judgement.demand.hit:
        tags.add("demand")
    if judgement.urgent.hit:
        tags.add("urgent")
    if tags & set(FORMALISM_TAGS) and judgement.formalism_exempt.hit:
        tags.add("exempt")
    return frozenset(tags)


@dataclass
class Score:
    true_positives: int = 0
    false_positives: int = 0
    false_negatives: int = 0

    @property
    def precision(self) -> float:
        found = self.true_positives + self.false_positives
        return self.true_positives / found if found else 1.0

    @property
    def recall(self) -> float:
        wanted = self.true_positives + self.false_negatives
        return self.true_positives / wanted if wanted else 1.0


@dataclass
class Report:
    scores: dict[str, Score] = field(default_factory=lambda: {tag: Score() for tag in TAGS})
    # (line, what the rules said) for every line with at least one wrong tag.
    misses: list[tuple[Line, frozenset[str]]] = field(default_factory=list)


def evaluate(rule: ReceivedRule, lines: Iterable[Line]) -> Report:
    report = Report()
    for line in lines:
        got = predicted(rule, line)
        for tag in TAGS:
            wanted, said = _applies(tag, line.expected), _applies(tag, got)
            if tag == "exempt" and not line.expected & set(FORMALISM_TAGS):
                continue  # exemption is only judged where a formalism demand is
            score = report.scores[tag]
            score.true_positives += wanted and said
            score.false_positives += said and not wanted
            score.false_negatives += wanted and not said
        if _differs(line.expected, got):
            report.misses.append((line, got))
    return report


def _applies(tag: str, tags: frozenset[str]) -> bool:
    return tag in tags


def _differs(expected: frozenset[str], got: frozenset[str]) -> bool:
    if not expected & set(FORMALISM_TAGS):
        got = got - {"exempt"}
    return expected != got
