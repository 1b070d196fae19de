"""Whistle (吹哨), the supervisors' side: /whistles, a report's card and its actions, and the
batches in which supervisors hear of new reports (at fixed local times, never on arrival)."""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import Application, ApplicationHandlerStop, CallbackQueryHandler, ExtBot, MessageHandler, filters

from bot import access, records
from bot.actions import rows_of
from bot.callbacks import kinds, value_of
from bot.context import Deps, JianfuContext
from bot.handlers._common import (
    allowed,
    command,
    command_text,
    emit,
    in_private,
    language_for,
    page_buttons,
    reply,
    transactional,
)
from bot.handlers._common import answer as answer_press
from bot.i18n import Html
from bot.pipeline import FactResult
from bot.services.whistle_texts import full_text, response_lines, say, split_message
from bot.whistle_state import PendingAnswer, PendingAnswers
from policies.actions import Button, Edit, Say, Send, SendFile, Then
from policies.callbacks import WhistleCard, WhistleList, encode
from policies.departments import normalize_name
from policies.whistle import DESCRIPTION_MAX, Status, may_move, next_batch_at, open_too_long
from storage.models import Task, Whistle, WhistleEvidence
from storage.repositories.audit import AuditRepository
from storage.repositories.departments import DepartmentRepository
from storage.repositories.tasks import TaskRepository
from storage.repositories.whistles import WhistleRepository, WhistleRow

PAGE_SIZE = 8
BATCH_TASK = "whistle_batch"
NOTIFY_TASK = "whistle_notify"
# Which pending answer settles a report in which status (a plain response changes nothing).
ANSWER_STATUS = {"rectified": Status.RECTIFIED, "rejected": Status.REJECTED, "response": None}
ANSWER_BUTTONS = {"r": "response", "k": "rectified", "j": "rejected"}


@dataclass(frozen=True)
class Filter:
    """Which reports a list shows: open ones, all, or one department's; encoded in buttons."""

    open_only: bool = True
    department_id: int | None = None

    def list_button(self, page: int) -> str:
        scope = "d" if self.department_id else ("o" if self.open_only else "a")
        return encode(WhistleList(scope, self.department_id or 0, page))

    @classmethod
    def of(cls, button: WhistleList) -> Filter:
        if button.scope == "d":
            return cls(open_only=False, department_id=button.department_id)
        return cls(open_only=button.scope == "o")


# --- /whistles -------------------------------------------------------------------------------


