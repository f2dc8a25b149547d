"""Small server-drawn SVG charts for the dashboards: bars, lines, a heatmap, dots with intervals.

Drawn by hand rather than by matplotlib: a chart is a few dozen elements, so it takes well under
a millisecond instead of a tenth of a second, its text is real text at a size we choose (no
7 px tick labels after scaling), and every figure is laid out from the data it shows (no bar past
its axis, no marker on the plot's edge, no legend entry without marks). Each function returns one
``<svg>`` with a ``viewBox`` ``width`` units wide; the page scales it to its card, so a page
draws each chart at a wide and a narrow width and shows the one that fits (:func:`responsive`).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from html import escape

FONT = 13  # units of text; charts are drawn about as wide as they are shown, so ≈ pixels
CHAR = 0.6 * FONT  # average glyph advance of the UI sans-serif, for laying out labels
INK = "#3e4c59"
GRID = "#e4e7eb"
ACCENT = "#3b5bdb"
WARN = "#e8590c"
MUTED = "#9aa5b1"
WIDE, NARROW = 600, 360  # the two widths a page draws: a wide card, and a phone's or a narrow card


@dataclass
class Series:
    """One named set of values, one per row or point; ``None`` where there is nothing to draw."""

    name: str
    values: Sequence[float | None]
    colour: str = ACCENT


def _fmt(x: float) -> str:
    return f"{x:.1f}".rstrip("0").rstrip(".") if isinstance(x, float) else str(x)


def tick_text(x: float) -> str:
    if abs(x) >= 1000:
        return f"{x / 1000:g}k"
    return f"{x:g}"


def nice_ticks(lo: float, hi: float, count: int = 5, *, integer: bool = False) -> list[float]:
    """Round tick values covering [lo, hi] (1, 2, 2.5 or 5 times a power of ten apart); with
    ``integer`` (counts) whole numbers only."""
    if hi <= lo:
        hi = lo + 1
    raw = (hi - lo) / max(count - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 2.5, 5, 10) if m * power >= raw)
    if integer:
        step = max(1, round(step)) if step >= 1 else 1
    first = math.floor(lo / step + 1e-9) * step
    ticks, x = [], first
    while x <= hi + step * 1e-9:
        ticks.append(round(x, 10))
        x += step
    if ticks[-1] < hi - 1e-9:
        ticks.append(round(x, 10))
    return ticks


def _label(text: str, room: float) -> tuple[str, str]:
    """Text shortened to fit ``room`` units with an ellipsis, and a tooltip when shortened."""
    fits = max(int(room / CHAR), 3)
    if len(text) <= fits:
        return escape(text), ""
    return escape(text[: fits - 1]) + "…", f"<title>{escape(text)}</title>"


def _title(text: str, cx: float, y: float, width: float) -> str:
    """A horizontal title centred under its plot at ``cx``; one too long for that moves to the
    middle of the chart, and one too long for the chart is shortened (its tooltip says it all)."""
    if len(text) * CHAR > 2 * min(cx, width - cx) - 8:
        cx = width / 2
    shown, tip = _label(text, width - 8)
    return f'<text x="{_fmt(cx)}" y="{_fmt(y)}" text-anchor="middle">{tip}{shown}</text>'


def _centred(text: str, cx: float, width: float) -> str:
    """A title centred at ``cx``, shortened to what fits on both sides within ``width``."""
    shown, tip = _label(text, 2 * min(cx, width - cx) - 8)
    return tip + shown


def _y_title(text: str, top: float, bottom: float) -> str:
    """A title along the left edge, upright, centred on the plot's height and shortened to it."""
    return (
        f'<text transform="translate({FONT} {_fmt((top + bottom) / 2)}) rotate(-90)" text-anchor="middle">'
        f"{_centred(text, (bottom - top) / 2, bottom - top)}</text>"
    )


def _svg(width: float, height: float, body: list[str], title: str) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {_fmt(width)} {_fmt(height)}" '
        f'width="{_fmt(width)}" height="{_fmt(height)}" role="img" aria-label="{escape(title)}" '
        f'font-family="system-ui, -apple-system, Segoe UI, Roboto, sans-serif" font-size="{FONT}" '
        f'fill="{INK}">' + "".join(body) + "</svg>"
    )


