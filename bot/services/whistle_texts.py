"""Whistle texts shared by the whistleblower's side and the supervisors' side: sending without
noting the person, a report's words in full, its responses, and long texts split into messages."""

from __future__ import annotations

import html
from typing import Any

from telegram import InlineKeyboardMarkup

from bot.actions import rows_of
from bot.context import JianfuContext
from bot.i18n import Html
from bot.pipeline import current_unit
from policies.actions import Send
from policies.text import pack
from storage.models import WhistleResponse


async def say(
    context: JianfuContext,
    chat_id: int,
    language: str,
    key: str,
    /,
    buttons: InlineKeyboardMarkup | None = None,
    **params: Any,
) -> None:
    """Send a catalog message in a private chat, kept nowhere (no outbox row) and without
    recording the outcome: for a whistleblower, recording that they blocked the bot would write
    their id next to a moment they were reporting."""
    text = context.deps.catalog.text(language, key, **params)
    current_unit().emit(Send(chat_id, text, rows_of(buttons), durable=False, anonymous=True))


def full_text(text: str) -> Html:
    """The whistleblower's or a supervisor's words in full, escaped: catalog parameters are cut
    at 200 characters, which would hide most of a report."""
    return Html(html.escape(text, quote=False))


def split_message(text: str) -> list[str]:
    """Paragraphs packed into messages under Telegram's limit (one paragraph is at most ~2,100)."""
    return pack(text.split("\n\n"), separator="\n\n")


def response_lines(context: JianfuContext, responses: list[WhistleResponse], language: str) -> list[str]:
    """What supervisors did, a paragraph each, dated to the day."""
    catalog, zone = context.deps.catalog, context.deps.settings.tz
    return [
        catalog.text(
            language, f"whistle.response.{response.kind}",
            day=response.at.astimezone(zone).date().isoformat(), text=full_text(response.text or ""),
        )
        for response in responses
    ]  # fmt: skip
