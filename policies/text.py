"""Text normalisation shared by the rules: width, case, zero-width, punctuation, repeats."""

from __future__ import annotations

import re
import sys
import unicodedata

_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\ufeff\u180e\u00ad"
_VARIATION_SELECTORS = "\ufe0e\ufe0f"
_SKIN_TONES = "".join(chr(code) for code in range(0x1F3FB, 0x1F400))
_INVISIBLE = dict.fromkeys(map(ord, _ZERO_WIDTH + _VARIATION_SELECTORS + _SKIN_TONES))

# Categories removed by `squeeze`: punctuation, separators, controls and math symbols
# ("+1" is an ack too). Emoji (So) stay: 👍 is content for the ack rule.
_DROPPED_CATEGORIES = ("P", "Z", "Cc", "Cf", "Sm", "Sk")


def _dropped_table() -> dict[int, None]:
    # Built once at import from the Unicode database, so every later call is one translate().
    limit = min(sys.maxunicode, 0x2FFFF)
    return {
        code: None
        for code in range(limit + 1)
        if unicodedata.category(chr(code)).startswith(_DROPPED_CATEGORIES)
    }


_DROPPED = _dropped_table()
_REPEATS = re.compile(r"(.)\1+")
QUESTION_MARKS = ("?", "？", "¿", "⁇", "❓", "❔")


def fold(text: str) -> str:
    """Full-width to half-width, case folded, invisible characters and skin tones removed."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_INVISIBLE)


def squeeze(folded: str) -> str:
    """Drop punctuation, spaces and symbols other than emoji; collapse repeated characters."""
    return _REPEATS.sub(r"\1", folded.translate(_DROPPED))


def normalize(text: str) -> str:
    """fold + squeeze: the form vocabulary and messages are compared in."""
    return squeeze(fold(text))


def has_question_mark(text: str) -> bool:
    return any(mark in text for mark in QUESTION_MARKS)
