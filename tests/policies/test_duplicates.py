"""Duplicate detection: fingerprints for copies, MinHash bands and Jaccard for near-copies."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from policies.duplicates import BANDS, bands, fingerprint, jaccard, shingles

REQUEST = "【通知】请各社区于12月5日前报送第四季度独居老人走访台账，联系人王芳。"
NEAR = "【通知】请各社区于12月5日前报送第四季度独居老人走访台账，联系人：李明。"
OTHER = "明天上午9点在三楼会议室开会，请准时参加。"


def test_fingerprints_ignore_width_case_punctuation_and_spacing() -> None:
    assert fingerprint(REQUEST) == fingerprint(REQUEST.replace("，", ",") + "！！")
    assert fingerprint("Notice: Submit the FORM") == fingerprint("notice submit the form")
    assert fingerprint(REQUEST) != fingerprint(NEAR)


def test_near_copies_are_similar_and_share_bands() -> None:
    assert jaccard(shingles(REQUEST), shingles(NEAR)) >= 0.8
    assert jaccard(shingles(REQUEST), shingles(OTHER)) < 0.2
    assert any(a == b for a, b in zip(bands(REQUEST), bands(NEAR), strict=True))
    assert not any(a == b for a, b in zip(bands(REQUEST), bands(OTHER), strict=True))


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_bands_are_stable_and_fit_a_signed_64_bit_column(text: str) -> None:
    keys = bands(text)
    assert len(keys) == BANDS and keys == bands(text)
    assert all(0 <= key < 2**63 for key in keys)


def test_bands_keep_the_values_stored_before() -> None:
    """Stored notices keep their bands in the database: how they are worked out may change, the
    values may not."""
    assert bands(REQUEST) == (3124841531830330990, 7764669463986281580, 554362135848316384, 7590021333554360369)
