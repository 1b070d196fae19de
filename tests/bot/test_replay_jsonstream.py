"""The incremental JSON reader: the same values as json.loads at any buffer size, exact byte offsets."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.replay.jsonstream import JsonStream, JsonSyntaxError

DOCUMENT = {
    "name": "朝阳社区工作群 👍",
    "numbers": [0, -12, 3.5, 1e21, 123456789012345678],
    "flags": [True, False, None],
    "messages": [{"id": index, "text": "收到" * index + '\\"quoted"\n', "list": [1, [2, {}]]} for index in range(40)],
    "empty": {"list": [], "object": {}},
}


def write(tmp_path: Path, text: str, name: str = "doc.json") -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8"))
    return path


def walk(stream: JsonStream) -> object:
    """Rebuild a document with the walking API only (members and values)."""
    if stream.peek() == "{":
        return {key: walk(stream) for key in stream.members()}
    if stream.peek() == "[":
        return list(stream.values())
    return stream.value()


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64, 1 << 20])
def test_walking_gives_what_json_loads_gives_at_any_chunk_size(tmp_path: Path, chunk: int) -> None:
    path = write(tmp_path, json.dumps(DOCUMENT, ensure_ascii=False, indent=1))
    with JsonStream(path, chunk=chunk) as stream:
        assert walk(stream) == DOCUMENT
        assert stream.peek() == ""


@settings(max_examples=60, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=8),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=4), children, max_size=4),
        max_leaves=20,
    ),
    st.integers(min_value=1, max_value=9),
)
def test_any_document_reads_back_whole_with_tiny_chunks(tmp_path_factory, value: object, chunk: int) -> None:
    path = write(tmp_path_factory.mktemp("doc"), json.dumps({"v": value, "list": [value, value]}, ensure_ascii=False))
    with JsonStream(path, chunk=chunk) as stream:
        assert walk(stream) == {"v": value, "list": [value, value]}


@pytest.mark.parametrize("chunk", [1, 5, 1 << 20])
def test_byte_offsets_point_at_the_items_in_the_file(tmp_path: Path, chunk: int) -> None:
    items = [{"id": index, "text": "通知" * index} for index in range(30)]
    raw = "\ufeff" + json.dumps({"name": "群", "messages": items}, ensure_ascii=False, indent=2)
    path = write(tmp_path, raw)
    data = path.read_bytes()
    with JsonStream(path, chunk=chunk) as stream:
        for key in stream.members():
            if key != "messages":
                stream.skip()
                continue
            assert stream.peek() == "["
            opening = stream.byte_offset()
            assert data[opening : opening + 1] == b"["
            for item in stream.values():
                start = stream.byte_offset(stream.item_start)
                assert json.JSONDecoder().raw_decode(data[start:].decode("utf-8"))[0] == item


def test_a_second_reader_starts_at_a_recorded_offset(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps({"a": "前" * 100, "messages": [1, 2, 3]}, ensure_ascii=False))
    with JsonStream(path, chunk=16) as stream:
        for key in stream.members():
            if key == "messages" and stream.peek() == "[":
                offset = stream.byte_offset()
            stream.skip()
    with JsonStream(path, start=offset, chunk=4) as again:
        assert list(again.values()) == [1, 2, 3]


def test_telegram_desktops_hex_escapes_are_read_as_the_characters_they_mean(tmp_path: Path) -> None:
    # Telegram Desktop writes control characters as \x0B, which is not JSON.
    path = write(tmp_path, '{"messages": [{"text": "a\\x0Bb\\\\x0C"}, {"text": "c"}], "after": "偏移"}')
    with JsonStream(path, chunk=3) as stream:
        assert walk(stream) == {"messages": [{"text": "a\x0bb\\x0C"}, {"text": "c"}], "after": "偏移"}


def test_offsets_stay_exact_after_a_widened_escape(tmp_path: Path) -> None:
    text = '{"a": "\\x01", "messages": [1]}'
    path = write(tmp_path, text)
    with JsonStream(path) as stream:
        for key in stream.members():
            if key == "messages" and stream.peek() == "[":
                assert stream.byte_offset() == text.index("[")
            stream.skip()


@pytest.mark.parametrize(
    ("text", "problem", "offset"),
    [
        ('{"a": [1, 2,, 3]}', "expecting value", 12),
        ('{"a": tru}', "expecting value", 6),
        ('{"a" 1}', "expected ':' after a key", 5),
        ('{"a": 1 "b": 2}', "expected ',' or '}' after a value", 8),
        ('{"a": [1 2]}', "expected ',' or ']' after an item", 9),
        ('{"a": "never closed', "unterminated string", 6),
        ('{"a": [1, 2', "expected ',' or ']' after an item, found the end of the file", 11),
        ('{"a": [1, ', "the file ends inside a list", 10),
    ],
)
def test_broken_json_names_the_problem_and_the_byte_at_any_chunk_size(
    tmp_path: Path, text: str, problem: str, offset: int
) -> None:
    path = write(tmp_path, text)
    for chunk in (1, 4, 1 << 20):
        with JsonStream(path, chunk=chunk) as stream, pytest.raises(JsonSyntaxError) as raised:
            walk(stream)
        assert raised.value.problem.lower().startswith(problem), raised.value.problem
        assert raised.value.byte_offset == offset


def test_bytes_that_are_not_utf8_are_named_by_offset(tmp_path: Path) -> None:
    path = tmp_path / "latin1.json"
    path.write_bytes(b'{"text": "caf' + b"\xe9" + b'"}')
    with JsonStream(path, chunk=2) as stream, pytest.raises(JsonSyntaxError) as raised:
        walk(stream)
    assert raised.value.problem == "not UTF-8 text" and raised.value.byte_offset == 13


def test_a_long_list_of_small_values_is_skipped_without_holding_it(tmp_path: Path) -> None:
    path = write(tmp_path, json.dumps({"contacts": list(range(50_000)), "messages": []}))
    with JsonStream(path, chunk=256) as stream:
        for key in stream.members():
            if key == "contacts":
                stream.skip()
                # Only about one chunk stays buffered however long the list was.
                assert len(stream._text) < 2048
            else:
                assert stream.value() == []


# Skimming an indented list ------------------------------------------------------------------------

ITEMS = [
    {"id": 1, "text": '他说 "reply_to_message_id": 9 是什么', "nested": {"reply_to_message_id": 8}},
    {"id": 2, "reply_to_message_id": 1, "text": ["]", {"type": "bold", "text": "{"}]},
    {"id": 3, "reply_to_message_id": 1},
    {"id": 4, "reply_to_message_id": 2, "text": "\n ]\n"},
]


@pytest.mark.parametrize("indent", [1, 2, 4])
@pytest.mark.parametrize("chunk", [7, 1 << 20])
def test_an_indented_list_is_counted_without_decoding(tmp_path: Path, indent: int, chunk: int) -> None:
    text = json.dumps({"name": "群", "messages": ITEMS, "after": [1]}, ensure_ascii=False, indent=indent)
    path = write(tmp_path, text)
    with JsonStream(path, chunk=chunk) as stream:
        for key in stream.members():
            if key == "messages":
                assert stream.peek() == "["
                # Items, and the key's values in the items themselves (not in texts, not nested deeper).
                assert stream.skim_indented_array("reply_to_message_id") == (4, [1, 1, 2])
            else:
                stream.skip()
        assert stream.peek() == ""


def test_a_list_laid_out_otherwise_is_not_skimmed(tmp_path: Path) -> None:
    for text in (
        json.dumps({"messages": ITEMS}, ensure_ascii=False),  # one line
        json.dumps({"messages": ITEMS}, ensure_ascii=False, indent=0),  # items no deeper than the list
        '{"messages": [ {"id": 1}\n]}',
    ):
        path = write(tmp_path, text)
        with JsonStream(path) as stream:
            next(stream.members())
            assert stream.peek() == "["
            assert stream.skim_indented_array("id") is None
            assert next(iter(stream.values()))["id"] == 1  # nothing was consumed


def test_an_empty_indented_list(tmp_path: Path) -> None:
    path = write(tmp_path, '{\n "messages": [\n ],\n "x": 1\n}')
    with JsonStream(path) as stream:
        next(stream.members())
        stream.peek()
        assert stream.skim_indented_array("id") == (0, [])
