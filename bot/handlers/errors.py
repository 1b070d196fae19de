"""The error handler: log what failed without user content or secrets, and keep running."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import ApplicationHandlerStop

from bot.context import JianfuContext

# The error's type and where it was raised, never its message (which may quote user text).
from bot.logs import brief as describe
from storage.db import HANDLED_BEFORE_KEY, AlreadyHandled

log = logging.getLogger("jianfu.errors")


def already_handled(session: AsyncSession) -> bool:
    """The update's effects were committed before: nothing was done now, and nothing is wrong."""
    return bool(session.info.get(HANDLED_BEFORE_KEY))


async def on_error(update: object, context: JianfuContext) -> None:
    if isinstance(context.error, AlreadyHandled):
        # A redelivered update: its first delivery did the work; the remaining handlers stop too.
        raise ApplicationHandlerStop
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update %s failed: %s", update_id, describe(context.error) if context.error else "unknown error")
