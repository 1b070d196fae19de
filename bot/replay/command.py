"""`jianfu replay EXPORT...`: what Jianfu would have done on real chat history, offline and read-only.

Everything is read and replayed before anything is written: an export that turns out broken
halfway through leaves no report behind, only one line on stderr saying what is wrong and where.
"""

from __future__ import annotations

import asyncio
import gc
import heapq
import json
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from bot.context import received_rule_for
from bot.i18n import Catalog
from bot.replay.engine import Replay, ReplaySettings
from bot.replay.export import ChatIndex, ExportError, Place, chat_messages, index_export
from bot.replay.progress import ProgressBar
from bot.replay.registry import Registry, RegistryError, load_registry
from bot.replay.render import render_chart, render_html, render_text
from bot.replay.report import build_report, scoreboard_of
from bot.settings import Settings

EXIT_BAD_INPUT = 2
PROGRESS_EVERY = 4096
DATABASE_SCHEMES = ("sqlite+aiosqlite://", "postgresql+asyncpg://")
# What --out DIR receives.
HTML_FILE, JSON_FILE, CHART_FILE = "report.html", "report.json", "chart.png"


@dataclass(frozen=True)
class ReplayOptions:
    exports: tuple[Path, ...]
    language: str
    database: str | None = None
    as_json: bool = False
    out: Path | None = None
    export_timezone: str | None = None
    # None: draw the progress bar when stderr is a terminal.
    progress: bool | None = None


class InputError(Exception):
    """Something given to `jianfu replay` cannot be used: a catalog key `replay.error.*` and its parameters."""

    def __init__(self, problem: str, **params: Any) -> None:
        super().__init__(f"{problem} {params}")
        self.problem, self.params = problem, params


@dataclass(frozen=True)
class Outcome:
    report: dict[str, Any]
    text: str
    html: str | None = None
    chart: bytes | None = None


