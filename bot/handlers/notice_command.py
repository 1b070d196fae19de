"""/notice TEXT: a tracked notice at once, or in quiet hours held for the next working period.

A held notice is a row in the tasks table (its text in the payload), due when the group's
quiet hours end. Its sender is asked first: publish then, publish now (urgent) or cancel. The
sweep publishes a confirmed one once, even with two replicas; an unconfirmed one is dropped
at that time. Every choice is a compare-and-set on the pending task, so a press and the
sweep never both win, and a press on a settled task changes nothing. Publishing writes the
notice and its post (an outbox action, retried until Telegram takes it) in one transaction.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, ExtBot

from bot import records
from bot.callbacks import kinds, value_of
from bot.context import Deps, JianfuContext
from bot.handlers._common import answer, command, command_text, emit, in_group, language_for, reply, transactional
from bot.pipeline import FactResult
from bot.services import notices as service
from policies.actions import NOTHING, SENT, Button, Delete, Edit, Say, Send, Then
from policies.callbacks import HELD_CHOICES, HeldChoice, encode
from policies.deadlines import find_deadline
from policies.quiet import hold_until
from policies.received import command_notice_facts
from policies.text import first_line
from storage.models import Notice, Task
from storage.repositories.chats import ChatRepository
from storage.repositories.people import PeopleRepository
from storage.repositories.tasks import DONE, PENDING, TaskRepository

HELD_TASK = "held_notice"
CONFIRM, URGENT, CANCEL = HELD_CHOICES
MAX_NOTICE_CHARS = 3000
# Payload keys kept after a held notice is settled: where it was, never what it said.
KEPT_AFTER = ("chat_id", "message_id", "sender_id", "publish_at", "question")

Draft = dict[str, Any]


@transactional
async def notice_command(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """/notice TEXT: reposted as a tracked notice with a Read button, the command removed."""
    if not await in_group(update, context, session):
        return
    text = command_text(update)
    if not text:
        await reply(update, context, session, "notices.usage")
        return
    if len(text) > MAX_NOTICE_CHARS:
        await reply(update, context, session, "error.too_long", max=MAX_NOTICE_CHARS)
        return
    deps, raw = context.deps, update.effective_message
    draft = {
        "chat_id": raw.chat.id,
        "message_id": raw.message_id,
        "sender_id": update.effective_user.id,
        "text": text,
        "written_at": deps.clock().isoformat(),
    }
    quiet = await service.quiet_hours(deps, session, raw.chat.id)
    urgent = deps.received_rule.urgency.judge(text).hit
    publish_at = hold_until(quiet, deps.clock().astimezone(deps.settings.tz), urgent=urgent)
    if publish_at is not None:
        await hold(update, context, session, draft, publish_at)
        return
    # The command goes once the notice is out; if Telegram refuses the post, the sender hears why.
    command_gone = Delete(raw.chat.id, raw.message_id, rule="notices", reason="replaced by the tracked notice")
    await publish(deps, session, draft, urgent=False, then=Then(done=(command_gone,)))


async def publish(deps: Deps, session: AsyncSession, draft: Draft, *, urgent: bool, then: Then = NOTHING) -> Notice:
    """Store the draft as a tracked notice and post it (after the commit); the sender learns of a failure."""
    chat_id, text = draft["chat_id"], draft["text"]
    rule = deps.received_rule
    if urgent and not rule.urgency.judge(text).hit:
        # Published in quiet hours on the sender's word: members see why they are disturbed.
        language = await records.language_of(deps, session, chat_id)
        text = deps.catalog.raw(language, "held.urgent_marker") + text
    # Deadlines ("明天上午9:30") are read from when the sender wrote them, not from when they are published.
    written = datetime.fromisoformat(draft["written_at"]).astimezone(deps.settings.tz)
    facts = command_notice_facts(rule, text, published_urgent=urgent)
    source = Notice(
        chat_id=chat_id,
        message_id=draft["message_id"],
        sender_id=draft["sender_id"],
        department_id=await records.department_for(deps, session, chat_id, draft["sender_id"]),
        text=text,
        kind=facts.kind.value,
        urgent=facts.urgent,
        ack_demand=facts.ack_demand,
        tracked=True,
        posted_at=deps.clock(),
        deadline_at=find_deadline(text, written),
    )
    then = then.also_when_refused(*await _tell_sender(deps, session, draft, "held.failed"))
    tracked = await service.publish_tracked(deps, session, source, then=then)
    await service.after_posting(deps, session, tracked)
    return tracked


async def _tell_sender(deps: Deps, session: AsyncSession, draft: Draft, key: str) -> tuple[Say, ...]:
    """A private word to the notice's sender, when they can be reached."""
    sender = await PeopleRepository(session).get(draft["sender_id"])
    if sender is None or not sender.has_private_chat:
        return ()
    chat = await ChatRepository(session).get(draft["chat_id"])
    return (
        Say(sender.id, key, {"title": chat.title if chat else "", "first_line": first_line(draft.get("text", ""))}),
    )


