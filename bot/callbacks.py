"""Button presses meet the codec (policies/callbacks.py) here: each feature's handler matches its
own kinds of button, and every press whose data the codec rejects is answered in one place.

The guard runs before every other handler group and stops the update: a stale whistle button must
be answered without the observer (membership, -10) recording the person who pressed it, and no
feature handler ever sees data it would have to validate itself.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Update
from telegram.ext import Application, ApplicationHandlerStop, CallbackQueryHandler

from bot.context import Deps, JianfuContext
from bot.handlers._common import answer, language_for, transactional
from policies.callbacks import Rejected, decode, parse

log = logging.getLogger("jianfu.buttons")

STALE = "error.stale_button"

T = TypeVar("T")


def kinds(*classes: type) -> Callable[[object], bool]:
    """A CallbackQueryHandler pattern: the data decodes to one of these kinds of button."""

    def matches(data: object) -> bool:
        return isinstance(parse(data), classes)

    return matches


def value_of(update: Update, kind: type[T]) -> T:
    """The pressed button's value; its handler's pattern has already matched the kind."""
    value = parse(update.callback_query.data)
    if not isinstance(value, kind):
        raise TypeError(f"{type(value).__name__} reached the handler of {kind.__name__}")
    return value


def rejected(data: object) -> bool:
    """The guard's pattern: data no button of this version of the bot makes."""
    try:
        decode(data)
    except Rejected as reason:
        log.info("a button press was refused: %s", reason)  # the reason only: never who, never the data
        return True
    return False


@transactional
async def _answer_stale(update: Update, context: JianfuContext, session: AsyncSession) -> None:
    language = await language_for(update, context, session)
    answer(update, context.deps.catalog.raw(language, STALE), alert=True)


async def refuse(update: Update, context: JianfuContext) -> None:
    """One polite answer, in the presser's language, and nothing else happens."""
    await _answer_stale(update, context)
    raise ApplicationHandlerStop  # outside the transaction: stopping is not failing


def register(app: Application, deps: Deps, lane: int) -> None:
    app.add_handler(CallbackQueryHandler(refuse, pattern=rejected), group=lane)
