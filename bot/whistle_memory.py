"""What the whistle flow remembers between messages: in this process's memory only, never stored.

A report being written (a Draft) is kept per person until it is submitted, cancelled or left
idle too long; supervisors' pending text answers live here too. A restart forgets them all,
which is the point: nothing about an unfinished report reaches the database or the logs.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

from policies.whistle import RotatingLimiter
from storage.repositories.whistles import NewEvidence


class Step(StrEnum):
    DEPARTMENT = "department"
    CATEGORY = "category"
    DESCRIPTION = "description"
    EVIDENCE = "evidence"
    REVIEW = "review"


@dataclass
class Draft:
    """A report being written. `token` goes into its buttons, so an old keyboard is recognised."""

    language: str
    touched_at: datetime
    token: str = field(default_factory=lambda: secrets.token_urlsafe(6))
    step: Step = Step.DEPARTMENT
    department_id: int | None = None
    department_label: str | None = None
    # A name the person typed that is not registered, waiting for "keep it as typed".
    typed_department: str | None = None
    category: str | None = None
    description: str | None = None
    evidence: list[NewEvidence] = field(default_factory=list)


@dataclass(frozen=True)
class PendingAnswer:
    """A supervisor pressed respond / rectified / reject and the bot waits for their text."""

    action: str
    whistle_id: int
    language: str
    asked_at: datetime


@dataclass
class WhistleMemory:
    expire_after: timedelta
    reports: RotatingLimiter
    code_attempts: RotatingLimiter
    drafts: dict[int, Draft] = field(default_factory=dict)
    pending: dict[int, PendingAnswer] = field(default_factory=dict)

    def draft(self, user_id: int, now: datetime) -> tuple[Draft | None, bool]:
        """The person's live draft, and whether one just expired (and was forgotten)."""
        draft = self.drafts.get(user_id)
        if draft is None:
            return None, False
        if now - draft.touched_at > self.expire_after:
            del self.drafts[user_id]
            return None, True
        draft.touched_at = now
        return draft, False

    def start(self, user_id: int, language: str, now: datetime) -> Draft:
        self.forget_idle(now)
        draft = Draft(language=language, touched_at=now)
        self.drafts[user_id] = draft
        return draft

    def answer_for(self, user_id: int, now: datetime) -> PendingAnswer | None:
        pending = self.pending.get(user_id)
        if pending is not None and now - pending.asked_at > self.expire_after:
            del self.pending[user_id]
            return None
        return pending

    def forget_idle(self, now: datetime) -> None:
        """Drop abandoned drafts and answers, so memory does not grow with people who walked away."""
        for user_id in [u for u, d in self.drafts.items() if now - d.touched_at > self.expire_after]:
            del self.drafts[user_id]
        for user_id in [u for u, p in self.pending.items() if now - p.asked_at > self.expire_after]:
            del self.pending[user_id]
