"""Small inline SVG charts for the snapshot pages: no plotting library on the web path, and the
charts stay crisp, searchable text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.utils.html import escape
from django.utils.safestring import SafeString, mark_safe

PALETTE = ("#4c78a8", "#f58518", "#54a24b", "#e45756", "#72b7b2", "#eeca3b", "#b279a2", "#ff9da6", "#9d755d")


@dataclass(frozen=True)
class Bar:
    label: str
    value: float
    caption: str = ""
    marker: float | None = None  # e.g. the target share, drawn as a tick across the bar
    colour: str = ""


def horizontal_bars(
    bars: Sequence[Bar], *, maximum: float | None = None, width: int = 520, title: str = ""
) -> SafeString:
    """One labelled bar per row; ``marker`` draws a dark tick (the target) on the same scale."""
    if not bars:
        return mark_safe('<p class="muted">Nothing to plot.</p>')  # noqa: S308 - constant markup
    top = maximum or max([b.value for b in bars] + [b.marker or 0 for b in bars]) or 1
    label_w, caption_w, row_h = 130, 110, 24
    plot_w = width - label_w - caption_w
    height = row_h * len(bars) + 6
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} {height}" '
        f'width="100%" style="max-width:{width}px" xmlns="http://www.w3.org/2000/svg">'
    ]
    if title:
        parts.append(f"<title>{escape(title)}</title>")
    for i, bar in enumerate(bars):
        y = i * row_h + 3
        w = max(plot_w * bar.value / top, 0)
        colour = bar.colour or PALETTE[i % len(PALETTE)]
        parts.append(
            f'<text x="{label_w - 6}" y="{y + 15}" text-anchor="end" font-size="12">{escape(bar.label)}</text>'
            f'<rect x="{label_w}" y="{y + 2}" width="{w:.1f}" height="{row_h - 8}" rx="3" fill="{colour}">'
            f"<title>{escape(bar.label)}: {escape(bar.caption or bar.value)}</title></rect>"
            f'<text x="{width - caption_w + 6}" y="{y + 15}" font-size="12" fill="#616e7c">{escape(bar.caption)}</text>'
        )
        if bar.marker is not None:
            x = label_w + plot_w * bar.marker / top
            parts.append(
                f'<line x1="{x:.1f}" x2="{x:.1f}" y1="{y}" y2="{y + row_h - 2}" stroke="#1f2933" stroke-width="2">'
                f"<title>target {bar.marker:.1%}</title></line>"
            )
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text node above is escaped


def stacked_bar(segments: Sequence[tuple[str, float]], *, width: int = 520, title: str = "") -> SafeString:
    """One bar split into segments (e.g. train / val / test), with a legend."""
    total = sum(v for _, v in segments) or 1
    parts = [
        f'<svg class="chart" role="img" aria-label="{escape(title)}" viewBox="0 0 {width} 46" width="100%" '
        f'style="max-width:{width}px" xmlns="http://www.w3.org/2000/svg">'
    ]
    x = 0.0
    legend_x = 0
    for i, (name, value) in enumerate(segments):
        w = width * value / total
        colour = PALETTE[i % len(PALETTE)]
        parts.append(
            f'<rect x="{x:.1f}" y="0" width="{w:.1f}" height="20" fill="{colour}">'
            f"<title>{escape(name)}: {value:g} ({value / total:.1%})</title></rect>"
            f'<rect x="{legend_x}" y="28" width="10" height="10" fill="{colour}"/>'
            f'<text x="{legend_x + 14}" y="37" font-size="12">{escape(name)} {value:g} ({value / total:.0%})</text>'
        )
        x += w
        legend_x += 150
    parts.append("</svg>")
    return mark_safe("".join(parts))  # noqa: S308 - every text node above is escaped
