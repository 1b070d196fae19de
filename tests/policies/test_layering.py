"""policies/ stays pure: no Telegram, database, scheduler, bot or storage imports."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

POLICIES = Path(__file__).resolve().parents[2] / "policies"
FORBIDDEN = {"telegram", "sqlalchemy", "apscheduler", "bot", "storage", "alembic", "aiosqlite", "asyncpg"}


def imported_roots(tree: ast.AST) -> set[str]:
    roots: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", sorted(POLICIES.rglob("*.py")), ids=lambda path: path.name)
def test_policy_module_imports_no_framework(module: Path) -> None:
    forbidden = imported_roots(ast.parse(module.read_text(encoding="utf-8"))) & FORBIDDEN
    assert not forbidden, f"{module.name} imports {sorted(forbidden)}"


def test_the_checker_catches_a_forbidden_import() -> None:
    tree = ast.parse("import os\nfrom telegram.ext import Application\nimport storage.db as db\n")
    assert imported_roots(tree) & FORBIDDEN == {"telegram", "storage"}
