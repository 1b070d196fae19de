"""Whistle (吹哨) reports: categories, validation, receipt codes, statuses and keyed rate limits.

Everything here is about keeping the whistleblower anonymous: a receipt code is random, shown
once and stored only as a slow salted hash; rate limits count per bucket of people, chosen by a
keyed HMAC of the user id under a key that changes every period.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from enum import StrEnum

from policies.verdict import Verdict

CATEGORIES = (
    "ack_demand",  # demands to reply "received" or to check in
    "data_request",  # repeated or duplicate data requests: forms, 报表, 台账
    "groups",  # too many work groups, temporary groups left open
    "clicks",  # "please click / like / vote / forward"
    "meetings",  # excessive meetings or documents
    "after_hours",  # after-hours demands
    "inspections",  # duplicated assessments and inspections (多头考核)
    "other",
)

DESCRIPTION_MIN, DESCRIPTION_MAX = 10, 2000
EVIDENCE_TEXT_MAX = 4000


class Status(StrEnum):
    NEW = "new"
    REVIEW = "review"
    FORWARDED = "forwarded"
    RECTIFIED = "rectified"
    REJECTED = "rejected"


OPEN_STATUSES = frozenset({Status.NEW, Status.REVIEW, Status.FORWARDED})

# new → under review → forwarded → rectified | rejected; a report may be settled without
# being forwarded, and a forwarded one may be forwarded again (a contact chat changed).
_MOVES: dict[Status, frozenset[Status]] = {
    Status.NEW: frozenset({Status.REVIEW}),
    Status.REVIEW: frozenset({Status.FORWARDED, Status.RECTIFIED, Status.REJECTED}),
    Status.FORWARDED: frozenset({Status.FORWARDED, Status.RECTIFIED, Status.REJECTED}),
    Status.RECTIFIED: frozenset(),
    Status.REJECTED: frozenset(),
}


def may_move(current: str, wanted: str) -> Verdict:
    """Whether a report in `current` status may move to `wanted`."""
    allowed = Status(wanted) in _MOVES[Status(current)]
    return Verdict("whistle:status", allowed, f"{current} → {wanted}" + ("" if allowed else " is not a valid move"))


def description_problem(text: str) -> str | None:
    """A catalog key saying what is wrong with a description, or None when it is fine."""
    length = len(text.strip())
    if length < DESCRIPTION_MIN:
        return "whistle.error.too_short"
    if length > DESCRIPTION_MAX:
        return "whistle.error.too_long"
    return None


def open_too_long(status: str, created_on: date, today: date, days: int) -> bool:
    """A report still open after `days` days is flagged to supervisors and in the digest."""
    return Status(status) in OPEN_STATUSES and (today - created_on).days > days


# --- receipt codes -------------------------------------------------------------------------

# Crockford's base32: no I, L, O or U, so a code read aloud or retyped is hard to get wrong.
_ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CONFUSABLE = str.maketrans({"O": "0", "I": "1", "L": "1"})
CODE_CHARS = 20  # 20 × 5 bits = 100 bits of randomness (the issue asks for at least 80)
CODE_GROUP = 4
# The lookup bucket keeps 16 of the 100 bits: enough to find the candidate rows without
# hashing every report, and it leaves 84 unknown bits to guess.
BUCKET_BITS = 16


@dataclass(frozen=True)
class ScryptCost:
    """scrypt parameters: about 16 MiB and tens of milliseconds per hash with the defaults."""

    n: int = 2**14
    r: int = 8
    p: int = 1


def new_receipt_code() -> str:
    """A fresh code, grouped for reading: 'K3F9-2QXM-...'."""
    raw = "".join(secrets.choice(_ALPHABET) for _ in range(CODE_CHARS))
    return "-".join(raw[i : i + CODE_GROUP] for i in range(0, CODE_CHARS, CODE_GROUP))


def normalize_code(text: str) -> str | None:
    """The canonical code from what someone typed (case, spaces, dashes, O/0 and I/L/1 forgiven)."""
    cleaned = "".join(ch for ch in text.upper() if ch not in " -_\u00a0\t").translate(_CONFUSABLE)
    if len(cleaned) != CODE_CHARS or any(ch not in _ALPHABET for ch in cleaned):
        return None
    return "-".join(cleaned[i : i + CODE_GROUP] for i in range(0, CODE_CHARS, CODE_GROUP))


def code_bucket(code: str) -> int:
    """A few bits of the code's SHA-256: narrows the slow verification to a handful of rows."""
    digest = hashlib.sha256(b"jianfu-whistle-bucket:" + code.encode()).digest()
    return int.from_bytes(digest[:4], "big") >> (32 - BUCKET_BITS)


