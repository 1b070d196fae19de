"""The error handler: log what failed without user content or secrets, and keep running."""

from __future__ import annotations

import logging

from telegram import Update

from bot import metrics
from bot.context import JianfuContext

# The error's type and where it was raised, never its message (which may quote user text).
from bot.logs import brief as describe

log = logging.getLogger("jianfu.errors")


async def on_error(update: object, context: JianfuContext) -> None:
    if update is None and context.error is not None:
        # Fetching updates failed (PTB passes no update): count it with the other Telegram errors.
        metrics.record_fetch_error(context.error)
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update %s failed: %s", update_id, describe(context.error) if context.error else "unknown error")
