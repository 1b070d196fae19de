"""The zh-CN and en catalogs are complete, agree on placeholders, and render safe HTML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from bot.i18n import Catalog, Html, fill, placeholders
from bot.testing.fake import parse_html
from policies.actions import KeyList
from policies.rights import NEEDED_RIGHTS

CATALOG = Catalog.load()
BOT = Path(__file__).resolve().parents[2] / "bot"
FAMILIES = (
    "start|help|lang|role|error|join|right|dept|register|groups|kind|state|grant|whoami|cmd|held|notices|inbox|whistle|"
    "whistles|received|formalism|replay|log"
)


def test_both_languages_have_exactly_the_same_keys() -> None:
    assert set(CATALOG.messages["zh-CN"]) == set(CATALOG.messages["en"])


@pytest.mark.parametrize("key", sorted(CATALOG.messages["zh-CN"]))
def test_placeholders_agree_and_every_message_is_valid_telegram_html(key: str) -> None:
    zh, en = CATALOG.messages["zh-CN"][key], CATALOG.messages["en"][key]
    assert placeholders(zh) == placeholders(en)
    for template in (zh, en):
        filled = fill(template, {name: "x" for name in placeholders(template)})
        parse_html(filled)  # raises on a bad tag or an unescaped < or &


def test_every_key_used_in_the_code_exists() -> None:
    used: set[str] = set()
    audit_actions: set[str] = set()
    for path in list(BOT.rglob("*.py")) + list((BOT.parent / "policies").rglob("*.py")):
        source = path.read_text()
        used |= set(re.findall(rf'"((?:{FAMILIES})\.[a-z_.]+)"', source))
        audit_actions |= set(re.findall(r'(?:_audit\([^"]*|record\(\s*)"([a-z_.]+)"', source))
    # A key ending in "." is the prefix of a family built in code ("formalism.kind." + kind).
    missing = {key for key in used - audit_actions if not key.endswith(".") and key not in CATALOG.messages["zh-CN"]}
    assert not missing
    for name, _use in NEEDED_RIGHTS:
        assert f"right.{name}" in CATALOG.messages["en"]


def test_parameters_are_escaped_but_html_and_lists_are_not() -> None:
    text = CATALOG.text("en", "dept.not_found", name="<b>&")
    assert "&lt;b&gt;&amp;" in text
    assert CATALOG.text("en", "raw", text=Html("<b>bold</b>")) == "<b>bold</b>"
    listing = CATALOG.text("en", "join.rights_missing", title="T", missing=KeyList("right.", ("can_pin_messages",)))
    assert "Pin messages" in listing and "missing" in listing
    assert "All the rights" in CATALOG.text("en", "join.rights_missing", title="T", missing=KeyList("right.", ()))


def test_each_formalism_rule_has_its_reminder_line_name_and_digest_labels() -> None:
    from policies.formalism import ALL_KINDS

    for language in ("zh-CN", "en"):
        for kind in ALL_KINDS:
            for key in ("formalism.kind.", "formalism.name.", "digest.figure.formalism_", "digest.short.formalism_"):
                assert CATALOG.messages[language][key + kind]
        kinds = KeyList("formalism.kind.", tuple(ALL_KINDS))
        reminder = CATALOG.text(language, "formalism.reminder", title="T", kinds=kinds)
        assert reminder.count("· ") == len(ALL_KINDS)


def test_unknown_language_falls_back_to_the_default() -> None:
    assert CATALOG.text("fr", "lang.set") == CATALOG.text("zh-CN", "lang.set")
