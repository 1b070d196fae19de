"""Who sees an update first is declared once, in bot.app: the lanes (handler groups) and FEATURES."""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import pytest
from telegram.ext import BaseHandler

from bot.app import FEATURES, Lane, build_application
from bot.context import Deps
from storage.db import Database
from tests.bot.conftest import make_settings

HANDLERS = Path(__file__).resolve().parents[2] / "bot" / "handlers"


@pytest.fixture
def handlers(tmp_path: Path) -> dict[int, list[BaseHandler]]:
    settings = make_settings()
    database = Database.from_url(f"sqlite+aiosqlite:///{tmp_path}/x.db")
    app = build_application(settings, Deps.create(settings, db=database))
    return app.handlers


def feature_of(handler: BaseHandler) -> str:
    return handler.callback.__module__.rsplit(".", 1)[-1]


def short(feature_module: object) -> str:
    return feature_module.__name__.rsplit(".", 1)[-1]


def test_the_lanes_run_in_the_order_the_features_rely_on() -> None:
    # whistle before observation (nothing records a whistleblower), observation before any
    # feature, collected notices before the "received" rule.
    assert Lane.WHISTLE < Lane.OBSERVE < Lane.ANSWER < Lane.FEATURES < Lane.COLLECT < Lane.RULE


def test_every_lane_holds_only_the_features_declared_for_it(handlers: dict[int, list[BaseHandler]]) -> None:
    declared = {lane: {short(f.module) for f in FEATURES if f.lane == lane} for lane in Lane if lane != Lane.FEATURES}
    registered = {group: {feature_of(h) for h in found} for group, found in handlers.items() if group != Lane.FEATURES}
    assert registered == {lane.value: names for lane, names in declared.items()}


def test_group_zero_follows_the_feature_table_with_fallback_last(handlers: dict[int, list[BaseHandler]]) -> None:
    seen: list[str] = []
    for handler in handlers[Lane.FEATURES]:
        if not seen or seen[-1] != feature_of(handler):
            seen.append(feature_of(handler))
    assert len(seen) == len(set(seen)), f"a feature's group-0 handlers are split: {seen}"
    assert seen == [short(f.module) for f in FEATURES if short(f.module) in seen]
    assert seen[-1] == "fallback"


def _named(function: ast.expr, name: str) -> bool:
    return isinstance(function, ast.Attribute) and function.attr == name


@pytest.mark.parametrize("feature", FEATURES, ids=lambda feature: short(feature.module))
def test_a_feature_takes_its_handler_group_only_from_the_table(feature) -> None:
    """No handler module names a group of its own: `group=` is always the lane it was given."""
    tree = ast.parse(Path(inspect.getfile(feature.module)).read_text(encoding="utf-8"))
    calls = [node for node in ast.walk(tree) if isinstance(node, ast.Call) and _named(node.func, "add_handler")]
    groups = [keyword.value for call in calls for keyword in call.keywords if keyword.arg == "group"]
    parameters = list(inspect.signature(feature.module.register).parameters)
    assert all(isinstance(value, ast.Name) and value.id == "lane" for value in groups)
    assert ("lane" in parameters) == (feature.lane is not None) == bool(groups)
