"""The command table: who may use which command where (what /help lists and the menus offer)."""

from __future__ import annotations

import pytest

from policies.help import USAGES, ChatKind, help_sections, usable_commands
from policies.roles import COMMAND_ROLES, Roles

MEMBER, ADMIN, SUPERVISOR = Roles(), Roles(is_group_admin=True), Roles(is_supervisor=True)
PRIVATE_FOR_ALL = {"start", "help", "lang", "inbox", "log", "whistle", "status", "cancel"}
GROUP_FOR_ALL = {"help", "rules", "status", "notice", "urgent", "readers"}
GROUP_ADMIN = {"register", "set", "temp", "done", "reopen", "extend", "lang"}
SUPERVISOR_PRIVATE = {"dept", "groups", "whistles", "digest", "grant", "revoke"}


@pytest.mark.parametrize(
    ("roles", "chat", "expected"),
    [
        (MEMBER, ChatKind.PRIVATE, PRIVATE_FOR_ALL),
        (MEMBER, ChatKind.GROUP, GROUP_FOR_ALL),
        # Admin rights count only inside their group: in private an admin is a member.
        (ADMIN, ChatKind.PRIVATE, PRIVATE_FOR_ALL),
        (ADMIN, ChatKind.GROUP, GROUP_FOR_ALL | GROUP_ADMIN),
        (SUPERVISOR, ChatKind.PRIVATE, PRIVATE_FOR_ALL | SUPERVISOR_PRIVATE),
        # Supervisors may do what group admins may, and grant roles by replying to someone.
        (SUPERVISOR, ChatKind.GROUP, GROUP_FOR_ALL | GROUP_ADMIN | {"grant", "revoke"}),
    ],
    ids=["member-private", "member-group", "admin-private", "admin-group", "supervisor-private", "supervisor-group"],
)
def test_each_role_in_each_chat_may_use_exactly_these_commands(
    roles: Roles, chat: ChatKind, expected: set[str]
) -> None:
    assert {name for name, _key in usable_commands(chat, roles)} == expected
    listed = {usage.command for _section, usages in help_sections(chat, roles) for usage in usages}
    assert listed == expected


def test_whistle_is_never_offered_in_a_group() -> None:
    for roles in (MEMBER, ADMIN, SUPERVISOR, Roles(True, True, frozenset({1}))):
        assert "whistle" not in {name for name, _key in usable_commands(ChatKind.GROUP, roles)}


def test_every_permission_in_the_table_is_one_may_run_knows() -> None:
    assert {usage.permission for usage in USAGES} - {None} <= set(COMMAND_ROLES)


def test_sections_come_in_order_and_hide_when_empty() -> None:
    assert [section for section, _lines in help_sections(ChatKind.GROUP, SUPERVISOR)] == [
        "member",
        "sender",
        "group_admin",
        "supervisor",
    ]
    assert [section for section, _lines in help_sections(ChatKind.PRIVATE, MEMBER)] == ["member"]
