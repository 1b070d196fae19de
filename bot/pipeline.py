"""Record, commit, act, record the outcome: how every update and every job changes the world.

A handler or job works inside a Unit: one database transaction, plus the actions it decided
(`unit.emit(...)`). When the work is done the pipeline, still inside that transaction,

1. applies the facts (RecordRead, RecordEvent…; their follow-ups depend on whether the fact
   is new, so a reminder follows only a newly recorded demand),
2. renders Telegram actions (a Say becomes HTML in the chat's language),
3. writes the durable ones to the outbox,

and commits. Only then does it perform the Telegram actions, in order, through bot/actions.py.
Each outcome is recorded in a short second transaction with the action's follow-ups (`then`),
which go through the same steps. Nothing here holds a transaction open across a Telegram call.

After a crash the sweep finds the outbox rows nobody finished (their lease ran out) and performs
them again; so does it for rows Telegram asked to retry. What "again" means depends on the action:
state changes (delete, pin, permissions, title, leave, edit) are simply repeated, while a message
people read is marked `sending` just before the call, and a row found in that state after a crash
or a timeout is given up as uncertain rather than sent twice.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from bot import outbox, records, shared_writes, trail
from bot.actions import Result, Telegram
from bot.context import Deps
from bot.group_commit import GroupCommit
from policies.actions import (
    NOTHING,
    About,
    AnswerCallback,
    Button,
    Delete,
    Edit,
    EditSay,
    ExpireLater,
    Keyboard,
    Logged,
    Outcome,
    RecordEvent,
    RecordRead,
    Row,
    Say,
    Send,
    SendFile,
    TellAdminsOnce,
    Then,
    TipOnce,
    is_telegram,
    with_sent,
)
from storage.db import FAILED_KEY, after_commit
from storage.models import Task
from storage.repositories.chats import ChatRepository
from storage.repositories.events import EventRepository
from storage.repositories.notices import ReadRepository
from storage.repositories.outbox import DONE, FAILED, UNCERTAIN, Claimed, NewAction, OutboxRepository
from storage.repositories.people import PeopleRepository
from storage.repositories.tasks import TaskRepository

log = logging.getLogger(__name__)

# Messages people read: never sent twice, so marked before the call and not repeated after a
# timeout. Everything else Telegram does is harmless to repeat.
NOT_REPEATABLE = (Send, SendFile)
MAX_BACKOFF = timedelta(hours=1)
# How long a note to a group's admins is not looked up again in this process (_looked_lately).
TELL_RECHECK, MAX_REMEMBERED_NOTES = timedelta(minutes=10), 100_000
# session.info key: the notes to admins looked up in this transaction, remembered once it commits.
TOLD_KEY = "jianfu.told"
# session.info key: the tips claimed (or found claimed) in this transaction, remembered once it commits.
TIPPED_KEY = "jianfu.tipped"


@dataclass(frozen=True)
class FactResult:
    """A fact's effect: whether it is new (its `then.done` follows) and any actions it adds."""

    new: bool
    more: tuple[Any, ...] = ()


FactApplier = Callable[[Deps, AsyncSession, Any], Awaitable[FactResult]]


@dataclass
class Unit:
    """One update's or job's work: its session and the actions decided in it, in order."""

    session: AsyncSession
    actions: list[Any] = field(default_factory=list)

    def emit(self, *actions: Any) -> None:
        self.actions.extend(actions)

    def fail(self) -> None:
        """Roll the work back: nothing it recorded or decided happens."""
        self.session.info[FAILED_KEY] = True

    @property
    def failed(self) -> bool:
        return bool(self.session.info.get(FAILED_KEY))


CURRENT_UNIT: ContextVar[Unit | None] = ContextVar("current_unit", default=None)


@dataclass
class Planned:
    """A prepared Telegram action, with its outbox row when it is durable."""

    action: Any
    row_id: int | None = None
    # The row's attempt count as this process knows it (settling compares it).
    attempts: int = 0