def _legend(
    series: Sequence[Series], x: float, y: float, width: float, marker: str = "rect"
) -> tuple[list[str], float]:
    """Swatches for the series that have something drawn; returns the elements and the height used."""
    drawn = [s for s in series if any(v is not None for v in s.values)]
    body, cx, cy = [], x, y
    for s in drawn:
        room = 18 + len(s.name) * CHAR + 14
        if cx + room > x + width and cx > x:
            cx, cy = x, cy + FONT + 6
        if marker == "line":
            body.append(
                f'<line x1="{_fmt(cx)}" y1="{_fmt(cy - 4)}" x2="{_fmt(cx + 14)}" y2="{_fmt(cy - 4)}" stroke="{s.colour}" stroke-width="2.5"/>'
            )
        else:
            body.append(
                f'<rect x="{_fmt(cx)}" y="{_fmt(cy - 10)}" width="12" height="12" rx="2" fill="{s.colour}"/>'
            )
        body.append(f'<text x="{_fmt(cx + 18)}" y="{_fmt(cy)}">{escape(s.name)}</text>')
        cx += room
    return body, (cy - y + FONT + 8) if drawn else 0


def _x_grid(ticks: Sequence[float], sx: Callable[[float], float], top: float, bottom: float) -> list[str]:
    """Vertical grid lines at ``ticks`` and their values below the plot."""
    body = []
    for t in ticks:
        body.append(_vline(sx(t), top, bottom, GRID))
        body.append(
            f'<text x="{_fmt(sx(t))}" y="{_fmt(bottom + FONT + 4)}" text-anchor="middle">{tick_text(t)}</text>'
        )
    return body


def _vline(x: float, top: float, bottom: float, stroke: str, dash: str = "") -> str:
    dashes = f' stroke-dasharray="{dash}"' if dash else ""
    return f'<line x1="{_fmt(x)}" y1="{_fmt(top)}" x2="{_fmt(x)}" y2="{_fmt(bottom)}" stroke="{stroke}"{dashes}/>'


def empty(message: str, width: float = 600) -> str:
    """A short box that says why there is no chart (instead of a blank tile)."""
    shown, tip = _label(message, width - 8)
    return _svg(
        width,
        44,
        [f'<text x="{_fmt(width / 2)}" y="27" text-anchor="middle" fill="#616e7c">{tip}{shown}</text>'],
        message,
    )


def hbars(
    rows: Sequence[str],
    series: Sequence[Series],
    *,
    width: float = 600,
    domain: tuple[float, float] | None = None,
    axis_title: str = "",
    title: str = "",
    reference: float | None = None,
) -> str:
    """Horizontal (grouped) bars, one group per row; the axis covers every value drawn.

    Values ``None`` draw nothing and say "–" at the baseline, so a missing figure never reads
    as a zero. ``reference`` draws a dashed line (a policy threshold).
    """
    values = [v for s in series for v in s.values if v is not None]
    lo, hi = domain or (min([0.0, *values]), max([0.0, *values]) or 1.0)
    lo, hi = min(lo, *values) if values else lo, max(hi, *values) if values else hi
    ticks = nice_ticks(lo, hi, integer=all(isinstance(v, int) for v in values))
    lo, hi = ticks[0], ticks[-1]
    label_room = min(width * 0.38, max((len(r) for r in rows), default=4) * CHAR + 10)
    left, right = label_room + 6, width - 14
    legend, legend_height = _legend(series, left, FONT + 2, right - left)
    shown = [s for s in series if any(v is not None for v in s.values)] or list(series[:1])
    bar = 14 if len(shown) == 1 else 10
    group = bar * len(shown) + 8
    top = legend_height + 6
    plot_height = group * len(rows)
    height = top + plot_height + FONT + 10 + (FONT + 8 if axis_title else 0)

    def sx(v: float) -> float:
        return left + (v - lo) / (hi - lo) * (right - left)

    body = [*legend, *_x_grid(ticks, sx, top, top + plot_height)]
    zero = sx(min(max(0.0, lo), hi))
    for r, name in enumerate(rows):
        y = top + r * group + 4
        text, tip = _label(name, label_room - 4)
        body.append(
            f'<text x="{_fmt(label_room)}" y="{_fmt(y + group / 2 + 1)}" text-anchor="end">{tip}{text}</text>'
        )
        for k, s in enumerate(shown):
            v = s.values[r]
            by = y + k * bar
            if v is None:
                body.append(
                    f'<text x="{_fmt(zero + 4)}" y="{_fmt(by + bar - 2)}" font-size="{FONT - 2}" fill="{MUTED}">–</text>'
                )
                continue
            x0, x1 = sorted((zero, sx(v)))
            body.append(
                f'<rect x="{_fmt(x0)}" y="{_fmt(by)}" width="{_fmt(max(x1 - x0, 0.5))}" height="{bar - 1}" '
                f'fill="{s.colour}"><title>{escape(name)} · {escape(s.name)}: {tick_text(round(v, 3))}</title></rect>'
            )
    body.append(_vline(zero, top, top + plot_height, INK))
    if reference is not None and lo <= reference <= hi:
        body.append(_vline(sx(reference), top, top + plot_height, MUTED, "4 3"))
    if axis_title:
        body.append(_title(axis_title, (left + right) / 2, height - 4, width))
    return _svg(width, height, body, title or axis_title)


