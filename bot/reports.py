"""The digest's contents, rendered in one language: the supervisors' scoreboard with its chart,
a department's card, a group's summary and a person's reminder, and the sends that carry them.
Shared by the weekly delivery (bot.jobs.digest), /digest and `jianfu digest`; what they render is
read by bot.report_data."""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import html
import logging
import re
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from bot import chart
from bot.context import Deps
from bot.i18n import Catalog, Html
from bot.memo import remembered
from bot.report_data import DEADLINE_HORIZON
from policies.actions import SENT_FILE, Send, SendFile, Then
from policies.digest import Row, Scoreboard, Window, number, signed
from policies.text import first_line, pack
from storage.repositories.digest import FIGURE_SOURCES, FigureSource

if TYPE_CHECKING:
    from storage.repositories.notices import InboxItem

log = logging.getLogger(__name__)

# The figures that add to the burden index, in display order: the chart's series.
WEIGHTED_SOURCES = tuple(source for source in FIGURE_SOURCES if source.spec.weight)

# The digest names this many departments adding the most burden.
TOP_DEPARTMENTS = 3


@dataclass(frozen=True)
class Text:
    """A message of the digest; `key` names it in a delivery's progress."""

    key: str
    html: str


@dataclass(frozen=True)
class Photo:
    """The chart, with its caption; the file id of its first upload is remembered under `memo_key`."""

    key: str
    png: bytes
    caption: str
    memo_key: tuple[Any, ...]


Part = Text | Photo


# Notes under a title ----------------------------------------------------------------------------


def note(
    deps: Deps, language: str, window: Window, *, late_since: datetime | None = None, preview: bool = False
) -> str:
    """What the title adds: a week still in progress, a late delivery, a preview."""
    catalog, parts = deps.catalog, []
    if window.partial:
        parts.append(catalog.text(language, "digest.so_far", until=_local(deps, window.end_at)))
    if late_since is not None:
        parts.append(catalog.text(language, "digest.late", scheduled=_local(deps, late_since)))
    if preview:
        parts.append(catalog.raw(language, "digest.preview"))
    return "".join(parts)


def _local(deps: Deps, moment: datetime) -> str:
    return moment.astimezone(deps.settings.tz).strftime("%m-%d %H:%M")


def _title(deps: Deps, language: str, key: str, window: Window, note_html: str, **params: Any) -> str:
    week = window.week
    return deps.catalog.text(
        language,
        key,
        week=str(week),
        start=week.monday.strftime("%m-%d"),
        end=week.sunday.strftime("%m-%d"),
        note=Html(note_html),
        **params,
    )


# The supervisors' scoreboard --------------------------------------------------------------------


async def supervisors_digest(
    deps: Deps, board: Scoreboard, window: Window, language: str, *, note_html: str = ""
) -> list[Part]:
    """The chart (when any department added burden), then the scoreboard in as few messages as fit."""
    lines = [_title(deps, language, "digest.title", window, note_html), *_totals(deps, language, board)]
    lines += _top_three(deps, language, board)
    lines += _department_lines(deps, language, board)
    parts: list[Part] = [Text(f"text:{index}", text) for index, text in enumerate(pack(lines))]
    picture = await chart_of(deps, board, window, language)
    if picture is not None:
        caption = _title(deps, language, "digest.chart_caption", window, note_html, count=len(picture.labels))
        parts.insert(0, Photo("chart", picture.png, caption, ("chart_file", window.week, window.end_at, language)))
    return parts


def _totals(deps: Deps, language: str, board: Scoreboard) -> list[str]:
    catalog = deps.catalog
    lines = [catalog.raw(language, "digest.totals_header")]
    lines += [_figure_line(deps, language, source, board.totals, board.previous_totals) for source in FIGURE_SOURCES]
    lines.append(_estimate_note(deps, language))
    return lines


def _figure_line(deps: Deps, language: str, source: FigureSource, now: dict, before: dict | None) -> str:
    value = now.get(source.name, 0)
    label = deps.catalog.raw(language, source.label)
    if before is None:
        return deps.catalog.text(language, "digest.figure_value", label=label, value=number(value))
    change = signed(value - before.get(source.name, 0))
    return deps.catalog.text(language, "digest.figure_line", label=label, value=number(value), change=change)


