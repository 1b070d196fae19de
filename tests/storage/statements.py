"""Counting the statements a test's code runs on a database."""

from __future__ import annotations

from typing import Any

from sqlalchemy import event

from storage.db import Database


class Statements:
    """Counts the statements run on a database that start with one of `prefixes`."""

    def __init__(self, db: Database, *prefixes: str) -> None:
        self.engine, self.prefixes, self.seen = db.engine.sync_engine, prefixes, []

    def __enter__(self) -> list[str]:
        event.listen(self.engine, "before_cursor_execute", self._note)
        return self.seen

    def __exit__(self, *exc: object) -> None:
        event.remove(self.engine, "before_cursor_execute", self._note)

    def _note(self, _conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        if statement.startswith(self.prefixes):
            self.seen.append(statement)