class Pipeline:
    def __init__(self, deps: Deps, telegram: Telegram) -> None:
        self.deps = deps
        self.telegram = telegram
        # Outcomes of many actions in flight share one commit.
        self.outcomes = GroupCommit(deps.db, when_shared=shared_writes.begin)
        self.facts: dict[type, FactApplier] = {
            Logged: _apply_logged,
            RecordRead: _apply_read,
            RecordEvent: _apply_event,
            ExpireLater: _apply_expiry,
            _Note: _apply_note,
            ForgetEvent: _apply_forget,
        }

    def register_fact(self, kind: type, applier: FactApplier) -> None:
        if kind in self.facts:
            raise ValueError(f"fact {kind.__name__} registered twice")
        self.facts[kind] = applier
        outbox.register(kind)

    @property
    def lease(self) -> timedelta:
        return timedelta(seconds=self.deps.settings.jobs.lease_seconds)

    # Units -----------------------------------------------------------------------------------

    @asynccontextmanager
    async def unit(self, *, task: Task | None = None) -> AsyncIterator[Unit]:
        """A transaction whose decided actions are performed once it committed.

        A task's runner passes its task: the task is completed in this same transaction, so a
        crash before the commit runs it again and one after it never does (its actions are
        written once). If another worker took the task over meanwhile, nothing here happens.
        """
        async with self.deps.db.transaction() as session:
            unit = Unit(session)
            token = CURRENT_UNIT.set(unit)
            try:
                yield unit
            finally:
                CURRENT_UNIT.reset(token)
            if task is not None and not unit.failed:
                await self._complete(session, unit, task)
            planned = [] if unit.failed else await self.record(session, unit.actions)
        await self.act(planned)

    async def _complete(self, session: AsyncSession, unit: Unit, task: Task) -> None:
        if await TaskRepository(session).complete(task, self.deps.clock()):
            task.completed_with_its_work = True
        else:
            unit.fail()  # another worker owns the task now: the work is theirs

    async def record(
        self, session: AsyncSession, actions: list[Any] | tuple[Any, ...], *, ends_transaction: bool = False
    ) -> list[Planned]:
        """Apply the facts and write the durable Telegram actions, in the caller's transaction
        (the audit trail it gathered is written just before that commits). A caller that runs
        no statement after this says it `ends_transaction` (see OutboxRepository.add)."""
        planned = await self.prepare(session, actions)
        await self.write_durable(session, planned, ends_transaction=ends_transaction)
        return planned

    async def prepare(self, session: AsyncSession, actions: list[Any] | tuple[Any, ...]) -> list[Planned]:
        """Apply the facts and render the Telegram actions (nothing is written to the outbox yet)."""
        planned: list[Planned] = []
        for action in actions:
            planned.extend(await self._prepare(session, action))
        return planned

    async def write_durable(
        self, session: AsyncSession, planned: list[Planned], *, ends_transaction: bool = False
    ) -> None:
        """Write the durable actions to the outbox in one statement; each learns its row id."""
        durable = [item for item in planned if getattr(item.action, "durable", False)]
        if durable:
            rows = [
                NewAction(_kind(item.action), _chat_of(item.action), outbox.encode(item.action)) for item in durable
            ]
            ids = await OutboxRepository(session).add(
                rows, self.deps.clock(), self.lease, ends_transaction=ends_transaction
            )
            for item, row_id in zip(durable, ids, strict=True):
                item.row_id = row_id

    async def act(self, planned: list[Planned]) -> None:
        """Perform prepared actions in order; each outcome and its follow-ups are recorded."""
        for item in planned:
            await self.perform(item)

    # Preparing -------------------------------------------------------------------------------

    async def _prepare(self, session: AsyncSession, action: Any) -> list[Planned]:
        applier = self.facts.get(type(action))
        if applier is not None:
            result = await applier(self.deps, session, action)
            then: Then = getattr(action, "then", Then())
            follow = then.done if result.new else then.failed
            return await self.prepare(session, (*follow, *result.more))
        if isinstance(action, Say):
            return [Planned(await self.render(session, action))]
        if isinstance(action, EditSay):
            return [Planned(await self.render_edit(session, action))]
        if isinstance(action, TipOnce):
            return await self.prepare(session, await self._tip(session, action))
        if isinstance(action, TellAdminsOnce):
            return await self.prepare(session, await self._tell_admins(session, action))
        if is_telegram(action):
            return [Planned(action)]
        raise TypeError(f"unknown action {type(action).__name__}")

    async def render(self, session: AsyncSession, say: Say) -> Send:
        """A Say as HTML in the chat's language; an expiring group message keeps its expiry."""
        language = say.language or await records.language_of(self.deps, session, say.chat_id)
        expire_after = (say.expire_after or self.deps.settings.group_messages.expire_after) if say.expires else None
        return Send(
            say.chat_id,
            self.deps.catalog.text(language, say.key, **say.params),
            self.labels(say.buttons, language),
            reply_to=say.reply_to,
            expire_after=expire_after,
            rule=say.rule,
            reason=say.reason,
            then=say.then,
            durable=say.durable,
            about=say.about,
        )

    async def render_edit(self, session: AsyncSession, edit: EditSay) -> Edit:
        language = edit.language or await records.language_of(self.deps, session, edit.chat_id)
        html = self.deps.catalog.text(language, edit.key, **edit.params)
        return Edit(
            edit.chat_id,
            edit.message_id,
            html,
            self.labels(edit.buttons, language),
            rule=edit.rule,
            reason=edit.reason,
            then=edit.then,
            durable=edit.durable,
        )

    def labels(self, rows: tuple[Row, ...], language: str | None) -> Keyboard:
        """Buttons rendered in `language`: rows of (label, callback data, url)."""
        return tuple(
            tuple(self._label(b, language) for b in (row if isinstance(row, tuple) else (row,))) for row in rows
        )

    def _label(self, button: Button, language: str | None) -> tuple[str, str, str]:
        label = button.key if button.literal else self.deps.catalog.raw(language, button.key)
        return (label, button.data, button.url)

    async def _tip(self, session: AsyncSession, action: TipOnce) -> list[Any]:
        """The tip, if this person was not tipped within its period (claimed in the database,
        and remembered once that claim, or its refusal, is committed: a claim rolled back with
        its transaction must not cost the person the tip until the period ends).

        Someone this process lately saw without a private chat is not asked about (nor
        remembered as tipped): most people never open one, and each would cost a claim."""
        now, tip, people = self.deps.clock(), (action.key, action.person_id), PeopleRepository(session)
        last = self.deps.recently_tipped.get(tip)
        if (last is not None and now - last < action.period) or people.seen_unreachable(action.person_id, now):
            return []
        session.info.setdefault(TIPPED_KEY, {})[tip] = now
        after_commit(session, self._remember_tips)
        if not await people.claim_tip(action.person_id, now, action.period):
            return []
        return [Say(action.person_id, action.key, action.params, rule=action.rule, reason=action.reason)]

    def _remember_tips(self, session: AsyncSession) -> None:
        self.deps.recently_tipped.update(session.info.pop(TIPPED_KEY, {}))

    async def _tell_admins(self, session: AsyncSession, action: TellAdminsOnce) -> list[Any]:
        """Privately, to every admin who opened a chat with the bot; once per chat and reason."""
        key = f"told:{action.key}:{action.chat_id}" + (f":{action.period}" if action.period else "")
        if self._looked_lately(key):
            return []
        session.info.setdefault(TOLD_KEY, {})[key] = self.deps.clock()
        after_commit(session, self._remember_notes)
        chats = ChatRepository(session)
        if await EventRepository(session).exists(key):
            return []
        admins = await PeopleRepository(session).with_private_chat(await chats.admin_ids(action.chat_id))
        if admins or action.period:
            # A note bound to a period that no admin could receive is not looked up again within
            # it: it comes with the next period, and an unreachable group costs no queries meanwhile.
            await records.record_event(self.deps, session, "admins_told", action.chat_id, key=key)
        if not admins:
            return []
        chat = await chats.get(action.chat_id)
        params = {"title": chat.title if chat else str(action.chat_id), **action.params}
        about = About(action.chat_id)
        return [Say(admin, action.key, params, rule=action.rule, reason=action.reason, about=about) for admin in admins]

    def _looked_lately(self, key: str) -> bool:
        """Whether this process looked this note up within TELL_RECHECK, in a transaction that
        committed.

        Every ack in a group without the delete right asks for the same note: once it was sent,
        or when no admin could receive it, asking again costs three queries an ack and tells
        nobody. An admin who opens a chat with the bot meanwhile is told at the first ask after
        TELL_RECHECK. A look-up whose transaction rolled back is not remembered, so its retry
        tells them (the event, not this memory, keeps the note to once, across replicas too)."""
        last = self.deps.recently_told.get(key)
        return last is not None and timedelta(0) <= self.deps.clock() - last < TELL_RECHECK

    def _remember_notes(self, session: AsyncSession) -> None:
        looked = self.deps.recently_told
        if len(looked) >= MAX_REMEMBERED_NOTES:
            looked.clear()
        looked.update(session.info.pop(TOLD_KEY, {}))

    # Performing ------------------------------------------------------------------------------

    async def perform(self, item: Planned) -> Result:
        action = item.action
        valid_until = getattr(action, "valid_until", None)
        if valid_until is not None and self.deps.clock() >= valid_until:
            result = Result(Outcome.EXPIRED)
        elif item.row_id is not None and isinstance(action, NOT_REPEATABLE) and not await self._mark_sending(item):
            return Result(Outcome.FAILED)  # another process took the row over
        else:
            result = await self._call(action)
        outcome = self._meaning(item, result.outcome)
        if outcome is Outcome.RETRY_LATER:
            await self._retry_later(item, result)
            return result
        follow = self._follow_ups(action, outcome, result)
        logged = trail.row_for(action, outcome, self.deps.clock())

        async def record_outcome(session: AsyncSession) -> list[Planned]:
            owned = await self._settle(session, item, outcome)
            if not owned:
                return []
            if logged is not None:
                # Gathered, and written with the other callers' rows before the shared commit.
                trail.keep(session, logged)
            return await self.record(session, follow)

        await self.act(await self.outcomes.run(record_outcome))
        return dataclasses.replace(result, outcome=outcome)

    async def _call(self, action: Any) -> Result:
        """The Telegram call, tried again at once as often as the action asks (kept nowhere else)."""
        for _attempt in range(max(getattr(action, "attempts", 1), 1)):
            result = await self.telegram.perform(action)
            if result.outcome is not Outcome.RETRY_LATER:
                break
        return result

    def _meaning(self, item: Planned, outcome: Outcome) -> Outcome:
        action = item.action
        if outcome is Outcome.UNCERTAIN and not isinstance(action, NOT_REPEATABLE):
            # Repeating a state change is harmless, and only a repeat tells whether it took.
            return Outcome.RETRY_LATER if item.row_id is not None else Outcome.FAILED
        if outcome is Outcome.NOT_FOUND and isinstance(action, Delete) and item.attempts > 0:
            # Gone on a second try: the first one (whose answer was lost) deleted it.
            return Outcome.DONE
        if outcome is Outcome.RETRY_LATER and item.row_id is None:
            return Outcome.FAILED  # an answer nobody waits for any more
        return outcome

    def _follow_ups(self, action: Any, outcome: Outcome, result: Result) -> list[Any]:
        then: Then = getattr(action, "then", Then())
        follow = [with_sent(next_action, result.message_id or 0, result.file_id) for next_action in then.after(outcome)]
        if (
            outcome is Outcome.DONE
            and isinstance(action, Send)
            and action.expire_after
            and action.chat_id < 0
            and result.message_id
        ):
            follow.insert(0, ExpireLater(action.chat_id, result.message_id, action.expire_after))
        chat_id = _chat_of(action)
        if (
            outcome in (Outcome.UNREACHABLE, Outcome.KICKED)
            and chat_id != 0
            and not getattr(action, "anonymous", False)
        ):
            follow.insert(0, _Note(chat_id, outcome.value))
        return follow

    async def _mark_sending(self, item: Planned) -> bool:
        async def mark(session: AsyncSession) -> bool:
            return await OutboxRepository(session).mark_sending(
                item.row_id, item.attempts, self.deps.clock(), self.lease
            )

        marked = await self.outcomes.run(mark)
        if marked:
            item.attempts += 1
        return marked

    async def _settle(self, session: AsyncSession, item: Planned, outcome: Outcome) -> bool:
        if item.row_id is None:
            return True
        state = DONE if outcome is Outcome.DONE else UNCERTAIN if outcome is Outcome.UNCERTAIN else FAILED
        shared = shared_writes.of(session)
        if shared is not None:
            shared.settle(item.row_id, item.attempts, state, outcome.value, self.deps.clock())
            return True  # checked when the shared transaction is written (or this runs alone)
        owned = await OutboxRepository(session).settle(
            item.row_id, item.attempts, state, outcome.value, self.deps.clock()
        )
        if not owned:
            log.warning("outbox row %s was taken over while it ran; its new owner settles it", item.row_id)
        return owned

    async def _retry_later(self, item: Planned, result: Result) -> None:
        if item.row_id is None:
            return
        first = timedelta(seconds=self.deps.settings.jobs.retry_seconds)
        backoff = min(first * 2 ** min(item.attempts, 12), MAX_BACKOFF)
        due = self.deps.clock() + backoff

        async def retry(session: AsyncSession) -> bool:
            return await OutboxRepository(session).retry_at(item.row_id, item.attempts, due, result.error or "retry")

        await self.outcomes.run(retry)

    # Recovery (the sweep) --------------------------------------------------------------------

    async def resume_due(self, *, limit: int) -> int:
        """Perform outbox rows nobody is performing: retries that fell due, or a dead process's."""
        now = self.deps.clock()
        async with self.deps.db.transaction() as session:
            rows = OutboxRepository(session)
            given_up = await rows.give_up_interrupted_sends(now)
            claimed = await rows.claim_due(now, limit=limit, lease=self.lease)
        if given_up:
            log.warning(
                "%d message(s) interrupted mid-send were not sent again (they may have gone out)", len(given_up)
            )
        for row in claimed:
            await self.perform(_planned_from(row))
        return len(claimed)