def _estimate_note(deps: Deps, language: str) -> str:
    seconds = deps.settings.digest.seconds_per_message
    return deps.catalog.text(language, "digest.estimate_note", seconds=f"{seconds:g}")


def _top_three(deps: Deps, language: str, board: Scoreboard) -> list[str]:
    catalog = deps.catalog
    top = board.top(TOP_DEPARTMENTS)
    if not top:
        return ["", catalog.raw(language, "digest.top_none")]
    lines = ["", catalog.text(language, "digest.top_header", count=len(top))]
    for rank, row in enumerate(top, start=1):
        lines.append(
            catalog.text(
                language,
                "digest.top_line",
                rank=rank,
                name=row.name,
                burden=number(row.burden),
                change=signed(row.burden_change),
                details=figure_details(deps.catalog, language, row, weighted_only=True),
            )
        )
    lines.append(burden_formula(deps.catalog, language))
    return lines


def burden_formula(catalog: Catalog, language: str) -> str:
    """How the burden index adds up, from the sources' weights (a new source shows here by itself)."""
    terms = [
        catalog.text(
            language, "digest.formula_term", weight=source.spec.weight, label=catalog.raw(language, source.short_label)
        )
        for source in WEIGHTED_SOURCES
    ]
    return catalog.text(language, "digest.formula", terms=" + ".join(terms))


def _department_lines(deps: Deps, language: str, board: Scoreboard) -> list[str]:
    catalog = deps.catalog
    if not board.rows:
        return ["", catalog.raw(language, "digest.no_departments")]
    lines = ["", catalog.raw(language, "digest.departments_header")]
    for rank, row in enumerate(board.rows, start=1):
        key = "digest.department_line" if row.department_id is not None else "digest.unregistered_line"
        lines.append(
            catalog.text(
                language,
                key,
                rank=rank,
                name=row.name,
                burden=number(row.burden),
                change=signed(row.burden_change),
                details=figure_details(deps.catalog, language, row, weighted_only=False),
            )
        )
    return lines


def figure_details(catalog: Catalog, language: str, row: Row, *, weighted_only: bool) -> str:
    """The department's non-zero figures, short: 'notices 20, data 8'."""
    shown = [
        catalog.raw(language, "digest.detail").format(
            label=catalog.raw(language, source.short_label), value=number(row.value(source.name))
        )
        for source in FIGURE_SOURCES
        if round(row.value(source.name)) and (source.spec.weight or not weighted_only)
    ]
    return catalog.raw(language, "list_separator").join(shown) or "—"


# The chart --------------------------------------------------------------------------------------


async def chart_of(deps: Deps, board: Scoreboard, window: Window, language: str) -> chart.Chart | None:
    """The heaviest departments' burden by figure; None when no department added any."""
    bars = burden_bars(board, deps.settings.digest.chart_departments)
    if not bars:
        return None
    catalog = deps.catalog
    words = chart_words(catalog, language, catalog.raw(language, "digest.chart_title").format(week=window.week))
    english = chart_words(catalog, "en", catalog.raw("en", "digest.chart_title").format(week=window.week))

    async def render() -> chart.Chart:
        # Rendering takes a few hundred milliseconds of CPU: off the event loop.
        return await asyncio.to_thread(chart.render, bars, words, english, font_file=deps.settings.digest.chart_font)

    return await remembered(deps, ("chart", window.week, window.end_at, language), render)


def burden_bars(board: Scoreboard, limit: int) -> list[chart.Bar]:
    """The chart's bars: the `limit` heaviest departments that added burden, by weighted figure."""
    rows = [row for row in board.rows if row.department_id is not None and row.burden > 0][:limit]
    return [
        chart.Bar(row.name, rank, tuple(source.spec.weight * row.value(source.name) for source in WEIGHTED_SOURCES))
        for rank, row in enumerate(rows, start=1)
    ]


def chart_words(catalog: Catalog, language: str, title: str) -> chart.ChartText:
    """The chart's title, axis and legend in one language (plain text: the picture is not HTML)."""
    return chart.ChartText(
        title=title,
        axis=catalog.raw(language, "digest.chart_axis"),
        series=tuple(catalog.raw(language, source.short_label) for source in WEIGHTED_SOURCES),
    )


# A department's card, a group's summary, a person's reminder ------------------------------------


