"""Inline SVG charts of the production page: drift over windows against its threshold, a histogram.

Server-side like the snapshot and active-learning pages: no plotting library, no script, crisp at
any width (``viewBox`` + ``width="100%"``), every text node escaped.
"""

from __future__ import annotations

from collections.abc import Sequence

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

from labelhub.snapshots.charts import PALETTE

WIDTH, HEIGHT, PAD = 520, 150, 28


def _svg_open(title: str, height: int = HEIGHT) -> str:
    return (
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {WIDTH} {height}" '
        f'width="100%" style="max-width:{WIDTH}px" xmlns="http://www.w3.org/2000/svg"><title>{escape(title)}</title>'
    )


def series_with_thresholds(
    points: Sequence[tuple[str, float | None, float | None, bool]], *, title: str, low: float, high: float
) -> SafeString:
    """``(label, value, threshold, alarm)`` per window, left to right: the value as a line with dots
    (red on alarm), the threshold as a dashed line; the y axis runs from ``low`` to ``high``."""
    drawn = [(i, label, v, t, alarm) for i, (label, v, t, alarm) in enumerate(points) if v is not None]
    if not drawn:
        return mark_safe('<p class="muted">No window checked yet.</p>')  # noqa: S308 - constant markup
    span = (high - low) or 1
    n = max(len(points) - 1, 1)

    def x(i: int) -> float:
        return PAD + i / n * (WIDTH - 2 * PAD) if len(points) > 1 else WIDTH / 2

    def y(v: float) -> float:
        return HEIGHT - PAD - (min(max(v, low), high) - low) / span * (HEIGHT - 2 * PAD)

    parts = [
        _svg_open(title),
        f'<line x1="{PAD}" y1="{PAD}" x2="{PAD}" y2="{HEIGHT - PAD}" stroke="#ccc"/>',
        f'<line x1="{PAD}" y1="{HEIGHT - PAD}" x2="{WIDTH - PAD}" y2="{HEIGHT - PAD}" stroke="#ccc"/>',
        f'<text x="2" y="{PAD + 4}" font-size="10">{high:g}</text>',
        f'<text x="2" y="{HEIGHT - PAD + 4}" font-size="10">{low:g}</text>',
        f'<text x="{PAD}" y="{HEIGHT - 8}" font-size="10">{escape(points[0][0])}</text>',
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" font-size="10" text-anchor="end">{escape(points[-1][0])}</text>',
    ]
    thresholds = [(i, t) for i, _, _, t, _ in drawn if t is not None]
    if thresholds:
        path = " ".join(f"{x(i):.1f},{y(t):.1f}" for i, t in thresholds)
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="#868e96" stroke-dasharray="4 3"><title>threshold</title></polyline>'
        )
    line = " ".join(f"{x(i):.1f},{y(v):.1f}" for i, _, v, _, _ in drawn)
    parts.append(f'<polyline points="{line}" fill="none" stroke="{PALETTE[0]}" stroke-width="2"/>')
    for i, label, v, t, alarm in drawn:
        colour = "#c92a2a" if alarm else PALETTE[0]
        caption = (
            f"{label}: {v:.3f}"
            + (f" (threshold {t:.3f})" if t is not None else "")
            + (" — alarm" if alarm else "")
        )
        parts.append(
            f'<circle cx="{x(i):.1f}" cy="{y(v):.1f}" r="3.5" fill="{colour}"><title>{escape(caption)}</title></circle>'
        )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text node above is escaped


def histogram(
    counts: Sequence[int], edges: Sequence[float], *, title: str, mark_from: float | None = None
) -> SafeString:
    """Bars of ``counts`` between ``edges``; bins at or above ``mark_from`` drawn in the accent colour."""
    if not sum(counts):
        return mark_safe('<p class="muted">Nothing scored yet.</p>')  # noqa: S308 - constant markup
    top = max(counts)
    bar_w = (WIDTH - 2 * PAD) / len(counts)
    parts = [_svg_open(title)]
    for i, count in enumerate(counts):
        h = (HEIGHT - 2 * PAD) * count / top
        colour = PALETTE[1] if mark_from is not None and edges[i] >= mark_from - 1e-9 else PALETTE[0]
        parts.append(
            f'<rect x="{PAD + i * bar_w + 1:.1f}" y="{HEIGHT - PAD - h:.1f}" width="{bar_w - 2:.1f}" height="{h:.1f}" '
            f'fill="{colour}"><title>{edges[i]:.0%}–{edges[i + 1]:.0%}: {count}</title></rect>'
        )
    parts.append(f'<text x="{PAD}" y="{HEIGHT - 8}" font-size="10">{edges[0]:.0%}</text>')
    parts.append(
        f'<text x="{WIDTH - PAD}" y="{HEIGHT - 8}" font-size="10" text-anchor="end">{edges[-1]:.0%}</text>'
    )
    parts.append(f'<text x="2" y="{PAD + 4}" font-size="10">{top}</text>')
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text node above is escaped
