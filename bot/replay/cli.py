"""The `jianfu replay` subcommand's arguments; the work is imported only when it runs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any


def add_parser(commands: Any, parents: list[argparse.ArgumentParser] = ()) -> None:
    replay = commands.add_parser(
        "replay", parents=list(parents), help="what Jianfu would have done on Telegram Desktop chat exports (read-only)"
    )
    replay.add_argument(
        "exports", nargs="+", type=Path, help="result.json files, or the folders Telegram Desktop exported into"
    )
    replay.add_argument("--json", action="store_true", help="print the report as one JSON object")
    replay.add_argument("--out", type=Path, help="also write report.html, report.json and chart.png into this folder")
    replay.add_argument(
        "--database",
        nargs="?",
        const="",
        help="read the department registry from this database URL, read-only (alone: bot.toml's)",
    )
    replay.add_argument("--language", choices=["zh-CN", "en"], default=None, help="default: bot.toml's language")
    replay.add_argument(
        "--export-timezone", help="the export's clock when it lacks date_unixtime (default: bot.toml's timezone)"
    )
    replay.add_argument(
        "--progress",
        action=argparse.BooleanOptionalAction,
        default=None,
        help="progress bar on stderr (default: on a terminal)",
    )
    replay.set_defaults(handler=_replay)


def _replay(args: argparse.Namespace) -> int:
    from bot.cli import settings_from
    from bot.replay.command import ReplayOptions, run

    settings = settings_from(args)
    options = ReplayOptions(
        exports=tuple(args.exports),
        language=args.language or settings.language,
        database=args.database,
        as_json=args.json,
        out=args.out,
        export_timezone=args.export_timezone,
        progress=args.progress,
    )
    return run(settings, options)
