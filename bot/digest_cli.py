"""`jianfu digest`: a week's supervisors' digest, read from the configured database, on the terminal."""

from __future__ import annotations

import sys
from pathlib import Path

from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

from bot.context import Deps
from bot.report_data import scoreboard, week_window
from bot.reports import Part, Photo, Text, note, plain, supervisors_digest
from bot.settings import Settings
from policies.clock import system_clock
from policies.commands import ParseError
from policies.digest import parse_week_choice

EXIT_USAGE = 2


async def render_offline(settings: Settings, week_text: str, *, language: str, out: Path | None) -> int:
    """`jianfu digest`: the supervisors' digest on stdout and, with `out`, its chart as a PNG file."""
    now = system_clock()
    today = now.astimezone(settings.tz).date()
    choice = parse_week_choice(week_text, today)
    if isinstance(choice, ParseError):
        hint = "write a week like 2026-W47 (not a future one), or 'this'"
        print(f"jianfu: --week {week_text!r}: {hint}", file=sys.stderr)
        return EXIT_USAGE
    if _missing_sqlite_file(settings.database.url):
        print("jianfu: there is no database yet; run `jianfu db upgrade` (or `jianfu run`) first.", file=sys.stderr)
        return EXIT_USAGE
    deps = Deps.create(settings)
    window = week_window(deps, choice.resolve(today), now=now)
    try:
        async with deps.db.transaction() as session:
            board = await scoreboard(deps, session, window)
            parts = await supervisors_digest(deps, board, window, language, note_html=note(deps, language, window))
    except DBAPIError:
        print("jianfu: the database is not ready; run `jianfu db upgrade` first.", file=sys.stderr)
        return EXIT_USAGE
    finally:
        await deps.db.dispose()
    print("\n\n".join(plain(part.html) for part in parts if isinstance(part, Text)))
    return _write_chart(parts, out)


def _missing_sqlite_file(url: str) -> bool:
    """Opening a missing SQLite file would create an empty one: a report should not."""
    parsed = make_url(url)
    return parsed.get_backend_name() == "sqlite" and bool(parsed.database) and not Path(parsed.database).exists()


def _write_chart(parts: list[Part], out: Path | None) -> int:
    if out is None:
        return 0
    photo = next((part for part in parts if isinstance(part, Photo)), None)
    if photo is None:
        print("jianfu: no chart: no department added burden that week.", file=sys.stderr)
        return 1
    out.write_bytes(photo.png)
    print(f"chart written to {out}", file=sys.stderr)
    return 0
