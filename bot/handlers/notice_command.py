"""/notice TEXT: a tracked notice at once, or in quiet hours held for the next working period.

A held notice is a row in the tasks table (its text in the payload), due when the group's
quiet hours end. Its sender is asked first: publish then, publish now (urgent) or cancel. The
sweep publishes a confirmed one once, even with two replicas; an unconfirmed one is dropped
at that time. Every choice is a compare-and-set on the pending task, so a press and the
sweep never both win, and a press on a settled task changes nothing.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import CallbackQuery, InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler, ExtBot

from bot import actions
from bot.context import Deps, JianfuContext
from bot.handlers._common import command, command_text, in_group, language_for, reply, transactional
from bot.handlers.notices import after_posting, publish_tracked, quiet_hours
from policies.deadlines import find_deadline
from policies.quiet import hold_until
from policies.received import command_notice_facts
from policies.text import first_line
from storage.models import Notice, Task
from storage.repositories.chats import ChatRepository
from storage.repositories.people import PeopleRepository
from storage.repositories.tasks import DONE, PENDING, TaskRepository

HELD_TASK = "held_notice"
PREFIX = "hn:"
CONFIRM, URGENT, CANCEL = "at", "now", "no"
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
        "chat_id": raw.chat.id, "message_id": raw.message_id, "sender_id": update.effective_user.id,
        "text": text, "written_at": deps.clock().isoformat(),
    }
    quiet = await quiet_hours(deps, session, raw.chat.id)
    urgent = deps.received_rule.urgency.judge(text).hit
    publish_at = hold_until(quiet, deps.clock().astimezone(deps.settings.tz), urgent=urgent)
    if publish_at is not None:
        await hold(update, context, session, draft, publish_at)
        return
    if await publish(deps, context.bot, session, draft, urgent=False) is actions.Outcome.DONE:
        await actions.delete(context.bot, raw.chat.id, raw.message_id)


async def publish(deps: Deps, bot: ExtBot[None], session: AsyncSession, draft: Draft, *, urgent: bool) -> actions.Outcome:
    """Post the draft as a tracked notice and only then store it as a notice."""
    chat_id, text = draft["chat_id"], draft["text"]
    rule = deps.received_rule
    if urgent and not rule.urgency.judge(text).hit:
        # Published in quiet hours on the sender's word: members see why they are disturbed.
        language = await actions.Executor(deps, bot, session).language_of(chat_id)
        text = deps.catalog.raw(language, "held.urgent_marker") + text
    department_id = await actions.Executor(deps, bot, session).department_for(chat_id, draft["sender_id"])
    # Deadlines ("明天上午9:30") are read from when the sender wrote them, not from when they are published.
    written = datetime.fromisoformat(draft["written_at"]).astimezone(deps.settings.tz)
    facts = command_notice_facts(rule, text, published_urgent=urgent)
    source = Notice(
        chat_id=chat_id, message_id=draft["message_id"], sender_id=draft["sender_id"],
        department_id=department_id, text=text, kind=facts.kind.value,
        urgent=facts.urgent, ack_demand=facts.ack_demand, tracked=True, posted_at=deps.clock(),
        deadline_at=find_deadline(text, written),
    )
    outcome, tracked = await publish_tracked(deps, bot, session, source)
    if tracked is not None:
        await after_posting(deps, bot, session, tracked)
    return outcome


# Holding -------------------------------------------------------------------------------------


async def hold(update: Update, context: JianfuContext, session: AsyncSession, draft: Draft, publish_at: datetime) -> None:
    """Keep the draft as a task due at `publish_at` and ask its sender to confirm."""
    tasks = TaskRepository(session)
    key = f"{HELD_TASK}:{draft['chat_id']}:{draft['message_id']}"
    payload = {**draft, "publish_at": publish_at.isoformat(), "confirmed": False}
    if not await tasks.schedule(HELD_TASK, key, publish_at, payload):
        return  # the same command delivered again: its sender was asked the first time
    task = await tasks.get_by_key(key)
    question = await _ask(update, context, session, task)
    if question is None:
        # Nobody could be asked (the bot may not post here): the command stays, nothing is held.
        await tasks.change_pending(task.id, state=DONE, done_at=context.deps.clock(), payload=_forget(payload))
        return
    await tasks.set_payload(task.id, {**payload, "question": list(question)})
    await actions.delete(context.bot, draft["chat_id"], draft["message_id"])


async def _ask(update: Update, context: JianfuContext, session: AsyncSession, task: Task) -> tuple[int, int] | None:
    """Privately when the sender has started the bot, else a short expiring reply in the group."""
    deps, bot, payload = context.deps, context.bot, task.payload
    executor = actions.Executor(deps, bot, session)
    sender = await PeopleRepository(session).get(payload["sender_id"])
    if sender is not None and sender.has_private_chat:
        language = await executor.language_of(sender.id)
        text = await _text(deps, session, language, "held.question_private", payload)
        outcome, sent = await actions.send(bot, sender.id, text, buttons=_buttons(deps, language, task.id, payload))
        await executor.note(sender.id, outcome)
        if sent is not None:
            return sender.id, sent.message_id
    language = await language_for(update, context, session)
    text = await _text(deps, session, language, "held.question_group", payload, sender=update.effective_user.full_name)
    outcome, sent = await actions.send(bot, payload["chat_id"], text, buttons=_buttons(deps, language, task.id, payload))
    await executor.note(payload["chat_id"], outcome)
    if sent is None:
        return None
    await executor.expire_later(sent)
    return payload["chat_id"], sent.message_id


def _buttons(deps: Deps, language: str, task_id: int, payload: Draft) -> InlineKeyboardMarkup:
    """Publish at the time (until confirmed), publish now, cancel."""
    choices = [(URGENT, "held.button_now"), (CANCEL, "held.button_cancel")]
    if not payload.get("confirmed"):
        choices.insert(0, (CONFIRM, "held.button_at"))
    when = _local(deps, payload["publish_at"])
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(deps.catalog.text(language, key, publish_at=when), callback_data=f"{PREFIX}{choice}:{task_id}")] for choice, key in choices]
    )


async def _text(deps: Deps, session: AsyncSession, language: str, key: str, payload: Draft, **params: Any) -> str:
    chat = await ChatRepository(session).get(payload["chat_id"])
    return deps.catalog.text(
        language, key, title=chat.title if chat else "", publish_at=_local(deps, payload["publish_at"]),
        first_line=first_line(payload.get("text", "")), **params,
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
    choice, _, number = query.data.removeprefix(PREFIX).partition(":")
    language = await language_for(update, context, session)
    task = await TaskRepository(session).get(int(number)) if number.isdigit() else None
    if task is None or task.kind != HELD_TASK or choice not in CHOICES:
        await _answer(deps, query, language, "error.stale_button")
    elif task.payload.get("sender_id") != query.from_user.id:
        await _answer(deps, query, language, "held.not_yours", alert=True)
    elif task.state != PENDING or "text" not in task.payload:
        await _answer(deps, query, language, "held.settled")
    else:
        await CHOICES[choice](context, session, query, task, language)


async def _confirm(context: JianfuContext, session: AsyncSession, query: CallbackQuery, task: Task, language: str) -> None:
    deps, tasks = context.deps, TaskRepository(session)
    payload = {**task.payload, "confirmed": True}
    if not await tasks.change_pending(task.id, payload=payload):
        await _answer(deps, query, language, "held.settled")
        return
    chat_id, message_id = query.message.chat.id, query.message.message_id
    key = "held.confirmed_private"
    if chat_id < 0:
        # A group question stays until the notice is out, so its sender can still cancel.
        await tasks.postpone(f"{actions.DELETE_MESSAGE_TASK}:{chat_id}:{message_id}", task.due_at)
        key = "held.confirmed_group"
    await actions.call("answerCallbackQuery", query.from_user.id, query.answer())
    text = await _text(deps, session, language, key, payload, sender=query.from_user.full_name)
    await actions.edit(context.bot, chat_id, message_id, text, _buttons(deps, language, task.id, payload))


async def _publish_now(context: JianfuContext, session: AsyncSession, query: CallbackQuery, task: Task, language: str) -> None:
    """Urgent after all: published now, on the sender's word (the notice is marked urgent)."""
    deps, tasks = context.deps, TaskRepository(session)
    if not await tasks.change_pending(task.id, state=DONE, done_at=deps.clock()):
        await _answer(deps, query, language, "held.settled")
        return
    outcome = await publish(deps, context.bot, session, task.payload, urgent=True)
    if outcome is actions.Outcome.RETRY_LATER:
        # Telegram is busy: the notice stays held for its time and can be tried again.
        await tasks.reopen(task.id)
        await _answer(deps, query, language, "held.try_again", alert=True, publish_at=_local(deps, task.payload["publish_at"]))
        return
    await tasks.set_payload(task.id, _forget(task.payload, "published" if outcome is actions.Outcome.DONE else "failed"))
    await actions.call("answerCallbackQuery", query.from_user.id, query.answer())
    key = "held.published" if outcome is actions.Outcome.DONE else "held.failed"
    await _settle_question(deps, context.bot, session, task.payload, key, language)