def hash_code(code: str, cost: ScryptCost = ScryptCost(), salt: bytes | None = None) -> str:
    """A salted scrypt hash in one self-describing string: scrypt$n$r$p$salt$hash."""
    salt = salt if salt is not None else secrets.token_bytes(16)
    derived = hashlib.scrypt(code.encode(), salt=salt, n=cost.n, r=cost.r, p=cost.p, dklen=32)
    return "$".join(["scrypt", str(cost.n), str(cost.r), str(cost.p), _b64(salt), _b64(derived)])


# A stored cost above this is not one Jianfu wrote: refuse it rather than spend the memory.
MAX_SCRYPT_N = 2**20


def verify_code(code: str, stored: str) -> bool:
    """Whether `code` is the one behind `stored`; a damaged stored value simply does not match."""
    try:
        scheme, n, r, p, salt, _hash = stored.split("$")
        cost = ScryptCost(int(n), int(r), int(p))
        if scheme != "scrypt" or not 1 < cost.n <= MAX_SCRYPT_N:
            return False
        return hmac.compare_digest(hash_code(code, cost, _unb64(salt)), stored)
    except ValueError:  # a cost or salt scrypt or base64 refuses (binascii.Error is one)
        return False


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


# --- rate limits ---------------------------------------------------------------------------

_EPOCH = datetime(1970, 1, 1)


@dataclass(frozen=True)
class RateWindow:
    """At most `limit` hits per period; a day starts at local midnight, an hour on the hour.

    The hits are counted in the database, per period and per bucket of people (never per person),
    so every replica and every restart sees the same count; see `limit_bucket`.
    """

    name: str
    limit: int
    period: timedelta
    # A "day" is the whistleblower's day, not UTC's.
    zone: tzinfo = UTC

    def index(self, now: datetime) -> int:
        """The number of the period `now` falls in, counted from 1970 in local time."""
        local = now.astimezone(self.zone).replace(tzinfo=None)
        return int((local - _EPOCH).total_seconds() // self.period.total_seconds())


def period_key(root: bytes, window: str, index: int) -> bytes:
    """The key of one period of one limit: every replica derives the same, and each period a new one."""
    return hmac.new(root, f"jianfu-whistle-limit:{window}:{index}".encode(), hashlib.sha256).digest()


def limit_bucket(key: bytes, user_id: int, buckets: int) -> int:
    """The bucket a person's hits count in during one period: a keyed HMAC of their id, cut down
    to one of `buckets`.

    Cutting it down is the point. A full HMAC would let someone holding the secret and a copy of
    the database confirm a given person's count; a bucket is shared by every person whose HMAC
    lands there (about one in `buckets` of everyone), so the most such a copy can say is "someone
    among these many". The price: strangers who share a bucket share its limit, so one of them is
    rarely refused because of the others (until the period ends; the key, and so the buckets, then
    change). The remainder of 64 bits is uniform to within 2^-50 for any `buckets` up to 2^14.
    """
    digest = hmac.new(key, str(user_id).encode(), hashlib.sha256).digest()
    return int.from_bytes(digest[:8], "big") % buckets


# --- batches -------------------------------------------------------------------------------


def next_batch_at(now: datetime, times: tuple[time, ...], zone: tzinfo) -> datetime:
    """The first configured local batch time strictly after `now`, as an aware datetime."""
    local = now.astimezone(zone)
    for days in range(0, 2):
        day = local.date() + timedelta(days=days)
        for moment in sorted(times):
            candidate = datetime.combine(day, moment, tzinfo=zone)
            if candidate > local:
                return candidate
    raise ValueError("no batch time configured")