def department_card(
    deps: Deps, board: Scoreboard, window: Window, department_id: int, language: str, *, note_html: str = ""
) -> list[Part]:
    """The department's own figures against last week, and where it ranks."""
    row = board.row(department_id)
    if row is None:
        return []  # removed since the digest was planned
    catalog = deps.catalog
    lines = [
        _title(deps, language, "digest.card_title", window, note_html, name=row.name),
        catalog.text(
            language,
            "digest.card_rank",
            burden=number(row.burden),
            change=signed(row.burden_change),
            rank=board.rank_of(department_id) or "—",
            count=board.departments,
        ),
    ]
    lines += [
        _figure_line(deps, language, source, dict(row.current), dict(row.previous))
        for source in FIGURE_SOURCES
        if source.on_department_card
    ]
    lines.append(_estimate_note(deps, language))
    return [Text("card", "\n".join(lines))]


def group_summary(
    deps: Deps, figures: dict[str, float], window: Window, language: str, *, note_html: str = ""
) -> list[Part]:
    """A short summary of the group's own week (its figures); nothing when nothing happened."""
    if not any(figures.values()):
        return []
    lines = [_title(deps, language, "digest.group_title", window, note_html)]
    lines += [_figure_line(deps, language, source, figures, None) for source in FIGURE_SOURCES if source.per_group]
    lines.append(deps.catalog.raw(language, "digest.group_footer"))
    return [Text("summary", "\n".join(lines))]


def personal_digest(deps: Deps, unread: int, due: list[InboxItem], language: str) -> list[Part]:
    """The person's unread notices and the deadlines of the coming days; nothing when all is read."""
    if unread == 0:
        return []
    catalog = deps.catalog
    lines = [catalog.text(language, "digest.personal", unread=unread)]
    if due:
        lines.append(catalog.text(language, "digest.personal_deadlines", days=DEADLINE_HORIZON.days))
        lines += [
            catalog.text(
                language,
                "digest.personal_deadline",
                deadline=_local(deps, item.notice.deadline_at),
                first_line=first_line(item.notice.text, 80),
                group=item.chat_title,
            )
            for item in due
        ]
    lines.append(catalog.raw(language, "digest.personal_footer"))
    return [Text("personal", "\n".join(lines))]


# Sending ----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChartUploaded:
    """The chart went up: later recipients get it by Telegram's file id, not a second upload."""

    memo_key: str
    file_id: str = SENT_FILE


def chain(
    deps: Deps,
    chat_id: int,
    parts: list[Part],
    *,
    then: Then,
    valid_until: datetime | None = None,
    durable: bool = True,
) -> Any:
    """The parts as one chain of sends: each goes once the one before it is out, in order."""
    following = then
    for part in reversed(parts):
        action = dataclasses.replace(part_action(deps, chat_id, part, following, valid_until), durable=durable)
        # A part refused or uncertain ends the chain the same way the last part would.
        following = dataclasses.replace(then, done=(action,))
    return action


def part_action(deps: Deps, chat_id: int, part: Part, then: Then, valid_until: datetime | None) -> Any:
    """One part as a send; the chart is uploaded once and re-sent by its file id afterwards."""
    if isinstance(part, Text):
        return Send(chat_id, part.html, rule="digest", reason="weekly digest", then=then, valid_until=valid_until)
    key = repr(part.memo_key)
    # The chart's file id from an earlier upload (bot.memo drops it with the other stale entries).
    uploaded_before = deps.memo.get(("chart_file", key))
    if uploaded_before is not None:
        return SendFile(
            chat_id,
            "photo",
            uploaded_before[1],
            part.caption,
            rule="digest",
            reason="weekly digest",
            then=then,
            valid_until=valid_until,
        )
    uploaded = then.first_when_done(ChartUploaded(key))
    return SendFile(
        chat_id,
        "photo",
        base64.b64encode(part.png).decode(),
        part.caption,
        uploaded=True,
        rule="digest",
        reason="weekly digest",
        then=uploaded,
        valid_until=valid_until,
    )


async def apply_chart_uploaded(deps: Deps, session: Any, uploaded: ChartUploaded) -> Any:
    from bot.pipeline import FactResult

    if uploaded.file_id:
        deps.memo[("chart_file", uploaded.memo_key)] = (deps.clock(), uploaded.file_id)
    return FactResult(True)


def plain(html_text: str) -> str:
    """Telegram HTML as terminal text (for `jianfu digest`)."""
    return html.unescape(re.sub(r"<[^>]+>", "", html_text))