async def _cancel(context: JianfuContext, session: AsyncSession, query: CallbackQuery, task: Task, language: str) -> None:
    deps, tasks = context.deps, TaskRepository(session)
    if not await tasks.change_pending(task.id, state=DONE, done_at=deps.clock(), payload=_forget(task.payload, "cancelled")):
        await _answer(deps, query, language, "held.settled")
        return
    await _answer(deps, query, language, "held.cancelled_popup")
    await _settle_question(deps, context.bot, session, task.payload, "held.cancelled", language)


CHOICES: dict[str, Callable[[JianfuContext, AsyncSession, CallbackQuery, Task, str], Awaitable[None]]] = {
    CONFIRM: _confirm, URGENT: _publish_now, CANCEL: _cancel,
}


async def _answer(deps: Deps, query: CallbackQuery, language: str, key: str, *, alert: bool = False, **params: Any) -> None:
    text = deps.catalog.raw(language, key).format(**params)
    await actions.call("answerCallbackQuery", query.from_user.id, query.answer(text, show_alert=alert))


async def _settle_question(deps: Deps, bot: ExtBot[None], session: AsyncSession, payload: Draft, key: str, language: str | None = None) -> None:
    """The question has served: in private it now says how things ended; in a group it goes."""
    if not payload.get("question"):
        return
    chat_id, message_id = payload["question"]
    if chat_id < 0:
        await actions.delete(bot, chat_id, message_id)
        return
    language = language or await actions.Executor(deps, bot, session).language_of(chat_id)
    await actions.edit(bot, chat_id, message_id, await _text(deps, session, language, key, payload))