# Holding -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class QuestionAsked:
    """The held notice's question is out: remember where, so it can be edited or removed."""

    task_id: int
    chat_id: int
    message_id: int = SENT


@dataclass(frozen=True)
class NobodyAsked:
    """The question could not be posted anywhere: nothing is held (the command stays)."""

    task_id: int


async def hold(
    update: Update, context: JianfuContext, session: AsyncSession, draft: Draft, publish_at: datetime
) -> None:
    """Keep the draft as a task due at `publish_at` and ask its sender to confirm."""
    tasks, deps = TaskRepository(session), context.deps
    key = f"{HELD_TASK}:{draft['chat_id']}:{draft['message_id']}"
    payload = {**draft, "publish_at": publish_at.isoformat(), "confirmed": False}
    if not await tasks.schedule(HELD_TASK, key, publish_at, payload):
        return  # the same command delivered again: its sender was asked the first time
    task = await tasks.get_by_key(key)
    command_gone = Delete(draft["chat_id"], draft["message_id"], rule="notices", reason="held for the working period")
    group_question = await _group_question(update, context, session, task, command_gone)
    sender = await PeopleRepository(session).get(draft["sender_id"])
    if sender is None or not sender.has_private_chat:
        emit(group_question)
        return
    # Privately when the sender has started the bot, else a short expiring reply in the group.
    language = await records.language_of(deps, session, sender.id)
    text = await _text(deps, session, language, "held.question_private", payload)
    asked = QuestionAsked(task.id, sender.id)
    emit(
        Send(
            sender.id,
            text,
            _buttons(deps, language, task.id, payload),
            rule="quiet_hours",
            reason="held notice",
            then=Then(done=(asked, command_gone), gone=(group_question,), failed=(group_question,)),
        )
    )


async def _group_question(
    update: Update, context: JianfuContext, session: AsyncSession, task: Task, then_delete: Delete
) -> Send:
    deps, payload = context.deps, task.payload
    language = await language_for(update, context, session)
    text = await _text(deps, session, language, "held.question_group", payload, sender=update.effective_user.full_name)
    nobody = (NobodyAsked(task.id),)
    return Send(
        payload["chat_id"],
        text,
        _buttons(deps, language, task.id, payload),
        expire_after=deps.settings.group_messages.expire_after,
        rule="quiet_hours",
        reason="held notice",
        then=Then(
            done=(QuestionAsked(task.id, payload["chat_id"]), then_delete), no_rights=nobody, gone=nobody, failed=nobody
        ),
    )


async def _apply_asked(deps: Deps, session: AsyncSession, asked: QuestionAsked) -> FactResult:
    tasks = TaskRepository(session)
    task = await tasks.get(asked.task_id)
    if task is None:
        return FactResult(False)
    await tasks.set_payload(task.id, {**task.payload, "question": [asked.chat_id, asked.message_id]})
    return FactResult(True)


