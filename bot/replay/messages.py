"""An exported message -> the neutral policies.types.Message the live bot builds from Telegram's.

The mapping follows bot/convert.py, so a message judged in replay is the message the bot would have
judged: a sticker carries its emoji, a photo or a file its caption, an animation is a document (the
Bot API sends it as one too), voice, video and the rest are "other"; a forwarded message is judged
as its forwarder's, as the Bot API delivers it; posts on behalf of the group or a channel have no
person behind them, and the bot never acts on them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from policies.types import ChatRef, ContentKind, Message, Person

# The media an export names with "media_type", as the Bot API would deliver them.
_MEDIA_KINDS = {
    "sticker": ContentKind.STICKER,
    "animation": ContentKind.DOCUMENT,
    "video_file": ContentKind.OTHER,
    "video_message": ContentKind.OTHER,
    "voice_message": ContentKind.OTHER,
    "audio_file": ContentKind.OTHER,
}
# Telegram marks "/word" (Latin letters, digits, underscore; up to 32) at the start as a command.
_COMMAND = re.compile(r"^/([A-Za-z0-9_]{1,32})(@\w+)?(?:\s+|$)")


@dataclass(frozen=True)
class Command:
    """A /command at the start of a text message; `addressed` when it names a bot (/done@x_bot)."""

    name: str
    args: str
    addressed: bool


def text_of(raw: dict) -> str:
    """The message's text or caption: a plain string, or the export's list of entity pieces."""
    text = raw.get("text", "")
    if isinstance(text, str):
        return text
    return "".join(piece if isinstance(piece, str) else piece.get("text", "") for piece in text)


def content_kind(raw: dict) -> ContentKind:
    if "media_type" in raw:
        return _MEDIA_KINDS.get(raw["media_type"], ContentKind.OTHER)
    if "photo" in raw:
        return ContentKind.PHOTO
    if "file" in raw:
        return ContentKind.DOCUMENT
    if not raw.get("text") or _has_other_content(raw):
        return ContentKind.OTHER
    return ContentKind.TEXT


def _has_other_content(raw: dict) -> bool:
    # Spelled out: every text message asks, and six look-ups beat a set operation over its keys.
    return (
        "poll" in raw or "contact_information" in raw or "location_information" in raw
        or "place_name" in raw or "game_title" in raw or "invoice_information" in raw
    )  # fmt: skip


def person_id(peer: str | None) -> int | None:
    """The user id in an export's "user123" (None for "channel…" and "chat…": no person)."""
    if peer and peer.startswith("user") and peer[4:].isdigit():
        return int(peer[4:])
    return None


class MessageReader:
    """Builds neutral Messages, keeping one Person per sender (a sender posts many messages)."""

    def __init__(self) -> None:
        self._people: dict[tuple[str | None, str | None], Person | None] = {}

    def sender(self, raw: dict) -> Person | None:
        key = (raw.get("from_id"), raw.get("from"))
        try:
            return self._people[key]
        except KeyError:
            ident = person_id(key[0])
            person = self._people[key] = Person(ident, key[1] or str(ident)) if ident is not None else None
            return person

    def message(self, raw: dict, chat: ChatRef, moment: datetime, *, reply_to: int | None) -> Message:
        kind = content_kind(raw)
        emoji = raw.get("sticker_emoji") if kind is ContentKind.STICKER else None
        # By position, in Message's field order: a call with eight keywords costs as much again as
        # the object itself, and replay builds one per message.
        return Message(chat, raw["id"], moment, self.sender(raw), kind, text_of(raw), reply_to, emoji)


def command_of(message: Message) -> Command | None:
    """The command a text message starts with, as Telegram would mark it; None for other messages."""
    if message.kind is not ContentKind.TEXT or not message.text.startswith("/"):
        return None
    match = _COMMAND.match(message.text)
    if match is None:
        return None
    # The arguments are what follows the first space, as bot.handlers._common.command_text reads them.
    return Command(match.group(1).lower(), message.text.partition(" ")[2].strip(), match.group(2) is not None)


def moment_of(timestamp: int) -> datetime:
    return datetime.fromtimestamp(timestamp, UTC)
