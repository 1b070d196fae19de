"""A replay's report for people: the terminal text, the chart, and a self-contained HTML page.

Every word comes from the catalogs (replay.*, and the digest's figure labels), in the language asked
for. The HTML page embeds its styles and the chart (a PNG as a data: URL), so a supervisor can open
it offline and forward it as one file.
"""

from __future__ import annotations

import base64
import html
from collections.abc import Callable
from datetime import date
from typing import Any

from bot import chart
from bot.i18n import Catalog, Html, fill
from bot.reports import burden_bars, burden_formula, chart_words, figure_details, plain
from policies.digest import Row, Scoreboard, number

Say = Callable[..., str]
# Lines of the per-sender and per-week lists in the terminal report (the HTML lists them all).
TERMINAL_SENDERS = 10


class _Words:
    """Catalog lookups in one language: `line` for the terminal, `html` escaped for the page."""

    def __init__(self, catalog: Catalog, language: str) -> None:
        self.catalog, self.language = catalog, language

    def raw(self, key: str) -> str:
        return self.catalog.raw(self.language, key)

    def line(self, key: str, **params: Any) -> str:
        return fill(self.raw(key), params)

    def html(self, key: str, **params: Any) -> str:
        return self.catalog.text(self.language, key, **params)


# Terminal ------------------------------------------------------------------------------------------


def render_text(report: dict[str, Any], board: Scoreboard, catalog: Catalog, language: str) -> str:
    words = _Words(catalog, language)
    say = words.line
    lines = [say("replay.title"), _scope(words, report, say), say("replay.sources", files=", ".join(report["sources"]))]
    if sum(report["chats_skipped"].values()):
        lines.append(say("replay.skipped", count=number(sum(report["chats_skipped"].values()))))
    lines += [_config(words, report, say), "", say("replay.done_header"), *_done(report, say)]
    lines += [
        "",
        say("replay.chats_header"),
        *(_chat_line(say, chat_id, chat) for chat_id, chat in report["by_chat"].items()),
    ]
    lines += ["", *_burden(words, report, board, say)]
    lines += ["", say("replay.senders_header"), *_senders(report, say, TERMINAL_SENDERS)]
    lines += ["", say("replay.weeks_header"), *(_week_line(say, week) for week in report["weeks"])]
    lines += ["", say("replay.notes_header"), *("· " + note for note in _notes(report, say))]
    return "\n".join(lines)


def _scope(words: _Words, report: dict[str, Any], say: Say) -> str:
    period = report["period"]
    if period["start"] is None:
        return say("replay.scope_empty", chats=number(report["chats"]))
    return say(
        "replay.scope",
        chats=number(report["chats"]),
        messages=number(report["messages"]),
        start=period["start"][:10],
        end=period["end"][:10],
        timezone=period["timezone"],
    )


def _config(words: _Words, report: dict[str, Any], say: Say) -> str:
    settings = report["settings"]
    rule = say(
        "replay.config",
        mode=words.raw(f"received.mode_{settings['mode']}"),
        window=settings["notice_window_minutes"],
        quiet=settings["quiet_hours"].replace("-", "–"),
        weekends=words.raw("replay.weekends") if settings["quiet_weekends"] else "",
    )
    return f"{rule}\n{words.raw('replay.registry_on' if settings['registry'] else 'replay.registry_off')}"


def _done(report: dict[str, Any], say: Say) -> list[str]:
    acks = report["acks_by_rule"]
    temporary = say("replay.temporary", closed=number(report["temporary_closes"]))
    if report["temporary_closes_pending"]:
        temporary += say("replay.temporary_pending", pending=number(report["temporary_closes_pending"]))
    return [
        say(
            "replay.acks",
            removed=number(report["acks_removed"]),
            **{rule: number(count) for rule, count in acks.items()},
        ),
        say("replay.acks_recorded", count=number(report["acks_recorded"])),
        say("replay.demands", count=number(report["ack_demands"]), reminders=number(report["reminders"])),
        say("replay.formalism", **{kind: number(count) for kind, count in report["formalism"].items()}),
        say("replay.notices", count=number(report["notices"]), data_requests=number(report["data_requests"])),
        say(
            "replay.duplicates",
            count=number(report["duplicate_notices"]),
            data=number(report["duplicate_data_requests"]),
        ),
        say("replay.after_hours", count=number(report["after_hours_notices"])),
        say("replay.deadlines", count=number(report["deadlines"])),
        temporary,
        say(
            "replay.minutes",
            minutes=_minutes(report["minutes_saved"]),
            seconds=f"{report['settings']['seconds_per_message']:g}",
        ),
    ]


def _minutes(value: float) -> str:
    """Saved minutes in tenths (a small group saves fractions), the same for a total and its parts."""
    return f"{value:,.1f}"


