"""The actions the "received" and formalism rules decide, as tables: no Telegram, no database."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime, timedelta

import pytest

from policies.actions import (
    Delete,
    KeyList,
    Logged,
    RecordEvent,
    RecordRead,
    Say,
    SayWhenReachable,
    TellAdminsOnce,
    TipOnce,
)
from policies.callbacks import ConvertDemand, decode
from policies.formalism import Switch
from policies.received import GroupContext, Judgement, Mode, ReceivedConfig, ReceivedRule, Target
from policies.types import ChatRef, ChatType, Message, Person

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # Monday of ISO week 2026-W48
CHAT = ChatRef(-100, ChatType.SUPERGROUP, "朝阳社区工作群")
SENDER = Person(7, "王芳")


def message(text: str, reply_to: int | None = None) -> Message:
    return Message(CHAT, 50, NOW, SENDER, text=text, reply_to_message_id=reply_to)


def group(**values) -> GroupContext:
    defaults = {"mode": Mode.REMOVE, "can_delete": True, "now": NOW, "sender_has_private_chat": True}
    return GroupContext(**(defaults | values))


def flat(actions) -> list:
    """The actions with what follows each when it is done (a new fact, a deletion that worked), in order."""
    found = []
    for action in actions:
        found.append(action)
        then = getattr(action, "then", None)
        if then is not None:
            found += flat(then.done)
    return found


def kinds(actions) -> list[str]:
    return [type(action).__name__ for action in flat(actions)]


@pytest.mark.parametrize(("tracked", "tip"), [(True, "received.tip_tracked"), (False, "received.tip_plain")])
def test_the_tip_after_a_removed_ack_depends_on_whether_the_notice_has_a_read_button(tracked: bool, tip: str) -> None:
    target = Target(10, expects_ack=True, tracked=tracked)
    actions = ReceivedRule().judge(message("收到", reply_to=10), group(replied=target)).actions
    # A read of a tracked notice moves its counter too.
    refresh = ["RefreshCounter"] if tracked else []
    assert kinds(actions) == ["RecordRead", *refresh, "Delete", "RecordEvent", "TipOnce"]
    assert flat(actions)[-1] == TipOnce(7, tip, timedelta(days=7), "received", "ack removed")
    # The read is recorded whatever happens; the count and the tip follow only a deletion that worked.
    assert [type(a).__name__ for a in actions] == ["RecordRead", "Delete"]


def test_a_demand_from_a_reachable_sender_is_reminded_privately_with_the_conversion_button() -> None:
    actions = ReceivedRule().judge(message("收到请回复"), group()).actions
    assert kinds(actions) == ["RecordEvent", "Say"]
    reminder = flat(actions)[1]
    assert (reminder.chat_id, reminder.key, reminder.params) == (
        7,
        "received.demand_private",
        {"title": "朝阳社区工作群"},
    )
    assert decode(reminder.buttons[0].data) == ConvertDemand(-100, 50)


def test_a_demand_from_an_unreachable_sender_is_kept_and_the_admins_told_once_a_week() -> None:
    actions = ReceivedRule().judge(message("收到请回复"), group(sender_has_private_chat=False)).actions
    assert kinds(actions) == ["RecordEvent", "SayWhenReachable", "TellAdminsOnce"]
    kept, admins = flat(actions)[1], flat(actions)[2]
    key = "ack_demand:-100:7:2026-W48"
    assert kept == SayWhenReachable(kept.message, timedelta(days=7), key, "received", "sender not reachable yet")
    assert kept.message.chat_id == 7 and kept.message.key == "received.demand_private"
    assert admins.chat_id == -100 and admins.key == "received.admins_unreachable_sender"
    assert admins.params == {"sender": "王芳"} and admins.period == "7:2026-W48"
    assert not any(
        isinstance(action, Say) and action.chat_id == -100 for action in flat(actions)
    )  # nothing in the group


def test_record_only_groups_count_demands_without_reminding() -> None:
    actions = ReceivedRule().judge(message("收到请回复"), group(mode=Mode.RECORD)).actions
    assert actions == (RecordEvent("ack_demand", -100, "ack_demand:-100:50", 7, "received", "ack demanded"),)


def test_a_formalism_demand_is_counted_per_kind_and_reminded_once_per_message() -> None:
    actions = flat(ReceivedRule().judge(message("请大家每天早上8点前在群里打卡，走访时拍照发群"), group()).actions)
    assert [action.kind for action in actions if isinstance(action, RecordEvent)] == [
        "formalism_checkin",
        "formalism_photo_proof",
        "formalism_reminded",
    ]
    assert actions[2].key == "formalism_reminded:-100:50"
    reminder = actions[-1]
    assert isinstance(reminder, Say) and reminder.key == "formalism.reminder"
    assert reminder.params["kinds"] == KeyList("formalism.kind.", ("checkin", "photo_proof"))


@pytest.mark.parametrize(
    ("deployment", "group_choice", "counted", "reminded"),
    [
        ({}, {}, True, True),
        ({"checkin": Switch.RECORD}, {}, True, False),
        ({"checkin": Switch.OFF}, {}, False, False),
        ({"checkin": Switch.OFF}, {"checkin": Switch.ON}, True, True),
        ({}, {"checkin": Switch.RECORD}, True, False),
    ],
)
def test_the_groups_switch_wins_over_the_deployments(deployment, group_choice, counted: bool, reminded: bool) -> None:
    rule = ReceivedRule(ReceivedConfig(formalism=deployment))
    actions = flat(rule.judge(message("请大家每天早上8点前在群里打卡"), group(formalism=group_choice)).actions)
    assert any(isinstance(action, RecordEvent) and action.kind == "formalism_checkin" for action in actions) is counted
    assert any(isinstance(action, Say) for action in actions) is reminded


def test_formalism_rules_work_when_the_received_rule_is_off_and_exemptions_hold() -> None:
    rule = ReceivedRule()
    assert kinds(rule.judge(message("群消息必须秒回"), group(mode=Mode.OFF)).actions) == [
        "RecordEvent",
        "RecordEvent",
        "Say",
    ]
    assert rule.judge(message("【紧急】今晚暴雨，群消息必须秒回"), group()).actions == ()
    assert rule.judge(message("防汛期间群消息必须秒回"), group()).actions == ()


def test_an_ack_never_also_counts_as_a_demand_and_reads_are_recorded_first() -> None:
    target = Target(10, expects_ack=True)
    actions = ReceivedRule().judge(message("收到", reply_to=10), group(replied=target, can_delete=False)).actions
    assert isinstance(actions[0], RecordRead) and isinstance(actions[1], TellAdminsOnce)
    assert not any(isinstance(action, Delete | RecordEvent) for action in actions)


def test_the_trail_keeps_whose_ack_it_was_and_its_words_and_why_it_stayed() -> None:
    target = Target(10, expects_ack=True)
    removed = ReceivedRule().judge(message("收到", reply_to=10), group(replied=target)).actions
    delete = next(action for action in removed if isinstance(action, Delete))
    assert (delete.about.person_id, delete.about.text, delete.rule) == (SENDER.id, "收到", "received")
    kept = ReceivedRule().judge(message("收到", reply_to=10), group(replied=target, can_delete=False)).actions
    assert kept[-1] == Logged(CHAT.id, "received", "kept", "no delete right", "no_rights", SENDER.id, "收到")


def tree(actions) -> list[str]:
    """Each action's type, with its follow-ups by outcome: Delete{done:[RecordEvent, TipOnce] …}."""
    described = []
    for action in actions:
        branches = []
        then = getattr(action, "then", None)
        for outcome in ("done", "no_rights", "too_old", "gone", "failed", "uncertain", "expired"):
            following = getattr(then, outcome, ()) if then is not None else ()
            if following:
                branches.append(f"{outcome}:{tree(following)}".replace("'", ""))
        described.append(type(action).__name__ + ("{" + " ".join(branches) + "}" if branches else ""))
    return described


