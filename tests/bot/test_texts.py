"""Texts a user sees: no trailing spaces, no number from the configuration written into a
catalog, and a changed configuration changes what the bot says."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from pathlib import Path

import pytest

from bot.i18n import Catalog
from policies.clock import FakeClock
from tests.bot.conftest import ADMIN, GROUP, MEMBER, Harness, configured_harness

CATALOG = Catalog.load()
# Pieces joined to other text, where a space at the end is the gap before what follows.
FRAGMENTS = {"list_separator", "right_short._header", "right_short._separator", "held.urgent_marker"}
# A number with a unit: days, minutes, hours, characters... belong in the configuration or the code.
QUANTITY = {
    "zh-CN": r"\d[\d,]*\s*(?:天|分钟|小时|字|秒|条|件|个|周|次)",
    "en": r"\b\d[\d,]*\s*(?:days?|minutes?|hours?|characters?|seconds?|items?|reports?|notices?|groups?|weeks?)\b",
}
# Facts of Telegram, not settings of Jianfu.
FIXED_QUANTITIES = {"received.admins_too_old": "Telegram deletes no message older than 48 hours"}


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_no_message_line_ends_in_a_space(language: str) -> None:
    trailing = [
        key for key, text in CATALOG.messages[language].items()
        if key not in FRAGMENTS and any(line != line.rstrip() for line in text.split("\n"))
    ]  # fmt: skip
    assert not trailing


def test_a_rendered_message_has_no_trailing_space_whatever_its_parameters() -> None:
    text = CATALOG.text("en", "digest.title", week="2026-W48", start="11-23", end="11-29", note="  ")
    assert text == text.rstrip() and "\n" not in text


@pytest.mark.parametrize("language", ["zh-CN", "en"])
def test_no_quantity_is_written_into_a_catalog(language: str) -> None:
    found = {
        key: re.findall(QUANTITY[language], text)
        for key, text in CATALOG.messages[language].items()
        if key not in FIXED_QUANTITIES
    }
    assert {key: numbers for key, numbers in found.items() if numbers} == {}


@pytest.mark.parametrize(
    ("count", "english"), [(1, "Inbox</b>: 1 notice (page"), (2, "Inbox</b>: 2 notices (page"), (0, ": 0 notices (")]
)
def test_english_counts_agree_with_their_nouns(count: int, english: str) -> None:
    assert english in CATALOG.text("en", "inbox.header", total=count, page=1, pages=1)
    assert f"：{count} 条" in CATALOG.text("zh-CN", "inbox.header", total=count, page=1, pages=1)


# A deployment whose numbers differ from every default.
RECONFIGURED = {
    "temporary": {"close_after_days": 5, "max_extend_days": 9},
    "whistle": {"flow_expire_minutes": 15},
    "received": {"notice_window_minutes": 45},
}


async def said_on_a_first_day(tmp_path: Path, name: str, **overrides: object) -> str:
    """Texts are the same on every engine: each deployment gets a SQLite file of its own."""
    url = f"sqlite+aiosqlite:///{tmp_path / name}.db"
    clock = FakeClock(datetime(2026, 11, 23, 1, 0, tzinfo=UTC))
    async with configured_harness(url, clock, **overrides) as harness:
        return await texts_of_a_first_day(harness)


async def texts_of_a_first_day(harness: Harness) -> str:
    """What the bot says when it joins, on /rules, /temp, /done, /help and /whistle."""
    await harness.private(ADMIN, "/start")
    rights = dict.fromkeys(("can_delete_messages", "can_restrict_members", "can_pin_messages"), True)
    await harness.send(harness.updates.my_chat_member(GROUP, ADMIN, old="left", new="administrator", rights=rights))
    for command in ("/rules", "/temp 防汛", "/done", "/help"):
        await harness.command(GROUP, ADMIN, command)
    await harness.private(MEMBER, "/whistle")
    return "\n".join(harness.texts(GROUP) + harness.texts(MEMBER))


async def test_the_configured_numbers_are_the_ones_the_bot_says(tmp_path: Path) -> None:
    default = await said_on_a_first_day(tmp_path, "default")
    changed = await said_on_a_first_day(tmp_path, "reconfigured", **RECONFIGURED)
    for expected_default, expected_changed in (
        ("临时群完成后 3 天内解散", "临时群完成后 5 天内解散"),  # the join message
        ("（3 天后）关闭", "（5 天后）关闭"),  # /done
        ("/done — 工作完成，3 天后关闭", "/done — 工作完成，5 天后关闭"),  # /help
        ("推迟关闭（最多 30 天）", "推迟关闭（最多 9 天）"),
        ("通知后 30 分钟内", "通知后 45 分钟内"),  # /rules
        ("30 分钟不操作会自动作废", "15 分钟不操作会自动作废"),  # /whistle
    ):
        assert expected_default in default and expected_changed in changed
