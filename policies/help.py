"""Every command a person may use, by chat and role: the one table /help and the command menus read.

Role checks go through `may_run` with the same permission names, so help, menus and refusals
cannot disagree. /whistle lives in private chat only: no group help or group menu names it.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from policies.roles import Roles, may_run


class ChatKind(StrEnum):
    PRIVATE = "private"
    GROUP = "group"


PRIVATE = frozenset({ChatKind.PRIVATE})
GROUP = frozenset({ChatKind.GROUP})
BOTH = PRIVATE | GROUP

# Help sections in the order they are shown.
SECTIONS = ("member", "sender", "group_admin", "supervisor")


@dataclass(frozen=True)
class Usage:
    """One help line: a command, where it works, who may use it (a `may_run` name; None is everyone)."""

    command: str
    chats: frozenset[ChatKind]
    permission: str | None
    section: str
    # help.line.<line> is the help text; cmd.<menu> the menu's description.
    line: str
    menu: str

    def usable(self, chat: ChatKind, roles: Roles) -> bool:
        return chat in self.chats and (self.permission is None or may_run(self.permission, roles).hit)


def _usage(
    command: str, chats: frozenset[ChatKind], permission: str | None, section: str, line: str = "", menu: str = ""
) -> Usage:
    return Usage(command, chats, permission, section, line or command, menu or command)


USAGES: tuple[Usage, ...] = (
    _usage("start", PRIVATE, None, "member"),
    _usage("help", BOTH, None, "member"),
    _usage("lang", PRIVATE, None, "member"),
    _usage("inbox", PRIVATE, None, "member"),
    # A member sees their own removed messages; a group's admins and supervisors its action log.
    _usage("log", PRIVATE, None, "member"),
    _usage("whistle", PRIVATE, None, "member"),
    _usage("status", PRIVATE, None, "member", "status_code", "status_code"),
    _usage("cancel", PRIVATE, None, "member"),
    _usage("rules", GROUP, None, "member"),
    _usage("status", GROUP, None, "member"),
    # Anyone in a group may post a notice; /readers answers its sender (and admins) privately.
    _usage("notice", GROUP, None, "sender"),
    _usage("urgent", GROUP, None, "sender"),
    _usage("readers", GROUP, None, "sender"),
    _usage("register", GROUP, "register", "group_admin"),
    _usage("set", GROUP, "set", "group_admin", "set_received"),
    _usage("set", GROUP, "set", "group_admin", "set_formalism"),
    _usage("set", GROUP, "set", "group_admin", "set_quiet"),
    _usage("set", GROUP, "set", "group_admin", "set_digest"),
    _usage("temp", GROUP, "temp", "group_admin"),
    _usage("done", GROUP, "done", "group_admin"),
    _usage("reopen", GROUP, "reopen", "group_admin"),
    _usage("extend", GROUP, "extend", "group_admin"),
    _usage("lang", GROUP, "lang_group", "group_admin", "lang_group"),
    _usage("dept", PRIVATE, "dept", "supervisor", "dept_add"),
    _usage("dept", PRIVATE, "dept", "supervisor", "dept_manage"),
    _usage("dept", PRIVATE, "dept", "supervisor", "dept_quota"),
    _usage("groups", PRIVATE, "groups", "supervisor"),
    _usage("whistles", PRIVATE, "whistles", "supervisor"),
    _usage("digest", PRIVATE, "digest", "supervisor"),
    _usage("grant", BOTH, "grant", "supervisor"),
    _usage("revoke", BOTH, "revoke", "supervisor"),
)


def help_sections(chat: ChatKind, roles: Roles) -> list[tuple[str, list[Usage]]]:
    """The sections of /help for this person in this kind of chat, each with its usable lines."""
    usable = [usage for usage in USAGES if usage.usable(chat, roles)]
    grouped = [(section, [usage for usage in usable if usage.section == section]) for section in SECTIONS]
    return [(section, lines) for section, lines in grouped if lines]


def usable_commands(chat: ChatKind, roles: Roles) -> list[tuple[str, str]]:
    """(command, description key) for a command menu: each usable command once, in table order."""
    seen: dict[str, str] = {}
    for usage in USAGES:
        if usage.usable(chat, roles) and usage.command not in seen:
            seen[usage.command] = usage.menu
    return list(seen.items())
