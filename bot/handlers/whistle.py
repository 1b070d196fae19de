"""Whistle (吹哨), the whistleblower's side: /whistle, the guided report, /status CODE, /cancel.

Anonymity shapes every line here. These handlers run before every other one (their lane, bot.app)
and stop an update that belongs to a report, so no other handler records the person: not
membership, not the audit log. A private message is part of a report when its sender has a draft,
which only the database knows (any replica may hold the previous step): every private message is
offered here first, and one from someone with no draft goes on to the other handlers untouched.
The draft is stored named by a keyed hash and sealed (bot.whistle_state) until it is submitted;
the stored report holds content only, the receipt code is kept as a slow hash, and nothing is
logged but an error's type and place.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import (
    Application,
    ApplicationHandlerStop,
    CallbackQueryHandler,
    CommandHandler,
    MessageHandler,
    filters,
)

from bot.callbacks import kinds, value_of
from bot.context import Deps, JianfuContext
from bot.handlers._common import answer, command_text, emit, is_group, language_for, transactional
from bot.i18n import Html
from bot.logs import brief as describe
from bot.services.whistle_texts import full_text, response_lines, say, split_message
from bot.whistle_state import CODES, REPORTS, Draft, Drafts, Limits, PendingAnswers, purge
from policies.actions import Delete, Edit, Say, Send
from policies.callbacks import WhistleCategory, WhistleDepartment, WhistlePress, encode
from policies.departments import MAX_NAME, DepartmentRef, match_department, name_problem, normalize_name
from policies.whistle import (
    CATEGORIES,
    DESCRIPTION_MAX,
    DESCRIPTION_MIN,
    EVIDENCE_TEXT_MAX,
    code_bucket,
    description_problem,
    hash_code,
    new_receipt_code,
    normalize_code,
    verify_code,
)
from policies.whistle_draft import TIMED_OUT, Do, Event, Step, settle, transition
from storage.db import AlreadyHandled
from storage.repositories.departments import DepartmentRepository
from storage.repositories.people import PeopleRepository
from storage.repositories.whistles import NewEvidence, WhistleRepository

log = logging.getLogger("jianfu.whistle")

DEPARTMENT_BUTTONS = 30
# How long the group sees the note that points someone who never started the bot to the private chat.
GROUP_NOTE_LIFETIME = timedelta(minutes=1)
DEEP_LINK = r"^/start(@\w+)?\s+whistle\s*$"
RECEIPT_ATTEMPTS = 3

Callback = Callable[[Update, JianfuContext], Awaitable[Any]]


def anonymous(callback: Callback) -> Callback:
    """Run the callback, then stop the update: no later handler may see or record it."""

    @functools.wraps(callback)
    async def wrapper(update: Update, context: JianfuContext) -> None:
        await _quietly(callback, update, context)
        raise ApplicationHandlerStop

    return wrapper


def anonymous_when_drafting(callback: Callback) -> Callback:
    """Run the callback; stop the update when it says the update was part of a report, and let
    it go on to the other handlers when the person is not writing one."""

    @functools.wraps(callback)
    async def wrapper(update: Update, context: JianfuContext) -> None:
        if await _quietly(callback, update, context):
            raise ApplicationHandlerStop

    return wrapper


async def _quietly(callback: Callback, update: Update, context: JianfuContext) -> bool:
    """The callback's answer to "was this a whistle update?"; True when it failed or came twice.

    An error is logged by type and place only and counts as a whistle update, because going on to
    the next handler groups would let the observer record the person.
    """
    try:
        return bool(await callback(update, context))
    except AlreadyHandled:
        return True  # delivered again: its first delivery did the work
    except Exception as error:
        log.error("a whistle update failed: %s", describe(error))
        return True


# --- sending, without ever noting the person -------------------------------------------------


def _button(
    context: JianfuContext, draft: Draft, language: str, key: str, action: str, **params: Any
) -> InlineKeyboardButton:
    label = context.deps.catalog.text(language, key, **params) if params else context.deps.catalog.raw(language, key)
    return InlineKeyboardButton(label, callback_data=encode(WhistlePress(draft.token, action)))


def _cancel_row(context: JianfuContext, draft: Draft) -> list[InlineKeyboardButton]:
    return [_button(context, draft, draft.language, "whistle.button.cancel", "x")]


# --- starting --------------------------------------------------------------------------------


@transactional
async def begin(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    if is_group(update):
        await _said_in_a_group(update, context, session)
        return
    deps, user_id = context.deps, update.effective_user.id
    language = await language_for(update, context, session)
    if not await Limits(deps, session).allows(REPORTS, user_id):
        await say(context, user_id, language, "whistle.limit", limit=deps.settings.whistle.reports_per_day)
        return
    draft = Draft(language)  # replaces one the person was writing
    await say(context, user_id, language, "whistle.intro", minutes=deps.settings.whistle.flow_expire_minutes)
    await ask_department(context, session, user_id, draft)
    await Drafts(deps, session).keep(user_id, draft)


async def _said_in_a_group(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """/whistle typed in a group: the command goes at once, and the answer goes privately; to
    someone who never started the bot (no private chat to write to), a short note in the group
    that names nobody, replies to nothing and deletes itself."""
    chat_id, user_id = update.effective_chat.id, update.effective_user.id
    # No rule name: the group's action log must not say whose /whistle was removed.
    emit(Delete(chat_id, update.effective_message.message_id))
    language = await language_for(update, context, session)
    if await PeopleRepository(session).with_private_chat({user_id}):
        await say(context, user_id, language, "whistle.moved_private")
        return
    emit(
        Say(
            chat_id,
            "whistle.moved_group",
            language=language,
            expires=True,
            expire_after=GROUP_NOTE_LIFETIME,
            durable=False,
        )
    )


async def ask_department(context: JianfuContext, session: AsyncSession, user_id: int, draft: Draft) -> None:
    departments = await DepartmentRepository(session, normalize_name).all()
    shown = departments[:DEPARTMENT_BUTTONS]
    buttons = [_department_button(draft, d.id, d.name) for d in shown]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append(_cancel_row(context, draft))
    key = "whistle.ask_department" if departments else "whistle.ask_department_none"
    await say(context, user_id, draft.language, key, buttons=InlineKeyboardMarkup(rows))


def _department_button(draft: Draft, department_id: int, name: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(name, callback_data=encode(WhistleDepartment(draft.token, department_id)))


def _category_button(context: JianfuContext, draft: Draft, name: str) -> InlineKeyboardButton:
    label = context.deps.catalog.raw(draft.language, f"whistle.category.{name}")
    return InlineKeyboardButton(label, callback_data=encode(WhistleCategory(draft.token, name)))


async def ask_category(context: JianfuContext, user_id: int, draft: Draft) -> None:
    rows = [[_category_button(context, draft, name)] for name in CATEGORIES]
    rows.append(_cancel_row(context, draft))
    await say(
        context,
        user_id,
        draft.language,
        "whistle.ask_category",
        buttons=InlineKeyboardMarkup(rows),
        department=draft.department_label,
    )


async def ask_description(context: JianfuContext, user_id: int, draft: Draft) -> None:
    await say(
        context,
        user_id,
        draft.language,
        "whistle.ask_description",
        buttons=InlineKeyboardMarkup([_cancel_row(context, draft)]),
        min=DESCRIPTION_MIN,
        max=DESCRIPTION_MAX,
    )


async def ask_evidence(context: JianfuContext, user_id: int, draft: Draft) -> None:
    limit = context.deps.settings.whistle.max_evidence
    await say(
        context, user_id, draft.language, "whistle.ask_evidence", buttons=_evidence_buttons(context, draft), max=limit
    )


def _evidence_buttons(context: JianfuContext, draft: Draft) -> InlineKeyboardMarkup:
    key = "whistle.button.evidence_done" if draft.evidence else "whistle.button.evidence_skip"
    done = _button(context, draft, draft.language, key, "e", count=len(draft.evidence))
    return InlineKeyboardMarkup([[done], _cancel_row(context, draft)])


async def show_review(context: JianfuContext, user_id: int, draft: Draft) -> None:
    catalog, language = context.deps.catalog, draft.language
    buttons = InlineKeyboardMarkup([
        [_button(context, draft, language, "whistle.button.submit", "s")],
        [_button(context, draft, language, "whistle.button.restart", "b"), *_cancel_row(context, draft)],
    ])  # fmt: skip
    await say(
        context, user_id, language, "whistle.review", buttons=buttons,
        department=draft.department_label, category=catalog.raw(language, f"whistle.category.{draft.category}"),
        description=full_text(draft.description or ""), evidence=len(draft.evidence),
    )  # fmt: skip


# --- the draft's steps: the table in policies.whistle_draft says, the functions below act ----


@dataclass(frozen=True)
class Turn:
    """One update's work on a person's draft, in that update's transaction."""

    context: JianfuContext
    session: AsyncSession
    user_id: int
    draft: Draft

    async def say(self, key: str, /, buttons: InlineKeyboardMarkup | None = None, **params: Any) -> None:
        await say(self.context, self.user_id, self.draft.language, key, buttons=buttons, **params)