def lines(
    x: Sequence[float],
    series: Sequence[Series],
    *,
    width: float = 600,
    height: float = 260,
    x_ticks: Sequence[tuple[float, str]] = (),
    x_domain: tuple[float, float] | None = None,
    y_domain: tuple[float, float] | None = None,
    reference: tuple[float, str] | None = None,
    x_title: str = "",
    y_title: str = "",
    title: str = "",
) -> str:
    """Lines with a marker per point over numeric ``x``; gaps where a value is ``None``.

    Both axes are padded past the outermost point and tick, so no marker sits on the plot's edge;
    a single point gets a range around it instead of a zero-width axis.
    """
    values = [v for s in series for v in s.values if v is not None]
    lo, hi = y_domain or (min(values, default=0.0), max(values, default=1.0))
    lo, hi = min([lo, *values]), max([hi, *values])
    if reference is not None:
        lo, hi = min(lo, reference[0]), max(hi, reference[0])
    ticks = nice_ticks(lo, hi)
    y_lo, y_hi = ticks[0], ticks[-1]
    pad_y = (y_hi - y_lo) * 0.06
    y_lo, y_hi = y_lo - pad_y, y_hi + pad_y
    x_lo, x_hi = (min(x), max(x)) if x else (0.0, 1.0)
    if x_domain is not None:
        x_lo, x_hi = min(x_domain[0], x_lo), max(x_domain[1], x_hi)
    if x_hi == x_lo:
        x_lo, x_hi = x_lo - 1, x_hi + 1
    pad_x = (x_hi - x_lo) * 0.03
    x_lo, x_hi = x_lo - pad_x, x_hi + pad_x
    legend, legend_height = _legend(series, 8, FONT + 2, width - 16, marker="line")
    left = 14 + max(len(tick_text(t)) for t in ticks) * CHAR + (FONT + 6 if y_title else 0)
    right, top = width - 12, legend_height + 8
    bottom = height - FONT - 10 - (FONT + 8 if x_title else 0)

    def sx(v: float) -> float:
        return left + (v - x_lo) / (x_hi - x_lo) * (right - left)

    def sy(v: float) -> float:
        return bottom - (v - y_lo) / (y_hi - y_lo) * (bottom - top)

    body = list(legend)
    body.append(
        f'<rect x="{_fmt(left)}" y="{_fmt(top)}" width="{_fmt(right - left)}" height="{_fmt(bottom - top)}" fill="none" stroke="{GRID}"/>'
    )
    for t in ticks:
        body.append(
            f'<line x1="{_fmt(left)}" y1="{_fmt(sy(t))}" x2="{_fmt(right)}" y2="{_fmt(sy(t))}" stroke="{GRID}"/>'
        )
        body.append(
            f'<text x="{_fmt(left - 5)}" y="{_fmt(sy(t) + 4)}" text-anchor="end">{tick_text(t)}</text>'
        )
    last_end = -1e9
    for value, text in x_ticks:
        cx = sx(value)
        if cx - len(text) * CHAR / 2 < last_end + 6:
            continue  # would overlap its neighbour: every tick stays readable
        anchor = "middle"
        if cx + len(text) * CHAR / 2 > width:
            anchor, end = "end", cx
        else:
            end = cx + len(text) * CHAR / 2
        body.append(
            f'<line x1="{_fmt(cx)}" y1="{_fmt(bottom)}" x2="{_fmt(cx)}" y2="{_fmt(bottom + 4)}" stroke="{INK}"/>'
        )
        body.append(
            f'<text x="{_fmt(cx)}" y="{_fmt(bottom + FONT + 4)}" text-anchor="{anchor}">{escape(text)}</text>'
        )
        last_end = end
    if reference is not None:
        value, name = reference
        body.append(
            f'<line x1="{_fmt(left)}" y1="{_fmt(sy(value))}" x2="{_fmt(right)}" y2="{_fmt(sy(value))}" stroke="{MUTED}" stroke-dasharray="5 4"/>'
        )
        body.append(
            f'<text x="{_fmt(right - 4)}" y="{_fmt(sy(value) - 4)}" text-anchor="end" font-size="{FONT - 2}" fill="#616e7c">{escape(name)}</text>'
        )
    for s in series:
        run: list[str] = []
        runs: list[list[str]] = []
        for xv, v in zip(x, s.values, strict=True):
            if v is None:
                if run:
                    runs.append(run)
                run = []
                continue
            run.append(f"{_fmt(sx(xv))},{_fmt(sy(v))}")
        if run:
            runs.append(run)
        for points in runs:
            if len(points) > 1:
                body.append(
                    f'<polyline points="{" ".join(points)}" fill="none" stroke="{s.colour}" stroke-width="2"/>'
                )
        marks = [(xv, v) for xv, v in zip(x, s.values, strict=True) if v is not None]
        if len(marks) <= 80:
            for xv, v in marks:
                body.append(
                    f'<circle cx="{_fmt(sx(xv))}" cy="{_fmt(sy(v))}" r="3" fill="{s.colour}">'
                    f"<title>{escape(s.name)}: {tick_text(round(v, 3))}</title></circle>"
                )
    if y_title:
        body.append(_y_title(y_title, top, bottom))
    if x_title:
        body.append(_title(x_title, (left + right) / 2, height - 4, width))
    return _svg(width, height, body, title or y_title)


