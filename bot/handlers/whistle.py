"""Whistle (吹哨), the whistleblower's side: /whistle, the guided report, /status CODE, /cancel.

Anonymity shapes every line here. These handlers run before every other one (WHISTLE_GROUP)
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
import html
import logging
from collections.abc import Awaitable, Callable
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

from bot.actions import rows_of
from bot.context import Deps, JianfuContext
from bot.handlers._common import answer, command_text, emit, is_group, language_for, reply, transactional
from bot.handlers.errors import describe
from bot.i18n import Html
from bot.whistle_state import CODES, REPORTS, Draft, Drafts, Limits, PendingAnswers, Step, purge
from policies.actions import Edit, Send
from policies.departments import MAX_NAME, DepartmentRef, match_department, name_problem, normalize_name
from policies.text import pack
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
from storage.db import AlreadyHandled
from storage.models import WhistleResponse
from storage.repositories.departments import DepartmentRepository
from storage.repositories.whistles import NewEvidence, WhistleRepository

log = logging.getLogger("jianfu.whistle")

# Before membership's observer (-10): a whistle update must never be recorded as activity.
WHISTLE_GROUP = -20
PREFIX = "wh:"
DEPARTMENT_BUTTONS = 30
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


async def say(context: JianfuContext, chat_id: int, language: str, key: str, /, buttons: InlineKeyboardMarkup | None = None, **params: Any) -> None:
    """Send a catalog message in a private chat, kept nowhere (no outbox row) and without
    recording the outcome: for a whistleblower, recording that they blocked the bot would write
    their id next to a moment they were reporting."""
    text = context.deps.catalog.text(language, key, **params)
    emit(Send(chat_id, text, rows_of(buttons), durable=False, anonymous=True))


def full_text(text: str) -> Html:
    """The whistleblower's or a supervisor's words in full, escaped: catalog parameters are cut
    at 200 characters, which would hide most of a report."""
    return Html(html.escape(text, quote=False))


def _button(context: JianfuContext, draft: Draft, language: str, key: str, action: str, **params: Any) -> InlineKeyboardButton:
    label = context.deps.catalog.text(language, key, **params) if params else context.deps.catalog.raw(language, key)
    return InlineKeyboardButton(label, callback_data=f"{PREFIX}{draft.token}:{action}")


def _cancel_row(context: JianfuContext, draft: Draft) -> list[InlineKeyboardButton]:
    return [_button(context, draft, draft.language, "whistle.button.cancel", "x")]


# --- starting --------------------------------------------------------------------------------


@transactional
async def begin(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    if is_group(update):
        # Said in public: point to the private chat, and let the group update go on normally.
        await reply(update, context, session, "whistle.private_only")
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


async def ask_department(context: JianfuContext, session: AsyncSession, user_id: int, draft: Draft) -> None:
    draft.step = Step.DEPARTMENT
    departments = await DepartmentRepository(session, normalize_name).all()
    shown = departments[:DEPARTMENT_BUTTONS]
    buttons = [_department_button(draft, d.id, d.name) for d in shown]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append(_cancel_row(context, draft))
    key = "whistle.ask_department" if departments else "whistle.ask_department_none"
    await say(context, user_id, draft.language, key, buttons=InlineKeyboardMarkup(rows))


def _department_button(draft: Draft, department_id: int, name: str) -> InlineKeyboardButton:
    return InlineKeyboardButton(name, callback_data=f"{PREFIX}{draft.token}:d:{department_id}")


async def ask_category(context: JianfuContext, user_id: int, draft: Draft) -> None:
    draft.step = Step.CATEGORY
    rows = [[_button(context, draft, draft.language, f"whistle.category.{name}", f"c:{name}")] for name in CATEGORIES]
    rows.append(_cancel_row(context, draft))
    await say(context, user_id, draft.language, "whistle.ask_category", buttons=InlineKeyboardMarkup(rows), department=draft.department_label)


async def ask_description(context: JianfuContext, user_id: int, draft: Draft) -> None:
    draft.step = Step.DESCRIPTION
    await say(
        context, user_id, draft.language, "whistle.ask_description",
        buttons=InlineKeyboardMarkup([_cancel_row(context, draft)]), min=DESCRIPTION_MIN, max=DESCRIPTION_MAX,
    )


async def ask_evidence(context: JianfuContext, user_id: int, draft: Draft) -> None:
    draft.step = Step.EVIDENCE
    limit = context.deps.settings.whistle.max_evidence
    if limit == 0:
        await show_review(context, user_id, draft)
        return
    await say(context, user_id, draft.language, "whistle.ask_evidence", buttons=_evidence_buttons(context, draft), max=limit)


def _evidence_buttons(context: JianfuContext, draft: Draft) -> InlineKeyboardMarkup:
    key = "whistle.button.evidence_done" if draft.evidence else "whistle.button.evidence_skip"
    done = _button(context, draft, draft.language, key, "e", count=len(draft.evidence))
    return InlineKeyboardMarkup([[done], _cancel_row(context, draft)])


async def show_review(context: JianfuContext, user_id: int, draft: Draft) -> None:
    draft.step = Step.REVIEW
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


# --- messages while a report is being written ------------------------------------------------


@transactional
async def draft_message(update: Update, context: JianfuContext, session: AsyncSession) -> bool:
    """The next step of the sender's report; False (nothing done) when they are not writing one."""
    deps, user_id, message = context.deps, update.effective_user.id, update.effective_message
    drafts = Drafts(deps, session)
    draft, expired = await drafts.open(user_id)
    if draft is None:
        if expired:
            await say(context, user_id, await language_for(update, context, session), "whistle.expired")
        return expired
    step_handlers = {
        Step.DEPARTMENT: _typed_department,
        Step.CATEGORY: _expecting_button,
        Step.DESCRIPTION: _description,
        Step.EVIDENCE: _evidence,
        Step.REVIEW: _expecting_button,
    }
    await step_handlers[draft.step](context, session, user_id, draft, message)
    await drafts.keep(user_id, draft)
    return True


