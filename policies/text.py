"""Text normalisation shared by the rules: width, case, zero-width, punctuation, repeats."""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence

# Zero-width characters, variation selectors and emoji skin tones: invisible to a reader.
_INVISIBLE = re.compile("[\u200b-\u200d\u2060\ufeff\u180e\u00ad\ufe0e\ufe0f\U0001f3fb-\U0001f3ff]")

# `squeeze` keeps letters, digits and emoji, and drops everything else: punctuation, spaces,
# symbols ("+1" is an ack too). A negated \w class runs in C and is several times faster than
# translating with a table of every punctuation code point.
_DROPPED = re.compile(r"[^\w\u2190-\u21ff\u2600-\u27bf\u2b00-\u2bff\U0001F000-\U0001FAFF]+|_+")
_REPEATS = re.compile(r"(.)\1+")
QUESTION_MARKS = ("?", "？", "¿", "⁇", "❓", "❔", "‽", "⁈", "⁉", "⸮", "﹖", "︖")
_QUESTION = re.compile("[" + "".join(QUESTION_MARKS) + "]")


# NFKC's own mapping of the full-width ASCII forms and the ideographic space, applied first: after
# it most Chinese messages (full-width commas, question marks) are already NFKC and skip the full,
# far slower normalisation, with the same result.
_HALF_WIDTH = {code: code - 0xFEE0 for code in range(0xFF01, 0xFF5F)} | {0x3000: 0x20}


@functools.lru_cache(maxsize=4096)
def fold(text: str) -> str:
    """Full-width to half-width, case folded, invisible characters and skin tones removed.
    Remembered for recent texts: the rules fold the same message several times."""
    if text.isascii():
        return text.lower()
    text = text.translate(_HALF_WIDTH)
    if not unicodedata.is_normalized("NFKC", text):
        text = unicodedata.normalize("NFKC", text)
    return _INVISIBLE.sub("", text.casefold())


# Full-width letters and digits: what plain lower-casing leaves unlike the half-width text.
_FULLWIDTH_ALNUM = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a]")


def has_fullwidth_alnum(text: str) -> bool:
    return _FULLWIDTH_ALNUM.search(text) is not None


def lowered(text: str) -> str:
    """Lower case, folded (NFKC, costly on a long notice) only when full-width letters or digits
    need it: rules that read both widths of punctuation compare on this."""
    return fold(text) if has_fullwidth_alnum(text) else text.lower()


def _first_of_run(run: re.Match[str]) -> str:
    # A function, not the template r"\1": re expands a template in Python for every match.
    return run.group(1)


def squeeze(folded: str) -> str:
    """Drop punctuation, spaces and symbols other than emoji; collapse repeated characters."""
    return _REPEATS.sub(_first_of_run, _DROPPED.sub("", folded))


def compact(text: str) -> str:
    """fold, then drop punctuation and spaces, keeping repeats ("need" stays "need")."""
    return _DROPPED.sub("", fold(text))


def normalize(text: str) -> str:
    """fold + squeeze: the form vocabulary and messages are compared in."""
    return squeeze(fold(text))


def has_question_mark(text: str) -> bool:
    return _QUESTION.search(text) is not None


def trie_pattern(words: Iterable[str]) -> str:
    """A regex alternation of `words` shaped as a prefix tree, longest match first.

    Python's `re` tries a flat alternation word by word; nesting shared prefixes
    ("收(?:到|悉)") lets it rule out most words after one character.
    """
    tree: dict[str, dict] = {}
    for word in words:
        node = tree
        for char in word:
            node = node.setdefault(char, {})
        node[""] = {}
    return _render(tree)


def _render(node: dict[str, dict]) -> str:
    ends_here = "" in node
    branches = [re.escape(char) + _render(child) for char, child in sorted(node.items()) if char]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    if ends_here:
        # The word may stop here or go on; greedy "?" prefers going on (the longer word).
        return f"(?:{body})?" if len(branches) > 1 or len(body) > 1 else f"{body}?"
    return body


def first_line(text: str, limit: int = 80) -> str:
    """The first line with something on it, cut to `limit` characters (marked with … when cut)."""
    line = next((line.strip() for line in text.splitlines() if line.strip()), "")
    return line if len(line) <= limit else line[: limit - 1] + "…"


# Telegram rejects a message over 4,096 characters; this leaves room for a header or a caption.
MESSAGE_BUDGET = 3800


def pack(pieces: Sequence[str], budget: int = MESSAGE_BUDGET, separator: str = "\n") -> list[str]:
    """Messages of whole pieces (lines or paragraphs) joined by `separator`, each within `budget`
    where a piece allows: cutting one could split an HTML tag or entity."""
    messages: list[str] = []
    current: list[str] = []
    for piece in pieces:
        if current and sum(len(part) + len(separator) for part in current) + len(piece) > budget:
            messages.append(separator.join(current).strip("\n"))
            current = []
        current.append(piece)
    if current:
        messages.append(separator.join(current).strip("\n"))
    return messages