async def advance(turn: Turn, event: Event, given: Any = None) -> None:
    """Carry out what the draft's table says for `event`: the one place a draft changes step.

    `given` is what came with the event: the message, or the pressed button's value."""
    draft = turn.draft
    move = transition(draft.step, event)
    if move.refused:
        await turn.say(move.answer)
        return
    if not await ACTIONS[move.do](turn, given):
        return  # the content kept the step, and the action said why
    if move.next is None:
        return  # sent or cancelled: the draft is gone
    draft.step = settle(move.next, turn.context.deps.settings.whistle.max_evidence)
    await ask(turn)


async def ask(turn: Turn) -> None:
    """The question of the draft's current step."""
    context, user_id, draft = turn.context, turn.user_id, turn.draft
    if draft.step is Step.DEPARTMENT:
        await ask_department(context, turn.session, user_id, draft)
        return
    prompts = {
        Step.CATEGORY: ask_category,
        Step.DESCRIPTION: ask_description,
        Step.EVIDENCE: ask_evidence,
        Step.REVIEW: show_review,
    }
    await prompts[draft.step](context, user_id, draft)


def message_event(message: Message) -> Event:
    """What kind of input a message is, for the draft's table."""
    if message.photo or message.document is not None:
        return Event.FILE
    return Event.TEXT if message.text else Event.OTHER


