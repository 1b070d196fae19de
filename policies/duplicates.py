"""Duplicate notices: the same text in several groups, or a near-copy of a data request.

Exact duplicates share a fingerprint of the normalised text. Near-duplicates are found by
MinHash over character trigrams: four bands of four hashes each, so that two texts with a
trigram Jaccard similarity of 0.8 share at least one band with probability above 0.99, and
the candidates a band finds are then compared exactly.
"""

from __future__ import annotations

import functools
import hashlib
import itertools
import struct
from collections import deque
from collections.abc import Hashable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from policies.text import normalize

BANDS = 4
ROWS = 4
NEAR_DUPLICATE = 0.8
# Band-sharing candidates compared exactly, the earliest first.
MAX_CANDIDATES = 50
DATA_REQUEST = "data_request"
_SEEDS = tuple(range(BANDS * ROWS))
_MASK = (1 << 63) - 1  # bands are stored in signed 64-bit columns


# A notice copied to many groups is the same text each time: its keys are worked out once.
@functools.lru_cache(maxsize=1024)
def fingerprint(text: str) -> str:
    """Equal for texts that differ only in width, case, punctuation, spacing or repeats."""
    return hashlib.blake2b(normalize(text).encode(), digest_size=8).hexdigest()


# A new data request's trigrams are asked for twice in a row (its bands, then the comparison
# with the candidates they find): the last few are remembered.
@functools.lru_cache(maxsize=64)
def shingles(text: str, size: int = 3) -> frozenset[str]:
    form = normalize(text)
    if len(form) <= size:
        return frozenset({form}) if form else frozenset()
    return frozenset([form[index : index + size] for index in range(len(form) - size + 1)])


def jaccard(first: frozenset[str], second: frozenset[str]) -> float:
    if not first or not second:
        return 0.0
    return len(first & second) / len(first | second)


def near_copy(mine: frozenset[str], other_text: str) -> bool:
    """Whether a text with trigrams `mine` is a near-copy of `other_text`."""
    return jaccard(mine, shingles(other_text)) >= NEAR_DUPLICATE


@functools.lru_cache(maxsize=1024)
def bands(text: str) -> tuple[int, ...]:
    """The MinHash band keys of the text (one 63-bit integer per band)."""
    grams = shingles(text)
    if not grams:
        return (0,) * BANDS
    # Column k of the rows holds every trigram's value under MinHash function k.
    minimums = list(map(min, zip(*map(_mixed_hashes, grams), strict=True)))
    return tuple(_band_key(minimums[band * ROWS : (band + 1) * ROWS]) for band in range(BANDS))


# Trigrams recur across notices (the same phrases in every one): each is hashed and mixed once,
# and the minimums are then taken in C (zip and min) rather than in sixteen Python loops. About
# 750 bytes an entry: the cache stays under 13 MB.
@functools.lru_cache(maxsize=1 << 14)
def _mixed_hashes(gram: str) -> tuple[int, ...]:
    """The trigram's value under each MinHash function."""
    value = _hash64(gram)
    return tuple([value ^ mix for mix in _MIXES])


def _hash64(text: str) -> int:
    return struct.unpack("<Q", hashlib.blake2b(text.encode(), digest_size=8).digest())[0]


def _mix(seed: int) -> int:
    return struct.unpack("<Q", hashlib.blake2b(seed.to_bytes(2, "little"), digest_size=8).digest())[0]


# One mask per MinHash function, worked out once: every notice stored needs all of them.
_MIXES = tuple(_mix(seed) for seed in _SEEDS)


def _band_key(values: Iterable[int]) -> int:
    digest = hashlib.blake2b(b"".join(value.to_bytes(8, "little") for value in values), digest_size=8).digest()
    return struct.unpack("<q", digest)[0] & _MASK


