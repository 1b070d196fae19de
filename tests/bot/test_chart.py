"""The digest's chart: a valid PNG whose drawn labels are the expected departments."""

from __future__ import annotations

import struct

from bot import chart

ZH = chart.ChartText("2026-W47 各部门负担", "负担指数", ("通知", "数据报送"))
EN = chart.ChartText("Burden by department, 2026-W47", "burden index", ("notices", "data requests"))


def size(png: bytes) -> tuple[int, int]:
    """Width and height from the PNG's IHDR chunk."""
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and png[12:16] == b"IHDR"
    return struct.unpack(">II", png[16:24])


def test_a_valid_png_with_the_departments_heaviest_first() -> None:
    bars = [chart.Bar("Civil Affairs", 1, (5, 8)), chart.Bar("Transport", 2, (3, 0)), chart.Bar("$x$ & <Health>", 3, (1, 0))]
    drawn = chart.render(bars, EN, EN)
    assert drawn.labels == ("Civil Affairs", "Transport", "$x$ & <Health>")
    width, height = size(drawn.png)
    assert width == 900 and 300 < height < 600
    taller = chart.render([*bars, *(chart.Bar(f"D{n}", n, (1, 1)) for n in range(4, 16))], EN, EN)
    assert size(taller.png)[1] > height


def test_chinese_names_are_drawn_when_a_font_has_them_else_replaced_by_their_rank() -> None:
    bars = [chart.Bar("民政局", 1, (2, 2)), chart.Bar("Water Board", 2, (1, 0))]
    drawn = chart.render(bars, ZH, EN)
    if 0x6C11 in chart.charmap(drawn.font):  # 民: a font with Chinese glyphs is installed
        assert drawn.labels == ("民政局", "Water Board")
    else:
        assert drawn.labels == ("#1", "Water Board")
    assert size(drawn.png)[0] == 900


def test_without_any_chinese_font_labels_and_words_fall_back(monkeypatch) -> None:
    from matplotlib.font_manager import FontProperties, findfont

    monkeypatch.setattr(chart, "CJK_FAMILIES", ())  # as on a machine without Chinese fonts
    latin = findfont(FontProperties(family="DejaVu Sans"))
    drawn = chart.render([chart.Bar("民政局", 1, (2, 2)), chart.Bar("卫健委", 2, (1, 1))], ZH, EN, font_file=latin)
    assert drawn.font == latin and drawn.labels == ("#1", "#2")
    assert size(drawn.png)[0] == 900


def test_a_configured_font_that_draws_everything_is_used(monkeypatch) -> None:
    from matplotlib.font_manager import FontProperties, findfont

    latin = findfont(FontProperties(family="DejaVu Sans"))
    assert chart.pick_font(latin, "Transport 2026-W47") == latin
