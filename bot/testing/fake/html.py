"""Telegram's HTML parse mode: plain text and entities, or the "can't parse entities" answer Telegram gives."""

from __future__ import annotations

import re
from dataclasses import dataclass

from bot.testing.fake.errors import JSONDict, Reject, bad_request

_ENTITY_TYPES = {
    "b": "bold", "strong": "bold", "i": "italic", "em": "italic", "u": "underline",
    "ins": "underline", "s": "strikethrough", "strike": "strikethrough", "del": "strikethrough",
    "tg-spoiler": "spoiler", "span": "spoiler", "a": "text_link", "code": "code", "pre": "pre",
    "blockquote": "blockquote", "tg-emoji": "custom_emoji",
}  # fmt: skip
_ATTR_VALUE = r"(?:\"[^\"]*\"|'[^']*'|[^\s>\"']+)"
_TAG_RE = re.compile(rf"<(/?)([a-zA-Z][a-zA-Z0-9-]*)((?:\s+[a-zA-Z-]+(?:\s*=\s*{_ATTR_VALUE})?)*)\s*>")
_ATTR_RE = re.compile(r"([a-zA-Z-]+)(?:\s*=\s*(?:\"([^\"]*)\"|'([^']*)'|([^\s>\"']+)))?")
_CHARREF_RE = re.compile(r"&(lt|gt|amp|quot|#[0-9]+|#x[0-9a-fA-F]+);")
_NAMED_REFS = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}


def utf16_len(text: str) -> int:
    """Length in UTF-16 code units, the unit Telegram uses for entity offsets."""
    return len(text.encode("utf-16-le")) // 2


def _parse_error(detail: str) -> Reject:
    return Reject(bad_request(f"can't parse entities: {detail}"))


def _byte_offset(html: str, index: int) -> int:
    return len(html[:index].encode())


def _unescape(value: str) -> str:
    return _CHARREF_RE.sub(lambda m: _charref(m.group(1)), value)


def _charref(ref: str) -> str:
    if ref in _NAMED_REFS:
        return _NAMED_REFS[ref]
    return chr(int(ref[2:], 16) if ref[1] in "xX" else int(ref[1:]))


@dataclass
class _OpenTag:
    name: str
    attrs: dict[str, str]
    start: int
    language: str | None = None


class HtmlParser:
    """Telegram's HTML parse mode, strict about unescaped `<`, `>` and `&` in text."""

    def __init__(self, html: str) -> None:
        self.html = html
        self.text: list[str] = []
        self.offset = 0
        self.stack: list[_OpenTag] = []
        self.entities: list[JSONDict] = []

    def parse(self) -> tuple[str, list[JSONDict]]:
        """Plain text and its entities, or a Reject with Telegram's "can't parse entities"."""
        index = 0
        while index < len(self.html):
            index = self._step(index)
        if self.stack:
            name = self.stack[-1].name
            raise _parse_error(f'Can\'t find end tag corresponding to start tag "{name}"')
        self.entities.sort(key=lambda e: (e["offset"], -e["length"]))
        return "".join(self.text), self.entities

    def _step(self, index: int) -> int:
        char = self.html[index]
        if char == "<":
            return self._tag(index)
        if char == ">":
            raise _parse_error(f'unescaped ">" at byte offset {_byte_offset(self.html, index)}')
        if char == "&":
            ref = _CHARREF_RE.match(self.html, index)
            if not ref:
                raise _parse_error(f'unescaped "&" at byte offset {_byte_offset(self.html, index)}')
            self._emit(_charref(ref.group(1)))
            return ref.end()
        self._emit(char)
        return index + 1

    def _emit(self, text: str) -> None:
        self.text.append(text)
        self.offset += utf16_len(text)

    def _tag(self, index: int) -> int:
        match = _TAG_RE.match(self.html, index)
        at = _byte_offset(self.html, index)
        if not match:
            raise _parse_error(f'unescaped "<" (not a valid tag) at byte offset {at}')
        closing, name, raw_attrs = match.group(1), match.group(2).lower(), match.group(3)
        if closing:
            self._close(name, at)
        else:
            self._open(name, self._attrs(raw_attrs), at)
        return match.end()

    @staticmethod
    def _attrs(raw: str) -> dict[str, str]:
        attrs = {}
        for m in _ATTR_RE.finditer(raw):
            value = next((g for g in m.groups()[1:] if g is not None), "")
            attrs[m.group(1).lower()] = _unescape(value)
        return attrs

    def _open(self, name: str, attrs: dict[str, str], at: int) -> None:
        if name not in _ENTITY_TYPES or (name == "span" and attrs.get("class") != "tg-spoiler"):
            raise _parse_error(f'Unsupported start tag "{name}" at byte offset {at}')
        if name == "tg-emoji" and "emoji-id" not in attrs:
            raise _parse_error(f"Custom emoji entity must contain a tg://emoji URL at byte offset {at}")
        self.stack.append(_OpenTag(name, attrs, self.offset))

    def _close(self, name: str, at: int) -> None:
        if not self.stack or self.stack[-1].name != name:
            expected = f'"</{self.stack[-1].name}>"' if self.stack else "no end tag"
            raise _parse_error(f'Unmatched end tag at byte offset {at}, expected {expected}, found "</{name}>"')
        tag = self.stack.pop()
        parent = self.stack[-1] if self.stack else None
        language = tag.attrs.get("class", "")
        # Telegram folds <pre><code class="language-x"> into one pre entity with a language.
        if tag.name == "code" and parent and parent.name == "pre" and language.startswith("language-"):
            parent.language = language.removeprefix("language-")
            return
        if self.offset > tag.start:
            self.entities.append(self._entity(tag))

    def _entity(self, tag: _OpenTag) -> JSONDict:
        entity: JSONDict = {
            "type": _ENTITY_TYPES[tag.name], "offset": tag.start, "length": self.offset - tag.start,
        }  # fmt: skip
        if tag.name == "a":
            entity["url"] = tag.attrs.get("href", "")
        elif tag.name == "tg-emoji":
            entity["custom_emoji_id"] = tag.attrs["emoji-id"]
        elif tag.name == "pre" and tag.language:
            entity["language"] = tag.language
        elif tag.name == "blockquote" and "expandable" in tag.attrs:
            entity["type"] = "expandable_blockquote"
        return entity


def parse_html(html: str) -> tuple[str, list[JSONDict]]:
    """Plain text and entities of an HTML-formatted text; raises ValueError if Telegram would reject it."""
    try:
        return HtmlParser(html).parse()
    except Reject as rejected:
        raise ValueError(rejected.error.description) from None