@dataclass(frozen=True)
class Original:
    """A notice later ones may copy: the caller's key for it, where, when, and whose it is."""

    key: Hashable
    chat_id: int
    posted_at: datetime
    department: Hashable
    kind: str
    # Kept for data requests only: a near-copy is compared with it.
    text: str = ""
    bands: tuple[int, ...] = field(default=(), repr=False)
    # Settles ties between notices posted in the same second: the earlier added is the original.
    sequence: int = 0


class CopyFinder:
    """The original a new notice copies, among notices held in memory (for `jianfu replay`).

    The rule is the one NoticeRepository.find_original asks the database: the earliest notice of
    another group posted within `window` that is not a copy itself, with the same text up to width,
    case and punctuation; for a data request also a near-copy among earlier data requests sharing a
    MinHash band (the earliest MAX_CANDIDATES compared exactly). Notices are added in time order;
    those older than the window are forgotten, so memory follows the window, not the history.
    """

    def __init__(self, window: timedelta) -> None:
        self.window = window
        self._by_fingerprint: dict[str, deque[Original]] = {}
        self._by_band: tuple[dict[int, deque[Original]], ...] = tuple({} for _ in range(BANDS))
        self._kept: deque[tuple[Original, str]] = deque()
        self._added = itertools.count()
        self._grams: dict[int, frozenset[str]] = {}

    def add(
        self, key: Hashable, chat_id: int, posted_at: datetime, kind: str, text: str, department: Hashable
    ) -> Original | None:
        """The original this notice copies; None when it is an original itself (then remembered)."""
        self._forget_before(posted_at - self.window)
        mark = fingerprint(text)
        original = self._same_text(mark, chat_id)
        if original is not None:
            return original
        # Bands are worked out only here: an exact copy (the common case) needs none.
        keys = bands(text) if kind == DATA_REQUEST else ()
        original = self._near_copy(text, keys, chat_id) if keys else None
        if original is None:
            kept_text = text if keys else ""
            original = Original(key, chat_id, posted_at, department, kind, kept_text, keys, next(self._added))
            self._remember(original, mark)
            return None
        return original

    def _same_text(self, mark: str, chat_id: int) -> Original | None:
        return next((seen for seen in self._by_fingerprint.get(mark, ()) if seen.chat_id != chat_id), None)

    def _near_copy(self, text: str, keys: tuple[int, ...], chat_id: int) -> Original | None:
        candidates = {
            id(seen): seen
            for band, value in enumerate(keys)
            for seen in self._by_band[band].get(value, ())
            if seen.chat_id != chat_id
        }
        earliest = sorted(candidates.values(), key=lambda seen: (seen.posted_at, seen.sequence))[:MAX_CANDIDATES]
        mine = shingles(text)
        return next((seen for seen in earliest if jaccard(mine, self._grams_of(seen)) >= NEAR_DUPLICATE), None)

    def _grams_of(self, original: Original) -> frozenset[str]:
        """An original's trigrams, worked out once however many notices it is compared with."""
        grams = self._grams.get(original.sequence)
        if grams is None:
            grams = self._grams[original.sequence] = shingles(original.text)
        return grams

    def _remember(self, original: Original, mark: str) -> None:
        self._by_fingerprint.setdefault(mark, deque()).append(original)
        for band, value in enumerate(original.bands):
            self._by_band[band].setdefault(value, deque()).append(original)
        self._kept.append((original, mark))

    def _forget_before(self, since: datetime) -> None:
        while self._kept and self._kept[0][0].posted_at < since:
            original, mark = self._kept.popleft()
            self._grams.pop(original.sequence, None)
            _drop(self._by_fingerprint, mark, original)
            for band, value in enumerate(original.bands):
                _drop(self._by_band[band], value, original)


def _drop(index: dict, key: Hashable, original: Original) -> None:
    """Remove `original` from its list in `index` (nearly always the oldest, at the front)."""
    entries = index[key]
    if entries[0] is original:
        entries.popleft()
    else:
        entries.remove(original)
    if not entries:
        del index[key]
