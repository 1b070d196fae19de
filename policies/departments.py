"""Department names: validation, and the fuzzy match behind /register."""

from __future__ import annotations

import unicodedata
from collections.abc import Collection
from dataclasses import dataclass
from difflib import SequenceMatcher

MAX_NAME = 100
MAX_CODE = 32
MAX_CANDIDATES = 5
# Below this similarity a name is not offered as "did you mean".
SIMILARITY_FLOOR = 0.5


@dataclass(frozen=True)
class DepartmentRef:
    id: int
    name: str
    code: str


@dataclass(frozen=True)
class DepartmentMatch:
    """An exact hit, or the candidates to confirm with buttons, best first."""

    exact: DepartmentRef | None
    candidates: tuple[DepartmentRef, ...]


def normalize_name(text: str) -> str:
    """Fold width, case and spacing so 'ＭＺ', 'mz ' and 'MZ' compare equal."""
    return "".join(unicodedata.normalize("NFKC", text).casefold().split())


def name_problem(name: str) -> str | None:
    """A catalog key explaining why the name cannot be a department name, or None."""
    if not normalize_name(name):
        return "dept.error.empty_name"
    if len(name) > MAX_NAME:
        return "dept.error.name_too_long"
    if name.strip().isdigit():
        return "dept.error.name_digits"
    return None


def default_code(name: str) -> str:
    return normalize_name(name)[:MAX_CODE]


def match_department(query: str, departments: list[DepartmentRef]) -> DepartmentMatch:
    wanted = normalize_name(query)
    if not wanted:
        return DepartmentMatch(None, ())
    for department in departments:
        if wanted in (normalize_name(department.name), normalize_name(department.code)):
            return DepartmentMatch(department, ())
    scored = [
        (score, department)
        for department in departments
        if (score := _similarity(wanted, department)) >= SIMILARITY_FLOOR
    ]
    scored.sort(key=lambda pair: (-pair[0], pair[1].name))
    return DepartmentMatch(None, tuple(department for _score, department in scored[:MAX_CANDIDATES]))


def _similarity(wanted: str, department: DepartmentRef) -> float:
    best = 0.0
    for label in (normalize_name(department.name), normalize_name(department.code)):
        if wanted in label or label in wanted:
            # "民政" for "民政局": containment is a strong hint whatever the length difference.
            best = max(best, 0.8 + 0.2 * min(len(wanted), len(label)) / max(len(wanted), len(label)))
        best = max(best, SequenceMatcher(None, wanted, label).ratio())
    return best


def charged_department(contact_of: Collection[int], group_department: int | None) -> int | None:
    """Whom a message's burden is charged to: the sender's department when the sender is the
    contact of exactly one, else the group's."""
    if len(contact_of) == 1:
        return next(iter(contact_of))
    return group_department