def _chat_line(say: Say, chat_id: str, chat: dict[str, Any]) -> str:
    line = say(
        "replay.chat_line",
        name=chat["name"],
        id=chat_id,
        messages=number(chat["messages"]),
        acks=number(chat["acks_removed"]),
        demands=number(chat["ack_demands"]),
        notices=number(chat["notices"]),
        duplicates=number(chat["duplicate_notices"]),
        after_hours=number(chat["after_hours_notices"]),
        deadlines=number(chat["deadlines"]),
        minutes=_minutes(chat["minutes_saved"]),
    )
    if chat["temporary_closes"]:
        line += say("replay.chat_closed", count=number(chat["after_close"]))
    return line


def _burden(words: _Words, report: dict[str, Any], board: Scoreboard, say: Say) -> list[str]:
    registry = report["settings"]["registry"]
    lines = [say("replay.burden_header_departments" if registry else "replay.burden_header_groups")]
    rows = [row for row in board.rows if row.burden > 0 or row.active]
    if not any(row.burden for row in rows):
        return [*lines, say("replay.burden_none")]
    for rank, row in enumerate(row for row in rows if row.department_id is not None):
        lines.append(
            say(
                "replay.burden_line",
                rank=rank + 1,
                name=row.name,
                burden=number(row.burden),
                details=_details(words, row),
            )
        )
    lines += [
        say("replay.burden_unattached", burden=number(row.burden), details=_details(words, row))
        for row in rows
        if row.department_id is None
    ]
    lines.append(plain(burden_formula(words.catalog, words.language)))
    return lines


def _details(words: _Words, row: Row) -> str:
    return figure_details(words.catalog, words.language, row, weighted_only=False)


def _senders(report: dict[str, Any], say: Say, limit: int | None = None) -> list[str]:
    senders = [sender for sender in report["by_sender"] if sender["ack_demands"] or any(sender["formalism"].values())]
    if not senders:
        return [say("replay.senders_none")]
    return [
        say(
            "replay.sender_line",
            rank=rank,
            name=sender["name"],
            demands=number(sender["ack_demands"]),
            formalism=number(sum(sender["formalism"].values())),
            notices=number(sender["notices"]),
            after_hours=number(sender["after_hours_notices"]),
        )
        for rank, sender in enumerate(senders[:limit], start=1)
    ]


def _week_line(say: Say, week: dict[str, Any]) -> str:
    return say(
        "replay.week_line",
        week=week["week"],
        start=week["start"][5:],
        end=week["end"][5:],
        acks=number(week["acks_removed"]),
        demands=number(week["ack_demands"]),
        notices=number(week["notices"]),
        after_hours=number(week["after_hours_notices"]),
        burden=number(week["burden"]),
    )


def _notes(report: dict[str, Any], say: Say) -> list[str]:
    seconds = f"{report['settings']['seconds_per_message']:g}"
    return [
        say("replay.note_rights"),
        say("replay.note_edits"),
        say("replay.note_admins"),
        say("replay.note_estimate", seconds=seconds),
    ]


# The chart ---------------------------------------------------------------------------------------


def render_chart(
    report: dict[str, Any], board: Scoreboard, catalog: Catalog, language: str, *, limit: int, font_file: str = ""
) -> bytes | None:
    """The digest's chart for the replayed period; None when nothing added to the burden."""
    bars = burden_bars(board, limit)
    if not bars:
        return None
    key = "replay.chart_title" if report["settings"]["registry"] else "replay.chart_title_groups"
    start, end = (report["period"][edge][:10] for edge in ("start", "end"))
    words = chart_words(catalog, language, catalog.raw(language, key).format(start=start, end=end))
    english = chart_words(catalog, "en", catalog.raw("en", key).format(start=start, end=end))
    return chart.render(bars, words, english, font_file=font_file).png


# HTML --------------------------------------------------------------------------------------------

_STYLE = """
body { font-family: "Noto Sans CJK SC", "Microsoft YaHei", "PingFang SC", sans-serif; margin: 2em auto; max-width: 70em;
       padding: 0 1em; color: #222; line-height: 1.5; }
h1 { font-size: 1.5em; } h2 { font-size: 1.2em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; margin: 0.5em 0; } th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; }
th { background: #f2f2f2; text-align: left; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; } .muted { color: #666; } ul { padding-left: 1.2em; }
"""


def render_html(
    report: dict[str, Any], board: Scoreboard, catalog: Catalog, language: str, chart_png: bytes | None
) -> str:
    words = _Words(catalog, language)
    say, esc = words.line, html.escape
    parts = [
        f'<!DOCTYPE html>\n<html lang="{esc(language)}"><head><meta charset="utf-8">',
        f"<title>{esc(say('replay.html_title'))}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{esc(say('replay.title'))}</h1>",
        f"<p>{esc(_scope(words, report, say))}<br>{esc(say('replay.sources', files=', '.join(report['sources'])))}</p>",
        f'<p class="muted">{esc(_config(words, report, say)).replace(chr(10), "<br>")}</p>',
        f"<h2>{esc(say('replay.done_header'))}</h2>",
        "<ul>" + "".join(f"<li>{esc(line.removeprefix('· '))}</li>" for line in _done(report, say)) + "</ul>",
    ]
    if chart_png is not None:
        encoded = base64.b64encode(chart_png).decode("ascii")
        parts.append(f'<p><img src="data:image/png;base64,{encoded}" alt="{esc(say("replay.chart_alt"))}"></p>')
    parts += _html_chats(words, report)
    parts += _html_burden(words, report, board)
    parts += _html_senders(words, report)
    parts += _html_weeks(words, report)
    parts += _html_temporary(words, report)
    parts.append(f"<h2>{esc(say('replay.notes_header'))}</h2><ul>")
    parts += [f"<li>{esc(note)}</li>" for note in _notes(report, say)]
    parts.append("</ul></body></html>\n")
    return "\n".join(parts)