def heatmap(
    rows: Sequence[str],
    columns: Sequence[str],
    share: Sequence[Sequence[float]],
    counts: Sequence[Sequence[float]],
    *,
    width: float = 600,
    row_title: str = "",
    column_title: str = "",
    title: str = "",
) -> str:
    """A row-normalised table as shaded cells (share of the row), the count in each cell's tooltip."""
    label_room = min(width * 0.3, max((len(r) for r in rows), default=4) * CHAR + 8)
    column_room = min(width * 0.3, max((len(c) for c in columns), default=4) * CHAR * 0.72 + 8)
    left = label_room + (FONT + 8 if row_title else 0) + 4
    top = (FONT + 8 if column_title else 0) + column_room + 4
    cell = max(min(40.0, (width - left - 10) / max(len(columns), 1)), 6.0)
    height = top + cell * len(rows) + 10
    body = []
    if column_title:
        body.append(_title(column_title, left + cell * len(columns) / 2, FONT + 2, width))
    if row_title:
        cy = top + cell * len(rows) / 2
        body.append(
            f'<text transform="translate({FONT} {_fmt(cy)}) rotate(-90)" text-anchor="middle">'
            f"{_centred(row_title, cell * len(rows) / 2, cell * len(rows))}</text>"
        )
    for j, name in enumerate(columns):
        text, tip = _label(name, (column_room - 8) / 0.72)
        cx, cy = left + (j + 0.5) * cell + 4, top - 6
        body.append(f'<text transform="translate({_fmt(cx)} {_fmt(cy)}) rotate(-45)">{tip}{text}</text>')
    numbers = cell >= 30
    for i, name in enumerate(rows):
        y = top + i * cell
        text, tip = _label(name, label_room - 8)
        body.append(
            f'<text x="{_fmt(left - 6)}" y="{_fmt(y + cell / 2 + 4)}" text-anchor="end">{tip}{text}</text>'
        )
        for j in range(len(columns)):
            value = float(share[i][j])
            fill = f"rgba(59,91,219,{0.06 + 0.94 * value:.3f})" if counts[i][j] else "#f5f7fa"
            body.append(
                f'<rect x="{_fmt(left + j * cell)}" y="{_fmt(y)}" width="{_fmt(cell - 1)}" height="{_fmt(cell - 1)}" '
                f'fill="{fill}"><title>{escape(name)} → {escape(columns[j])}: {tick_text(round(value, 3))} of the row '
                f"({tick_text(round(float(counts[i][j]), 1))})</title></rect>"
            )
            if numbers and value >= 0.005:
                colour = "#fff" if value > 0.55 else INK
                body.append(
                    f'<text x="{_fmt(left + j * cell + cell / 2)}" y="{_fmt(y + cell / 2 + 4)}" '
                    f'text-anchor="middle" font-size="{FONT - 2}" fill="{colour}">{value:.2f}</text>'
                )
    return _svg(width, height, body, title or f"{row_title} against {column_title}")


