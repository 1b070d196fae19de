"""Whistle (吹哨), the supervisors' side: /whistles, a report's card and its actions, and the
batches in which supervisors hear of new reports (at fixed local times, never on arrival)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import Application, CallbackQueryHandler, ExtBot, MessageHandler, filters

from bot import access, actions
from bot.context import Deps, JianfuContext
from bot.handlers._common import allowed, command, command_text, in_private, language_for, reply, transactional
from bot.handlers.whistle import FromUserIn, full_text, response_lines, say, split_message
from bot.i18n import Html
from bot.whistle_memory import PendingAnswer
from policies.actions import Button, Say
from policies.departments import normalize_name
from policies.whistle import DESCRIPTION_MAX, Status, may_move, next_batch_at, open_too_long
from storage.models import Task, Whistle, WhistleEvidence
from storage.repositories.audit import AuditRepository
from storage.repositories.departments import DepartmentRepository
from storage.repositories.tasks import TaskRepository
from storage.repositories.whistles import WhistleRepository, WhistleRow

PREFIX = "ws:"
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

    def encode(self) -> str:
        return f"d{self.department_id}" if self.department_id else ("o" if self.open_only else "a")

    @classmethod
    def decode(cls, text: str) -> Filter:
        if text.startswith("d"):
            return cls(open_only=False, department_id=int(text[1:]))
        if text not in ("o", "a"):
            raise ValueError(text)
        return cls(open_only=text == "o")


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
    await actions.send(context.bot, update.effective_chat.id, text, buttons=buttons)


async def render_list(context: JianfuContext, session: AsyncSession, chosen: Filter, page: int, language: str) -> tuple[str, InlineKeyboardMarkup | None]:
    deps, catalog = context.deps, context.deps.catalog
    # Only reports already announced in a batch: listing them on arrival would date them.
    rows, total = await WhistleRepository(session).page(
        open_only=chosen.open_only, department_id=chosen.department_id, offset=page * PAGE_SIZE, limit=PAGE_SIZE,
        announced_only=True,
    )
    if total == 0:
        return catalog.raw(language, "whistles.empty_open" if chosen.open_only else "whistles.empty"), None
    pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
    lines = [catalog.text(language, "whistles.header", total=total, page=page + 1, pages=pages)]
    today = deps.clock().astimezone(deps.settings.tz).date()
    lines += [list_line(deps, language, row, today) for row in rows]
    keyboard = [[InlineKeyboardButton(catalog.text(language, "whistles.button.open", id=row.whistle.id), callback_data=f"{PREFIX}o:{row.whistle.id}")] for row in rows]
    paging = []
    if page > 0:
        paging.append(InlineKeyboardButton(catalog.raw(language, "inbox.previous"), callback_data=f"{PREFIX}l:{chosen.encode()}:{page - 1}"))
    if page + 1 < pages:
        paging.append(InlineKeyboardButton(catalog.raw(language, "inbox.next"), callback_data=f"{PREFIX}l:{chosen.encode()}:{page + 1}"))
    keyboard.append(paging)
    return "\n".join(lines), InlineKeyboardMarkup([row for row in keyboard if row])


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
        await actions.call("answerCallbackQuery", user_id, query.answer(deps.catalog.raw(language, "whistles.not_allowed"), show_alert=True))
        return
    kind, _, argument = query.data.removeprefix(PREFIX).partition(":")
    try:
        answer = await _apply(context, session, query.message, user_id, language, kind, argument)
    except ValueError:  # not data our buttons make: change nothing
        answer = deps.catalog.raw(language, "error.stale_button")
    await actions.call("answerCallbackQuery", user_id, query.answer(answer))


async def _apply(context: JianfuContext, session: AsyncSession, message: Message | None, user_id: int, language: str, kind: str, argument: str) -> str | None:
    """Carry out one button; returns the short answer shown on the button press, if any."""
    if kind == "l":
        encoded, _, page = argument.partition(":")
        text, buttons = await render_list(context, session, Filter.decode(encoded), max(int(page), 0), language)
        if message is not None:
            await actions.edit(context.bot, message.chat.id, message.message_id, text, buttons)
        return None
    whistle_id = int(argument)
    row = await WhistleRepository(session).get(whistle_id)
    if row is None or not row.whistle.announced:  # supervisors see a report from its batch on
        return context.deps.catalog.raw(language, "whistles.gone")
    if kind == "o":
        await open_report(context, session, user_id, language, row)
    elif kind == "f":
        await forward(context, session, user_id, language, row)
    elif kind in ANSWER_BUTTONS:
        await ask_answer(context, session, user_id, language, row, ANSWER_BUTTONS[kind])
    else:
        raise ValueError(kind)
    return None


async def open_report(context: JianfuContext, session: AsyncSession, user_id: int, language: str, row: WhistleRow) -> None:
    """Show the report; the first supervisor to open a new one puts it under review."""
    deps, whistle = context.deps, row.whistle
    if whistle.status == Status.NEW and await WhistleRepository(session).move(whistle.id, Status.NEW, Status.REVIEW, deps.clock()):
        await WhistleRepository(session).respond(whistle.id, "review", None, deps.clock())
        await _audit(context, session, user_id, "whistle.review", whistle.id)
        whistle.status = Status.REVIEW
    evidence = await WhistleRepository(session).evidence(whistle.id)
    parts = split_message(await card_text(context, session, row, language, len(evidence)))
    for number, part in enumerate(parts, start=1):
        buttons = card_buttons(context, language, whistle) if number == len(parts) else None
        await actions.send(context.bot, user_id, part, buttons=buttons)
    for item in evidence:
        await send_evidence(context.bot, user_id, item)


async def card_text(context: JianfuContext, session: AsyncSession, row: WhistleRow, language: str, evidence: int) -> str:
    whistle, catalog = row.whistle, context.deps.catalog
    lines = [catalog.text(
        language, "whistles.card", id=whistle.id, department=row.department_label,
        category=catalog.raw(language, f"whistle.category.{whistle.category}"),
        status=catalog.raw(language, f"whistle.state.{whistle.status}"), created_on=whistle.created_on.isoformat(),
        description=full_text(whistle.description), evidence=evidence,
    )]  # fmt: skip
    lines += response_lines(context, await WhistleRepository(session).responses(whistle.id, visible_only=False), language)
    return "\n\n".join(lines)


def card_buttons(context: JianfuContext, language: str, whistle: Whistle) -> InlineKeyboardMarkup:
    catalog, rows = context.deps.catalog, []

    def button(key: str, kind: str) -> list[InlineKeyboardButton]:
        return [InlineKeyboardButton(catalog.raw(language, key), callback_data=f"{PREFIX}{kind}:{whistle.id}")]

    rows.append(button("whistles.button.respond", "r"))
    if may_move(whistle.status, Status.FORWARDED).hit:
        rows.append(button("whistles.button.forward", "f"))
    if may_move(whistle.status, Status.RECTIFIED).hit:
        rows.append(button("whistles.button.rectified", "k"))
    if may_move(whistle.status, Status.REJECTED).hit:
        rows.append(button("whistles.button.reject", "j"))
    return InlineKeyboardMarkup(rows)


async def send_evidence(bot: ExtBot[None], chat_id: int, item: WhistleEvidence) -> actions.Outcome:
    """Re-send evidence by file id (Telegram keeps the file; Jianfu keeps only its id). Captions
    and texts go as plain text: they are the whistleblower's words, not HTML."""
    if item.kind == "photo":
        return await actions.call("sendPhoto", chat_id, bot.send_photo(chat_id, item.file_id, caption=item.text))
    if item.kind == "document":
        return await actions.call("sendDocument", chat_id, bot.send_document(chat_id, item.file_id, caption=item.text))
    return await actions.call("sendMessage", chat_id, bot.send_message(chat_id, item.text or ""))


