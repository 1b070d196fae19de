"""The in-memory Bot API double stays a package of small modules, each one part a reader can hold in mind."""

from __future__ import annotations

from pathlib import Path

import bot.testing.fake as fake

MAX_LINES = 400
PACKAGE = Path(fake.__file__).parent


def test_every_module_of_the_double_stays_under_the_line_limit() -> None:
    modules = sorted(PACKAGE.glob("*.py"))
    assert {"errors.py", "html.py", "world.py", "api.py"} <= {module.name for module in modules}
    too_long = {
        module.name: lines
        for module in modules
        if (lines := len(module.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert too_long == {}, f"split these modules of bot/testing/fake/ (at most {MAX_LINES} lines): {too_long}"