async def _apply_nobody(deps: Deps, session: AsyncSession, nobody: NobodyAsked) -> FactResult:
    task = await TaskRepository(session).get(nobody.task_id)
    if task is None:
        return FactResult(False)
    changed = await TaskRepository(session).change_pending(
        task.id, state=DONE, done_at=deps.clock(), payload=_forget(task.payload)
    )
    return FactResult(changed)


def _buttons(deps: Deps, language: str, task_id: int, payload: Draft) -> tuple[tuple[tuple[str, str, str], ...], ...]:
    """Publish at the time (until confirmed), publish now, cancel."""
    choices = [(URGENT, "held.button_now"), (CANCEL, "held.button_cancel")]
    if not payload.get("confirmed"):
        choices.insert(0, (CONFIRM, "held.button_at"))
    when = _local(deps, payload["publish_at"])
    buttons = [
        Button(deps.catalog.text(language, key, publish_at=when), encode(HeldChoice(choice, task_id)), literal=True)
        for choice, key in choices
    ]
    return deps.pipeline.labels(tuple(buttons), language)


async def _text(deps: Deps, session: AsyncSession, language: str, key: str, payload: Draft, **params: Any) -> str:
    chat = await ChatRepository(session).get(payload["chat_id"])
    return deps.catalog.text(
        language,
        key,
        title=chat.title if chat else "",
        publish_at=_local(deps, payload["publish_at"]),
        first_line=first_line(payload.get("text", "")),
        **params,
    )


def _local(deps: Deps, moment: str) -> str:
    return datetime.fromisoformat(moment).astimezone(deps.settings.tz).strftime("%m-%d %H:%M")


def _forget(payload: Draft, outcome: str = "dropped") -> Draft:
    """What a settled held notice keeps: no text (it is stored as a notice once published)."""
    return {**{key: payload[key] for key in KEPT_AFTER if key in payload}, "outcome": outcome}


# The sender's choice -----------------------------------------------------------------------