@transactional
async def whistles(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    if not await in_private(update, context, session) or not await allowed(update, context, session, "whistles"):
        return
    argument = command_text(update)
    chosen = Filter()
    if argument.lower() in ("all", "全部"):
        chosen = Filter(open_only=False)
    elif argument and argument.lower() not in ("open", "未结"):
        department = await DepartmentRepository(session, normalize_name).find_exact(argument)
        if department is None:
            await reply(update, context, session, "dept.not_found", name=argument)
            return
        chosen = Filter(open_only=False, department_id=department.id)
    language = await language_for(update, context, session)
    text, buttons = await render_list(context, session, chosen, 0, language)
    emit(Send(update.effective_chat.id, text, rows_of(buttons), durable=False))


async def render_list(
    context: JianfuContext, session: AsyncSession, chosen: Filter, page: int, language: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    deps, catalog = context.deps, context.deps.catalog
    # Only reports already announced in a batch: listing them on arrival would date them.
    rows, total = await WhistleRepository(session).page(
        open_only=chosen.open_only,
        department_id=chosen.department_id,
        offset=page * PAGE_SIZE,
        limit=PAGE_SIZE,
        announced_only=True,
    )
    if total == 0:
        return catalog.raw(language, "whistles.empty_open" if chosen.open_only else "whistles.empty"), None
    pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
    lines = [catalog.text(language, "whistles.header", total=total, page=page + 1, pages=pages)]
    today = deps.clock().astimezone(deps.settings.tz).date()
    lines += [list_line(deps, language, row, today) for row in rows]
    keyboard = [[open_button(catalog, language, row.whistle.id)] for row in rows]
    paging = page_buttons(context, language, page, pages, chosen.list_button)
    keyboard.append([InlineKeyboardButton(label, callback_data=data) for label, data in paging])
    return "\n".join(lines), InlineKeyboardMarkup([row for row in keyboard if row])


def open_button(catalog: Any, language: str, whistle_id: int) -> InlineKeyboardButton:
    label = catalog.text(language, "whistles.button.open", id=whistle_id)
    return InlineKeyboardButton(label, callback_data=encode(WhistleCard("o", whistle_id)))


def list_line(deps: Deps, language: str, row: WhistleRow, today: Any) -> str:
    whistle, catalog = row.whistle, deps.catalog
    overdue = open_too_long(whistle.status, whistle.created_on, today, deps.settings.whistle.open_days_flag)
    return catalog.text(
        language, "whistles.item", id=whistle.id, department=row.department_label,
        category=catalog.raw(language, f"whistle.category.{whistle.category}"),
        status=catalog.raw(language, f"whistle.state.{whistle.status}"), created_on=whistle.created_on.isoformat(),
        overdue=Html(catalog.raw(language, "whistles.overdue_mark") if overdue else ""),
    )  # fmt: skip


# --- buttons -----------------------------------------------------------------------------------


@transactional
async def pressed(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    deps, query = context.deps, update.callback_query
    user_id = query.from_user.id
    language = await language_for(update, context, session)
    if not await access.is_supervisor(deps, session, user_id):
        answer_press(update, deps.catalog.raw(language, "whistles.not_allowed"), alert=True)
        return
    button = value_of(update, WhistleList | WhistleCard)
    shown = await _apply(context, session, query.message, user_id, language, button)
    answer_press(update, shown or "")


async def _apply(
    context: JianfuContext,
    session: AsyncSession,
    message: Message | None,
    user_id: int,
    language: str,
    button: WhistleList | WhistleCard,
) -> str | None:
    """Carry out one button; returns the short answer shown on the button press, if any."""
    if isinstance(button, WhistleList):
        text, buttons = await render_list(context, session, Filter.of(button), button.page, language)
        if message is not None:
            emit(Edit(message.chat.id, message.message_id, text, rows_of(buttons), durable=False))
        return None
    kind = button.action
    row = await WhistleRepository(session).get(button.whistle_id)
    if row is None or not row.whistle.announced:  # supervisors see a report from its batch on
        return context.deps.catalog.raw(language, "whistles.gone")
    if kind == "o":
        await open_report(context, session, user_id, language, row)
    elif kind == "f":
        await forward(context, session, user_id, language, row)
    else:
        await ask_answer(context, session, user_id, language, row, ANSWER_BUTTONS[kind])
    return None


async def open_report(
    context: JianfuContext, session: AsyncSession, user_id: int, language: str, row: WhistleRow
) -> None:
    """Show the report; the first supervisor to open a new one puts it under review."""
    deps, whistle = context.deps, row.whistle
    if whistle.status == Status.NEW and await WhistleRepository(session).move(
        whistle.id, Status.NEW, Status.REVIEW, deps.clock()
    ):
        await WhistleRepository(session).respond(whistle.id, "review", None, deps.clock())
        await _audit(context, session, user_id, "whistle.review", whistle.id)
        whistle.status = Status.REVIEW
    evidence = await WhistleRepository(session).evidence(whistle.id)
    parts = split_message(await card_text(context, session, row, language, len(evidence)))
    for number, part in enumerate(parts, start=1):
        buttons = card_buttons(context, language, whistle) if number == len(parts) else None
        emit(Send(user_id, part, rows_of(buttons), durable=False))
    emit(*(evidence_action(user_id, item, durable=False) for item in evidence))


async def card_text(
    context: JianfuContext, session: AsyncSession, row: WhistleRow, language: str, evidence: int
) -> str:
    whistle, catalog = row.whistle, context.deps.catalog
    lines = [catalog.text(
        language, "whistles.card", id=whistle.id, department=row.department_label,
        category=catalog.raw(language, f"whistle.category.{whistle.category}"),
        status=catalog.raw(language, f"whistle.state.{whistle.status}"), created_on=whistle.created_on.isoformat(),
        description=full_text(whistle.description), evidence=evidence,
    )]  # fmt: skip
    lines += response_lines(
        context, await WhistleRepository(session).responses(whistle.id, visible_only=False), language
    )
    return "\n\n".join(lines)


def card_buttons(context: JianfuContext, language: str, whistle: Whistle) -> InlineKeyboardMarkup:
    catalog, rows = context.deps.catalog, []

    def button(key: str, kind: str) -> list[InlineKeyboardButton]:
        return [InlineKeyboardButton(catalog.raw(language, key), callback_data=encode(WhistleCard(kind, whistle.id)))]

    rows.append(button("whistles.button.respond", "r"))
    if may_move(whistle.status, Status.FORWARDED).hit:
        rows.append(button("whistles.button.forward", "f"))
    if may_move(whistle.status, Status.RECTIFIED).hit:
        rows.append(button("whistles.button.rectified", "k"))
    if may_move(whistle.status, Status.REJECTED).hit:
        rows.append(button("whistles.button.reject", "j"))
    return InlineKeyboardMarkup(rows)


def evidence_action(chat_id: int, item: WhistleEvidence, *, durable: bool) -> Send | SendFile:
    """Re-send evidence by file id (Telegram keeps the file; Jianfu keeps only its id). Captions
    and texts are the whistleblower's words, escaped: never read as HTML."""
    text = html.escape(item.text or "", quote=False)
    if item.kind in ("photo", "document"):
        return SendFile(chat_id, item.kind, item.file_id, text, rule="whistle", reason="evidence", durable=durable)
    return Send(chat_id, text, rule="whistle", reason="evidence", durable=durable)


async def forward(context: JianfuContext, session: AsyncSession, user_id: int, language: str, row: WhistleRow) -> None:
    """Send the report's content (never anything about who sent it) to the department's contact chat.

    The report counts as forwarded once the card is out; if Telegram refuses it, the supervisor hears so."""
    deps, whistle = context.deps, row.whistle
    if not may_move(whistle.status, Status.FORWARDED).hit:
        await say(
            context,
            user_id,
            language,
            "whistles.cannot",
            status=deps.catalog.raw(language, f"whistle.state.{whistle.status}"),
        )
        return
    department = (
        await DepartmentRepository(session, normalize_name).get(whistle.department_id)
        if whistle.department_id
        else None
    )
    if department is None or department.contact_chat_id is None:
        key = "whistles.forward_no_contact" if department else "whistles.forward_no_department"
        await say(context, user_id, language, key, department=row.department_label)
        return
    chat_id = department.contact_chat_id
    card_language = await records.language_of(deps, session, chat_id)
    catalog = deps.catalog
    card = catalog.text(
        card_language, "whistles.forward_card", department=row.department_label,
        created_on=whistle.created_on.isoformat(),
        category=catalog.raw(card_language, f"whistle.category.{whistle.category}"),
        description=full_text(whistle.description),
    )  # fmt: skip
    evidence = [
        evidence_action(chat_id, item, durable=True) for item in await WhistleRepository(session).evidence(whistle.id)
    ]
    forwarded = Forwarded(whistle.id, user_id, department.id)
    told = Say(user_id, "whistles.forwarded", {"department": department.name}, language=language)
    refused = Say(user_id, "whistles.forward_failed", {"department": department.name}, language=language)
    then = Then(done=(forwarded, told, *evidence)).also_when_refused(refused)
    emit(Send(chat_id, card, rule="whistle", reason="forwarded to the department", then=then))


@dataclass(frozen=True)
class Forwarded:
    """The card reached the department: the report is forwarded (compare-and-set), and audited."""

    whistle_id: int
    actor_id: int
    department_id: int


async def _apply_forwarded(deps: Deps, session: AsyncSession, forwarded: Forwarded) -> FactResult:
    repository = WhistleRepository(session)
    row = await repository.get(forwarded.whistle_id)
    if row is None or not await repository.move(row.whistle.id, row.whistle.status, Status.FORWARDED, deps.clock()):
        return FactResult(False)
    await repository.respond(row.whistle.id, "forwarded", None, deps.clock())
    await AuditRepository(session).record(
        "whistle.forward",
        actor_id=forwarded.actor_id,
        now=deps.clock(),
        target=f"whistle:{row.whistle.id}",
        detail={"department": forwarded.department_id},
    )
    return FactResult(True)


async def ask_answer(
    context: JianfuContext, session: AsyncSession, user_id: int, language: str, row: WhistleRow, action: str
) -> None:
    target = ANSWER_STATUS[action]
    if target is not None and not may_move(row.whistle.status, target).hit:
        await say(
            context,
            user_id,
            language,
            "whistles.cannot",
            status=context.deps.catalog.raw(language, f"whistle.state.{row.whistle.status}"),
        )
        return
    await PendingAnswers(context.deps, session).ask(user_id, PendingAnswer(action, row.whistle.id, language))
    await say(context, user_id, language, f"whistles.ask_{action}", id=row.whistle.id)


# --- the supervisor's typed answer ---------------------------------------------------------------


@transactional
async def answer(update: Update, context: JianfuContext, session: AsyncSession) -> bool:
    """The supervisor's awaited answer; False (nothing done) when none is awaited from them."""
    deps, user_id, message = context.deps, update.effective_user.id, update.effective_message
    answers = PendingAnswers(deps, session)
    pending = await answers.current(user_id)
    if pending is None:
        return False
    if not await access.is_supervisor(deps, session, user_id):  # revoked since pressing the button
        await answers.drop(user_id)
        return False
    text = (message.text or "").strip()
    if not text:
        await say(context, user_id, pending.language, "whistles.text_expected")
        return True
    if len(text) > DESCRIPTION_MAX:
        await say(context, user_id, pending.language, "error.too_long", max=DESCRIPTION_MAX)
        return True
    await answers.drop(user_id)
    await settle(context, session, user_id, pending, text)
    return True


async def answer_or_pass(update: Update, context: JianfuContext) -> None:
    if await answer(update, context):
        raise ApplicationHandlerStop


async def settle(
    context: JianfuContext, session: AsyncSession, user_id: int, pending: PendingAnswer, text: str
) -> None:
    deps, repository, language = context.deps, WhistleRepository(session), pending.language
    row = await repository.get(pending.whistle_id)
    if row is None:
        await say(context, user_id, language, "whistles.gone")
        return
    target = ANSWER_STATUS[pending.action]
    if target is not None and not await repository.move(row.whistle.id, row.whistle.status, target, deps.clock()):
        # Someone else settled it meanwhile, or it was never in a status that allows this.
        await say(
            context,
            user_id,
            language,
            "whistles.cannot",
            status=deps.catalog.raw(language, f"whistle.state.{row.whistle.status}"),
        )
        return
    await repository.respond(row.whistle.id, pending.action, text, deps.clock())
    await _audit(context, session, user_id, f"whistle.{pending.action}", row.whistle.id)
    await say(context, user_id, language, f"whistles.done_{pending.action}", id=row.whistle.id)


async def _audit(
    context: JianfuContext, session: AsyncSession, actor: int, action: str, whistle_id: int, **detail: Any
) -> None:
    await AuditRepository(session).record(
        action, actor_id=actor, now=context.deps.clock(), target=f"whistle:{whistle_id}", detail=detail
    )


# --- batches -----------------------------------------------------------------------------------


async def ensure_batch_scheduled(deps: Deps) -> None:
    """Schedule the next batch unless it is; at start-up, so a fresh deployment has one too."""
    async with deps.db.transaction() as session:
        await schedule_next_batch(deps, session, deps.clock())


async def schedule_next_batch(deps: Deps, session: AsyncSession, after: datetime) -> None:
    due = next_batch_at(after, deps.settings.whistle.batch_clock_times(), deps.settings.tz)
    # The slot is the key: replicas and restarts schedule the same batch only once.
    await TaskRepository(session).schedule(BATCH_TASK, f"{BATCH_TASK}:{due.isoformat()}", due)


async def run_batch(deps: Deps, bot: ExtBot[None], task: Task) -> bool:
    """Take the reports supervisors have not heard of, and one notification task per supervisor."""
    async with deps.db.transaction() as session:
        repository = WhistleRepository(session)
        today = deps.clock().astimezone(deps.settings.tz).date()
        new = await repository.take_unannounced()
        overdue = await repository.take_overdue(today, deps.settings.whistle.open_days_flag)
        if new or overdue:
            payload = {"new": [r.whistle.id for r in new], "overdue": [r.whistle.id for r in overdue]}
            tasks = TaskRepository(session)
            for supervisor in sorted(await access.supervisor_ids(deps, session)):
                # The attempt is in the key: a batch run again after a lost lease takes newer
                # reports, and their notifications must not collide with the first run's.
                key = f"{NOTIFY_TASK}:{task.key}:{task.attempts}:{supervisor}"
                await tasks.schedule(NOTIFY_TASK, key, deps.clock(), payload | {"to": supervisor})
        await schedule_next_batch(deps, session, task.due_at)
    return True


async def notify(deps: Deps, bot: ExtBot[None], task: Task) -> bool:
    """Tell one supervisor about a batch (an outbox send: retried on 429/5xx, given up for someone
    who blocked the bot)."""
    async with deps.pipeline.unit(task=task) as unit:
        supervisor = task.payload["to"]
        language = await records.language_of(deps, unit.session, supervisor)
        repository = WhistleRepository(unit.session)
        lines = []
        for key, ids in (
            ("whistles.batch_new", task.payload["new"]),
            ("whistles.batch_overdue", task.payload["overdue"]),
        ):
            rows = [row for whistle_id in ids if (row := await repository.get(whistle_id)) is not None]
            if rows:
                items = "\n".join(_batch_line(deps, language, row) for row in rows)
                lines.append(
                    deps.catalog.text(
                        language, key, count=len(rows), items=Html(items), days=deps.settings.whistle.open_days_flag
                    )
                )
        if lines:
            review = Button("whistles.button.review", encode(WhistleList("o", 0, 0)))
            unit.emit(
                Say(
                    supervisor,
                    "raw",
                    {"text": Html("\n\n".join(lines))},
                    language=language,
                    buttons=(review,),
                    rule="whistle",
                    reason="batch",
                )
            )
    return True


def _batch_line(deps: Deps, language: str, row: WhistleRow) -> str:
    catalog = deps.catalog
    return catalog.text(
        language, "whistles.batch_item", id=row.whistle.id, department=row.department_label,
        category=catalog.raw(language, f"whistle.category.{row.whistle.category}"),
        created_on=row.whistle.created_on.isoformat(),
    )  # fmt: skip


async def _ensure_job(context: JianfuContext) -> None:
    await ensure_batch_scheduled(context.deps)


def register(app: Application, deps: Deps, lane: int) -> None:
    app.add_handler(command("whistles", whistles))
    app.add_handler(CallbackQueryHandler(pressed, pattern=kinds(WhistleList, WhistleCard)))
    # Whether an answer is awaited only the database knows: every private message that is no command asks.
    private_text = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & ~filters.COMMAND
    app.add_handler(MessageHandler(private_text, answer_or_pass), group=lane)
    deps.register_task(BATCH_TASK, run_batch, persistent=True)
    deps.register_task(NOTIFY_TASK, notify)
    deps.pipeline.register_fact(Forwarded, _apply_forwarded)
    app.job_queue.run_once(_ensure_job, when=0, name="whistle-batch-schedule")
