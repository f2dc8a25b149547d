"""The hand-drawn SVG charts: every mark inside its axes, legends only for what is drawn,
readable text, escaped labels, a real axis for a single point."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

from labelhub import charts
from labelhub.charts import Series

SVG = "{http://www.w3.org/2000/svg}"


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 - our own output, parsed to check its geometry


def texts(root: ET.Element) -> list[str]:
    return ["".join(t.itertext()) for t in root.iter(f"{SVG}text")]


def test_nice_ticks_cover_the_range_with_round_steps():
    assert charts.nice_ticks(0, 1) == [0, 0.25, 0.5, 0.75, 1]
    ticks = charts.nice_ticks(-0.13, 0.92)
    assert ticks[0] <= -0.13 and ticks[-1] >= 0.92
    assert charts.nice_ticks(0, 37)[-1] >= 37


def test_every_bar_stays_inside_its_axis_negative_values_included():
    root = parse(
        charts.hbars(
            ["cat", "dog"],
            [Series("specific", [0.9, 1.0]), Series("alpha", [-0.4, 1.0])],
            domain=(0.0, 1.0),
            width=600,
        )
    )
    ticks = [float(t) for t in texts(root) if re.fullmatch(r"-?[\d.]+", t)]
    assert min(ticks) <= -0.4 and max(ticks) >= 1.0
    grid = [float(line.get("x1")) for line in root.iter(f"{SVG}line")]
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(bars) == 4
    for bar in bars:
        x, w = float(bar.get("x")), float(bar.get("width"))
        assert min(grid) - 0.01 <= x and x + w <= max(grid) + 0.01


def test_a_missing_value_is_a_dash_not_a_zero_bar():
    root = parse(charts.hbars(["cat", "dog"], [Series("alpha", [0.5, None])], domain=(0.0, 1.0)))
    bars = [r for r in root.iter(f"{SVG}rect") if r.find(f"{SVG}title") is not None]
    assert len(bars) == 1 and "–" in texts(root)


def test_the_legend_lists_only_series_that_have_marks():
    svg = charts.hbars(["cat"], [Series("specific agreement", [0.8]), Series("binary α", [None])])
    assert "specific agreement" in svg and "binary α" not in svg


def test_line_markers_never_sit_on_the_plot_edge():
    root = parse(
        charts.lines(
            [0.0, 1.0, 2.0],
            [Series("agreement", [1.0, 0.2, -0.3])],
            y_domain=(0.0, 1.0),
            width=600,
            height=260,
        )
    )
    frame = next(r for r in root.iter(f"{SVG}rect") if r.get("fill") == "none")
    top, left = float(frame.get("y")), float(frame.get("x"))
    bottom, right = top + float(frame.get("height")), left + float(frame.get("width"))
    for dot in root.iter(f"{SVG}circle"):
        cx, cy = float(dot.get("cx")), float(dot.get("cy"))
        assert left + 5 < cx < right - 5 and top + 5 < cy < bottom - 5


def test_a_single_point_gets_an_axis_around_it():
    root = parse(charts.lines([29.0], [Series("accuracy", [0.8])], x_ticks=[(29.0, "29")], y_domain=(0, 1)))
    frame = next(r for r in root.iter(f"{SVG}rect") if r.get("fill") == "none")
    (dot,) = root.iter(f"{SVG}circle")
    middle = float(frame.get("x")) + float(frame.get("width")) / 2
    assert abs(float(dot.get("cx")) - middle) < 1


def test_overlapping_x_tick_labels_are_thinned():
    ticks = [(float(i), f"label {i}") for i in range(40)]
    root = parse(
        charts.lines([float(i) for i in range(40)], [Series("a", [0.5] * 40)], x_ticks=ticks, width=360)
    )
    shown = [t for t in texts(root) if t.startswith("label ")]
    assert 2 <= len(shown) < 40


def test_text_is_readable_and_escaped():
    svg = charts.heatmap(["<b>cat</b>", "dog"], ["<b>cat</b>", "dog"], [[1, 0], [0.5, 0.5]], [[2, 0], [1, 1]])
    root = parse(svg)
    assert int(root.get("font-size")) >= 12
    assert "<b>" not in svg and "&lt;b&gt;cat&lt;/b&gt;" in svg
    assert all(int(t.get("font-size", root.get("font-size"))) >= 11 for t in root.iter(f"{SVG}text"))


def test_long_labels_are_shortened_with_the_full_name_as_a_tooltip():
    name = "verb.communication.very.long.class.name.indeed"
    svg = charts.hbars([name], [Series("n", [3])], width=360)
    assert f"<title>{name}</title>" in svg and "…" in svg


def test_responsive_draws_both_widths():
    html = charts.responsive(lambda data, width: charts.empty(data["message"], width), {"message": "nothing"})
    assert 'class="chart-wide"' in html and 'class="chart-narrow"' in html
    assert f'viewBox="0 0 {charts.WIDE} 44"' in html and f'viewBox="0 0 {charts.NARROW} 44"' in html


def test_counts_get_whole_number_ticks():
    svg = charts.hbars(["cat", "dog"], [Series("labels", [2, 1])])
    ticks = [t for t in texts(parse(svg)) if re.fullmatch(r"[\d.]+", t)]
    assert ticks and all("." not in t for t in ticks)


def test_an_empty_message_fits_its_width():
    message = "No item has both a consensus and a model suggestion"
    svg = charts.empty(message, width=360)
    assert "…" in svg and f"<title>{message}</title>" in svg
