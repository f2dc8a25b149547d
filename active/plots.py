"""Server-side SVG plots of the active-learning page (:mod:`labelhub.charts`)."""

from __future__ import annotations

from labelhub import charts
from labelhub.charts import WIDE, Series


def accuracy_by_labels(points: list[dict], width: float = WIDE) -> str:
    """Held-out accuracy of each done round against the labels it was trained on.

    One round is one point: the axis then runs from 0 to twice its labels, so the point sits
    mid-plot on a real scale instead of an axis from "29 labels" to "29 labels".
    """
    if not points:
        return charts.empty("No round has been evaluated yet", width)
    xs = [float(p["labels"]) for p in points]
    lo, hi = min(xs), max(xs)
    if lo == hi:
        lo, hi = 0.0, max(2 * hi, 1.0)
    ticks = charts.nice_ticks(lo, hi, 6 if width >= 500 else 4)
    return charts.lines(
        xs,
        [Series("held-out accuracy", [p["accuracy"] for p in points])],
        width=width,
        height=240,
        x_domain=(ticks[0], ticks[-1]),
        x_ticks=[(t, charts.tick_text(t)) for t in ticks],
        y_domain=(0.0, 1.0),
        x_title="labels trained on",
        y_title="held-out accuracy",
        title="Held-out accuracy of each round against the labels it was trained on",
    )