# Each action returns whether it took the input (the draft then moves to the table's next step).
Action = Callable[[Turn, Any], Awaitable[bool]]


async def _cancel(turn: Turn, _given: Any) -> bool:
    await cancel_draft(turn.context, turn.session, turn.user_id, turn.draft)
    return True


async def _start_over(turn: Turn, _given: Any) -> bool:
    turn.draft.start_over()
    return True


async def _chose_department(turn: Turn, department_id: int) -> bool:
    department = await DepartmentRepository(turn.session, normalize_name).get(department_id)
    if department is None:  # removed since the buttons were drawn
        await turn.say("whistle.department_gone")
        await ask_department(turn.context, turn.session, turn.user_id, turn.draft)
        return False
    turn.draft.department_id, turn.draft.department_label = department.id, department.name
    return True


async def _typed_department(turn: Turn, message: Message) -> bool:
    context, draft = turn.context, turn.draft
    typed = (message.text or "").strip()
    if not typed:
        await turn.say("whistle.error.text_expected")
        return False
    problem = name_problem(typed)
    if problem:
        await turn.say(problem, name=typed, max=MAX_NAME)
        return False
    departments = await DepartmentRepository(turn.session, normalize_name).all()
    match = match_department(typed, [DepartmentRef(d.id, d.name, d.code) for d in departments])
    if match.exact is not None:
        draft.department_id, draft.department_label = match.exact.id, match.exact.name
        return True
    draft.typed_department = typed
    rows = [[_department_button(draft, c.id, c.name)] for c in match.candidates]
    rows.append([_button(context, draft, draft.language, "whistle.button.keep_typed", "k", name=typed)])
    rows.append(_cancel_row(context, draft))
    key = "whistle.department_candidates" if match.candidates else "whistle.department_unknown"
    await turn.say(key, buttons=InlineKeyboardMarkup(rows), name=typed)
    return False


