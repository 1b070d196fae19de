"""Duplicate notices: the same text in several groups, or a near-copy of a data request.

Exact duplicates share a fingerprint of the normalised text. Near-duplicates are found by
MinHash over character trigrams: four bands of four hashes each, so that two texts with a
trigram Jaccard similarity of 0.8 share at least one band with probability above 0.99, and
the candidates a band finds are then compared exactly.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Iterable

from policies.text import normalize

BANDS = 4
ROWS = 4
NEAR_DUPLICATE = 0.8
_SEEDS = tuple(range(BANDS * ROWS))
_MASK = (1 << 63) - 1  # bands are stored in signed 64-bit columns


def fingerprint(text: str) -> str:
    """Equal for texts that differ only in width, case, punctuation, spacing or repeats."""
    return hashlib.blake2b(normalize(text).encode(), digest_size=8).hexdigest()


def shingles(text: str, size: int = 3) -> frozenset[str]:
    form = normalize(text)
    if len(form) <= size:
        return frozenset({form}) if form else frozenset()
    return frozenset(form[index : index + size] for index in range(len(form) - size + 1))


def jaccard(first: frozenset[str], second: frozenset[str]) -> float:
    if not first or not second:
        return 0.0
    return len(first & second) / len(first | second)


def bands(text: str) -> tuple[int, ...]:
    """The MinHash band keys of the text (one 63-bit integer per band)."""
    grams = shingles(text)
    if not grams:
        return (0,) * BANDS
    hashes = [_hash64(gram) for gram in grams]
    minimums = [min([value ^ mix for value in hashes]) for mix in _MIXES]
    return tuple(_band_key(minimums[band * ROWS : (band + 1) * ROWS]) for band in range(BANDS))


def _hash64(text: str) -> int:
    return struct.unpack("<Q", hashlib.blake2b(text.encode(), digest_size=8).digest())[0]


def _mix(seed: int) -> int:
    return struct.unpack("<Q", hashlib.blake2b(seed.to_bytes(2, "little"), digest_size=8).digest())[0]


# One mask per MinHash function, worked out once: every notice stored needs all of them.
_MIXES = tuple(_mix(seed) for seed in _SEEDS)


def _band_key(values: Iterable[int]) -> int:
    digest = hashlib.blake2b(b"".join(value.to_bytes(8, "little") for value in values), digest_size=8).digest()
    return struct.unpack("<q", digest)[0] & _MASK
