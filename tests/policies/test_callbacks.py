"""The button codec: every kind round-trips, fits Telegram's 64 bytes, and anything else is rejected."""

from __future__ import annotations

import dataclasses
import typing
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from policies.callbacks import (
    INT64,
    KINDS,
    Bounds,
    ConvertDemand,
    HeldChoice,
    IdleAnswer,
    InboxPage,
    InboxRead,
    OneOf,
    ReadNotice,
    RegisterCancel,
    RegisterDepartment,
    Rejected,
    Token,
    WhistleCard,
    WhistleCategory,
    WhistleDepartment,
    WhistleList,
    WhistlePress,
    decode,
    encode,
    parse,
)

TOKEN_CHARS = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def field_strategy(hint: Any) -> st.SearchStrategy[Any]:
    """Every value a field may carry, read from the same declaration the codec reads."""
    base, *marks = typing.get_args(hint) if typing.get_origin(hint) is Annotated else (hint,)
    mark = marks[0] if marks else None
    if base is bool:
        return st.booleans()
    if base is int:
        bounds = mark if isinstance(mark, Bounds) else INT64
        return st.integers(bounds.low, bounds.high)
    if isinstance(mark, OneOf):
        return st.sampled_from(mark.values)
    token = mark if isinstance(mark, Token) else Token()
    return st.text(TOKEN_CHARS, min_size=1, max_size=token.max_length)


def values_of(cls: type) -> st.SearchStrategy[Any]:
    hints = typing.get_type_hints(cls, include_extras=True)
    fields = {item.name: field_strategy(hints[item.name]) for item in dataclasses.fields(cls)}
    return st.builds(cls, **fields)


EVERY_KIND = st.sampled_from([kind.cls for kind in KINDS.values()]).flatmap(values_of)


@settings(max_examples=500)
@given(EVERY_KIND)
def test_every_kind_round_trips_within_64_bytes(value: Any) -> None:
    data = encode(value)
    assert 1 <= len(data.encode()) <= 64
    assert decode(data) == value


@pytest.mark.parametrize("kind", list(KINDS.values()), ids=lambda kind: kind.cls.__name__)
@settings(max_examples=50)
@given(data=st.data())
def test_each_kind_has_its_own_prefix_and_version(kind: Any, data: st.DataObject) -> None:
    encoded = encode(data.draw(values_of(kind.cls)))
    assert encoded.split(":")[0] == f"{kind.prefix}{kind.version}"


def test_the_largest_values_still_fit() -> None:
    largest = [
        ConvertDemand(-(2**63), -(2**63)),
        IdleAnswer("active", -(2**63)),
        InboxRead(2**31 - 1, True, 2**31 - 1, 10**6),
        WhistleCategory("x" * 16, max(("ack_demand", "data_request", "after_hours", "inspections"), key=len)),
        WhistleDepartment("x" * 16, 2**31 - 1),
        WhistleList("d", 2**31 - 1, 10**6),
    ]
    for value in largest:
        assert len(encode(value)) <= 64 and decode(encode(value)) == value


@pytest.mark.parametrize(
    "data",
    [
        None,
        "",
        5,
        "x" * 65,
        "读" * 22,  # nothing, not text, or beyond Telegram's 64 bytes
        "zz1:3",
        "q:1",  # unknown prefix, versioned or not
        "rd0:5",
        "rd2:5",
        "ir9:1:0:0:0",  # another version of a known kind
        "rd1",
        "rd1:5:6",
        "rgx1:1",
        "ip1:0:0",  # wrong number of fields
        "rd1:x",
        "rd1:05",
        "rd1:+5",
        "rd1: 5",
        "rd1:5_0",
        "rd1:٥",
        "rd1:-1",
        "rd1:2147483648",  # not a row id
        "cv1:-9223372036854775809:1",
        "cv1:1:9223372036854775808",
        "cv1:99999999999999999999:1",  # beyond 64 bits
        "ip1:2:0:0",
        "ip1:0:0:1000001",  # a flag that is not 0/1, a page too far
        "hn1:later:1",
        "ti1:DONE:-100",
        "wr1:z:1",
        "wl1:q:0:0",
        "wc1:tok:unknown",  # a word not among its choices
        "wp1::x",
        "wp1:tok!:x",
        "wp1:" + "t" * 17 + ":x",  # a token that is empty, odd or too long
    ],
)
def test_malformed_and_stale_data_is_rejected(data: object) -> None:
    with pytest.raises(Rejected):
        decode(data)
    assert parse(data) is None


# Old buttons (before the codec) that stay pressable, and what they mean now.
LEGACY = [
    ("rd:42", ReadNotice(42)),
    ("rcv:notice:-1001234500001:77", ConvertDemand(-1001234500001, 77)),
    ("tmp:idle:done:-100", IdleAnswer("done", -100)),
    ("tmp:idle:active:-100", IdleAnswer("active", -100)),
    ("hn:at:3", HeldChoice("at", 3)),
    ("hn:no:3", HeldChoice("no", 3)),
    ("reg:5", RegisterDepartment(5)),
    ("reg:cancel", RegisterCancel()),
    ("ws:l:o:0", WhistleList("o", 0, 0)),
    ("ws:l:a:2", WhistleList("a", 0, 2)),
    ("ws:l:d12:1", WhistleList("d", 12, 1)),
    ("ws:o:9", WhistleCard("o", 9)),
    ("ws:k:9", WhistleCard("k", 9)),
]


@pytest.mark.parametrize(("data", "value"), LEGACY)
def test_long_lived_old_buttons_keep_working(data: str, value: Any) -> None:
    assert decode(data) == value


@pytest.mark.parametrize(
    "data",
    [
        "ib:r:5:0:0:0",
        "ib:p:0:0:1",  # an inbox view: /inbox shows a fresh one
        "wh:tok:c:other",
        "wh:tok:d:3",
        "wh:tok:s",  # a whistle draft expires within minutes anyway
        "rd:x",
        "rd:99999999999999999999",
        "reg:cancelx",
        "ws:l:o5:0",
        "ws:l:d:0",
        "ws:z:1",
        "hn:",
        "hn:zz:1",
    ],
)
def test_short_lived_or_damaged_old_buttons_are_stale(data: str) -> None:
    assert parse(data) is None


def test_a_value_that_cannot_travel_is_a_bug_not_a_button() -> None:
    wrong = (ReadNotice(-1), ReadNotice(2**31), WhistlePress("has:colon", "x"), HeldChoice("later", 1))
    for value in (*wrong, WhistleCategory("t", "no"), IdleAnswer("maybe", 1), InboxPage(True, -1, 0)):
        with pytest.raises(ValueError):
            encode(value)
    with pytest.raises(TypeError):
        encode("rd1:5")
