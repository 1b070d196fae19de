"""Temporary groups: /temp, /done, /reopen, /extend, /status and the idle question.

The countdown and the close itself are services (bot/services/countdown.py, group_close.py)."""

from __future__ import annotations

import logging
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, ExtBot, filters

from bot import access
from bot.callbacks import kinds, value_of
from bot.context import Deps, JianfuContext
from bot.handlers._common import (
    allowed,
    answer,
    command,
    command_text,
    emit,
    in_group,
    language_for,
    reply,
    transactional,
)
from bot.services.countdown import RULE, audit, local_time, mark_done, schedule_close, schedule_until
from policies.actions import About, Button, EditSay, Say
from policies.callbacks import IdleAnswer, encode
from policies.commands import ParseError
from policies.lifecycle import GroupEvent, GroupKind, GroupState, may, parse_extend, parse_temp
from storage.models import Chat
from storage.repositories.chats import ChatRepository
from storage.repositories.people import PeopleRepository

log = logging.getLogger(__name__)


# Commands --------------------------------------------------------------------------------------


async def _group_chat(update: Update, context: JianfuContext, session: AsyncSession, command_name: str) -> Chat | None:
    """The group's row, after the place and role checks; None when the caller was answered."""
    if not await in_group(update, context, session) or not await allowed(update, context, session, command_name):
        return None
    chats = ChatRepository(session)
    await chats.ensure(
        update.effective_chat.id, update.effective_chat.title or "", update.effective_chat.type, context.deps.clock()
    )
    return await chats.get(update.effective_chat.id)


