"""/inbox: one private list of a person's notices from every group, read without replying."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import Application, CallbackQueryHandler

from bot.actions import rows_of
from bot.callbacks import kinds, value_of
from bot.context import Deps, JianfuContext
from bot.handlers._common import (
    answer,
    command,
    command_text,
    emit,
    in_private,
    language_for,
    page_buttons,
    reply,
    transactional,
)
from bot.i18n import Html
from policies.actions import Edit, RefreshCounter, Send
from policies.callbacks import InboxPage, InboxRead, encode
from policies.departments import normalize_name
from policies.text import first_line
from storage.repositories.departments import DepartmentRepository
from storage.repositories.notices import InboxItem, InboxRepository, NoticeRepository, ReadRepository

PAGE_SIZE = 5


@dataclass(frozen=True)
class View:
    """What the inbox shows: unread only or all, one department or all, and which page."""

    include_read: bool = False
    department_id: int | None = None
    page: int = 0

    def read_button(self, notice_id: int) -> str:
        """Mark a notice read, and show this view again."""
        return encode(InboxRead(notice_id, self.include_read, self.department_id or 0, self.page))

    def page_button(self, page: int) -> str:
        return encode(InboxPage(self.include_read, self.department_id or 0, page))

    @classmethod
    def of(cls, button: InboxRead | InboxPage) -> View:
        return cls(button.include_read, button.department_id or None, button.page)


@transactional
async def inbox(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    if not await in_private(update, context, session):
        return
    argument = command_text(update)
    view = View()
    if argument.lower() in ("all", "全部"):
        view = View(include_read=True)
    elif argument:
        department = await DepartmentRepository(session, normalize_name).find_exact(argument)
        if department is None:
            await reply(update, context, session, "dept.not_found", name=argument)
            return
        view = View(department_id=department.id)
    text, buttons = await render(
        context, session, update.effective_user.id, view, await language_for(update, context, session)
    )
    # A view of the moment: worth nothing after a crash, so not kept in the outbox.
    emit(Send(update.effective_chat.id, text, rows_of(buttons), durable=False))


async def render(
    context: JianfuContext, session: AsyncSession, person_id: int, view: View, language: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    items, total = await InboxRepository(session).page(
        person_id,
        include_read=view.include_read,
        department_id=view.department_id,
        offset=view.page * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    catalog = context.deps.catalog
    if total == 0:
        return catalog.raw(language, "inbox.empty_all" if view.include_read else "inbox.empty"), None
    pages = (total + PAGE_SIZE - 1) // PAGE_SIZE
    if not items and view.page >= pages:
        # The page emptied (its last notice was just read): show the last page there is.
        return await render(
            context, session, person_id, View(view.include_read, view.department_id, pages - 1), language
        )
    lines = [catalog.text(language, "inbox.header", total=total, page=view.page + 1, pages=pages)]
    rows: list[list[InlineKeyboardButton]] = []
    for number, item in enumerate(items, start=view.page * PAGE_SIZE + 1):
        lines.append(_item_line(context, language, number, item))
        rows.append(_item_buttons(context, language, number, item, view))
    rows.append(_paging(context, language, view, pages))
    return "\n\n".join(lines), InlineKeyboardMarkup([row for row in rows if row])


def _item_line(context: JianfuContext, language: str, number: int, item: InboxItem) -> str:
    deps, notice = context.deps, item.notice
    # "截止 无" reads wrongly: a notice without a deadline says so in words of its own.
    due = deps.catalog.raw(language, "inbox.no_deadline")
    if notice.deadline_at:
        deadline = notice.deadline_at.astimezone(deps.settings.tz).strftime("%m-%d %H:%M")
        due = deps.catalog.text(language, "inbox.due", deadline=deadline)
    also = deps.catalog.text(language, "inbox.also_in", count=item.also_in) if item.also_in else ""
    return deps.catalog.text(
        language,
        "inbox.item",
        number=number,
        group=item.chat_title,
        department=item.department_name or "—",
        due=Html(due),
        first_line=first_line(notice.text),
        read=Html("✅" if item.read else ""),
        also=Html(also),
    )


def _item_buttons(
    context: JianfuContext, language: str, number: int, item: InboxItem, view: View
) -> list[InlineKeyboardButton]:
    catalog, buttons = context.deps.catalog, []
    if not item.read:
        label = catalog.text(language, "inbox.button_read", number=number)
        buttons.append(InlineKeyboardButton(label, callback_data=view.read_button(item.notice.id)))
    link = message_link(item.notice.chat_id, item.notice.message_id)
    if link:
        buttons.append(InlineKeyboardButton(catalog.text(language, "inbox.button_open", number=number), url=link))
    return buttons


def _paging(context: JianfuContext, language: str, view: View, pages: int) -> list[InlineKeyboardButton]:
    buttons = page_buttons(context, language, view.page, pages, view.page_button)
    return [InlineKeyboardButton(label, callback_data=data) for label, data in buttons]


def message_link(chat_id: int, message_id: int | None) -> str | None:
    """A t.me link to a supergroup message (members open it in the group); basic groups have none."""
    text = str(chat_id)
    if message_id is None or not text.startswith("-100"):
        return None
    return f"https://t.me/c/{text[4:]}/{message_id}"


@transactional
async def pressed(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    query, button = update.callback_query, value_of(update, InboxRead | InboxPage)
    user, view = query.from_user.id, View.of(button)
    language = await language_for(update, context, session)
    if isinstance(button, InboxRead):
        await _mark_read(context, session, user, button.notice_id)
    text, buttons = await render(context, session, user, view, language)
    answer(update)
    emit(Edit(query.message.chat.id, query.message.message_id, text, rows_of(buttons), durable=False))


async def _mark_read(context: JianfuContext, session: AsyncSession, person_id: int, notice_id: int) -> None:
    notice = await NoticeRepository(session).get(notice_id)
    if notice is None:
        return
    # The copies in the person's other groups were shown as this one: they are read too.
    for read in [notice, *await NoticeRepository(session).copies_in_chats_of(notice.id, person_id)]:
        if read.message_id is None:
            continue  # a tracked notice still being posted
        new = await ReadRepository(session).record(
            read.chat_id, read.message_id, person_id, "inbox", context.deps.clock()
        )
        if new and read.tracked:
            emit(RefreshCounter(read.chat_id, read.message_id))


def register(app: Application, deps: Deps) -> None:
    app.add_handler(command("inbox", inbox))
    app.add_handler(CallbackQueryHandler(pressed, pattern=kinds(InboxRead, InboxPage)))