# The sweep -------------------------------------------------------------------------------------


async def publish_held(deps: Deps, bot: ExtBot[None], task: Task) -> bool:
    """At the start of the working period: publish a confirmed notice once, drop an unconfirmed one."""
    async with deps.db.transaction() as session:
        tasks = TaskRepository(session)
        current = await tasks.get(task.id)
        payload = dict(current.payload) if current is not None else {}
        if "text" not in payload:
            return True  # settled already (a run that ended before it could say so)
        if not payload.get("confirmed"):
            await tasks.set_payload(task.id, _forget(payload, "expired"))
            await _settle_question(deps, bot, session, payload, "held.expired")
            return True
        outcome = await publish(deps, bot, session, payload, urgent=False)
        if outcome is actions.Outcome.RETRY_LATER:
            return False
        published = outcome is actions.Outcome.DONE
        # Forgotten in the same transaction that stores the notice: a rerun finds nothing to publish.
        await tasks.set_payload(task.id, _forget(payload, "published" if published else "failed"))
        await _settle_question(deps, bot, session, payload, "held.published" if published else "held.failed")
    return True


def register(app: Application, deps: Deps) -> None:
    app.add_handler(command("notice", notice_command))
    app.add_handler(CallbackQueryHandler(pressed, pattern=f"^{PREFIX}"))
    # Retried until Telegram takes it: its sender confirmed it, so it must not vanish.
    deps.register_task(HELD_TASK, publish_held, persistent=True)

