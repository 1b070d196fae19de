"""Feature modules do not import each other: what two features share is a service (bot/services),
and services never reach back into the features."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

BOT = Path(__file__).resolve().parents[2] / "bot"
HANDLERS = BOT / "handlers"
SERVICES = BOT / "services"
SHARED = {"_common"}  # the handlers' own plumbing (transactional, reply, emit), not a feature


def handler_imports(source: str, package: str) -> set[str]:
    """The bot.handlers modules a module's source imports (relative imports resolved from `package`)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.update(_handler_module(alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(node, package)
            if base == "bot.handlers":
                found.update(alias.name for alias in node.names)
            else:
                found.add(_handler_module(base))
    return found - {""}


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if node.level == 0:
        return node.module or ""
    parent = package.split(".")[: len(package.split(".")) - node.level + 1]
    return ".".join([*parent, *([node.module] if node.module else [])])


def _handler_module(name: str) -> str:
    parts = name.split(".")
    return parts[2] if parts[:2] == ["bot", "handlers"] and len(parts) > 2 else ""


@pytest.mark.parametrize("module", sorted(HANDLERS.glob("*.py")), ids=lambda path: path.name)
def test_a_handler_module_imports_no_other_handler_module(module: Path) -> None:
    imported = handler_imports(module.read_text(encoding="utf-8"), "bot.handlers") - SHARED - {module.stem}
    assert not imported, f"{module.name} imports {sorted(imported)}: move what they share into bot/services"


@pytest.mark.parametrize("module", sorted(SERVICES.glob("*.py")), ids=lambda path: path.name)
def test_a_service_imports_no_handler_module(module: Path) -> None:
    imported = handler_imports(module.read_text(encoding="utf-8"), "bot.services")
    assert not imported, f"{module.name} imports {sorted(imported)}"


@pytest.mark.parametrize(
    "source",
    [
        "from bot.handlers import temporary",
        "from bot.handlers.whistle import say",
        "import bot.handlers.notices",
        "from . import inbox",
        "from .whistle import full_text",
    ],
)
def test_the_checker_catches_a_handler_import(source: str) -> None:
    assert handler_imports(source, "bot.handlers") - SHARED


def test_the_checker_lets_the_shared_plumbing_and_services_through() -> None:
    source = "from bot.handlers._common import emit\nfrom bot.services import countdown\nfrom ._common import reply\n"
    assert handler_imports(source, "bot.handlers") - SHARED == set()
