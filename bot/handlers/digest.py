"""/digest: a supervisor's preview of the weekly scoreboard, on demand, in a private chat."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application

from bot import actions, reports
from bot.context import Deps, JianfuContext
from bot.handlers._common import allowed, command, command_text, in_private, language_for, reply, transactional
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
    window = reports.week_window(deps, choice.resolve(today), now=now)
    language = await language_for(update, context, session)
    note_html = reports.note(deps, language, window, preview=True)
    chat_id = update.effective_chat.id
    for part in await reports.supervisors_digest(deps, session, window, language, note_html=note_html):
        outcome = await reports.send_part(deps, context.bot, chat_id, part)
        if outcome is not actions.Outcome.DONE:
            await actions.Executor(deps, context.bot, session).note(chat_id, outcome)
            return


def register(app: Application, deps: Deps) -> None:
    app.add_handler(command("digest", digest))