async def _typed_department(context: JianfuContext, session: AsyncSession, user_id: int, draft: Draft, message: Message) -> None:
    typed = (message.text or "").strip()
    if not typed:
        await say(context, user_id, draft.language, "whistle.error.text_expected")
        return
    problem = name_problem(typed)
    if problem:
        await say(context, user_id, draft.language, problem, name=typed, max=MAX_NAME)
        return
    departments = await DepartmentRepository(session, normalize_name).all()
    match = match_department(typed, [DepartmentRef(d.id, d.name, d.code) for d in departments])
    if match.exact is not None:
        draft.department_id, draft.department_label = match.exact.id, match.exact.name
        await ask_category(context, user_id, draft)
        return
    draft.typed_department = typed
    rows = [[_department_button(draft, c.id, c.name)] for c in match.candidates]
    rows.append([_button(context, draft, draft.language, "whistle.button.keep_typed", "k", name=typed)])
    rows.append(_cancel_row(context, draft))
    key = "whistle.department_candidates" if match.candidates else "whistle.department_unknown"
    await say(context, user_id, draft.language, key, buttons=InlineKeyboardMarkup(rows), name=typed)


async def _expecting_button(context: JianfuContext, session: AsyncSession, user_id: int, draft: Draft, message: Message) -> None:
    await say(context, user_id, draft.language, f"whistle.use_buttons_{draft.step.value}")


async def _description(context: JianfuContext, session: AsyncSession, user_id: int, draft: Draft, message: Message) -> None:
    if message.text is None:
        await say(context, user_id, draft.language, "whistle.error.text_expected")
        return
    problem = description_problem(message.text)
    if problem:
        await say(
            context, user_id, draft.language, problem,
            length=len(message.text.strip()), min=DESCRIPTION_MIN, max=DESCRIPTION_MAX,
        )
        return
    draft.description = message.text.strip()
    await ask_evidence(context, user_id, draft)


async def _evidence(context: JianfuContext, session: AsyncSession, user_id: int, draft: Draft, message: Message) -> None:
    limit = context.deps.settings.whistle.max_evidence
    if len(draft.evidence) >= limit:
        await say(context, user_id, draft.language, "whistle.evidence_full", buttons=_evidence_buttons(context, draft), max=limit)
        return
    item = evidence_of(message)
    if item is None:
        await say(context, user_id, draft.language, "whistle.error.evidence_kind", buttons=_evidence_buttons(context, draft))
        return
    if item.text is not None and len(item.text) > EVIDENCE_TEXT_MAX:
        await say(context, user_id, draft.language, "error.too_long", max=EVIDENCE_TEXT_MAX)
        return
    draft.evidence.append(item)
    await say(context, user_id, draft.language, "whistle.evidence_added", buttons=_evidence_buttons(context, draft), count=len(draft.evidence), max=limit)


def evidence_of(message: Message) -> NewEvidence | None:
    """The content of an evidence message (text, photo or document), never who wrote it."""
    if message.photo:
        return NewEvidence("photo", file_id=message.photo[-1].file_id, text=message.caption)
    if message.document is not None:
        return NewEvidence("document", file_id=message.document.file_id, text=message.caption)
    if message.text:
        return NewEvidence("text", text=message.text)
    return None


@transactional
async def edited(update: Update, context: JianfuContext, session: AsyncSession) -> bool:
    """An edit is not read (the report takes what was sent); say so, and record nothing.
    False when the person is not writing a report."""
    drafts, user_id = Drafts(context.deps, session), update.effective_user.id
    draft, expired = await drafts.open(user_id)
    if draft is None:
        return expired
    await say(context, user_id, draft.language, "whistle.edit_ignored")
    await drafts.keep(user_id, draft)
    return True


# --- buttons ---------------------------------------------------------------------------------


