"""The verdict every rule returns: which rule, whether it fired, and why (tg-spam's metachecks)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Verdict:
    rule: str
    hit: bool
    detail: str
