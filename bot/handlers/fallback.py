"""Private messages no feature understood get a polite pointer to /help; groups stay quiet."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, MessageHandler, filters

from bot.context import Deps, JianfuContext
from bot.handlers._common import reply, transactional


@transactional
async def unknown_command(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    await reply(update, context, session, "error.unknown_command")


@transactional
async def not_understood(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    await reply(update, context, session, "error.text_expected")


def register(app: Application, deps: Deps) -> None:
    """Registered last, so every feature's handlers in the same group are tried first."""
    private = filters.ChatType.PRIVATE & filters.UpdateType.MESSAGE
    app.add_handler(MessageHandler(private & filters.COMMAND, unknown_command))
    app.add_handler(MessageHandler(private & ~filters.TEXT, not_understood))