async def forward(context: JianfuContext, session: AsyncSession, user_id: int, language: str, row: WhistleRow) -> None:
    """Send the report's content (never anything about who sent it) to the department's contact chat."""
    deps, whistle = context.deps, row.whistle
    if not may_move(whistle.status, Status.FORWARDED).hit:
        await say(context, user_id, language, "whistles.cannot", status=deps.catalog.raw(language, f"whistle.state.{whistle.status}"))
        return
    department = await DepartmentRepository(session, normalize_name).get(whistle.department_id) if whistle.department_id else None
    if department is None or department.contact_chat_id is None:
        key = "whistles.forward_no_contact" if department else "whistles.forward_no_department"
        await say(context, user_id, language, key, department=row.department_label)
        return
    if not await _deliver(context, session, department.contact_chat_id, row):
        await say(context, user_id, language, "whistles.forward_failed", department=department.name)
        return
    repository = WhistleRepository(session)
    if await repository.move(whistle.id, whistle.status, Status.FORWARDED, deps.clock()):
        await repository.respond(whistle.id, "forwarded", None, deps.clock())
        await _audit(context, session, user_id, "whistle.forward", whistle.id, department=department.id)
    await say(context, user_id, language, "whistles.forwarded", department=department.name)


async def _deliver(context: JianfuContext, session: AsyncSession, chat_id: int, row: WhistleRow) -> bool:
    executor = actions.Executor(context.deps, context.bot, session)
    language = await executor.language_of(chat_id)
    catalog, whistle = context.deps.catalog, row.whistle
    text = catalog.text(
        language, "whistles.forward_card", department=row.department_label, created_on=whistle.created_on.isoformat(),
        category=catalog.raw(language, f"whistle.category.{whistle.category}"), description=full_text(whistle.description),
    )  # fmt: skip
    outcome, _sent = await actions.send(context.bot, chat_id, text)
    await executor.note(chat_id, outcome)
    if outcome is not actions.Outcome.DONE:
        return False
    for item in await WhistleRepository(session).evidence(whistle.id):
        await send_evidence(context.bot, chat_id, item)
    return True


