"""One large JSON document read a piece at a time: containers are walked, the values inside decoded whole.

A chat export can be gigabytes; only its outer containers (the export object, the list of chats, a
chat's message array) are walked here, and each value inside them (a message, a chat's name) is
decoded whole with the standard library's C scanner. A value cut off by the end of the buffer is
retried with more of the file, so memory holds one buffer and the current value, never the file.

Telegram Desktop writes control characters in strings as `\\x0B`, which JSON does not allow; they
are read as the characters they stand for.
"""

from __future__ import annotations

import codecs
import json
import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CHUNK = 1 << 20
# A single value (one message) larger than this is not a chat export's.
MAX_VALUE_CHARS = 64 << 20
# An error this far before the end of the buffer cannot be caused by the buffer ending there
# (the longest literal, "-Infinity", and a \uXXXX escape are shorter).
_LOOKAHEAD = 12
# A number cut off by the buffer decodes as a shorter one whose end is at most this close to the
# buffer's end ("3" of "3.", "1" of "1e+"): such a value is decoded again with more of the file.
_NUMBER_TAIL = 3
# `values` reads on while fewer characters than this are left in the buffer: most items (a
# message) are shorter, so few are cut off by the buffer's end and decoded again.
_ITEM_ROOM = 8192
_WHITESPACE = re.compile(r"[ \t\n\r]*")
_SPACES = re.compile(r" *")
# What follows an array item: its separator, with the spacing around it.
_SEPARATOR = re.compile(r"[ \t\n\r]*([,\]])[ \t\n\r]*")
_HEX_ESCAPE = re.compile(r"\\x([0-9A-Fa-f]{2})")
NOT_UTF8 = "not UTF-8 text"


class JsonSyntaxError(Exception):
    """The document is not valid JSON (or not UTF-8) at `byte_offset`."""

    def __init__(self, problem: str, byte_offset: int) -> None:
        super().__init__(f"{problem} (byte {byte_offset:,})")
        self.problem = problem
        self.byte_offset = byte_offset


