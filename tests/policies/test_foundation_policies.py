"""Tables for the foundation's rules: rights, joining, roles, languages, departments, commands."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from policies.actions import KeyList, Say
from policies.commands import (
    DeptAdd,
    DeptContact,
    DeptList,
    DeptRemove,
    DeptRename,
    DeptUnits,
    ParseError,
    RoleChange,
    parse_dept,
    parse_role_change,
)
from policies.departments import DepartmentRef, match_department, normalize_name
from policies.join import on_bot_membership
from policies.language import normalize_language, pick_language
from policies.rights import missing_rights
from policies.roles import Roles, may_run
from policies.types import BotRights, ChatRef, ChatType, MemberChange, MemberStatus, Person

NOW = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)
ALL_RIGHTS = BotRights(True, True, True, True, True, True)
GROUP = ChatRef(-100, ChatType.SUPERGROUP, "朝阳社区工作群")
ADDER = Person(11, "王芳")


@pytest.mark.parametrize(
    ("rights", "missing"),
    [
        (ALL_RIGHTS, ()),
        (
            BotRights(),
            ("can_delete_messages", "can_restrict_members", "can_pin_messages", "can_invite_users", "can_change_info"),
        ),
        (
            BotRights(is_admin=False, can_delete_messages=True),
            ("can_delete_messages", "can_restrict_members", "can_pin_messages", "can_invite_users", "can_change_info"),
        ),
        (BotRights(True, True, False, True, True, True), ("can_restrict_members",)),
        (BotRights(True, False, True, True, False, True), ("can_delete_messages", "can_invite_users")),
    ],
)
def test_missing_rights(rights: BotRights, missing: tuple[str, ...]) -> None:
    verdict = missing_rights(rights)
    assert verdict.missing == missing
    assert verdict.hit is bool(missing)
    assert verdict.rule == "missing_rights"


def change(old: MemberStatus, new: MemberStatus, rights: BotRights = ALL_RIGHTS, chat: ChatRef = GROUP) -> MemberChange:
    return MemberChange(chat, ADDER, Person(7, "Jianfu", is_bot=True), old, new, NOW, rights)


def test_joining_introduces_in_group_and_privately_to_the_adder() -> None:
    actions = on_bot_membership(
        change(MemberStatus.LEFT, MemberStatus.MEMBER, BotRights()), actor_has_private_chat=True, group_language="en"
    )
    assert [(a.chat_id, a.key, a.expires, a.language) for a in actions if isinstance(a, Say)] == [
        (-100, "join.intro", True, "en"),
        (11, "join.intro_private", False, None),
    ]
    missing = missing_rights(BotRights()).missing
    assert actions[0].params["missing"] == KeyList("right_short.", missing, inline=True)
    assert actions[1].params["missing"] == KeyList("right.", missing)


def test_joining_without_the_adder_having_started_the_bot_only_speaks_in_the_group() -> None:
    actions = on_bot_membership(
        change(MemberStatus.KICKED, MemberStatus.ADMINISTRATOR), actor_has_private_chat=False, group_language=None
    )
    assert [a.key for a in actions] == ["join.intro"]
    assert actions[0].params["missing"].items == ()


@pytest.mark.parametrize(
    ("old", "new", "private", "keys"),
    [
        (MemberStatus.MEMBER, MemberStatus.LEFT, True, []),
        (MemberStatus.ADMINISTRATOR, MemberStatus.KICKED, True, []),
        (MemberStatus.MEMBER, MemberStatus.ADMINISTRATOR, True, ["join.rights_complete"]),
        (MemberStatus.MEMBER, MemberStatus.ADMINISTRATOR, False, []),
        (MemberStatus.ADMINISTRATOR, MemberStatus.MEMBER, True, []),
    ],
)
def test_membership_changes_after_joining_stay_quiet_in_the_group(old, new, private, keys) -> None:
    actions = on_bot_membership(change(old, new), actor_has_private_chat=private, group_language=None)
    assert [a.key for a in actions] == keys
    assert all(a.chat_id == ADDER.id for a in actions)


def test_promotion_with_rights_still_missing_says_which() -> None:
    [action] = on_bot_membership(
        change(MemberStatus.MEMBER, MemberStatus.ADMINISTRATOR, BotRights(True, True)),
        actor_has_private_chat=True,
        group_language=None,
    )
    assert action.key == "join.rights_missing"
    assert "can_pin_messages" in action.params["missing"].items


def test_private_chat_membership_is_not_a_group_join() -> None:
    private = ChatRef(11, ChatType.PRIVATE)
    assert (
        on_bot_membership(
            change(MemberStatus.KICKED, MemberStatus.MEMBER, chat=private),
            actor_has_private_chat=True,
            group_language=None,
        )
        == []
    )


@pytest.mark.parametrize(
    ("command", "roles", "allowed"),
    [
        ("grant", Roles(is_supervisor=True), True),
        ("grant", Roles(is_group_admin=True), False),
        ("grant", Roles(contact_of=frozenset({1})), False),
        ("dept", Roles(), False),
        ("groups", Roles(is_supervisor=True), True),
        ("register", Roles(is_group_admin=True), True),
        ("register", Roles(is_supervisor=True), True),
        ("register", Roles(), False),
        ("lang_group", Roles(), False),
    ],
)
def test_may_run(command: str, roles: Roles, allowed: bool) -> None:
    permission = may_run(command, roles)
    assert permission.hit is allowed
    assert permission.rule == f"role:{command}"
    assert f"/{command} needs" in permission.detail


@pytest.mark.parametrize(
    ("code", "expected"),
    [("zh-hans", "zh-CN"), ("zh-TW", "zh-CN"), ("en-US", "en"), ("EN", "en"), ("ru", None), (None, None), ("", None)],
)
def test_normalize_language(code, expected) -> None:
    assert normalize_language(code) == expected


def test_pick_language_order() -> None:
    assert pick_language(default="zh-CN") == "zh-CN"
    assert pick_language(default="zh-CN", telegram_code="en-GB") == "en"
    assert pick_language(default="zh-CN", person_choice="zh-CN", telegram_code="en") == "zh-CN"
    assert pick_language(default="zh-CN", group_override="en", person_choice="zh-CN") == "en"
    assert pick_language(default="en", telegram_code="fr") == "en"


DEPARTMENTS = [
    DepartmentRef(1, "民政局", "mz"),
    DepartmentRef(2, "卫生健康委员会", "wjw"),
    DepartmentRef(3, "民族宗教事务局", "mzj"),
    DepartmentRef(4, "Civil Affairs", "ca"),
]


@pytest.mark.parametrize(
    ("query", "exact", "candidates"),
    [
        ("民政局", 1, ()),
        ("ＭＺ", 1, ()),
        (" civil  affairs ", 4, ()),
        ("民政", None, (1,)),
        ("卫健委", None, (2,)),
        ("民", None, (1, 3)),
        ("交通局", None, ()),
        ("", None, ()),
    ],
)
def test_match_department(query: str, exact: int | None, candidates: tuple[int, ...]) -> None:
    match = match_department(query, DEPARTMENTS)
    assert (match.exact.id if match.exact else None) == exact
    assert tuple(d.id for d in match.candidates)[: len(candidates)] == candidates
    if not candidates:
        assert match.candidates == ()


def test_normalize_name_folds_width_case_and_spaces() -> None:
    assert normalize_name(" Ｃivil　Affairs ") == "civilaffairs"


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("add 民政局", DeptAdd("民政局", "民政局", 1)),
        ("add 民政局 units 12", DeptAdd("民政局", "民政局", 12)),
        ("ADD 民政局 units 3 code MZ", DeptAdd("民政局", "MZ", 3)),
        ('add "Civil Affairs" code ca', DeptAdd("Civil Affairs", "ca", 1)),
        ("list", DeptList()),
        ("rename 民政局 民政办", DeptRename("民政局", "民政办")),
        ("remove 民政局", DeptRemove("民政局")),
        ("units 民政局 4", DeptUnits("民政局", 4)),
        ("contact 民政局 -100123", DeptContact("民政局", -100123)),
        ("contact 民政局 none", DeptContact("民政局", None)),
        ("", ParseError("dept.usage")),
        ("fly 民政局", ParseError("dept.usage")),
        ("add", ParseError("dept.usage")),
        ("add 民政局 units", ParseError("dept.usage")),
        ("add 民政局 units 0", ParseError("error.bad_number", {"value": "0", "max": 10_000})),
        ("add 民政局 units many", ParseError("error.bad_number", {"value": "many", "max": 10_000})),
        ("add 民政局 colour red", ParseError("dept.usage")),
        ("add 123", ParseError("dept.error.name_digits", {"name": "123", "max": 100})),
        ("add " + "长" * 101, ParseError("dept.error.name_too_long", {"name": "长" * 101, "max": 100})),
        ('add "民政局', ParseError("error.unbalanced_quotes")),
        ("list extra", ParseError("dept.usage")),
        ("rename 民政局", ParseError("dept.usage")),
        ("contact 民政局 abc", ParseError("dept.error.bad_chat_id", {"value": "abc"})),
        (
            "contact 民政局 -99999999999999999999",
            ParseError("dept.error.bad_chat_id", {"value": "-99999999999999999999"}),
        ),
        ("contact 民政局 0", ParseError("dept.error.bad_chat_id", {"value": "0"})),
    ],
)
def test_parse_dept(text: str, expected) -> None:
    assert parse_dept(text) == expected


@pytest.mark.parametrize(
    ("text", "reply_to", "expected"),
    [
        ("123456", None, RoleChange(123456, "supervisor")),
        ("123456 supervisor", None, RoleChange(123456, "supervisor")),
        ("123456 contact 民政局", None, RoleChange(123456, "contact", "民政局")),
        ("", 99, RoleChange(99, "supervisor")),
        ("contact mz", 99, RoleChange(99, "contact", "mz")),
        ("", None, ParseError("grant.usage")),
        ("@wangfang", None, ParseError("grant.usage")),
        ("123 contact", None, ParseError("grant.usage")),
        ("123 king", None, ParseError("grant.usage")),
        ("-5", None, ParseError("grant.usage")),
    ],
)
def test_parse_role_change(text: str, reply_to: int | None, expected) -> None:
    assert parse_role_change(text, reply_to) == expected