NOTICE = Target(10, expects_ack=True)
TRACKED = Target(10, expects_ack=True, tracked=True)
ORDINARY = Target(10)
REMOVED = "Delete{done:[RecordEvent, TipOnce] no_rights:[TellAdminsOnce] too_old:[TellAdminsOnce]}"
REMINDED_PRIVATELY = "RecordEvent{done:[Say]}"
KEPT_FOR_START = "RecordEvent{done:[SayWhenReachable, TellAdminsOnce]}"

# (case, text, replies to the target, group context, the action tree)
JUDGE_TABLE = [
    # Acks in a group that removes them.
    ("ack under a notice", "收到", True, {"replied": NOTICE}, ["RecordRead", REMOVED]),
    (
        "ack under a tracked notice moves its counter",
        "收到",
        True,
        {"replied": TRACKED},
        ["RecordRead{done:[RefreshCounter]}", REMOVED],
    ),
    ("plain ack after a recent notice", "收到", False, {"recent_notice": NOTICE}, ["RecordRead", REMOVED]),
    ("plain ack with no notice around", "收到", False, {}, []),
    ("weak ack under an ordinary message", "好的", True, {"replied": ORDINARY}, []),
    ("weak ack under a notice", "好的", True, {"replied": NOTICE}, ["RecordRead", REMOVED]),
    ("weak ack without a reply", "好的", False, {"recent_notice": NOTICE}, []),
    ("ack under a question", "收到", True, {"replied": Target(10, is_question=True, expects_ack=True)}, []),
    ("digits under a data request", "11", True, {"replied": Target(10, expects_ack=True, asks_for_data=True)}, []),
    (
        "ack under an urgent notice stays",
        "收到",
        True,
        {"replied": Target(10, expects_ack=True, is_urgent=True)},
        ["RecordRead"],
    ),
    (
        "ack without the delete right",
        "收到",
        True,
        {"replied": NOTICE, "can_delete": False},
        ["RecordRead", "TellAdminsOnce", "Logged"],
    ),
    (
        "ack older than 48 hours",
        "收到",
        True,
        {"replied": NOTICE, "now": NOW + timedelta(hours=48)},
        ["RecordRead", "TellAdminsOnce", "Logged"],
    ),
    ("ack in a record-only group", "收到", True, {"replied": NOTICE, "mode": Mode.RECORD}, ["RecordRead"]),
    ("ack in a group with the rule off", "收到", True, {"replied": NOTICE, "mode": Mode.OFF}, []),
    # Demands for acks.
    ("demand, sender reachable", "收到请回复", False, {}, [REMINDED_PRIVATELY]),
    ("demand, sender never started the bot", "收到请回复", False, {"sender_has_private_chat": False}, [KEPT_FOR_START]),
    ("demand in a record-only group", "收到请回复", False, {"mode": Mode.RECORD}, ["RecordEvent"]),
    ("demand with the rule off", "收到请回复", False, {"mode": Mode.OFF}, []),
    ("urgent demand", "【紧急】今晚暴雨，收到请回复", False, {}, []),
    # Formalism demands: one count per kind, one reminder per message.
    ("check-in demand", "请大家每天早上8点前在群里打卡", False, {}, ["RecordEvent", REMINDED_PRIVATELY]),
    (
        "check-in demand, sender never started the bot",
        "请大家每天早上8点前在群里打卡",
        False,
        {"sender_has_private_chat": False},
        ["RecordEvent", KEPT_FOR_START],
    ),
    (
        "check-in demand counted only",
        "请大家每天早上8点前在群里打卡",
        False,
        {"formalism": {"checkin": Switch.RECORD}},
        ["RecordEvent"],
    ),
    (
        "check-in demand switched off",
        "请大家每天早上8点前在群里打卡",
        False,
        {"formalism": {"checkin": Switch.OFF}},
        [],
    ),
    ("formalism in an emergency", "防汛期间群消息必须秒回", False, {}, []),
    # Ordinary talk.
    ("ordinary chat", "明天下午的会改到三点", False, {"replied": NOTICE}, []),
    ("a notice itself", "【通知】请各社区于周五前报送材料", False, {}, []),
]


@pytest.mark.parametrize(
    ("case", "text", "replies", "context", "expected"), JUDGE_TABLE, ids=[row[0] for row in JUDGE_TABLE]
)
def test_judge_from_group_context_to_actions(
    case: str, text: str, replies: bool, context: dict, expected: list[str]
) -> None:
    actions = ReceivedRule().judge(message(text, reply_to=10 if replies else None), group(**context)).actions
    assert tree(actions) == expected, case


def test_a_message_without_a_sender_gets_verdicts_but_no_actions() -> None:
    anonymous = Message(CHAT, 50, NOW, None, text="收到请回复")
    judgement = ReceivedRule().judge(anonymous, group())
    assert judgement.demand.hit and judgement.actions == ()


def test_with_actions_carries_every_other_field_over() -> None:
    """Judgement.with_actions spells its fields out: a field added later must be added there too."""
    values = {field.name: object() for field in dataclasses.fields(Judgement)}
    changed = Judgement(**values).with_actions(("new",))
    assert changed.actions == ("new",)
    assert all(getattr(changed, name) is value for name, value in values.items() if name != "actions")
