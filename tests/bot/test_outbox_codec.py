"""What an outbox row holds: every stored action comes back equal, and rows stay small."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from bot import outbox
from bot.i18n import Html
from policies.actions import (
    About,
    Button,
    Delete,
    Logged,
    Outcome,
    RecordEvent,
    RecordRead,
    RefreshCounter,
    Say,
    Send,
    SetPermissions,
    TellAdminsOnce,
    Then,
    TipOnce,
)

GROUP, MEMBER = -1001234, 42
# An ack's deletion as the received rule writes it: the row every removed ack stores.
ACK_DELETION = Delete(
    GROUP,
    77,
    rule="received",
    reason="ack-only: 收到",
    then=Then(
        done=(
            RecordEvent("ack_removed", GROUP, f"ack_removed:{GROUP}:77", rule="received", reason="ack removed"),
            TipOnce(MEMBER, "received.tip_plain", timedelta(days=7), "received", "ack removed"),
        ),
        no_rights=(TellAdminsOnce(GROUP, "received.admins_missing_delete", rule="received", reason="no right"),),
    ),
    about=About(person_id=MEMBER, text="收到"),
)
STORED = [
    ACK_DELETION,
    Send(
        MEMBER,
        Html("<b>周报</b>"),
        (((("已读", "rd:5", ""),),)),
        expire_after=timedelta(minutes=10),
        valid_until=datetime(2026, 12, 7, 1, 0, tzinfo=UTC),
        anonymous=True,
        attempts=3,
        then=Then(done=(RefreshCounter(GROUP, 5),)),
    ),
    Say(MEMBER, "received.tip_tracked", {"title": "群", "n": 3}, buttons=(Button("inbox.open", "ib:0"),)),
    SetPermissions(GROUP, {"can_send_messages": False}, rule="temporary", reason="closing"),
    RecordRead(GROUP, 5, MEMBER, "ack", "received", "收到"),
    Logged(GROUP, "received", "kept", "no delete right", Outcome.NO_RIGHTS.value, MEMBER, "收到"),
]


def stored(action: object) -> object:
    """Through the outbox row and back, as a restarted process reads it."""
    return outbox.decode(json.loads(json.dumps(outbox.encode(action))))


def test_every_stored_action_comes_back_equal() -> None:
    for action in STORED:
        assert stored(action) == action


def test_fields_left_at_their_defaults_are_not_stored_but_come_back() -> None:
    row = outbox.encode(ACK_DELETION)
    assert "gone" not in row["then"] and "durable" not in row
    assert len(json.dumps(row)) < 800  # 955 characters with every field


def test_a_row_written_with_every_field_still_reads() -> None:
    """Rows written before defaults were left out (and by an older replica) hold every field."""

    def with_every_field(value: object) -> object:
        if isinstance(value, dict) and "@" in value:
            kind = outbox._TYPES[value["@"]]
            full = {name: outbox.encode(default) for name, default in outbox._fields_of(kind) if name not in value}
            return {**{k: with_every_field(v) for k, v in value.items()}, **full}
        if isinstance(value, list):
            return [with_every_field(item) for item in value]
        return value

    for action in STORED:
        assert outbox.decode(json.loads(json.dumps(with_every_field(outbox.encode(action))))) == action
