"""The digest's chart: a valid PNG whose drawn labels are the expected departments."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys

from bot import chart

ZH = chart.ChartText("2026-W47 各部门负担", "负担指数", ("通知", "数据报送"))
EN = chart.ChartText("Burden by department, 2026-W47", "burden index", ("notices", "data requests"))


def size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def test_a_valid_png_with_the_departments_heaviest_first() -> None:
    bars = [
        chart.Bar("Civil Affairs", 1, (5, 8)),
        chart.Bar("Transport", 2, (3, 0)),
        chart.Bar("$x$ & <Health>", 3, (1, 0)),
    ]
    drawn = chart.render(bars, EN, EN)
    assert drawn.labels == ("Civil Affairs", "Transport", "$x$ & <Health>")
    width, height = size(drawn.png)
    assert width == 900 and 300 < height < 600
    taller = chart.render([*bars, *(chart.Bar(f"D{n}", n, (1, 1)) for n in range(4, 16))], EN, EN)
    assert size(taller.png)[1] > height


def test_chinese_names_are_drawn_with_the_bundled_font() -> None:
    bars = [chart.Bar("民政局", 1, (2, 2)), chart.Bar("Water Board", 2, (1, 0))]
    drawn = chart.render(bars, ZH, EN)
    assert drawn.labels == ("民政局", "Water Board")
    assert drawn.font == chart.bundled_font() and drawn.font.endswith("NotoSansSC-Regular.otf")
    assert size(drawn.png)[0] == 900


CLEAN_MACHINE = """
import json, sys, warnings
from bot import chart
chart.CJK_FAMILIES = ()  # no Chinese font installed on the machine
zh = chart.ChartText("2026-W47 各部门负担", "负担指数", ("通知", "数据报送", "要求回复“收到”"))
bars = [chart.Bar(name, rank, (3, 2, 1)) for rank, name in enumerate(("民政局", "卫生健康委员会", "应急管理局"), 1)]
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    drawn = chart.render(bars, zh, zh)
json.dump({"labels": drawn.labels, "font": drawn.font, "warnings": [str(w.message) for w in caught]}, sys.stdout)
"""


def test_a_fresh_machine_draws_chinese_names_without_missing_glyphs(tmp_path) -> None:
    # A new matplotlib cache and home: nothing installed or cached beyond Jianfu's own dependencies.
    env = {"PATH": os.environ["PATH"], "HOME": str(tmp_path), "MPLCONFIGDIR": str(tmp_path / "mpl")}
    command = [sys.executable, "-c", CLEAN_MACHINE]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=120, check=True)
    drawn = json.loads(result.stdout)
    assert drawn["labels"] == ["民政局", "卫生健康委员会", "应急管理局"]
    assert drawn["font"].endswith("NotoSansSC-Regular.otf")
    assert not [warning for warning in drawn["warnings"] if "missing from" in warning], drawn["warnings"]


def test_without_any_chinese_font_labels_and_words_fall_back(monkeypatch) -> None:
    from matplotlib.font_manager import FontProperties, findfont

    monkeypatch.setattr(chart, "CJK_FAMILIES", ())  # as on a machine without Chinese fonts
    monkeypatch.setattr(chart, "bundled_font", lambda: None)  # and a packaging without the bundled one
    latin = findfont(FontProperties(family="DejaVu Sans"))
    drawn = chart.render([chart.Bar("民政局", 1, (2, 2)), chart.Bar("卫健委", 2, (1, 1))], ZH, EN, font_file=latin)
    assert drawn.font == latin and drawn.labels == ("#1", "#2")
    assert size(drawn.png)[0] == 900


def test_a_configured_font_that_draws_everything_is_used(monkeypatch) -> None:
    from matplotlib.font_manager import FontProperties, findfont

    latin = findfont(FontProperties(family="DejaVu Sans"))
    assert chart.pick_font(latin, "Transport 2026-W47") == latin
