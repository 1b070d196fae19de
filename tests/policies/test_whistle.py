"""Whistle policies as tables: receipt codes, their hashes, statuses, limits and batch times."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from policies.whistle import (
    BUCKET_BITS,
    CODE_CHARS,
    DESCRIPTION_MAX,
    DESCRIPTION_MIN,
    OPEN_STATUSES,
    RateWindow,
    ScryptCost,
    Status,
    code_bucket,
    description_problem,
    hash_code,
    limit_bucket,
    may_move,
    new_receipt_code,
    next_batch_at,
    normalize_code,
    open_too_long,
    period_key,
    verify_code,
)

CHEAP = ScryptCost(n=2**10)
CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
CODE_SHAPE = re.compile(rf"^[{CROCKFORD}]{{4}}(-[{CROCKFORD}]{{4}}){{4}}$")
SHANGHAI = ZoneInfo("Asia/Shanghai")
CODE = "K3F9-2QXM-7HRT-0B1W-ZZ4A"


# --- receipt codes -------------------------------------------------------------------------


def test_code_chars_carry_100_bits() -> None:
    assert len(CROCKFORD) == 32  # 5 bits a character
    assert CODE_CHARS * 5 == 100


def test_new_code_is_five_groups_of_four_crockford_chars() -> None:
    for _ in range(200):
        code = new_receipt_code()
        assert CODE_SHAPE.match(code), code
        assert len(code.replace("-", "")) == CODE_CHARS
        assert not set(code) & set("ILOU")


def test_fresh_codes_are_distinct() -> None:
    codes = {new_receipt_code() for _ in range(2000)}
    assert len(codes) == 2000


def test_fresh_codes_use_the_whole_alphabet() -> None:
    seen = set("".join(new_receipt_code() for _ in range(500)).replace("-", ""))
    assert seen == set(CROCKFORD)


def test_a_fresh_code_is_already_normal() -> None:
    code = new_receipt_code()
    assert normalize_code(code) == code


@pytest.mark.parametrize(
    "typed",
    [
        CODE,
        CODE.lower(),
        CODE.replace("-", ""),
        CODE.replace("-", " "),
        CODE.replace("-", "").lower(),
        "  k3f9 2qxm-7hrt_0b1w\tzz4a  ",
        "K3F9\u00a02QXM-7HRT-0B1W-ZZ4A",
        "K3F9-2QXM-7HRT-OB1W-ZZ4A",  # O for 0
        "K3F9-2QXM-7HRT-0BIW-ZZ4A",  # I for 1
        "K3F9-2QXM-7HRT-0BLW-ZZ4A",  # L for 1
        "k3f9-2qxm-7hrt-obiw-zz4a",  # lower-case o and i
        "K3F9-2QXM-7HRT-0BlW-ZZ4A",  # lower-case l
        "K-3-F-9-2-Q-X-M-7-H-R-T-0-B-1-W-Z-Z-4-A",
    ],
)
def test_normalize_code_forgives_typing(typed: str) -> None:
    assert normalize_code(typed) == CODE


@pytest.mark.parametrize(
    "typed",
    [
        "",
        "   ",
        CODE[:-1],  # 19 characters
        CODE + "A",  # 21 characters
        CODE.replace("-", "")[:16],
        "K3F9-2QXM-7HRT-0B1W-ZZ4U",  # U is not in Crockford's alphabet
        "U3F9-2QXM-7HRT-0B1W-ZZ4A",
        "K3F9-2QXM-7HRT-0B1W-ZZ4*",
        "K3F9-2QXM-7HRT-0B1W-ZZ4.",
        "K3F9-2QXM-7HRT-0B1W-ZZ4Я",
        "K3F9/2QXM/7HRT/0B1W/ZZ4A",
    ],
)
def test_normalize_code_rejects_wrong_length_or_characters(typed: str) -> None:
    assert normalize_code(typed) is None


def test_code_bucket_is_stable_and_within_16_bits() -> None:
    assert BUCKET_BITS == 16
    assert code_bucket(CODE) == code_bucket(CODE)
    assert code_bucket(CODE) == code_bucket(normalize_code(CODE.lower()) or "")
    buckets = set()
    for _ in range(500):
        code = new_receipt_code()
        bucket = code_bucket(code)
        assert 0 <= bucket < 2**16
        assert bucket == code_bucket(code)
        buckets.add(bucket)
    # Spread out: 500 random codes land in (nearly) 500 different buckets, not a few.
    assert len(buckets) > 450


# --- hashes --------------------------------------------------------------------------------


def test_hash_and_verify_round_trip() -> None:
    code = new_receipt_code()
    stored = hash_code(code, CHEAP)
    assert verify_code(code, stored)
    assert stored.startswith("scrypt$1024$8$1$")


def test_default_cost_hash_round_trips() -> None:
    code = new_receipt_code()
    stored = hash_code(code)
    assert stored.startswith(f"scrypt${2**14}$8$1$")
    assert verify_code(code, stored)
    assert not verify_code(new_receipt_code(), stored)


def test_a_wrong_code_fails() -> None:
    stored = hash_code(CODE, CHEAP)
    assert not verify_code("K3F9-2QXM-7HRT-0B1W-ZZ4B", stored)
    assert not verify_code(new_receipt_code(), stored)
    assert not verify_code("", stored)
    # The hash is of the canonical code: callers normalize first.
    assert not verify_code(CODE.lower(), stored)
    assert verify_code(normalize_code(CODE.lower()) or "", stored)


def test_stored_string_does_not_contain_the_code() -> None:
    for _ in range(20):
        code = new_receipt_code()
        stored = hash_code(code, CHEAP)
        assert code not in stored
        assert code.replace("-", "") not in stored
        # A 4-character group could occur by chance in the base64 text, but not all five.
        assert not all(group in stored for group in code.split("-"))


def test_two_hashes_of_the_same_code_differ_by_salt() -> None:
    first, second = hash_code(CODE, CHEAP), hash_code(CODE, CHEAP)
    assert first != second
    assert first.split("$")[4] != second.split("$")[4]
    assert verify_code(CODE, first) and verify_code(CODE, second)


def test_same_salt_gives_the_same_hash() -> None:
    salt = bytes(range(16))
    assert hash_code(CODE, CHEAP, salt) == hash_code(CODE, CHEAP, salt)


def _tamper(stored: str, field_index: int) -> str:
    fields = stored.split("$")
    value = fields[field_index]
    fields[field_index] = ("B" if value[0] == "A" else "A") + value[1:]
    return "$".join(fields)


@pytest.mark.parametrize("field_index", [4, 5], ids=["salt", "hash"])
def test_a_tampered_stored_string_fails(field_index: int) -> None:
    stored = hash_code(CODE, CHEAP)
    assert not verify_code(CODE, _tamper(stored, field_index))


def test_a_stored_string_with_other_valid_cost_fails() -> None:
    fields = hash_code(CODE, CHEAP).split("$")
    fields[1] = str(2**11)
    assert not verify_code(CODE, "$".join(fields))


@pytest.mark.parametrize(
    "stored",
    [
        "",
        "scrypt",
        "not a hash",
        "scrypt$1024$8$1$c2FsdA",  # a field missing
        "scrypt$1024$8$1$c2FsdA$aGFzaA$extra",  # one too many
        "bcrypt$1024$8$1$c2FsdA$aGFzaA",  # another scheme
        "SCRYPT$1024$8$1$c2FsdA$aGFzaA",
        "scrypt$1024$8$1$$",  # empty salt and hash
    ],
)
def test_a_malformed_stored_string_fails(stored: str) -> None:
    assert not verify_code(CODE, stored)


@pytest.mark.parametrize(
    "stored",
    [
        "scrypt$x$8$1$c2FsdA$aGFzaA",  # cost not a number
        "scrypt$1000$8$1$c2FsdA$aGFzaA",  # n not a power of two
        "scrypt$0$8$1$c2FsdA$aGFzaA",
        "scrypt$1024$8$1$a$aGFzaA",  # salt that is not base64
        "scrypt$1073741824$8$1$c2FsdA$aGFzaA",  # a cost no one should pay
    ],
)
def test_a_malformed_stored_string_fails_without_raising(stored: str) -> None:
    assert not verify_code(CODE, stored)


# --- statuses ------------------------------------------------------------------------------

ALLOWED = {
    (Status.NEW, Status.REVIEW),
    (Status.REVIEW, Status.FORWARDED),
    (Status.REVIEW, Status.RECTIFIED),
    (Status.REVIEW, Status.REJECTED),
    (Status.FORWARDED, Status.FORWARDED),
    (Status.FORWARDED, Status.RECTIFIED),
    (Status.FORWARDED, Status.REJECTED),
}


@pytest.mark.parametrize("wanted", list(Status), ids=str)
@pytest.mark.parametrize("current", list(Status), ids=str)
def test_may_move_transition_table(current: Status, wanted: Status) -> None:
    verdict = may_move(current.value, wanted.value)
    assert verdict.rule == "whistle:status"
    assert verdict.hit is ((current, wanted) in ALLOWED)
    assert f"{current.value} → {wanted.value}" in verdict.detail
    assert ("not a valid move" in verdict.detail) is (not verdict.hit)


@pytest.mark.parametrize("final", [Status.RECTIFIED, Status.REJECTED])
def test_settled_statuses_are_final(final: Status) -> None:
    assert not any(may_move(final, wanted).hit for wanted in Status)
    assert final not in OPEN_STATUSES


def test_open_statuses() -> None:
    assert {Status.NEW, Status.REVIEW, Status.FORWARDED} == OPEN_STATUSES


def test_may_move_rejects_unknown_statuses() -> None:
    with pytest.raises(ValueError):
        may_move("new", "closed")
    with pytest.raises(ValueError):
        may_move("closed", "review")


# --- descriptions --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("", "whistle.error.too_short"),
        (" " * 50, "whistle.error.too_short"),
        ("\n\t  \n", "whistle.error.too_short"),
        ("字" * 9, "whistle.error.too_short"),
        ("  " + "字" * 9 + "  ", "whistle.error.too_short"),  # padding does not count
        ("字" * 10, None),
        ("a" * 10, None),
        ("字" * 2000, None),
        ("\n" + "字" * 2000 + "\n", None),
        ("字" * 2001, "whistle.error.too_long"),
        ("a" * 5000, "whistle.error.too_long"),
    ],
    ids=["empty", "spaces", "whitespace", "9", "9-padded", "10", "10-ascii", "2000", "2000-padded", "2001", "5000"],
)
def test_description_problem(text: str, problem: str | None) -> None:
    assert (DESCRIPTION_MIN, DESCRIPTION_MAX) == (10, 2000)
    assert description_problem(text) == problem


# --- open too long -------------------------------------------------------------------------

TODAY = date(2026, 11, 23)


@pytest.mark.parametrize(
    ("status", "age", "flagged"),
    [
        ("new", 0, False),
        ("new", 13, False),
        ("new", 14, False),  # exactly N days: not yet
        ("new", 15, True),  # N + 1
        ("review", 14, False),
        ("review", 15, True),
        ("forwarded", 14, False),
        ("forwarded", 15, True),
        ("forwarded", 400, True),
        ("rectified", 15, False),
        ("rectified", 400, False),
        ("rejected", 15, False),
        ("rejected", 400, False),
    ],
)
def test_open_too_long(status: str, age: int, flagged: bool) -> None:
    assert open_too_long(status, TODAY - timedelta(days=age), TODAY, 14) is flagged


@pytest.mark.parametrize("days", [0, 1, 7, 30])
def test_open_too_long_boundary_for_any_n(days: int) -> None:
    assert not open_too_long("new", TODAY - timedelta(days=days), TODAY, days)
    assert open_too_long("new", TODAY - timedelta(days=days + 1), TODAY, days)


# --- rate limits ---------------------------------------------------------------------------

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
ALICE, BOB = 123456789, 987654321


SHANGHAI_DAY = RateWindow("reports", 5, timedelta(days=1), SHANGHAI)
SHANGHAI_HOUR = RateWindow("codes", 10, timedelta(hours=1), SHANGHAI)
ROOT = bytes(range(32))


@pytest.mark.parametrize(
    ("earlier", "later", "same"),
    [
        # 15:59:59 UTC is 23:59:59 in Shanghai; 16:00 UTC is the next local day.
        (datetime(2026, 11, 23, 16, 0, tzinfo=UTC), datetime(2026, 11, 24, 15, 59, 59, tzinfo=UTC), True),
        (datetime(2026, 11, 23, 15, 59, 59, tzinfo=UTC), datetime(2026, 11, 23, 16, 0, tzinfo=UTC), False),
        # UTC midnight is 08:00 in Shanghai: the same local day.
        (datetime(2026, 11, 23, 23, 59, tzinfo=UTC), datetime(2026, 11, 24, 0, 1, tzinfo=UTC), True),
    ],
)
def test_a_days_window_starts_at_local_midnight(earlier: datetime, later: datetime, same: bool) -> None:
    assert (SHANGHAI_DAY.index(earlier) == SHANGHAI_DAY.index(later)) is same
    assert SHANGHAI_DAY.index(later) - SHANGHAI_DAY.index(earlier) in (0, 1)


def test_an_hours_window_starts_on_the_hour() -> None:
    assert SHANGHAI_HOUR.index(NOW) == SHANGHAI_HOUR.index(NOW + timedelta(minutes=59, seconds=59))
    assert SHANGHAI_HOUR.index(NOW + timedelta(hours=1)) == SHANGHAI_HOUR.index(NOW) + 1


def test_period_keys_differ_by_window_and_period_and_agree_everywhere_else() -> None:
    keys = {period_key(ROOT, window, index) for window in ("reports", "codes") for index in (1, 2)}
    assert len(keys) == 4
    assert period_key(ROOT, "codes", 7) == period_key(bytes(range(32)), "codes", 7)
    assert period_key(ROOT, "codes", 7) != period_key(bytes(32), "codes", 7)


def test_a_bucket_is_the_same_on_every_replica_and_in_range() -> None:
    key = period_key(ROOT, "codes", 100)
    for user in (ALICE, BOB, 1, 7000000001):
        bucket = limit_bucket(key, user, 64)
        assert 0 <= bucket < 64 and bucket == limit_bucket(key, user, 64)


def test_buckets_are_shared_evenly_so_nobody_is_alone_in_one() -> None:
    key = period_key(ROOT, "reports", 20415)
    counts = [0] * 64
    for user in range(10_000, 20_000):
        counts[limit_bucket(key, user, 64)] += 1
    # 10,000 people in 64 buckets: about 156 each (standard deviation about 12).
    assert min(counts) > 95 and max(counts) < 220


def test_buckets_change_with_the_period() -> None:
    first, second = period_key(ROOT, "codes", 1), period_key(ROOT, "codes", 2)
    users = range(1000)
    unchanged = sum(limit_bucket(first, user, 64) == limit_bucket(second, user, 64) for user in users)
    # Chance alone keeps about one in 64 in the same bucket.
    assert unchanged < 50


def test_one_bucket_means_everyone_shares_it() -> None:
    assert {limit_bucket(period_key(ROOT, "codes", 1), user, 1) for user in range(100)} == {0}


# --- batch times ---------------------------------------------------------------------------

TWICE = (time(9, 0), time(15, 0))


def _utc(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def _cst(year: int, month: int, day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


@pytest.mark.parametrize(
    ("now", "times", "expected"),
    [
        # 00:30 UTC = 08:30 in Shanghai.
        (_utc(2026, 11, 23, 0, 30), TWICE, _cst(2026, 11, 23, 9)),
        # 01:00 UTC = exactly 09:00: strictly after, so 15:00.
        (_utc(2026, 11, 23, 1, 0), TWICE, _cst(2026, 11, 23, 15)),
        (_utc(2026, 11, 23, 5, 0), TWICE, _cst(2026, 11, 23, 15)),
        # Exactly 15:00 and after 15:00: the next day's 09:00.
        (_utc(2026, 11, 23, 7, 0), TWICE, _cst(2026, 11, 24, 9)),
        (_utc(2026, 11, 23, 8, 0), TWICE, _cst(2026, 11, 24, 9)),
        # 20:00 UTC on the 23rd is already 04:00 on the 24th in Shanghai.
        (_utc(2026, 11, 23, 20, 0), TWICE, _cst(2026, 11, 24, 9)),
        # 16:00 UTC on the 23rd = 00:00 on the 24th.
        (_utc(2026, 11, 23, 16, 0), TWICE, _cst(2026, 11, 24, 9)),
        # The month's and year's end.
        (_utc(2026, 12, 31, 12, 0), TWICE, _cst(2027, 1, 1, 9)),
        # A single time.
        (_utc(2026, 11, 23, 3, 0), (time(12, 0),), _cst(2026, 11, 23, 12)),
        (_utc(2026, 11, 23, 4, 0), (time(12, 0),), _cst(2026, 11, 24, 12)),
        (_utc(2026, 11, 23, 5, 0), (time(12, 0),), _cst(2026, 11, 24, 12)),
        # Unsorted times.
        (_utc(2026, 11, 23, 0, 30), (time(15, 0), time(9, 0)), _cst(2026, 11, 23, 9)),
        (_utc(2026, 11, 23, 2, 0), (time(15, 0), time(9, 0)), _cst(2026, 11, 23, 15)),
        (_utc(2026, 11, 23, 8, 0), (time(15, 0), time(9, 0)), _cst(2026, 11, 24, 9)),
        (_utc(2026, 11, 23, 2, 0), (time(18, 0), time(9, 0), time(12, 30)), _cst(2026, 11, 23, 12, 30)),
    ],
)
def test_next_batch_at(now: datetime, times: tuple[time, ...], expected: datetime) -> None:
    due = next_batch_at(now, times, SHANGHAI)
    assert due == expected
    assert due > now
    assert due.tzinfo is not None and due.utcoffset() == timedelta(hours=8)


def test_next_batch_at_is_the_same_for_any_input_zone() -> None:
    now = _utc(2026, 11, 23, 5, 0)
    assert next_batch_at(now.astimezone(SHANGHAI), TWICE, SHANGHAI) == next_batch_at(now, TWICE, SHANGHAI)


def test_next_batch_at_without_times_raises() -> None:
    with pytest.raises(ValueError):
        next_batch_at(NOW, (), SHANGHAI)
