"""`jianfu explain`: the "received" rule's verdicts on given messages, for people and for tests."""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime

from policies.received import Judgement, ReceivedRule
from policies.types import ChatRef, ChatType, Message, Person


def judge_text(rule: ReceivedRule, text: str, sender: str = "") -> Judgement:
    person = Person(0, sender) if sender else None
    message = Message(ChatRef(0, ChatType.SUPERGROUP), 0, datetime.now(UTC), person, text=text)
    return rule.classify(message)


def as_record(text: str, judgement: Judgement) -> dict[str, object]:
    return {
        "text": text,
        "ack": judgement.ack.hit,
        "ack_demand": judgement.demand.hit,
        "urgent": judgement.urgent.hit,
        "notice": judgement.notice.hit,
        "notice_kind": judgement.notice.kind.value if judgement.notice.kind else None,
        "ack_strength": judgement.ack.strength.value if judgement.ack.strength else None,
        "formalism": list(judgement.formalism_kinds),
        "rules": [{"rule": rule, "reason": reason} for rule, reason in judgement.fired],
    }


def as_line(text: str, judgement: Judgement) -> str:
    if judgement.ack.hit:
        verdict = f"ACK ({judgement.ack.strength}) — removed and counted as a read when it answers a notice"
    elif judgement.demand.hit and judgement.urgent.hit:
        verdict = "URGENT DEMAND — allowed: urgent matters may ask for replies"
    elif judgement.demand.hit:
        verdict = "ACK DEMAND — recorded against the department; the sender is reminded"
    else:
        verdict = "kept"
    if judgement.formalism:
        verdict += "\n  → " + _formalism_line(judgement)
    reasons = "; ".join(f"{rule}: {reason}" for rule, reason in judgement.fired) or judgement.ack.detail
    return f"{text}\n  → {verdict}\n    {reasons}"


def _formalism_line(judgement: Judgement) -> str:
    kinds = ", ".join(judgement.formalism_kinds)
    if judgement.formalism_exempt.hit:
        return f"FORMALISM ({kinds}) — exempt ({judgement.formalism_exempt.detail}): counted nowhere, nobody reminded"
    return f"FORMALISM ({kinds}) — recorded against the department; the sender is reminded"


def explain_lines(rule: ReceivedRule, messages: Iterable[str], *, as_json: bool, sender: str = "") -> Iterator[str]:
    for text in messages:
        if not text.strip():
            continue
        judgement = judge_text(rule, text, sender)
        yield json.dumps(as_record(text, judgement), ensure_ascii=False) if as_json else as_line(text, judgement)