def _planned_from(row: Claimed) -> Planned:
    # The claim counted an attempt; a send is marked (another attempt) just before its call.
    return Planned(outbox.decode(row.payload), row.id, row.attempts)


@dataclass(frozen=True)
class ForgetEvent:
    """Give back a claim recorded as an event (what it claimed could not be done)."""

    key: str


async def _apply_forget(deps: Deps, session: AsyncSession, forget: ForgetEvent) -> FactResult:
    return FactResult(await EventRepository(session).forget(forget.key))


@dataclass(frozen=True)
class _Note:
    """What an outcome says about a chat: a blocked person, a kicked bot."""

    chat_id: int
    outcome: str


async def _apply_note(deps: Deps, session: AsyncSession, note: _Note) -> FactResult:
    await records.note(deps, session, note.chat_id, Outcome(note.outcome))
    return FactResult(True)


async def _apply_logged(deps: Deps, session: AsyncSession, logged: Logged) -> FactResult:
    trail.keep(session, trail.logged_row(logged, deps.clock()))
    return FactResult(True)


async def _apply_read(deps: Deps, session: AsyncSession, read: RecordRead) -> FactResult:
    reads = ReadRepository(session)
    if read.then == NOTHING:
        # Nothing follows from its being new: written with the transaction's other reads (an
        # ack to an untracked notice; a busy group's batch holds several).
        reads.record_later(read.chat_id, read.message_id, read.person_id, read.via, deps.clock())
        return FactResult(True)
    new = await reads.record(read.chat_id, read.message_id, read.person_id, read.via, deps.clock())
    return FactResult(new)