@transactional
async def pressed(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    deps, query = context.deps, update.callback_query
    user_id = query.from_user.id
    token, _, action = query.data.removeprefix(PREFIX).partition(":")
    drafts = Drafts(deps, session)
    draft, expired = await drafts.open(user_id)
    if draft is None or draft.token != token:
        language = await language_for(update, context, session)
        key = "whistle.expired" if expired else "error.stale_button"
        answer(update, deps.catalog.raw(language, key), alert=True)
        return
    answer(update)
    # The keyboard has done its job; removing it keeps an old prompt from being pressed again.
    emit(Edit(user_id, query.message.message_id, None, durable=False))
    await _apply_button(context, session, user_id, draft, action)
    await drafts.keep(user_id, draft)


async def _apply_button(context: JianfuContext, session: AsyncSession, user_id: int, draft: Draft, action: str) -> None:
    kind, _, argument = action.partition(":")
    if kind == "x":
        await cancel_draft(context, session, user_id, draft)
    elif kind == "b":
        draft.start_over()
        await ask_department(context, session, user_id, draft)
    elif kind == "d" and draft.step is Step.DEPARTMENT:
        await _chose_department(context, session, user_id, draft, argument)
    elif kind == "k" and draft.step is Step.DEPARTMENT and draft.typed_department:
        draft.department_id, draft.department_label = None, draft.typed_department
        await ask_category(context, user_id, draft)
    elif kind == "c" and draft.step is Step.CATEGORY and argument in CATEGORIES:
        draft.category = argument
        await ask_description(context, user_id, draft)
    elif kind == "e" and draft.step is Step.EVIDENCE:
        await show_review(context, user_id, draft)
    elif kind == "s" and draft.step is Step.REVIEW:
        await submit(context, session, user_id, draft)
    else:
        await say(context, user_id, draft.language, "error.stale_button")


async def _chose_department(context: JianfuContext, session: AsyncSession, user_id: int, draft: Draft, argument: str) -> None:
    department = await DepartmentRepository(session, normalize_name).get(int(argument)) if argument.isdigit() else None
    if department is None:  # removed since the buttons were drawn
        await say(context, user_id, draft.language, "whistle.department_gone")
        await ask_department(context, session, user_id, draft)
        return
    draft.department_id, draft.department_label = department.id, department.name
    await ask_category(context, user_id, draft)


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

def split_message(text: str) -> list[str]:
    """Paragraphs packed into messages under Telegram's limit (one paragraph is at most ~2,100)."""
    return pack(text.split("\n\n"), separator="\n\n")


@transactional
async def cancel(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    deps, user_id = context.deps, update.effective_user.id
    draft, _expired = await Drafts(deps, session).open(user_id)
    if draft is not None:
        await cancel_draft(context, session, user_id, draft)
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


def response_lines(context: JianfuContext, responses: list[WhistleResponse], language: str) -> list[str]:
    """What supervisors did, a paragraph each, dated to the day."""
    catalog, zone = context.deps.catalog, context.deps.settings.tz
    return [
        catalog.text(
            language, f"whistle.response.{response.kind}",
            day=response.at.astimezone(zone).date().isoformat(), text=full_text(response.text or ""),
        )
        for response in responses
    ]  # fmt: skip


async def _purge(context: JianfuContext) -> None:
    """Idle drafts, expired answers and ended rate-limit periods leave the database (every replica
    runs this; deleting twice is harmless)."""
    try:
        await purge(context.deps)
    except Exception as error:  # the next run tries again
        log.error("purging whistle drafts failed: %s", describe(error))


def register(app: Application, deps: Deps) -> None:
    private_message = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(CommandHandler("whistle", anonymous(begin), filters=filters.UpdateType.MESSAGE & filters.ChatType.PRIVATE), group=WHISTLE_GROUP)
    app.add_handler(CommandHandler("whistle", begin, filters=filters.UpdateType.MESSAGE & filters.ChatType.GROUPS), group=WHISTLE_GROUP)
    app.add_handler(MessageHandler(private_message & filters.Regex(DEEP_LINK), anonymous(begin)), group=WHISTLE_GROUP)
    app.add_handler(CommandHandler("cancel", anonymous(cancel), filters=private_message), group=WHISTLE_GROUP)
    app.add_handler(CommandHandler("status", anonymous(status), filters=private_message), group=WHISTLE_GROUP)
    app.add_handler(CallbackQueryHandler(anonymous(pressed), pattern=f"^{PREFIX}"), group=WHISTLE_GROUP)
    # Whether a message belongs to a report only the database can say (filters cannot wait for it),
    # so every private message that is no command is offered to the draft first.
    private_text = private_message & ~filters.COMMAND
    app.add_handler(MessageHandler(private_text, anonymous_when_drafting(draft_message)), group=WHISTLE_GROUP)
    private_edit = filters.ChatType.PRIVATE & filters.UpdateType.EDITED_MESSAGE
    app.add_handler(MessageHandler(private_edit, anonymous_when_drafting(edited)), group=WHISTLE_GROUP)
    app.job_queue.run_repeating(_purge, interval=deps.settings.jobs.sweep_seconds, first=0, name="whistle_purge")