class JsonStream:
    """A cursor over a JSON document in a file, from byte `start` on."""

    def __init__(self, path: Path, *, start: int = 0, chunk: int = CHUNK) -> None:
        self._fd = os.open(path, os.O_RDONLY)
        self._chunk = chunk
        self._file_pos = start
        self._decoder = codecs.getincrementaldecoder("utf-8")()
        self._text = ""
        self._pos = 0
        # The byte offset of self._text[0] in the file.
        self._base_byte = start
        # Buffer positions where a \xHH escape became \u00HH: two characters the file does not have.
        self._widened: list[int] = []
        # The last position whose byte offset was worked out (offsets are asked for in order).
        self._measured = (0, 0)
        self._eof = False
        self.item_start = 0
        self._raw_decode = json.JSONDecoder().raw_decode

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __enter__(self) -> JsonStream:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.close()

    # Position --------------------------------------------------------------------------------

    def byte_offset(self, position: int | None = None) -> int:
        """The file offset of a position in the buffer (by default the current one)."""
        position = self._pos if position is None else position
        return self._base_byte + self._encoded_length(position)

    def bytes_read(self) -> int:
        """How far into the file reading has got (for progress)."""
        return self._file_pos

    def peek(self) -> str:
        """The next character that is not whitespace, without consuming it; "" at the end."""
        while True:
            self._pos = _WHITESPACE.match(self._text, self._pos).end()
            if self._pos < len(self._text):
                return self._text[self._pos]
            if self._eof:
                return ""
            self._fill()

    def expect(self, char: str, what: str) -> None:
        found = self.peek()
        if found != char:
            raise self.error(f"expected {what}, found {_shown(found)}")
        self._pos += 1

    def error(self, problem: str, position: int | None = None) -> JsonSyntaxError:
        return JsonSyntaxError(problem, self.byte_offset(position))

    # Values ----------------------------------------------------------------------------------

    def value(self) -> Any:
        """Decode the next value whole."""
        if self.peek() == "":
            raise self.error("the file ends where a value should be")
        while True:
            # Growing the buffer may move what is kept to its front: the value starts at _pos.
            start = self._pos
            try:
                value, end = self._raw_decode(self._text, start)
            except json.JSONDecodeError as error:
                self._recover(error, start)
                continue
            if end > len(self._text) - _NUMBER_TAIL and not self._eof:
                # A number may go on in the next chunk ("12" of "123", "3" of "3.5"): read on.
                self._grow(start)
                continue
            self._pos, self.item_start = end, start
            return value

    def skip(self) -> None:
        """Pass over the next value; a container is walked one level down, so a long list of
        small values (a contact list, another chat's messages) is never held whole."""
        opening = self.peek()
        if opening == "{":
            for _key in self.members():
                self.value()
        elif opening == "[":
            for _index in self.items():
                self.value()
        else:
            self.value()

    def members(self) -> Iterator[str]:
        """Walk an object: yields each key with the cursor on its value, which the caller must
        consume (value, skip or a nested walk) before asking for the next key."""
        self.expect("{", "an object ('{')")
        if self.peek() == "}":
            self._pos += 1
            return
        while True:
            if self.peek() != '"':
                raise self.error(f"expected a key in quotes, found {_shown(self.peek())}")
            key = self.value()
            self.expect(":", "':' after a key")
            yield key
            following = self.peek()
            self._pos += 1
            if following == "}":
                return
            if following != ",":
                raise self.error(f"expected ',' or '}}' after a value, found {_shown(following)}", self._pos - 1)

    def items(self) -> Iterator[int]:
        """Walk an array: yields each index with the cursor on the item, which the caller must consume."""
        self.expect("[", "an array ('[')")
        if self.peek() == "]":
            self._pos += 1
            return
        index = 0
        while True:
            yield index
            index += 1
            following = self.peek()
            self._pos += 1
            if following == "]":
                return
            if following != ",":
                raise self.error(f"expected ',' or ']' after an item, found {_shown(following)}", self._pos - 1)

    def values(self) -> Iterator[Any]:
        """Walk an array, yielding each item decoded whole: `items` and `value` in one tight loop,
        for the message lists that hold nearly all of an export. `item_start` is the buffer
        position of the value just read, until the next one is."""
        self.expect("[", "an array ('[')")
        first = self.peek()
        if first == "]":
            self._pos += 1
            return
        if first == "":
            raise self.error("the file ends inside a list")
        decode, separator = self._raw_decode, _SEPARATOR.match
        while True:
            # The cursor is on the item's first character, in the buffer: no need to peek.
            if len(self._text) - self._pos < _ITEM_ROOM and not self._eof:
                # Read on before the buffer cuts an item off: a cut item costs a failed decode.
                self._fill(keep_from=self._pos)
            text, start = self._text, self._pos
            try:
                value, end = decode(text, start)
                found = separator(text, end) if end <= len(text) - _NUMBER_TAIL else None
            except json.JSONDecodeError:
                found = None
            if found is None or found.end() >= len(text):
                # Broken, or cut off by the buffer (the value, or what follows it): the careful path.
                value = self.value()
                yield value
                following = self.peek()
                self._pos += 1
                if following == "," and self.peek() == "":
                    raise self.error("the file ends inside a list")
            else:
                # The usual case: the value, its separator and the next item's start are all here
                # (the separator's pattern takes the spacing after it too).
                self._pos, self.item_start = found.end(), start
                yield value
                following = found.group(1)
            if following == "]":
                return
            if following != ",":
                raise self.error(f"expected ',' or ']' after an item, found {_shown(following)}", self._pos - 1)

    def skim_indented_array(self, key: str) -> tuple[int, list[int]] | None:
        """Pass over an array laid out one indented block per item, as Telegram Desktop writes a
        message list, without decoding it: returns how many items it holds and the whole-number
        values of `key` in them. None, having moved nothing, for an array laid out otherwise.

        A JSON string cannot hold a raw line break, so in such a layout the first line with the
        array's own indentation and "]" ends it, and each line one step deeper with "{" opens an
        item. Only what the layout shows is read: the items are checked when they are decoded.
        """
        layout = self._indented_layout()
        if layout is None:
            return None
        start, indent, step = layout
        if step == 0:
            self._pos = self._text.index("]", start) + 1  # an empty list
            return 0, []
        closing, opening = "\n" + " " * indent + "]", "\n" + " " * (indent + step) + "{"
        member = re.compile("\n" + " " * (indent + 2 * step) + re.escape(json.dumps(key)) + r"[ \t]*:[ \t]*(\d+)")
        count, values, position = 0, [], start + 1
        while True:
            text = self._text
            end = text.find(closing, position)
            # Lines are read whole: the last, unfinished one waits for the next chunk.
            upto = end if end >= 0 else text.rfind("\n", position)
            if upto > position:
                count += text.count(opening, position, upto)
                values += map(int, member.findall(text, position, upto))
                position = upto
            if end >= 0:
                self._pos = end + len(closing)
                return count, values
            if self._eof:
                raise self.error("the file ends inside a list", start)
            self._pos = position
            self._fill(keep_from=position)
            position = self._pos

    def _indented_layout(self) -> tuple[int, int, int] | None:
        """At a "[" that ends its line: its position, its line's indentation, and how much deeper
        the items are (0 for an empty list); None when the array is laid out otherwise."""
        start = self._pos
        line_start = self._text.rfind("\n", 0, start) + 1
        if line_start == 0 and self._base_byte > 3:
            return None  # the line began before what the buffer holds
        line = self._text[line_start:start]
        indent = len(line) - len(line.lstrip(" "))
        while len(self._text) < start + indent + 64 and not self._eof:
            self._pos = start
            self._fill(keep_from=start)
            start = self._pos
        text = self._text
        if not text.startswith("\n", start + 1):
            return None
        next_line = start + 2
        depth = _SPACES.match(text, next_line).end() - next_line
        first = text[next_line + depth : next_line + depth + 1]
        if first == "]" and depth == indent:
            return start, indent, 0
        if first == "{" and depth > indent:
            return start, indent, depth - indent
        return None

    # Reading ---------------------------------------------------------------------------------

    def _recover(self, error: json.JSONDecodeError, start: int) -> None:
        """Make decoding possible again after `error`, or raise the syntax error it is."""
        if error.msg.startswith("Invalid \\escape") and self._text.startswith("\\x", error.pos):
            if error.pos + 4 > len(self._text) and not self._eof:
                self._grow(start)  # the escape's two digits are in the next chunk
            else:
                self._replace_hex_escape(error.pos)
            return
        cut_off = error.msg.startswith("Unterminated string") or error.pos + _LOOKAHEAD >= len(self._text)
        if cut_off and not self._eof:
            self._grow(start)
            return
        raise self.error(_describe(error.msg), error.pos)

    def _replace_hex_escape(self, position: int) -> None:
        match = _HEX_ESCAPE.match(self._text, position)
        if match is None:
            raise self.error("invalid escape \\x in a string", position)
        self._text = f"{self._text[:position]}\\u00{match.group(1)}{self._text[match.end() :]}"
        self._widened.append(position)
        if self._measured[0] > position:
            self._measured = (0, 0)

    def _grow(self, start: int) -> None:
        """Read more of the file for a value that began at `start`."""
        if len(self._text) - start > MAX_VALUE_CHARS:
            raise self.error(f"a single value longer than {MAX_VALUE_CHARS >> 20} MB", start)
        self._fill(keep_from=start)

    def _fill(self, keep_from: int | None = None) -> None:
        """Append the next chunk, first dropping what was read before `keep_from`."""
        self._compact(self._pos if keep_from is None else keep_from)
        # The first read is long enough to see a whole byte order mark.
        data = os.pread(self._fd, self._chunk if self._file_pos else max(self._chunk, 3), self._file_pos)
        self._eof = not data
        if self._file_pos == 0 and data.startswith(codecs.BOM_UTF8):
            # A byte order mark is not part of the document (Windows tools write one).
            data, self._file_pos, self._base_byte = data[3:], 3, 3
        pending = len(self._decoder.getstate()[0])
        try:
            decoded = self._decoder.decode(data, final=self._eof)
        except UnicodeDecodeError as error:
            raise JsonSyntaxError(NOT_UTF8, self._file_pos - pending + error.start) from None
        self._file_pos += len(data)
        self._text += decoded

    def _compact(self, keep_from: int) -> None:
        # The line keep_from is on stays whole, with the line break before it: an indented list
        # is recognised by its line.
        newline = self._text.rfind("\n", 0, keep_from)
        keep_from = newline if newline >= 0 else keep_from
        # Dropping is a copy of what remains: worth it only once the read part dominates.
        if keep_from > len(self._text) // 2 and keep_from > self._chunk // 4:
            self._base_byte += self._encoded_length(keep_from)
            self._widened = [position - keep_from for position in self._widened if position >= keep_from]
            self._text = self._text[keep_from:]
            self._pos -= keep_from
            self._measured = (0, 0)

    def _encoded_length(self, position: int) -> int:
        """How many bytes of the file the buffer's first `position` characters stand for; only
        what lies past the last position measured is encoded again."""
        start, length = self._measured if position >= self._measured[0] else (0, 0)
        widened = sum(2 for at in self._widened if start <= at < position)
        length += len(self._text[start:position].encode("utf-8")) - widened
        self._measured = (position, length)
        return length


def _shown(char: str) -> str:
    return "the end of the file" if char == "" else repr(char)


def _describe(message: str) -> str:
    """The decoder's message without its own 'line N column M' (the byte offset is given instead)."""
    return message[0].lower() + message[1:]
