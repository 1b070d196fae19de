"""The error handler: log what failed without user content or secrets, and keep running."""

from __future__ import annotations

import logging
import traceback

from telegram import Update

from bot.context import JianfuContext

log = logging.getLogger("jianfu.errors")


def describe(error: BaseException) -> str:
    """The error's type and where it was raised, never its message (which may quote user text)."""
    frames = traceback.extract_tb(error.__traceback__)
    where = " <- ".join(f"{frame.filename.rsplit('/', 1)[-1]}:{frame.lineno} {frame.name}" for frame in reversed(frames[-6:]))
    return f"{type(error).__module__}.{type(error).__qualname__} at {where or 'unknown'}"


async def on_error(update: object, context: JianfuContext) -> None:
    update_id = update.update_id if isinstance(update, Update) else None
    log.error("update %s failed: %s", update_id, describe(context.error) if context.error else "unknown error")
