"""The digest's rendering works from figures alone: bot.reports reads no database (bot.report_data does)."""

from __future__ import annotations

import ast
from datetime import UTC, datetime
from pathlib import Path

import pytest

import bot.reports as reports
from bot.context import Deps
from bot.report_data import week_window
from policies.clock import FakeClock
from policies.digest import IsoWeek, build_scoreboard
from storage.repositories.digest import SPECS
from tests.bot.conftest import make_settings

WEEK = IsoWeek(2026, 47)


@pytest.fixture
def deps() -> Deps:
    # No database at all: rendering must not need one.
    return Deps.create(make_settings(), db=None, clock=FakeClock(datetime(2026, 11, 23, 1, 0, tzinfo=UTC)))


def test_a_department_card_renders_from_a_scoreboard(deps: Deps) -> None:
    board = build_scoreboard(SPECS, {1: "民政局", 2: "卫健委"}, {1: {"notices": 3}, 2: {"notices": 1}}, {})
    [card] = reports.department_card(deps, board, week_window(deps, WEEK), 2, "en")
    assert "卫健委 · burden digest 2026-W47" in card.html
    assert "ranked 2 of 2 departments" in card.html


def test_a_group_summary_renders_from_its_figures_and_says_nothing_of_a_quiet_week(deps: Deps) -> None:
    window = week_window(deps, WEEK)
    [summary] = reports.group_summary(deps, {"notices": 2}, window, "en")
    assert "This group's week" in summary.html and "/set digest off" in summary.html
    assert reports.group_summary(deps, {"notices": 0}, window, "en") == []


def test_a_personal_reminder_renders_from_the_unread_count(deps: Deps) -> None:
    [reminder] = reports.personal_digest(deps, 2, [], "en")
    assert "2 notices you have not marked read" in reminder.html
    assert reports.personal_digest(deps, 0, [], "en") == []


def test_the_rendering_module_imports_no_database_code() -> None:
    tree = ast.parse(Path(reports.__file__).read_text(encoding="utf-8"))
    imported = [
        (node.module or "", alias.name)
        for node in ast.walk(tree)
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    ]
    imported += [(alias.name, "") for node in ast.walk(tree) if isinstance(node, ast.Import) for alias in node.names]
    assert not [module for module, _name in imported if module.startswith("sqlalchemy")]
    assert not [name for _module, name in imported if name.endswith("Repository") or name == "AsyncSession"]
