"""Who may run which privileged command."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from policies.verdict import Verdict


class Role(StrEnum):
    SUPERVISOR = "supervisor"
    GROUP_ADMIN = "group_admin"
    CONTACT = "contact"


@dataclass(frozen=True)
class Roles:
    """The roles one person holds in the context of one update."""

    is_supervisor: bool = False
    is_group_admin: bool = False
    contact_of: frozenset[int] = frozenset()

    def has(self, role: Role) -> bool:
        if role is Role.SUPERVISOR:
            return self.is_supervisor
        if role is Role.GROUP_ADMIN:
            return self.is_group_admin
        return bool(self.contact_of)


# Supervisors may do anything a group admin may, so they can fix a group nobody manages.
COMMAND_ROLES: dict[str, frozenset[Role]] = {
    "grant": frozenset({Role.SUPERVISOR}),
    "revoke": frozenset({Role.SUPERVISOR}),
    "dept": frozenset({Role.SUPERVISOR}),
    "groups": frozenset({Role.SUPERVISOR}),
    "whistles": frozenset({Role.SUPERVISOR}),
    "digest": frozenset({Role.SUPERVISOR}),
    "register": frozenset({Role.GROUP_ADMIN, Role.SUPERVISOR}),
    "lang_group": frozenset({Role.GROUP_ADMIN, Role.SUPERVISOR}),
    "set": frozenset({Role.GROUP_ADMIN, Role.SUPERVISOR}),
    "readers": frozenset({Role.GROUP_ADMIN, Role.SUPERVISOR}),
    "temp": frozenset({Role.GROUP_ADMIN, Role.SUPERVISOR}),
    "done": frozenset({Role.GROUP_ADMIN, Role.SUPERVISOR}),
    "reopen": frozenset({Role.GROUP_ADMIN, Role.SUPERVISOR}),
    "extend": frozenset({Role.GROUP_ADMIN, Role.SUPERVISOR}),
}


def may_run(command: str, roles: Roles) -> Verdict:
    """Allow the command when the person holds one of the roles it needs."""
    needed = COMMAND_ROLES[command]
    allowed = any(roles.has(role) for role in needed)
    names = " or ".join(sorted(role.value for role in needed))
    detail = f"/{command} needs {names}" + ("" if allowed else "; the caller has none of them")
    return Verdict(f"role:{command}", allowed, detail)


def required_role_key(command: str) -> str:
    """The catalog key naming who may run the command, for the refusal message."""
    needed = COMMAND_ROLES[command]
    return "role.supervisor" if needed == {Role.SUPERVISOR} else "role.group_admin"
