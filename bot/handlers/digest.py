"""/digest: a supervisor's preview of the weekly scoreboard, on demand, in a private chat."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application

from bot import report_data, reports
from bot.context import Deps, JianfuContext
from bot.handlers._common import allowed, command, command_text, emit, in_private, language_for, reply, transactional
from policies.actions import Then
from policies.commands import ParseError
from policies.digest import parse_week_choice


@transactional
async def digest(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    """/digest (last week), /digest 2026-W47, /digest this (this week so far)."""
    if not await allowed(update, context, session, "digest") or not await in_private(update, context, session):
        return
    deps, now = context.deps, context.deps.clock()
    today = now.astimezone(deps.settings.tz).date()
    choice = parse_week_choice(command_text(update), today)
    if isinstance(choice, ParseError):
        await reply(update, context, session, choice.key, **choice.params)
        return
    window = report_data.week_window(deps, choice.resolve(today), now=now)
    language = await language_for(update, context, session)
    note_html = reports.note(deps, language, window, preview=True)
    board = await report_data.scoreboard(deps, session, window)
    parts = await reports.supervisors_digest(deps, board, window, language, note_html=note_html)
    if parts:
        # A preview: worth nothing after a crash, so not kept in the outbox.
        emit(reports.chain(deps, update.effective_chat.id, parts, then=Then(), durable=False))


def register(app: Application, deps: Deps) -> None:
    app.add_handler(command("digest", digest))