async def ask_answer(context: JianfuContext, session: AsyncSession, user_id: int, language: str, row: WhistleRow, action: str) -> None:
    target = ANSWER_STATUS[action]
    if target is not None and not may_move(row.whistle.status, target).hit:
        await say(context, user_id, language, "whistles.cannot", status=context.deps.catalog.raw(language, f"whistle.state.{row.whistle.status}"))
        return
    context.deps.whistle_memory.pending[user_id] = PendingAnswer(action, row.whistle.id, language, context.deps.clock())
    await say(context, user_id, language, f"whistles.ask_{action}", id=row.whistle.id)


# --- the supervisor's typed answer ---------------------------------------------------------------


@transactional
async def answer(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    deps, user_id, message = context.deps, update.effective_user.id, update.effective_message
    pending = deps.whistle_memory.answer_for(user_id, deps.clock())
    if pending is None or not await access.is_supervisor(deps, session, user_id):
        deps.whistle_memory.pending.pop(user_id, None)
        return
    text = (message.text or "").strip()
    if not text:
        await say(context, user_id, pending.language, "whistles.text_expected")
        return
    if len(text) > DESCRIPTION_MAX:
        await say(context, user_id, pending.language, "error.too_long", max=DESCRIPTION_MAX)
        return
    del deps.whistle_memory.pending[user_id]
    await settle(context, session, user_id, pending, text)


async def settle(context: JianfuContext, session: AsyncSession, user_id: int, pending: PendingAnswer, text: str) -> None:
    deps, repository, language = context.deps, WhistleRepository(session), pending.language
    row = await repository.get(pending.whistle_id)
    if row is None:
        await say(context, user_id, language, "whistles.gone")
        return
    target = ANSWER_STATUS[pending.action]
    if target is not None and not await repository.move(row.whistle.id, row.whistle.status, target, deps.clock()):
        # Someone else settled it meanwhile, or it was never in a status that allows this.
        await say(context, user_id, language, "whistles.cannot", status=deps.catalog.raw(language, f"whistle.state.{row.whistle.status}"))
        return
    await repository.respond(row.whistle.id, pending.action, text, deps.clock())
    await _audit(context, session, user_id, f"whistle.{pending.action}", row.whistle.id)
    await say(context, user_id, language, f"whistles.done_{pending.action}", id=row.whistle.id)


async def _audit(context: JianfuContext, session: AsyncSession, actor: int, action: str, whistle_id: int, **detail: Any) -> None:
    await AuditRepository(session).record(action, actor_id=actor, now=context.deps.clock(), target=f"whistle:{whistle_id}", detail=detail)


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
    """Tell one supervisor about a batch; retried on 429/5xx, given up for someone who blocked the bot."""
    async with deps.db.transaction() as session:
        executor = actions.Executor(deps, bot, session)
        supervisor = task.payload["to"]
        language = await executor.language_of(supervisor)
        repository = WhistleRepository(session)
        lines = []
        for key, ids in (("whistles.batch_new", task.payload["new"]), ("whistles.batch_overdue", task.payload["overdue"])):
            rows = [row for whistle_id in ids if (row := await repository.get(whistle_id)) is not None]
            if rows:
                items = "\n".join(_batch_line(deps, language, row) for row in rows)
                lines.append(deps.catalog.text(language, key, count=len(rows), items=Html(items), days=deps.settings.whistle.open_days_flag))
        if not lines:
            return True
        outcome = await executor.run_one(
            Say(supervisor, "raw", {"text": Html("\n\n".join(lines))}, language=language, buttons=(Button("whistles.button.review", f"{PREFIX}l:o:0"),))
        )
    return outcome is not actions.Outcome.RETRY_LATER


def _batch_line(deps: Deps, language: str, row: WhistleRow) -> str:
    catalog = deps.catalog
    return catalog.text(
        language, "whistles.batch_item", id=row.whistle.id, department=row.department_label,
        category=catalog.raw(language, f"whistle.category.{row.whistle.category}"), created_on=row.whistle.created_on.isoformat(),
    )  # fmt: skip


async def _ensure_job(context: JianfuContext) -> None:
    await ensure_batch_scheduled(context.deps)


def register(app: Application, deps: Deps) -> None:
    app.add_handler(command("whistles", whistles))
    app.add_handler(CallbackQueryHandler(pressed, pattern=f"^{PREFIX}"))
    awaiting = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE & ~filters.COMMAND & FromUserIn(deps.whistle_memory.pending, "awaiting_whistle_answer")
    app.add_handler(MessageHandler(awaiting, answer))
    deps.register_task(BATCH_TASK, run_batch, persistent=True)
    deps.register_task(NOTIFY_TASK, notify)
    app.job_queue.run_once(_ensure_job, when=0, name="whistle-batch-schedule")