def _table(words: _Words, columns: list[str], rows: list[list[Any]]) -> str:
    """A table; numbers right-aligned and shown with separators, everything escaped."""
    head = "".join(f"<th>{html.escape(words.raw(f'replay.column.{column}'))}</th>" for column in columns)
    body = "".join("<tr>" + "".join(_cell(value) for value in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _cell(value: Any) -> str:
    if isinstance(value, Html):
        return f"<td>{value}</td>"
    if isinstance(value, float) and not value.is_integer() and value < 100:
        return f'<td class="n">{_minutes(value)}</td>'
    if isinstance(value, int | float) and not isinstance(value, bool):
        return f'<td class="n">{number(value)}</td>'
    return f"<td>{html.escape(str(value if value is not None else '—'))}</td>"


def _html_chats(words: _Words, report: dict[str, Any]) -> list[str]:
    columns = [
        "group", "id", "department", "messages", "acks_removed", "ack_demands", "formalism", "notices",
        "duplicates", "after_hours", "deadlines", "minutes", "burden",
    ]  # fmt: skip
    rows = [
        [
            chat["name"],
            chat_id,
            chat["department"],
            chat["messages"],
            chat["acks_removed"],
            chat["ack_demands"],
            sum(chat["formalism"].values()),
            chat["notices"],
            chat["duplicate_notices"],
            chat["after_hours_notices"],
            chat["deadlines"],
            chat["minutes_saved"],
            chat["burden"],
        ]
        for chat_id, chat in report["by_chat"].items()
    ]
    return [f"<h2>{html.escape(words.line('replay.chats_header'))}</h2>", _table(words, columns, rows)]


def _html_burden(words: _Words, report: dict[str, Any], board: Scoreboard) -> list[str]:
    registry = report["settings"]["registry"]
    header = words.line("replay.burden_header_departments" if registry else "replay.burden_header_groups")
    rows = [
        [
            rank if row.department_id is not None else "",
            row.name or words.line("replay.unattached"),
            row.burden,
            _details(words, row),
        ]
        for rank, row in enumerate(board.rows, start=1)
        if row.active
    ]
    if not rows:
        return [f"<h2>{html.escape(header)}</h2>", f"<p>{html.escape(words.line('replay.burden_none'))}</p>"]
    formula = burden_formula(words.catalog, words.language)
    return [
        f"<h2>{html.escape(header)}</h2>",
        _table(words, ["rank", "name", "burden", "figure"], rows),
        f"<p>{formula}</p>",
    ]


def _html_senders(words: _Words, report: dict[str, Any]) -> list[str]:
    rows = [
        [
            sender["name"],
            sender["ack_demands"],
            sum(sender["formalism"].values()),
            sender["notices"],
            sender["after_hours_notices"],
        ]
        for sender in report["by_sender"]
    ]
    header = f"<h2>{html.escape(words.line('replay.senders_header'))}</h2>"
    if not rows:
        return [header, f"<p>{html.escape(words.line('replay.senders_none'))}</p>"]
    return [header, _table(words, ["sender", "ack_demands", "formalism", "notices", "after_hours"], rows)]


def _html_weeks(words: _Words, report: dict[str, Any]) -> list[str]:
    rows = [
        [
            f"{week['week']} ({date.fromisoformat(week['start']):%m-%d}–{date.fromisoformat(week['end']):%m-%d})",
            week["acks_removed"],
            week["ack_demands"],
            week["notices"],
            week["after_hours_notices"],
            week["minutes_saved"],
            week["burden"],
        ]
        for week in report["weeks"]
    ]
    columns = ["week", "acks_removed", "ack_demands", "notices", "after_hours", "minutes", "burden"]
    return [f"<h2>{html.escape(words.line('replay.weeks_header'))}</h2>", _table(words, columns, rows)]


def _html_temporary(words: _Words, report: dict[str, Any]) -> list[str]:
    if not report["temporary_groups"]:
        return []
    rows = [
        [
            group["name"],
            group["chat"],
            group["close_at"].replace("T", " "),
            words.raw("replay.column.closed" if group["closed"] else "replay.column.pending"),
        ]
        for group in report["temporary_groups"]
    ]
    return [
        f"<h2>{html.escape(words.line('replay.temporary_header'))}</h2>",
        _table(words, ["group", "id", "closes", "state"], rows),
    ]
