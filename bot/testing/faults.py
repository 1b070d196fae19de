"""Seeded fault injection for the Bot API double served over HTTP (bot/testing/http_double.py).

A fault either answers instead of Telegram (429, 500, 502, 403) without acting, or withholds the
answer: before acting (the world does not change), or after acting (it does, and the client cannot
tell). The double records which calls acted, so a test can check what really happened.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum

from bot.testing.fake import BAD_GATEWAY, BLOCKED, SERVER_ERROR, FakeError, JSONDict, too_many_requests


class Fault(StrEnum):
    """What goes wrong with one call."""

    TOO_MANY_REQUESTS = "429"
    SERVER_ERROR = "500"
    BAD_GATEWAY = "502"
    # The answer is held past the client's read timeout, then the connection is closed.
    TIMEOUT_BEFORE = "timeout_before"
    TIMEOUT_AFTER = "timeout_after"
    # The call acts, then the connection closes without an answer (a reset, a proxy dying).
    DROP_AFTER = "drop_after"
    # Only for calls into a private chat: the person blocked the bot.
    FORBIDDEN_PRIVATE = "403_private"

    @property
    def acts(self) -> bool:
        """Whether the world changes before the fault hits."""
        return self in (Fault.TIMEOUT_AFTER, Fault.DROP_AFTER)

    @property
    def answers(self) -> bool:
        """Whether the client gets an HTTP answer at all."""
        return self not in (Fault.TIMEOUT_BEFORE, Fault.TIMEOUT_AFTER, Fault.DROP_AFTER)

    @property
    def held(self) -> bool:
        """Whether the answer is withheld until the client gives up."""
        return self in (Fault.TIMEOUT_BEFORE, Fault.TIMEOUT_AFTER)


def error_answer(fault: Fault, retry_after: int) -> FakeError:
    """The Telegram error an answering fault sends."""
    return {
        Fault.TOO_MANY_REQUESTS: too_many_requests(retry_after),
        Fault.SERVER_ERROR: SERVER_ERROR,
        Fault.BAD_GATEWAY: BAD_GATEWAY,
        Fault.FORBIDDEN_PRIVATE: BLOCKED,
    }[fault]


def targets_private_chat(params: JSONDict) -> bool:
    """Private chats have the person's (positive) id; groups and channels are negative."""
    chat_id = params.get("chat_id")
    return isinstance(chat_id, int) and not isinstance(chat_id, bool) and chat_id > 0


@dataclass(frozen=True)
class FaultPlan:
    """A seeded share of calls that fail, by kind, for some methods (None: every method)."""

    ratio: float
    kinds: tuple[Fault, ...] = tuple(Fault)
    methods: frozenset[str] | None = None
    exclude: frozenset[str] = frozenset()
    seed: int = 0
    retry_after: int = 1

    def __post_init__(self) -> None:
        if not 0 <= self.ratio <= 1:
            raise ValueError(f"ratio must be between 0 and 1, got {self.ratio}")
        if not self.kinds:
            raise ValueError("a fault plan needs at least one kind of fault")
        object.__setattr__(self, "kinds", tuple(Fault(kind) for kind in self.kinds))
        if self.methods is not None:
            object.__setattr__(self, "methods", frozenset(method.lower() for method in self.methods))
        object.__setattr__(self, "exclude", frozenset(method.lower() for method in self.exclude))

    def covers(self, method: str) -> bool:
        """Whether calls of `method` may fail under this plan."""
        name = method.lower()
        return name not in self.exclude and (self.methods is None or name in self.methods)


@dataclass
class _Queued:
    method: str
    fault: Fault
    times: int


class FaultInjector:
    """Decides, call by call, which fault (if any) hits: queued ones first, then the plan's draw."""

    def __init__(self) -> None:
        self.plan: FaultPlan | None = None
        self._rng = random.Random(0)
        self._queued: list[_Queued] = []

    def use(self, plan: FaultPlan | None) -> None:
        """Follow `plan` from now on (None: no random faults); the draw restarts from its seed."""
        self.plan = plan
        self._rng = random.Random(plan.seed if plan else 0)

    def fail_next(self, method: str, fault: Fault | str, *, times: int = 1) -> None:
        """The next `times` calls of `method` ("*" for any) meet `fault`."""
        if times < 1:
            raise ValueError("times must be at least 1")
        self._queued.append(_Queued(method.lower(), Fault(fault), times))

    @property
    def retry_after(self) -> int:
        """Seconds a 429 asks the client to wait."""
        return self.plan.retry_after if self.plan else 1

    def choose(self, method: str, params: JSONDict) -> Fault | None:
        """The fault for this call, or None."""
        queued = self._take_queued(method, params)
        if queued is not None:
            return queued
        if self.plan is None or not self.plan.covers(method):
            return None
        # Two draws per covered call whatever happens, so a seed replays the same sequence.
        roll, pick = self._rng.random(), self._rng.random()
        if roll >= self.plan.ratio:
            return None
        applicable = [kind for kind in self.plan.kinds if _applies(kind, params)]
        return applicable[int(pick * len(applicable))] if applicable else None

    def _take_queued(self, method: str, params: JSONDict) -> Fault | None:
        for queued in self._queued:
            if queued.method in ("*", method.lower()) and _applies(queued.fault, params):
                queued.times -= 1
                if queued.times == 0:
                    self._queued.remove(queued)
                return queued.fault
        return None


def _applies(fault: Fault, params: JSONDict) -> bool:
    return fault is not Fault.FORBIDDEN_PRIVATE or targets_private_chat(params)