def intervals(
    rows: Sequence[str],
    value: Sequence[float],
    low: Sequence[float],
    high: Sequence[float],
    *,
    width: float = 600,
    reference: float | None = None,
    axis_title: str = "",
    title: str = "",
) -> str:
    """A dot and its interval per row on a 0–1 axis; dots below ``reference`` are drawn in warning colour."""
    label_room = min(width * 0.4, max((len(r) for r in rows), default=4) * CHAR + 10)
    left, right, top, row = label_room + 8, width - 16, 8, 22
    plot_height = row * len(rows)
    height = top + plot_height + FONT + 10 + (FONT + 8 if axis_title else 0)

    def sx(v: float) -> float:
        return left + (0.02 + 0.96 * v) * (right - left)  # 0 and 1 sit inside the frame

    body = []
    body.extend(_x_grid(nice_ticks(0, 1), sx, top, top + plot_height))
    if reference is not None:
        body.append(_vline(sx(reference), top, top + plot_height, MUTED, "4 3"))
    for i, name in enumerate(rows):
        cy = top + i * row + row / 2
        text, tip = _label(name, label_room - 4)
        body.append(f'<text x="{_fmt(label_room)}" y="{_fmt(cy + 4)}" text-anchor="end">{tip}{text}</text>')
        body.append(
            f'<line x1="{_fmt(sx(low[i]))}" y1="{_fmt(cy)}" x2="{_fmt(sx(high[i]))}" y2="{_fmt(cy)}" stroke="#868e96" stroke-width="2"/>'
        )
        colour = WARN if reference is not None and value[i] < reference else ACCENT
        body.append(
            f'<circle cx="{_fmt(sx(value[i]))}" cy="{_fmt(cy)}" r="5" fill="{colour}"><title>{escape(name)}: '
            f"{value[i]:.2f} ({low[i]:.2f}–{high[i]:.2f})</title></circle>"
        )
    if axis_title:
        body.append(_title(axis_title, (left + right) / 2, height - 4, width))
    return _svg(width, height, body, title or axis_title)


def columns(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    width: float = 600,
    height: float = 220,
    y_title: str = "",
    title: str = "",
) -> str:
    """Vertical bars over ordered labels (days); tick labels thinned so that none overlap."""
    ticks = nice_ticks(0, max([*values, 1]), integer=True)
    hi = ticks[-1]
    left = 14 + max(len(tick_text(t)) for t in ticks) * CHAR + (FONT + 6 if y_title else 0)
    right, top, bottom = width - 10, 8, height - FONT - 12
    step = (right - left) / max(len(labels), 1)
    body = []
    for t in ticks:
        y = bottom - t / hi * (bottom - top)
        body.append(
            f'<line x1="{_fmt(left)}" y1="{_fmt(y)}" x2="{_fmt(right)}" y2="{_fmt(y)}" stroke="{GRID}"/>'
        )
        body.append(f'<text x="{_fmt(left - 5)}" y="{_fmt(y + 4)}" text-anchor="end">{tick_text(t)}</text>')
    every = max(1, math.ceil(max((len(x) for x in labels), default=1) * CHAR * 1.3 / step))
    for i, (name, v) in enumerate(zip(labels, values, strict=True)):
        x = left + i * step
        h = v / hi * (bottom - top)
        body.append(
            f'<rect x="{_fmt(x + step * 0.1)}" y="{_fmt(bottom - h)}" width="{_fmt(max(step * 0.8, 0.5))}" '
            f'height="{_fmt(h)}" fill="{ACCENT}"><title>{escape(name)}: {tick_text(v)}</title></rect>'
        )
        if i % every == 0:
            body.append(
                f'<text x="{_fmt(x + step / 2)}" y="{_fmt(bottom + FONT + 4)}" text-anchor="middle">{escape(name)}</text>'
            )
    body.append(
        f'<line x1="{_fmt(left)}" y1="{_fmt(bottom)}" x2="{_fmt(right)}" y2="{_fmt(bottom)}" stroke="{INK}"/>'
    )
    if y_title:
        body.append(_y_title(y_title, top, bottom))
    return _svg(width, height, body, title or y_title)


def responsive(draw: Callable[[dict, float], str], data: dict) -> str:
    """``draw(data, width)`` at both widths; ``templates/_charts_style.html``'s container query
    shows the one that fits its card, so text stays readable from a phone to a wide screen."""
    return (
        f'<div class="chart-wide">{draw(data, WIDE)}</div>'
        f'<div class="chart-narrow">{draw(data, NARROW)}</div>'
    )