@transactional
async def pressed(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    query, deps = update.callback_query, context.deps
    held = value_of(update, HeldChoice)
    language = await language_for(update, context, session)
    task = await TaskRepository(session).get(held.task_id)
    if task is None or task.kind != HELD_TASK:
        _answer(deps, update, language, "error.stale_button")
    elif task.payload.get("sender_id") != query.from_user.id:
        _answer(deps, update, language, "held.not_yours", alert=True)
    elif task.state != PENDING or "text" not in task.payload:
        _answer(deps, update, language, "held.settled")
    else:
        await CHOICES[held.choice](update, context, session, task, language)


async def _confirm(update: Update, context: JianfuContext, session: AsyncSession, task: Task, language: str) -> None:
    deps, tasks, query = context.deps, TaskRepository(session), update.callback_query
    payload = {**task.payload, "confirmed": True}
    if not await tasks.change_pending(task.id, payload=payload):
        _answer(deps, update, language, "held.settled")
        return
    chat_id, message_id = query.message.chat.id, query.message.message_id
    key = "held.confirmed_private"
    if chat_id < 0:
        # A group question stays until the notice is out, so its sender can still cancel.
        await tasks.postpone(f"{records.DELETE_MESSAGE_TASK}:{chat_id}:{message_id}", task.due_at)
        key = "held.confirmed_group"
    answer(update)
    text = await _text(deps, session, language, key, payload, sender=query.from_user.full_name)
    emit(Edit(chat_id, message_id, text, _buttons(deps, language, task.id, payload)))


async def _publish_now(
    update: Update, context: JianfuContext, session: AsyncSession, task: Task, language: str
) -> None:
    """Urgent after all: published now, on the sender's word (the notice is marked urgent)."""
    deps, tasks = context.deps, TaskRepository(session)
    if not await tasks.change_pending(
        task.id, state=DONE, done_at=deps.clock(), payload=_forget(task.payload, "published")
    ):
        _answer(deps, update, language, "held.settled")
        return
    answer(update)
    await _publish_and_settle(deps, session, task, task.payload, urgent=True, language=language)


async def _cancel(update: Update, context: JianfuContext, session: AsyncSession, task: Task, language: str) -> None:
    deps, tasks = context.deps, TaskRepository(session)
    if not await tasks.change_pending(
        task.id, state=DONE, done_at=deps.clock(), payload=_forget(task.payload, "cancelled")
    ):
        _answer(deps, update, language, "held.settled")
        return
    _answer(deps, update, language, "held.cancelled_popup")
    emit(*await _settle_question(deps, session, task.payload, "held.cancelled", language))


CHOICES: dict[str, Callable[[Update, JianfuContext, AsyncSession, Task, str], Awaitable[None]]] = {
    CONFIRM: _confirm,
    URGENT: _publish_now,
    CANCEL: _cancel,
}


def _answer(deps: Deps, update: Update, language: str, key: str, *, alert: bool = False) -> None:
    answer(update, deps.catalog.raw(language, key), alert=alert)


@dataclass(frozen=True)
class HeldRefused:
    """Telegram refused the held notice's post for good: its record says so."""

    task_id: int


async def _apply_refused(deps: Deps, session: AsyncSession, refused: HeldRefused) -> FactResult:
    tasks = TaskRepository(session)
    task = await tasks.get(refused.task_id)
    if task is None:
        return FactResult(False)
    await tasks.set_payload(task.id, {**task.payload, "outcome": "failed"})
    return FactResult(True)


async def _publish_and_settle(
    deps: Deps, session: AsyncSession, task: Task, payload: Draft, *, urgent: bool, language: str | None = None
) -> None:
    """Publish the held notice; once it is out (or refused) the question says how it ended."""
    published = await _settle_question(deps, session, payload, "held.published", language)
    failed = await _settle_question(deps, session, payload, "held.failed", language)
    then = Then(done=published).also_when_refused(HeldRefused(task.id), *failed)
    await publish(deps, session, payload, urgent=urgent, then=then)


async def _settle_question(
    deps: Deps, session: AsyncSession, payload: Draft, key: str, language: str | None = None
) -> tuple[Any, ...]:
    """The question has served: in private it now says how things ended; in a group it goes."""
    if not payload.get("question"):
        return ()
    chat_id, message_id = payload["question"]
    if chat_id < 0:
        return (Delete(chat_id, message_id, rule="quiet_hours", reason="held notice settled"),)
    language = language or await records.language_of(deps, session, chat_id)
    return (Edit(chat_id, message_id, await _text(deps, session, language, key, payload)),)


# The sweep -------------------------------------------------------------------------------------


async def publish_held(deps: Deps, bot: ExtBot[None], task: Task) -> bool:
    """At the start of the working period: publish a confirmed notice once, drop an unconfirmed one."""
    async with deps.pipeline.unit(task=task) as unit:
        tasks = TaskRepository(unit.session)
        current = await tasks.get(task.id)
        payload = dict(current.payload) if current is not None else {}
        if "text" not in payload:
            return True  # settled already (a press, or a run that ended before it could say so)
        if not payload.get("confirmed"):
            await tasks.set_payload(task.id, _forget(payload, "expired"))
            unit.emit(*await _settle_question(deps, unit.session, payload, "held.expired"))
            return True
        # Forgotten in the same transaction that stores the notice and its post: a rerun finds
        # nothing to publish, and the post itself is retried until Telegram takes it.
        await tasks.set_payload(task.id, _forget(payload, "published"))
        await _publish_and_settle(deps, unit.session, task, payload, urgent=False)
    return True


def register(app: Application, deps: Deps) -> None:
    app.add_handler(command("notice", notice_command))
    app.add_handler(CallbackQueryHandler(pressed, pattern=kinds(HeldChoice)))
    deps.pipeline.register_fact(QuestionAsked, _apply_asked)
    deps.pipeline.register_fact(NobodyAsked, _apply_nobody)
    deps.pipeline.register_fact(HeldRefused, _apply_refused)
    deps.register_task(HELD_TASK, publish_held)
