"""A group's settings and close progress: what a stored row means, what is dropped, the merge with defaults."""

from __future__ import annotations

from datetime import time

import pytest

from policies.formalism import Kind, Switch
from policies.group_settings import (
    CloseProgress,
    GroupDefaults,
    GroupSettings,
    StoredSettings,
    above_record,
    group_mode,
    quiet_choice,
    quiet_hours,
    read_stored,
    record_only,
    to_stored,
)
from policies.quiet import QuietHours
from policies.received import Mode

DEFAULTS = GroupDefaults(mode="remove", quiet_start="21:00", quiet_end="07:30", quiet_weekends=True)


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (None, StoredSettings(GroupSettings(), CloseProgress())),
        ({}, StoredSettings(GroupSettings(), CloseProgress())),
        ({"received": "record"}, StoredSettings(GroupSettings(received=Mode.RECORD), CloseProgress())),
        ({"quiet": "22:00-06:00", "digest": "on"},
         StoredSettings(GroupSettings(quiet="22:00-06:00", digest=True), CloseProgress())),
        ({"quiet": "off", "digest": "off"}, StoredSettings(GroupSettings(quiet="off", digest=False), CloseProgress())),
        ({"checkin": "off", "photo_proof": "record"},
         StoredSettings(GroupSettings(formalism={"checkin": Switch.OFF, "photo_proof": Switch.RECORD}),
                        CloseProgress())),
        ({"close_missing_rights": ["can_pin_messages"], "close_summary_message_id": 77,
          "bot_invite_links": ["https://t.me/+a"]},
         StoredSettings(GroupSettings(), CloseProgress(("can_pin_messages",), 77, ("https://t.me/+a",)))),
        # Old or damaged rows: a known key's value not understood is dropped and counted; a key this
        # version does not know (a newer replica's) is kept as it was.
        ({"received": "maybe", "quiet": "all day", "digest": True, "checkin": "sometimes"},
         StoredSettings(GroupSettings(), CloseProgress(), dropped=4)),
        ({"colour": "blue", "received": "off", "close_summary_message_id": True, "bot_invite_links": "x"},
         StoredSettings(GroupSettings(received=Mode.OFF), CloseProgress(), dropped=2, others={"colour": "blue"})),
        (["not", "a", "mapping"], StoredSettings(GroupSettings(), CloseProgress())),
    ],
)  # fmt: skip
def test_a_stored_row_reads_as_typed_settings(raw: object, expected: StoredSettings) -> None:
    assert read_stored(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"received": "off"},
        {"digest": "off", "received": "record"},
        {"quiet": "off", "checkin": "on", "instant_reply": "off", "promotion": "record"},
        {"close_missing_rights": ["can_delete_messages", "can_pin_messages"], "close_summary_message_id": -1},
        {"bot_invite_links": ["https://t.me/+a", "https://t.me/+b"], "received": "remove"},
    ],
)
def test_what_is_understood_is_stored_back_unchanged(raw: dict) -> None:
    stored = read_stored(raw)
    assert to_stored(stored.settings, stored.close) == raw


def test_garbage_is_gone_once_written_back_and_another_versions_keys_stay() -> None:
    stored = read_stored({"received": "record", "quiet": "all day", "newer_flag": 1})
    assert to_stored(stored.settings, stored.close, stored.others) == {"received": "record", "newer_flag": 1}


def test_changing_the_formalism_switches_and_the_missing_rights() -> None:
    settings = GroupSettings(formalism={"checkin": Switch.ON})
    settings = settings.with_formalism((Kind.CHECKIN, Kind.PROMOTION), Switch.OFF)
    assert to_stored(settings, CloseProgress()) == {"checkin": "off", "promotion": "off"}
    progress = CloseProgress()
    for right in ("can_pin_messages", "can_delete_messages", "can_pin_messages"):
        progress = progress.with_missing(right)
    assert progress.missing_rights == ("can_delete_messages", "can_pin_messages")


@pytest.mark.parametrize(
    ("settings", "mode"),
    [(None, Mode.REMOVE), (GroupSettings(), Mode.REMOVE), (GroupSettings(received=Mode.OFF), Mode.OFF)],
)
def test_the_groups_mode_else_the_deployments(settings: GroupSettings | None, mode: Mode) -> None:
    assert group_mode(settings, DEFAULTS) is mode


@pytest.mark.parametrize(
    ("settings", "expected"),
    [
        (None, QuietHours(time(21, 0), time(7, 30), True)),
        (GroupSettings(quiet="22:00-06:00"), QuietHours(time(22, 0), time(6, 0), True)),
        (GroupSettings(quiet="off"), None),
    ],
)
def test_the_groups_quiet_hours_else_the_deployments(
    settings: GroupSettings | None, expected: QuietHours | None
) -> None:
    assert quiet_hours(settings, DEFAULTS) == expected


@pytest.mark.parametrize(
    ("typed", "choice"),
    [("off", "off"), ("OFF", "off"), ("关闭", "off"), ("22:00-07:00", "22:00-07:00"), ("7:00-9:30", "7:00-9:30"),
     ("24:00-07:00", None), ("evening", None), ("22:00", None)],
)  # fmt: skip
def test_a_quiet_choice_is_off_or_a_range(typed: str, choice: str | None) -> None:
    assert quiet_choice(typed) == choice


ON_BY_DEFAULT: dict[str, Switch] = {}


@pytest.mark.parametrize(
    ("rule", "settings", "deployment", "lowered"),
    [
        ("received", GroupSettings(), ON_BY_DEFAULT, ("received",)),  # the deployment removes
        ("received", GroupSettings(received=Mode.RECORD), ON_BY_DEFAULT, ()),
        ("received", GroupSettings(received=Mode.OFF), ON_BY_DEFAULT, ()),  # off is never raised to record
        ("formalism", GroupSettings(), ON_BY_DEFAULT, ("checkin", "photo_proof", "promotion", "instant_reply")),
        (
            "formalism",
            GroupSettings(formalism={"checkin": Switch.OFF, "promotion": Switch.RECORD}),
            ON_BY_DEFAULT,
            ("photo_proof", "instant_reply"),
        ),
        ("formalism", GroupSettings(formalism={"photo_proof": Switch.ON}), {"photo_proof": Switch.OFF,
         "promotion": Switch.OFF, "instant_reply": Switch.RECORD, "checkin": Switch.RECORD}, ("photo_proof",)),
    ],
)  # fmt: skip
def test_record_only_turns_down_what_does_more_than_record_and_nothing_else(
    rule: str, settings: GroupSettings, deployment: dict[str, Switch], lowered: tuple[str, ...]
) -> None:
    assert above_record(rule, settings, DEFAULTS, deployment) == lowered


def test_record_only_writes_record_for_the_rule_or_the_lowered_kinds() -> None:
    assert record_only(GroupSettings(quiet="off"), "received", ()) == GroupSettings(received=Mode.RECORD, quiet="off")
    settings = GroupSettings(formalism={"checkin": Switch.OFF})
    expected = {"checkin": Switch.OFF, "promotion": Switch.RECORD}
    assert record_only(settings, "formalism", ("promotion",)).formalism == expected