async def _keep_typed_department(turn: Turn, _given: Any) -> bool:
    draft = turn.draft
    if not draft.typed_department:  # no name was typed: this keyboard is not the draft's
        await turn.say("error.stale_button")
        return False
    draft.department_id, draft.department_label = None, draft.typed_department
    return True


async def _set_category(turn: Turn, category: Any) -> bool:
    turn.draft.category = str(category)
    return True


async def _description(turn: Turn, message: Message) -> bool:
    text = (message.text or "").strip()
    problem = description_problem(text)
    if problem:
        await turn.say(problem, length=len(text), min=DESCRIPTION_MIN, max=DESCRIPTION_MAX)
        return False
    turn.draft.description = text
    return True


async def _evidence(turn: Turn, message: Message) -> bool:
    """Evidence is added one message at a time; the step stays until the person says it is done."""
    context, draft = turn.context, turn.draft
    limit = context.deps.settings.whistle.max_evidence
    if len(draft.evidence) >= limit:
        await turn.say("whistle.evidence_full", buttons=_evidence_buttons(context, draft), max=limit)
        return False
    item = evidence_of(message)
    if item is None:
        await turn.say("whistle.error.evidence_kind", buttons=_evidence_buttons(context, draft))
        return False
    if item.text is not None and len(item.text) > EVIDENCE_TEXT_MAX:
        await turn.say("error.too_long", max=EVIDENCE_TEXT_MAX)
        return False
    draft.evidence.append(item)
    buttons = _evidence_buttons(context, draft)
    await turn.say("whistle.evidence_added", buttons=buttons, count=len(draft.evidence), max=limit)
    return False


async def _finish_evidence(turn: Turn, _given: Any) -> bool:
    return True


async def _submit(turn: Turn, _given: Any) -> bool:
    await submit(turn.context, turn.session, turn.user_id, turn.draft)
    return True


ACTIONS: dict[Do, Action] = {
    Do.CANCEL: _cancel,
    Do.START_OVER: _start_over,
    Do.CHOOSE_DEPARTMENT: _chose_department,
    Do.MATCH_TYPED_DEPARTMENT: _typed_department,
    Do.KEEP_TYPED_DEPARTMENT: _keep_typed_department,
    Do.SET_CATEGORY: _set_category,
    Do.SET_DESCRIPTION: _description,
    Do.ADD_EVIDENCE: _evidence,
    Do.FINISH_EVIDENCE: _finish_evidence,
    Do.SUBMIT: _submit,
}


def evidence_of(message: Message) -> NewEvidence | None:
    """The content of an evidence message (text, photo or document), never who wrote it."""
    if message.photo:
        return NewEvidence("photo", file_id=message.photo[-1].file_id, text=message.caption)
    if message.document is not None:
        return NewEvidence("document", file_id=message.document.file_id, text=message.caption)
    if message.text:
        return NewEvidence("text", text=message.text)
    return None


# --- messages while a report is being written ------------------------------------------------


@transactional
async def draft_message(update: Update, context: JianfuContext, session: AsyncSession) -> bool:
    """The next step of the sender's report; False (nothing done) when they are not writing one."""
    deps, user_id, message = context.deps, update.effective_user.id, update.effective_message
    drafts = Drafts(deps, session)
    draft, expired = await drafts.open(user_id)
    if draft is None:
        if expired:
            await say(context, user_id, await language_for(update, context, session), TIMED_OUT.answer)
        return expired
    await advance(Turn(context, session, user_id, draft), message_event(message), message)
    await drafts.keep(user_id, draft)
    return True


@transactional
async def edited(update: Update, context: JianfuContext, session: AsyncSession) -> bool:
    """An edit is not read (the report takes what was sent); say so, and record nothing.
    False when the person is not writing a report."""
    drafts, user_id = Drafts(context.deps, session), update.effective_user.id
    draft, expired = await drafts.open(user_id)
    if draft is None:
        return expired
    await advance(Turn(context, session, user_id, draft), Event.EDITED)
    await drafts.keep(user_id, draft)
    return True


