"""What the whistle flows keep between messages, in the database, so any replica can take the next one.

- A report being written (a Draft) lives in `whistle_drafts` under a keyed hash of the person's id,
  its content sealed (bot/whistle_keys.py). It is deleted when it is submitted or cancelled (in that
  update's transaction), when it is found idle for `flow_expire_minutes`, and by the purge job.
- The rate limits (reports a day, wrong receipt codes an hour) count hits per period and bucket
  of people (policies.whistle.limit_bucket) in `whistle_limits`; ended periods are deleted.
- A supervisor's awaited answer lives in `whistle_pending_answers`, under their own id.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy.ext.asyncio import AsyncSession

from policies.whistle import RateWindow, limit_bucket, period_key
from policies.whistle_draft import Step
from storage.repositories.whistle_flow import DraftRepository, LimitRepository, PendingAnswerRepository
from storage.repositories.whistles import NewEvidence

if TYPE_CHECKING:
    from bot.context import Deps
    from bot.settings import Settings

log = logging.getLogger("jianfu.whistle")

REPORTS, CODES = "reports", "codes"


def _new_token() -> str:
    return secrets.token_urlsafe(6)


@dataclass
class Draft:
    """A report being written. `token` goes into its buttons, so an old keyboard is recognised."""

    language: str
    token: str = field(default_factory=_new_token)
    step: Step = Step.DEPARTMENT
    department_id: int | None = None
    department_label: str | None = None
    # A name the person typed that is not registered, waiting for "keep it as typed".
    typed_department: str | None = None
    category: str | None = None
    description: str | None = None
    evidence: list[NewEvidence] = field(default_factory=list)
    # Submitted or cancelled in this update: its row is gone and must not be written again.
    closed: bool = field(default=False, compare=False)

    def start_over(self) -> None:
        """Nothing of the draft stays, least of all a file someone meant to drop; old buttons go stale."""
        fresh = Draft(self.language)
        for item in dataclasses.fields(self):
            setattr(self, item.name, getattr(fresh, item.name))

    def to_bytes(self) -> bytes:
        content = dataclasses.asdict(self)
        del content["closed"]
        return json.dumps(content, ensure_ascii=False, separators=(",", ":")).encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> Draft:
        content: dict[str, Any] = json.loads(data)
        content["step"] = Step(content["step"])
        content["evidence"] = [NewEvidence(**item) for item in content["evidence"]]
        return cls(**content)


class Drafts:
    """The drafts in the database, opened and kept for one update (in its transaction)."""

    def __init__(self, deps: Deps, session: AsyncSession) -> None:
        self.keys = deps.whistle_keys
        self.rows = DraftRepository(session)
        self.now = deps.clock()
        self.expire_after = timedelta(minutes=deps.settings.whistle.flow_expire_minutes)

    async def open(self, user_id: int) -> tuple[Draft | None, bool]:
        """The person's live draft, and whether one just expired (and was deleted)."""
        name = self.keys.draft_name(user_id)
        found = await self.rows.get(name)
        if found is None:
            return None, False
        sealed, expires_at = found
        if self.now > expires_at:
            await self.rows.delete(name)
            return None, True
        content = self.keys.unseal(name, sealed)
        if content is None:
            # Changed in the database, or sealed under another secret: unusable either way.
            log.warning("a whistle draft could not be opened and was deleted")
            await self.rows.delete(name)
            return None, True
        return Draft.from_bytes(content), False

    async def keep(self, user_id: int, draft: Draft) -> None:
        """Store the draft as it now is, idle time starting again; a closed one stays deleted."""
        if draft.closed:
            return
        name = self.keys.draft_name(user_id)
        await self.rows.put(name, self.keys.seal(name, draft.to_bytes()), self.now + self.expire_after)

    async def close(self, user_id: int, draft: Draft) -> None:
        """Submitted or cancelled: delete it with the rest of this update's work."""
        draft.closed = True
        await self.rows.delete(self.keys.draft_name(user_id))


def rate_windows(settings: Settings) -> dict[str, RateWindow]:
    """Reports per local day and wrong receipt codes per hour, as bot.toml sets them."""
    whistle, zone = settings.whistle, settings.tz
    return {
        REPORTS: RateWindow(REPORTS, whistle.reports_per_day, timedelta(days=1), zone),
        CODES: RateWindow(CODES, whistle.code_attempts_per_hour, timedelta(hours=1), zone),
    }


class Limits:
    """The whistle rate limits for one update: hits per period and bucket, shared by every replica."""

    def __init__(self, deps: Deps, session: AsyncSession) -> None:
        self.windows = rate_windows(deps.settings)
        self.root, self.buckets = deps.whistle_keys.limits, deps.settings.whistle.limit_buckets
        self.rows = LimitRepository(session)
        self.now = deps.clock()

    async def allows(self, kind: str, user_id: int) -> bool:
        """True when the person's bucket has a hit left in this period (nothing is used up)."""
        window, period, bucket = self._place(kind, user_id)
        return await self.rows.hits(kind, period, bucket) < window.limit

    async def take(self, kind: str, user_id: int) -> bool:
        """Use up one hit; False, and nothing used, when none is left."""
        window, period, bucket = self._place(kind, user_id)
        await self.rows.delete_ended(kind, period)
        return await self.rows.take(kind, period, bucket, window.limit)

    async def give_back(self, kind: str, user_id: int) -> None:
        _window, period, bucket = self._place(kind, user_id)
        await self.rows.give_back(kind, period, bucket)

    def _place(self, kind: str, user_id: int) -> tuple[RateWindow, int, int]:
        window = self.windows[kind]
        period = window.index(self.now)
        return window, period, limit_bucket(period_key(self.root, kind, period), user_id, self.buckets)


@dataclass(frozen=True)
class PendingAnswer:
    """A supervisor pressed respond / rectified / reject and the bot waits for their text."""

    action: str
    whistle_id: int
    language: str


class PendingAnswers:
    """Supervisors' awaited answers for one update; they expire like drafts do."""

    def __init__(self, deps: Deps, session: AsyncSession) -> None:
        self.rows = PendingAnswerRepository(session)
        self.now = deps.clock()
        self.expire_after = timedelta(minutes=deps.settings.whistle.flow_expire_minutes)

    async def ask(self, supervisor_id: int, answer: PendingAnswer) -> None:
        expires_at = self.now + self.expire_after
        await self.rows.put(supervisor_id, answer.whistle_id, answer.action, answer.language, expires_at)

    async def current(self, supervisor_id: int) -> PendingAnswer | None:
        row = await self.rows.get(supervisor_id)
        if row is None:
            return None
        if self.now > row.expires_at:
            await self.rows.delete(supervisor_id)
            return None
        return PendingAnswer(row.action, row.whistle_id, row.language)

    async def drop(self, supervisor_id: int) -> bool:
        return await self.rows.delete(supervisor_id)


async def purge(deps: Deps) -> dict[str, int]:
    """Delete idle drafts, expired answers and the counts of ended periods; how many of each."""
    now = deps.clock()
    async with deps.db.transaction() as session:
        limits = LimitRepository(session)
        windows = rate_windows(deps.settings).items()
        ended = [await limits.delete_ended(kind, window.index(now)) for kind, window in windows]
        return {
            "drafts": await DraftRepository(session).delete_expired(now),
            "answers": await PendingAnswerRepository(session).delete_expired(now),
            "limits": sum(ended),
        }