async def _apply_event(deps: Deps, session: AsyncSession, event: RecordEvent) -> FactResult:
    if event.then == NOTHING:
        # Nothing follows from its being new: written with the transaction's other such facts
        # (a removed ack's count, an ack demand's) in one statement before it commits.
        row = await records.event_row(
            deps, session, event.kind, event.chat_id, key=event.key, sender_id=event.sender_id
        )
        EventRepository(session).record_later(row)
        return FactResult(True)
    new = await records.record_event(deps, session, event.kind, event.chat_id, key=event.key, sender_id=event.sender_id)
    return FactResult(new)


async def _apply_expiry(deps: Deps, session: AsyncSession, expiry: ExpireLater) -> FactResult:
    await records.expire_later(deps, session, expiry.chat_id, expiry.message_id, expiry.after)
    return FactResult(True)


outbox.register(_Note, ForgetEvent)


def _kind(action: Any) -> str:
    return type(action).__name__.lower()[:16]


def _chat_of(action: Any) -> int:
    if isinstance(action, AnswerCallback):
        return action.person_id
    return getattr(action, "chat_id", 0)


def current_unit() -> Unit:
    """The unit of the update or job being processed (handlers emit their actions into it)."""
    unit = CURRENT_UNIT.get()
    if unit is None:
        raise RuntimeError("no unit of work: emit actions from a handler or inside Pipeline.unit()")
    return unit
