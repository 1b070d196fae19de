"""/log: a group's audit trail for its admins and supervisors, and a member's own removed messages.

Private only. A group's trail is shown to whoever may administer the group (its admins as last
stored, supervisors for every group); anyone else learns nothing, not even whether the group
exists. From the trail an admin can switch a rule that acted to record-only.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler

from bot import access
from bot.callbacks import kinds, value_of
from bot.context import Deps, JianfuContext
from bot.handlers._common import answer, command, emit, in_private, language_for, page_buttons, transactional
from bot.i18n import Html
from bot.services import group_settings
from policies.actions import Edit, Keyboard, Send
from policies.callbacks import LogRecordOnly, LogView, encode
from policies.formalism import Switch
from policies.group_settings import GroupSettings, above_record, record_only
from policies.received import FORMALISM, RULE, Mode
from storage.models import GroupAction
from storage.repositories.chats import ChatRepository
from storage.repositories.group_actions import GroupActionRepository, GroupChoice
from storage.repositories.people import PeopleRepository

PAGE_SIZE = 10
GROUPS_PER_PAGE = 8
COUNTED_DAYS = 7
# Rules a group can turn down to record-only from its trail (never up: what is off stays off).
RECORDABLE = (RULE, FORMALISM)


# Commands and presses --------------------------------------------------------------------------


@transactional
async def log_command(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """/log: the groups one may read, or straight to one's own removals, or a polite nothing."""
    if not await in_private(update, context, session):
        return
    user = update.effective_user.id
    language = await language_for(update, context, session)
    groups = await _groups_of(context.deps, session, user)
    if groups:
        text, keyboard = await _choice(context, session, user, groups, 0, language)
    else:
        # Not an admin anywhere: their own removals, or the same polite nothing a stranger gets.
        text, keyboard = await _removals(context, session, user, 0, language, empty="log.nothing")
    # A view of the moment: worth nothing after a crash, so not kept in the outbox.
    emit(Send(update.effective_chat.id, text, keyboard, durable=False))