def run(
    settings: Settings, options: ReplayOptions, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """Replay, then print the report (and write the files); 2 with one line on stderr for bad input."""
    return asyncio.run(run_async(settings, options, stdout=stdout, stderr=stderr))


async def run_async(
    settings: Settings, options: ReplayOptions, *, stdout: TextIO | None = None, stderr: TextIO | None = None
) -> int:
    """`run` inside a running event loop (the demo, tests): the registry is read asynchronously."""
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    catalog = Catalog.load()
    enabled = options.progress if options.progress is not None else stderr.isatty()
    progress = ProgressBar(stderr, enabled=enabled)
    try:
        registry = await _registry(settings, options.database)
        outcome = replay(settings, options, registry, catalog, progress)
    except (ExportError, RegistryError, InputError) as error:
        progress.end_line()
        stderr.write(f"jianfu replay: {describe(error, catalog, options.language)}\n")
        return EXIT_BAD_INPUT
    if options.out is not None:
        _write_files(options.out, outcome, catalog, options.language, stderr)
    stdout.write(json.dumps(outcome.report, ensure_ascii=False, indent=2) if options.as_json else outcome.text)
    stdout.write("\n")
    return 0


def replay(
    settings: Settings, options: ReplayOptions, registry: Registry, catalog: Catalog, progress: ProgressBar
) -> Outcome:
    """Check the options, index every export, replay the groups in time order."""
    export_zone = _zone(options.export_timezone or settings.timezone)
    _check_out(options.out)
    sources = tuple(_source(path) for path in options.exports)
    # Millions of short-lived dicts and no cycles: the cyclic collector would only scan them again.
    gc.disable()
    try:
        chats = _index(sources, progress, catalog, options.language)
        groups = [chat for chat in chats if chat.is_group]
        if not groups:
            types = ", ".join(sorted({chat.type or "?" for chat in chats}))
            raise InputError("no_groups", files=", ".join(map(str, sources)), types=types)
        engine = Replay(ReplaySettings.from_settings(settings, received_rule_for(settings)), registry, chats)
        _feed(engine, groups, export_zone, progress, catalog, options.language)
    finally:
        gc.enable()
    report = build_report(engine, chats, sources)
    board = scoreboard_of(engine)
    text = render_text(report, board, catalog, options.language)
    if options.out is None:
        return Outcome(report, text)
    picture = render_chart(
        report,
        board,
        catalog,
        options.language,
        limit=settings.digest.chart_departments,
        font_file=settings.digest.chart_font,
    )
    return Outcome(report, text, render_html(report, board, catalog, options.language, picture), picture)


def describe(error: ExportError | RegistryError | InputError, catalog: Catalog, language: str) -> str:
    """The error as one line in the user's language."""
    params = dict(error.params)
    if isinstance(error, ExportError):
        params["where"] = _where(error.place, catalog, language)
    return catalog.raw(language, f"replay.error.{error.problem}").format(**params)


def _where(place: Place, catalog: Catalog, language: str) -> str:
    if place.chat is None:
        where = catalog.raw(language, "replay.where.file").format(file=place.file)
    elif place.message is None:
        where = catalog.raw(language, "replay.where.chat").format(file=place.file, chat=place.chat, id=place.chat_id)
    else:
        where = catalog.raw(language, "replay.where.message").format(
            file=place.file, chat=place.chat, id=place.chat_id, index=f"{place.message:,}"
        )
    if place.byte is not None:
        where = catalog.raw(language, "replay.where.byte").format(where=where, byte=f"{place.byte:,}")
    return where


# Steps -------------------------------------------------------------------------------------------


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise InputError("bad_timezone", value=name) from None


def _check_out(out: Path | None) -> None:
    if out is not None and out.exists() and not out.is_dir():
        raise InputError("out_not_dir", path=str(out))


async def _registry(settings: Settings, database: str | None) -> Registry:
    """The department registry when a database is named ("" means the configured one); else none."""
    if database is None:
        return Registry()
    url = database or settings.database.url
    if not url.startswith(DATABASE_SCHEMES):
        raise InputError("database_url", value=url)
    return await load_registry(url)


def _source(path: Path) -> Path:
    """An export file, or the folder Telegram Desktop exported into (its result.json)."""
    if path.is_dir():
        inside = path / "result.json"
        if not inside.is_file():
            raise InputError("no_result_json", path=str(path))
        return inside
    if not path.exists():
        raise InputError("missing", path=str(path))
    return path


def _index(sources: tuple[Path, ...], progress: ProgressBar, catalog: Catalog, language: str) -> list[ChatIndex]:
    """The first pass over every file; a group given twice is refused (its figures would double)."""
    sizes = [source.stat().st_size for source in sources]
    progress.start(catalog.raw(language, "replay.progress_reading"), sum(sizes))
    chats: list[ChatIndex] = []
    seen: dict[tuple[str, int], ChatIndex] = {}
    for number, source in enumerate(sources):
        before = sum(sizes[:number])
        found = index_export(source, len(chats), lambda done, before=before: progress.update(before + done))
        for chat in found:
            key = (chat.type, chat.export_id)
            if chat.is_group and key in seen:
                raise ExportError(chat.place(), "duplicate_chat", other=str(seen[key].source))
            seen[key] = chat
        chats += found
    progress.finish()
    return chats


def _feed(
    engine: Replay,
    groups: list[ChatIndex],
    export_zone: ZoneInfo,
    progress: ProgressBar,
    catalog: Catalog,
    language: str,
) -> None:
    """The second pass: every group's messages, merged in time order, through the rules."""
    total = sum(chat.messages for chat in groups)
    progress.start(
        catalog.raw(language, "replay.progress_replaying"), total, catalog.raw(language, "replay.progress_messages")
    )
    merged = heapq.merge(*(chat_messages(chat, export_zone) for chat in groups))
    for count, (timestamp, order, _index, raw) in enumerate(merged, start=1):
        engine.feed(timestamp, order, raw)
        if count % PROGRESS_EVERY == 0:
            progress.update(count)
    engine.finish()
    progress.finish()


def _write_files(out: Path, outcome: Outcome, catalog: Catalog, language: str, stderr: TextIO) -> None:
    out.mkdir(parents=True, exist_ok=True)
    written = [out / HTML_FILE, out / JSON_FILE]
    written[0].write_text(outcome.html, encoding="utf-8")
    written[1].write_text(json.dumps(outcome.report, ensure_ascii=False, indent=2) + "\n", encoding="utf-8")
    if outcome.chart is not None:
        (out / CHART_FILE).write_bytes(outcome.chart)
        written.append(out / CHART_FILE)
    else:
        stderr.write(catalog.raw(language, "replay.no_chart") + "\n")
    for path in written:
        stderr.write(catalog.raw(language, "replay.written").format(path=path) + "\n")
