"""The first line shown for a notice in lists, reminders and questions."""

from __future__ import annotations

import pytest

from policies.text import first_line


@pytest.mark.parametrize(
    ("text", "limit", "expected"),
    [
        ("【通知】周六停水\n详见附件", 80, "【通知】周六停水"),
        ("\n  \n  第一行有字  \n第二行", 80, "第一行有字"),
        ("", 80, ""),
        ("by Nov 30.", 9, "by Nov 3…"),  # the mark tells a cut "Nov 30" from "Nov 3"
        ("a" * 10, 10, "a" * 10),
        ("a" * 11, 10, "a" * 9 + "…"),
    ],
)
def test_first_line(text: str, limit: int, expected: str) -> None:
    assert first_line(text, limit) == expected
