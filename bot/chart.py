"""The digest's chart: each department's burden as stacked bars, rendered to PNG with Agg.

matplotlib is imported on first use only, so the bot starts fast; pyplot is never used (its
global state does not belong in a server), only a Figure on the Agg canvas.
"""

from __future__ import annotations

import functools
import io
import logging
import threading
from collections.abc import Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

# Font families with Chinese glyphs installed on the machine: tried after the bundled font, for a
# name it cannot draw (a rare character outside Noto Sans SC).
CJK_FAMILIES = (
    "Noto Sans CJK SC", "Noto Sans SC", "Source Han Sans SC", "Source Han Sans CN", "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei", "Microsoft YaHei", "SimHei", "PingFang SC", "Heiti SC", "Droid Sans Fallback",
    "AR PL UMing CN",
)  # fmt: skip
# matplotlib's layout caches are not safe across threads: one chart at a time.
_RENDERING = threading.Lock()


@dataclass(frozen=True)
class ChartText:
    """The chart's words in one language: title, axis label and one legend label per series."""

    title: str
    axis: str
    series: tuple[str, ...]


@dataclass(frozen=True)
class Bar:
    """One department: its label in the digest and the value of each series (stacked)."""

    label: str
    rank: int
    values: tuple[float, ...]


@dataclass(frozen=True)
class Chart:
    png: bytes
    # The department labels as drawn, top to bottom; "#3" stands for a name the font cannot show.
    labels: tuple[str, ...]
    font: str


def render(bars: Sequence[Bar], text: ChartText, fallback: ChartText, *, font_file: str = "") -> Chart:
    """A horizontal stacked bar per department, heaviest at the top. Words the chosen font cannot
    draw fall back: the chart's own to `fallback` (English), a department's name to its rank."""
    with _RENDERING:
        return _render(bars, text, fallback, font_file)


def _render(bars: Sequence[Bar], text: ChartText, fallback: ChartText, font_file: str) -> Chart:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.font_manager import FontProperties

    words = [text.title, text.axis, *text.series, *(bar.label for bar in bars)]
    path = pick_font(font_file, "".join(words))
    glyphs = charmap(path)
    if not _drawable(glyphs, text.title + text.axis + "".join(text.series)):
        text = fallback
    labels = tuple(bar.label if _drawable(glyphs, bar.label) else f"#{bar.rank}" for bar in bars)
    font = FontProperties(fname=path)
    figure = Figure(figsize=(9, 2.2 + 0.42 * max(len(bars), 1)), dpi=100, layout="constrained")
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    _stack(figure, axes, bars, labels, text, font)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    # Read back from the drawn tick labels, top to bottom: what a reader of the PNG sees.
    ticks = sorted(axes.get_yticklabels(), key=lambda label: -label.get_position()[1])
    drawn = tuple(label.get_text() for label in ticks)
    return Chart(buffer.getvalue(), drawn, path)


def _stack(figure, axes, bars: Sequence[Bar], labels: tuple[str, ...], text: ChartText, font) -> None:
    # Bottom-up in matplotlib's coordinates, so the heaviest department is drawn at the top.
    rows = list(range(len(bars)))[::-1]
    left = [0.0] * len(bars)
    for series, name in enumerate(text.series):
        widths = [bar.values[series] for bar in bars]
        if any(widths):
            axes.barh(rows, widths, left=left, label=name)
        left = [start + width for start, width in zip(left, widths, strict=True)]
    # Names are plain text: "$" in one must not start matplotlib's math mode.
    axes.set_yticks(rows, labels, fontproperties=font, parse_math=False)
    axes.set_xlabel(text.axis, fontproperties=font)
    axes.set_title(text.title, fontproperties=font)
    axes.grid(axis="x", alpha=0.3)
    handles, names = axes.get_legend_handles_labels()
    if handles:
        # Below the plot, so it never hides a bar.
        figure.legend(handles, names, prop=font, loc="outside lower center", ncols=min(len(handles), 4))


def bundled_font() -> str | None:
    """Noto Sans SC (SIL Open Font License), installed with Jianfu as a dependency, so every
    deployment draws Chinese department names without installing fonts on the machine."""
    try:
        from pylopdf_fonts_zh_cn import sans_path
    except ImportError:
        return None
    path = sans_path()
    return str(path) if path.is_file() else None


def pick_font(configured: str, sample: str) -> str:
    """The configured font file, else the bundled one, else an installed one that can draw `sample`,
    else matplotlib's default."""
    from matplotlib.font_manager import FontProperties, findfont

    candidates = [configured] if configured else []
    candidates += [path for path in (bundled_font(), *(_installed(family) for family in CJK_FAMILIES)) if path]
    default = findfont(FontProperties(family="DejaVu Sans"))
    for path in candidates:
        if _drawable(charmap(path), sample):
            return path
    if candidates and not configured:
        log.info("no installed font draws every label of the chart; using %s", candidates[0])
        return candidates[0]
    return configured or default


def _installed(family: str) -> str | None:
    from matplotlib.font_manager import FontProperties, findfont

    try:
        return findfont(FontProperties(family=family), fallback_to_default=False)
    except ValueError:
        return None


@functools.lru_cache(maxsize=16)
def charmap(path: str) -> frozenset[int]:
    """The code points a font file has glyphs for."""
    from matplotlib.ft2font import FT2Font

    return frozenset(FT2Font(path).get_charmap())


def _drawable(glyphs: frozenset[int], text: str) -> bool:
    return all(ord(char) in glyphs or char.isspace() for char in text)
