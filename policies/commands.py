"""Parsing the arguments of privileged commands into values, or a polite error key."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field
from typing import Any

from policies.departments import MAX_CODE, MAX_NAME, default_code, name_problem

MAX_UNITS = 10_000


@dataclass(frozen=True)
class ParseError:
    key: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DeptAdd:
    name: str
    code: str
    units: int


@dataclass(frozen=True)
class DeptList:
    pass


@dataclass(frozen=True)
class DeptRename:
    old: str
    new: str


@dataclass(frozen=True)
class DeptRemove:
    name: str


@dataclass(frozen=True)
class DeptUnits:
    name: str
    units: int


@dataclass(frozen=True)
class DeptContact:
    name: str
    chat_id: int | None


@dataclass(frozen=True)
class DeptQuota:
    name: str
    quota: int | None


DeptCommand = DeptAdd | DeptList | DeptRename | DeptRemove | DeptUnits | DeptContact | DeptQuota


@dataclass(frozen=True)
class RoleChange:
    """A /grant or /revoke: the person, the role, and for contacts the department name."""

    person_id: int
    role: str
    department: str | None = None


def split_args(text: str) -> list[str] | ParseError:
    """Split like a shell, so 'a name with spaces' can be quoted."""
    try:
        return shlex.split(text)
    except ValueError:
        return ParseError("error.unbalanced_quotes")


def parse_dept(text: str) -> DeptCommand | ParseError:
    args = split_args(text)
    if isinstance(args, ParseError):
        return args
    if not args:
        return ParseError("dept.usage")
    verb, rest = args[0].lower(), args[1:]
    parser = _DEPT_VERBS.get(verb)
    if parser is None:
        return ParseError("dept.usage")
    return parser(rest)


def _dept_add(args: list[str]) -> DeptAdd | ParseError:
    if not args:
        return ParseError("dept.usage")
    name, options = args[0], args[1:]
    if problem := name_problem(name):
        return ParseError(problem, {"name": name, "max": MAX_NAME})
    units, code = 1, default_code(name)
    while options:
        if len(options) < 2:
            return ParseError("dept.usage")
        option, value, options = options[0].lower(), options[1], options[2:]
        if option in ("units", "单位"):
            parsed = _positive_int(value)
            if isinstance(parsed, ParseError):
                return parsed
            units = parsed
        elif option in ("code", "简称"):
            if not value.strip() or len(value) > MAX_CODE:
                return ParseError("dept.error.bad_code", {"max": MAX_CODE})
            code = value.strip()
        else:
            return ParseError("dept.usage")
    return DeptAdd(name.strip(), code, units)


def _dept_list(args: list[str]) -> DeptList | ParseError:
    return DeptList() if not args else ParseError("dept.usage")


def _dept_rename(args: list[str]) -> DeptRename | ParseError:
    if len(args) != 2:
        return ParseError("dept.usage")
    if problem := name_problem(args[1]):
        return ParseError(problem, {"name": args[1], "max": MAX_NAME})
    return DeptRename(args[0], args[1].strip())


def _dept_remove(args: list[str]) -> DeptRemove | ParseError:
    return DeptRemove(args[0]) if len(args) == 1 else ParseError("dept.usage")


def _dept_units(args: list[str]) -> DeptUnits | ParseError:
    if len(args) != 2:
        return ParseError("dept.usage")
    units = _positive_int(args[1])
    return units if isinstance(units, ParseError) else DeptUnits(args[0], units)


def _dept_contact(args: list[str]) -> DeptContact | ParseError:
    if len(args) != 2:
        return ParseError("dept.usage")
    if args[1].lower() in ("none", "无", "-"):
        return DeptContact(args[0], None)
    try:
        chat_id = int(args[1])
    except ValueError:
        return ParseError("dept.error.bad_chat_id", {"value": args[1]})
    # Telegram's ids fit in 52 bits; anything larger is a typo, and no database column holds it.
    if chat_id == 0 or abs(chat_id) >= 2**53:
        return ParseError("dept.error.bad_chat_id", {"value": args[1]})
    return DeptContact(args[0], chat_id)


def _dept_quota(args: list[str]) -> DeptQuota | ParseError:
    if len(args) != 2:
        return ParseError("dept.usage")
    if args[1].lower() in ("none", "无", "-"):
        return DeptQuota(args[0], None)
    quota = _positive_int(args[1])
    return quota if isinstance(quota, ParseError) else DeptQuota(args[0], quota)


_DEPT_VERBS = {
    "add": _dept_add,
    "list": _dept_list,
    "rename": _dept_rename,
    "remove": _dept_remove,
    "units": _dept_units,
    "contact": _dept_contact,
    "quota": _dept_quota,
}


def _positive_int(value: str) -> int | ParseError:
    if not value.isdigit() or not 1 <= int(value) <= MAX_UNITS:
        return ParseError("error.bad_number", {"value": value, "max": MAX_UNITS})
    return int(value)


def parse_role_change(text: str, reply_to_person: int | None) -> RoleChange | ParseError:
    """`USER_ID [supervisor | contact DEPT]`, or the same without USER_ID as a reply."""
    args = split_args(text)
    if isinstance(args, ParseError):
        return args
    if args and _is_user_id(args[0]):
        person_id, args = int(args[0]), args[1:]
    elif reply_to_person is not None:
        person_id = reply_to_person
    else:
        return ParseError("grant.usage")
    role = args[0].lower() if args else "supervisor"
    if role == "supervisor" and len(args) <= 1:
        return RoleChange(person_id, "supervisor")
    if role == "contact" and len(args) == 2:
        return RoleChange(person_id, "contact", args[1])
    return ParseError("grant.usage")


def _is_user_id(value: str) -> bool:
    return value.isdigit() and 0 < int(value) < 2**53