@transactional
async def pressed(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    query, catalog = update.callback_query, context.deps.catalog
    language = await language_for(update, context, session)
    press = value_of(update, LogView | LogRecordOnly)
    user = query.from_user.id
    group = press.chat_id if isinstance(press, LogRecordOnly) or press.view == "c" else 0
    if group and not await _may_read(context, session, user, group):
        answer(update, catalog.raw(language, "log.not_allowed"), alert=True)
        return
    note = ""
    if isinstance(press, LogRecordOnly):
        note = await _record_only(context, session, user, press, language)
        press = LogView("c", press.chat_id, 0)
    text, keyboard = await _view(context, session, user, press, language)
    answer(update, note)
    emit(Edit(query.message.chat.id, query.message.message_id, text, keyboard, durable=False))


async def _view(
    context: JianfuContext, session: AsyncSession, user: int, press: LogView, language: str
) -> tuple[str, Keyboard]:
    if press.view == "c":
        return await _trail(context, session, press.chat_id, press.page, language)
    if press.view == "m":
        return await _removals(context, session, user, press.page, language)
    groups = await _groups_of(context.deps, session, user)
    if not groups:
        return await _removals(context, session, user, 0, language, empty="log.nothing")
    return await _choice(context, session, user, groups, press.page, language)


# Who may read what -----------------------------------------------------------------------------


async def _groups_of(deps: Deps, session: AsyncSession, user: int) -> list[GroupChoice]:
    """Every group for a supervisor; the groups one administers for anyone else."""
    trail = GroupActionRepository(session)
    if await access.is_supervisor(deps, session, user):
        return await trail.all_groups()
    return await trail.groups_administered_by(user)


async def _may_read(context: JianfuContext, session: AsyncSession, user: int, chat_id: int) -> bool:
    return await access.may_administer(context.deps, session, context.bot, chat_id, user)


# Views -----------------------------------------------------------------------------------------


async def _choice(
    context: JianfuContext, session: AsyncSession, user: int, groups: list[GroupChoice], page: int, language: str
) -> tuple[str, Keyboard]:
    """The groups to choose from, a page at a time, and one's own removals."""
    catalog = context.deps.catalog
    pages = max(1, -(-len(groups) // GROUPS_PER_PAGE))
    page = min(page, pages - 1)
    shown = groups[page * GROUPS_PER_PAGE : (page + 1) * GROUPS_PER_PAGE]
    rows: list[tuple[tuple[str, str, str], ...]] = [
        ((group.title or str(group.chat_id), encode(LogView("c", group.chat_id, 0)), ""),) for group in shown
    ]
    rows.append(_paging(context, language, page, pages, lambda at: LogView("g", 0, at)))
    rows.append(((catalog.raw(language, "log.button_mine"), encode(LogView("m", 0, 0)), ""),))
    text = catalog.text(language, "log.choose", page=page + 1, pages=pages)
    return text, tuple(row for row in rows if row)


async def _trail(
    context: JianfuContext, session: AsyncSession, chat_id: int, page: int, language: str
) -> tuple[str, Keyboard]:
    """A group's actions, newest first, with this week's counts by rule and the record-only buttons."""
    deps, catalog = context.deps, context.deps.catalog
    trail = GroupActionRepository(session)
    rows, total = await trail.page(chat_id, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    pages = max(1, -(-total // PAGE_SIZE))
    if not rows and page >= pages:
        # The page emptied (old rows were forgotten meanwhile): show the last page there is.
        page = pages - 1
        rows, total = await trail.page(chat_id, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    counts = await trail.counts_by_rule(chat_id, deps.clock() - timedelta(days=COUNTED_DAYS))
    chat = await ChatRepository(session).get(chat_id)
    names = await PeopleRepository(session).names({row.person_id for row in rows if row.person_id is not None})
    title = chat.title if chat else str(chat_id)
    lines = [catalog.text(language, "log.header", title=title, total=total, page=page + 1, pages=pages)]
    lines.append(_week_line(context, language, counts))
    lines += [_item_line(context, language, row, names) for row in rows] or [catalog.raw(language, "log.empty")]
    switchable = await _switchable(deps, session, chat_id, counts) if chat else []
    keyboard: list[tuple[tuple[str, str, str], ...]] = [
        ((catalog.text(language, "log.button_record", rule=rule), encode(LogRecordOnly(chat_id, rule)), ""),)
        for rule in switchable
    ]
    keyboard.append(_paging(context, language, page, pages, lambda at: LogView("c", chat_id, at)))
    keyboard.append(((catalog.raw(language, "log.button_groups"), encode(LogView("g", 0, 0)), ""),))
    return "\n\n".join(lines), tuple(row for row in keyboard if row)


async def _removals(
    context: JianfuContext, session: AsyncSession, user: int, page: int, language: str, *, empty: str = "log.mine_empty"
) -> tuple[str, Keyboard]:
    """One's own messages the bot removed, in every group: nothing about anyone else."""
    catalog = context.deps.catalog
    trail = GroupActionRepository(session)
    rows, total = await trail.removals_of(user, offset=page * PAGE_SIZE, limit=PAGE_SIZE)
    if total == 0:
        return catalog.raw(language, empty), ()
    pages = -(-total // PAGE_SIZE)
    titles = await trail.titles({row.chat_id for row in rows})
    lines = [catalog.text(language, "log.mine_header", total=total, page=page + 1, pages=pages)]
    for row in rows:
        lines.append(
            catalog.text(
                language,
                "log.mine_item",
                time=_when(context.deps, row),
                group=titles.get(row.chat_id, str(row.chat_id)),
                text=row.text or "",
                reason=row.reason,
            )
        )
    paging = _paging(context, language, page, pages, lambda at: LogView("m", 0, at))
    return "\n\n".join(lines), (paging,) if paging else ()


def _week_line(context: JianfuContext, language: str, counts: dict[str, int]) -> str:
    catalog = context.deps.catalog
    if not counts:
        return catalog.text(language, "log.week_none", days=COUNTED_DAYS)
    parts = catalog.raw(language, "list_separator").join(f"{rule} {count}" for rule, count in counts.items())
    return catalog.text(language, "log.week", days=COUNTED_DAYS, counts=parts)


def _item_line(context: JianfuContext, language: str, row: GroupAction, names: dict[int, str]) -> str:
    catalog = context.deps.catalog
    whose = ""
    if row.person_id is not None:
        name = names.get(row.person_id, str(row.person_id))
        key = "log.whose_words" if row.text else "log.whose"
        whose = catalog.text(language, key, name=name, text=row.text or "")
    return catalog.text(
        language,
        "log.item",
        time=_when(context.deps, row),
        rule=row.rule,
        kind=_label(context, language, "log.kind.", row.kind),
        outcome=_label(context, language, "log.outcome.", row.outcome),
        whose=Html(whose),
        reason=row.reason,
    )


def _label(context: JianfuContext, language: str, family: str, name: str) -> str:
    """A kind's or an outcome's words; a name this version does not know (a newer replica's) as is."""
    try:
        return context.deps.catalog.raw(language, family + name)
    except KeyError:
        return name


def _when(deps: Deps, row: GroupAction) -> str:
    return row.at.astimezone(deps.settings.tz).strftime("%m-%d %H:%M")


def _paging(
    context: JianfuContext, language: str, page: int, pages: int, press_for: Callable[[int], LogView]
) -> tuple[tuple[str, str, str], ...]:
    buttons = page_buttons(context, language, page, pages, lambda at: encode(press_for(at)))
    return tuple((label, data, "") for label, data in buttons)


# Record-only from the trail --------------------------------------------------------------------


async def _switchable(deps: Deps, session: AsyncSession, chat_id: int, counts: dict[str, int]) -> list[str]:
    """The rules that acted this week and still do more than record somewhere in the group."""
    settings = await ChatRepository(session).group_settings(chat_id)
    return [rule for rule in RECORDABLE if rule in counts and _lowered(deps, settings, rule)]


def _lowered(deps: Deps, settings: GroupSettings, rule: str) -> tuple[str, ...]:
    return above_record(rule, settings, deps.group_defaults, deps.received_rule.config.formalism)


async def _record_only(
    context: JianfuContext, session: AsyncSession, user: int, press: LogRecordOnly, language: str
) -> str:
    """Turn the rule down to record-only in the group's settings, as /set would (and audited alike)."""
    chats = ChatRepository(session)
    if await chats.get(press.chat_id) is None:
        return ""
    lowered = _lowered(context.deps, await chats.group_settings(press.chat_id), press.rule)
    if lowered:
        chosen = dict.fromkeys(lowered, Mode.RECORD.value if press.rule == RULE else Switch.RECORD.value)
        edit = functools.partial(record_only, rule=press.rule, lowered=lowered)
        await group_settings.change(context.deps, session, press.chat_id, user, edit, chosen)
    return context.deps.catalog.text(language, "log.recorded", rule=press.rule)


def register(app: Application, deps: Deps) -> None:
    app.add_handler(command("log", log_command))
    app.add_handler(CallbackQueryHandler(pressed, pattern=kinds(LogView, LogRecordOnly)))