# --- buttons ---------------------------------------------------------------------------------

# The plain draft buttons (policies.callbacks.WhistlePress), as the table's events.
PRESSES = {
    "x": Event.PRESS_CANCEL,
    "b": Event.PRESS_RESTART,
    "k": Event.PRESS_KEEP_TYPED,
    "e": Event.PRESS_EVIDENCE_DONE,
    "s": Event.PRESS_SUBMIT,
}
DRAFT_BUTTONS = (WhistleDepartment, WhistleCategory, WhistlePress)


def press_event(button: WhistleDepartment | WhistleCategory | WhistlePress) -> tuple[Event, Any]:
    """The table's event for a draft button, and the value it carries."""
    if isinstance(button, WhistleDepartment):
        return Event.PRESS_DEPARTMENT, button.department_id
    if isinstance(button, WhistleCategory):
        return Event.PRESS_CATEGORY, button.category
    return PRESSES[button.press], None


@transactional
async def pressed(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    deps, query = context.deps, update.callback_query
    user_id = query.from_user.id
    button = value_of(update, WhistleDepartment | WhistleCategory | WhistlePress)
    drafts = Drafts(deps, session)
    draft, expired = await drafts.open(user_id)
    if draft is None or draft.token != button.token:
        language = await language_for(update, context, session)
        key = TIMED_OUT.answer if expired else "error.stale_button"
        answer(update, deps.catalog.raw(language, key), alert=True)
        return
    answer(update)
    # The keyboard has done its job; removing it keeps an old prompt from being pressed again.
    emit(Edit(user_id, query.message.message_id, None, durable=False))
    event, value = press_event(button)
    await advance(Turn(context, session, user_id, draft), event, value)
    await drafts.keep(user_id, draft)


async def cancel_draft(context: JianfuContext, session: AsyncSession, user_id: int, draft: Draft) -> None:
    await Drafts(context.deps, session).close(user_id, draft)
    await say(context, user_id, draft.language, "whistle.cancelled")


async def submit(context: JianfuContext, session: AsyncSession, user_id: int, draft: Draft) -> None:
    deps, now = context.deps, context.deps.clock()
    drafts = Drafts(deps, session)
    # Taken before anything else and in this transaction: two replicas cannot both file the last
    # report of the day, and a failure below gives the hit back with the rollback.
    if not await Limits(deps, session).take(REPORTS, user_id):
        await drafts.close(user_id, draft)
        await say(context, user_id, draft.language, "whistle.limit", limit=deps.settings.whistle.reports_per_day)
        return
    code = new_receipt_code()
    # scrypt is slow on purpose: off the event loop, so other chats are not held up.
    code_hash = await asyncio.to_thread(hash_code, code)
    # Stored with the update, and the code shown only after its commit (record, commit, then
    # act): a code must never stand for nothing.
    await WhistleRepository(session).add(
        department_id=draft.department_id,
        department_name=None if draft.department_id else draft.department_label,
        category=draft.category or "other",
        description=draft.description or "",
        evidence=draft.evidence,
        code_bucket=code_bucket(code),
        code_hash=code_hash,
        today=now.astimezone(deps.settings.tz).date(),
    )
    # Deleted in the transaction that stores the report: from its commit on, nothing links the
    # report to the person who wrote it.
    await drafts.close(user_id, draft)
    await show_receipt(context, user_id, draft.language, code)


async def show_receipt(context: JianfuContext, user_id: int, language: str, code: str) -> None:
    """The code exists nowhere else (never in the outbox), so a send Telegram asks to retry is tried again."""
    text = context.deps.catalog.text(language, "whistle.submitted", code=code)
    emit(Send(user_id, text, durable=False, anonymous=True, attempts=RECEIPT_ATTEMPTS))


# --- /cancel and /status CODE ------------------------------------------------------------------


@transactional
async def cancel(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    deps, user_id = context.deps, update.effective_user.id
    draft, _expired = await Drafts(deps, session).open(user_id)
    if draft is not None:
        await advance(Turn(context, session, user_id, draft), Event.CANCEL)
        return
    language = await language_for(update, context, session)
    if await PendingAnswers(deps, session).drop(user_id):
        await say(context, user_id, language, "whistles.answer_cancelled")
        return
    await say(context, user_id, language, "whistle.nothing_to_cancel")


@transactional
async def status(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    deps, user_id = context.deps, update.effective_user.id
    language = await language_for(update, context, session)
    typed = command_text(update)
    if not typed:
        await say(context, user_id, language, "whistle.status_usage")
        return
    # Every try takes a hit before the code is checked, and a right code gives it back: taking it
    # afterwards would let tries running at once on several replicas all be checked.
    limits = Limits(deps, session)
    if not await limits.take(CODES, user_id):
        await say(context, user_id, language, "whistle.status_limited")
        return
    whistle_id = await find_by_code(session, typed)
    if whistle_id is None:
        # A malformed code, a wrong one and a missing one look the same to the person asking.
        await say(context, user_id, language, "whistle.status_not_found")
        return
    await limits.give_back(CODES, user_id)
    for part in split_message(await status_text(context, session, whistle_id, language)):
        await say(context, user_id, language, "raw", text=Html(part))


async def find_by_code(session: AsyncSession, typed: str) -> int | None:
    code = normalize_code(typed)
    if code is None:
        return None
    for whistle in await WhistleRepository(session).in_bucket(code_bucket(code)):
        if await asyncio.to_thread(verify_code, code, whistle.code_hash):
            return whistle.id
    return None


async def status_text(context: JianfuContext, session: AsyncSession, whistle_id: int, language: str) -> str:
    repository, catalog = WhistleRepository(session), context.deps.catalog
    row = await repository.get(whistle_id)
    assert row is not None
    whistle = row.whistle
    lines = [catalog.text(
        language, "whistle.status", department=row.department_label, created_on=whistle.created_on.isoformat(),
        category=catalog.raw(language, f"whistle.category.{whistle.category}"),
        status=catalog.raw(language, f"whistle.state.{whistle.status}"),
    )]  # fmt: skip
    lines += response_lines(context, await repository.responses(whistle_id, visible_only=True), language)
    return "\n\n".join(lines)


async def _purge(context: JianfuContext) -> None:
    """Idle drafts, expired answers and ended rate-limit periods leave the database (every replica
    runs this; deleting twice is harmless)."""
    try:
        await purge(context.deps)
    except Exception as error:  # the next run tries again
        log.error("purging whistle drafts failed: %s", describe(error))


def register(app: Application, deps: Deps, lane: int) -> None:
    private_message = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(
        CommandHandler("whistle", anonymous(begin), filters=filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE),
        group=lane,
    )
    app.add_handler(
        CommandHandler("whistle", begin, filters=filters.UpdateType.MESSAGE & filters.ChatType.GROUPS), group=lane
    )
    app.add_handler(MessageHandler(private_message & filters.Regex(DEEP_LINK), anonymous(begin)), group=lane)
    app.add_handler(CommandHandler("cancel", anonymous(cancel), filters=private_message), group=lane)
    app.add_handler(CommandHandler("status", anonymous(status), filters=private_message), group=lane)
    app.add_handler(CallbackQueryHandler(anonymous(pressed), pattern=kinds(*DRAFT_BUTTONS)), group=lane)
    # Whether a message belongs to a report only the database can say (filters cannot wait for it),
    # so every private message that is no command is offered to the draft first.
    private_text = private_message & ~filters.COMMAND
    app.add_handler(MessageHandler(private_text, anonymous_when_drafting(draft_message)), group=lane)
    private_edit = filters.ChatType.PRIVATE & filters.UpdateType.EDITED_MESSAGE
    app.add_handler(MessageHandler(private_edit, anonymous_when_drafting(edited)), group=lane)
    app.job_queue.run_repeating(_purge, interval=deps.settings.jobs.sweep_seconds, first=0, name="whistle_purge")