@transactional
async def temp(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    chat = await _group_chat(update, context, session, "temp")
    if chat is None:
        return
    deps, now = context.deps, context.deps.clock()
    parsed = parse_temp(command_text(update), now.astimezone(deps.settings.tz).date())
    if isinstance(parsed, ParseError):
        await reply(update, context, session, parsed.key, **parsed.params)
        return
    await ChatRepository(session).set_fields(
        chat.id, kind=GroupKind.TEMPORARY, purpose=parsed.purpose or None, until_date=parsed.until
    )
    if parsed.until is not None:
        await schedule_until(deps, session, chat.id, parsed.until)
    await audit(
        session,
        deps,
        update.effective_user.id,
        "chat.temp",
        chat.id,
        {"purpose": parsed.purpose, "until": str(parsed.until or "")},
    )
    until = parsed.until.isoformat() if parsed.until else "—"
    await reply(
        update,
        context,
        session,
        "temp.marked",
        purpose=parsed.purpose or "—",
        until=until,
        days=deps.settings.temporary.close_after_days,
    )


@transactional
async def done(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    chat = await _group_chat(update, context, session, "done")
    if chat is None:
        return
    if chat.kind != GroupKind.TEMPORARY:
        await reply(update, context, session, "temp.error.not_temporary")
    elif not may(GroupEvent.DONE, chat.state):
        await reply(
            update,
            context,
            session,
            "temp.error.already_done",
            close_at=local_time(context.deps, chat.close_at) if chat.close_at else "—",
        )
    else:
        await mark_done(context.deps, session, chat.id, actor_id=update.effective_user.id)


@transactional
async def reopen(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    chat = await _group_chat(update, context, session, "reopen")
    if chat is None:
        return
    # Only a countdown not yet closing can be cancelled (compare-and-set against the close).
    # The scheduled close and reminder then see no close time and do nothing.
    if not await ChatRepository(session).change_state(chat.id, GroupEvent.REOPEN, done_at=None, close_at=None):
        await reply(update, context, session, "temp.error.not_done")
        return
    await audit(session, context.deps, update.effective_user.id, "chat.reopen", chat.id, {})
    await reply(update, context, session, "temp.reopened")


@transactional
async def extend(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    chat = await _group_chat(update, context, session, "extend")
    if chat is None:
        return
    deps = context.deps
    parsed = parse_extend(command_text(update), deps.settings.temporary.max_extend_days)
    if isinstance(parsed, ParseError):
        await reply(update, context, session, parsed.key, **parsed.params)
        return
    close_at = chat.close_at + timedelta(days=parsed.days) if chat.close_at else None
    chats = ChatRepository(session)
    if close_at is None or not await chats.change_state(chat.id, GroupEvent.EXTEND, close_at=close_at):
        await reply(update, context, session, "temp.error.not_done")
        return
    await schedule_close(deps, session, chat.id, close_at)
    await audit(
        session, deps, update.effective_user.id, "chat.extend", chat.id, {"days": parsed.days, "reason": parsed.reason}
    )
    await reply(update, context, session, "temp.extended", days=parsed.days, close_at=local_time(deps, close_at))


@transactional
async def status(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    if not await in_group(update, context, session):
        return
    chat = await ChatRepository(session).get(update.effective_chat.id)
    language = await language_for(update, context, session)
    catalog, deps = context.deps.catalog, context.deps
    kind = chat.kind if chat else GroupKind.PERMANENT
    state = chat.state if chat else GroupState.ACTIVE
    await reply(
        update,
        context,
        session,
        "temp.status",
        kind=catalog.raw(language, f"kind.{kind}"),
        state=catalog.raw(language, f"state.{state}"),
        purpose=(chat.purpose if chat and chat.purpose else "—"),
        until=(chat.until_date.isoformat() if chat and chat.until_date else "—"),
        close_at=(local_time(deps, chat.close_at) if chat and chat.close_at else "—"),
    )


# The idle question ---------------------------------------------------------------------------


async def ask_idle_groups(deps: Deps, bot: ExtBot[None]) -> int:
    """Ask the admins of temporary groups quiet for `idle_days`: finished, or still active?"""
    quiet_since = deps.clock() - timedelta(days=deps.settings.temporary.idle_days)
    asked = 0
    async with deps.pipeline.unit() as unit:
        chats = ChatRepository(unit.session)
        for chat in await chats.idle_temporary(quiet_since):
            # Claimed atomically: with two replicas only one asks.
            if await chats.claim_idle_question(chat.id, deps.clock()):
                unit.emit(*await _idle_question(deps, unit.session, chat))
                asked += 1
    return asked


async def idle_scan(context: JianfuContext) -> None:
    await ask_idle_groups(context.deps, context.bot)


async def _idle_question(deps: Deps, session: AsyncSession, chat: Chat) -> list[Say]:
    """Privately to the admins; in the group itself when none of them can be reached."""
    admins = await PeopleRepository(session).with_private_chat(await ChatRepository(session).admin_ids(chat.id))
    done, active = encode(IdleAnswer("done", chat.id)), encode(IdleAnswer("active", chat.id))
    buttons = ((Button("temp.idle_done", done), Button("temp.idle_active", active)),)
    params = {"title": chat.title, "days": deps.settings.temporary.idle_days}
    return [
        Say(admin, "temp.idle_question", params, buttons=buttons, rule=RULE, reason="idle", about=About(chat.id))
        for admin in admins or [chat.id]
    ]


@transactional
async def idle_answered(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    query, deps = update.callback_query, context.deps
    choice = value_of(update, IdleAnswer)
    language = await language_for(update, context, session)
    chat = await ChatRepository(session).get(choice.chat_id)
    user = query.from_user.id
    may = chat is not None and await access.may_administer(deps, session, context.bot, chat.id, user)
    if not may:
        answer(update, deps.catalog.raw(language, "temp.idle_not_yours"), alert=True)
        return
    answer(update)
    if chat.state != GroupState.ACTIVE:
        key = "temp.idle_already_done"
    elif choice.choice == "done":
        await mark_done(deps, session, chat.id, actor_id=user)
        key = "temp.idle_marked_done"
    else:
        await audit(session, deps, user, "chat.still_active", chat.id, {})
        key = "temp.idle_kept"
    params = {"title": chat.title, "days": deps.settings.temporary.close_after_days}
    emit(EditSay(query.message.chat.id, query.message.message_id, key, params, language=language))


def register(app: Application, deps: Deps) -> None:
    for name, handler in (("temp", temp), ("done", done), ("reopen", reopen), ("extend", extend)):
        app.add_handler(command(name, handler))
    # In groups only: a private /status CODE belongs to whistle reports.
    app.add_handler(CommandHandler("status", status, filters=filters.ChatType.GROUPS & filters.UpdateType.MESSAGE))
    app.add_handler(CallbackQueryHandler(idle_answered, pattern=kinds(IdleAnswer)))
    interval = deps.settings.temporary.idle_scan_minutes * 60
    app.job_queue.run_repeating(idle_scan, interval=interval, first=interval, name="idle_scan")
