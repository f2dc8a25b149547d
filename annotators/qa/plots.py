"""The QA dashboard's plots, drawn server-side as SVG (:mod:`labelhub.charts`) from its data.

Each function takes the JSON-ready dashboard data (``annotators.qa.selectors.dashboard``) and a
width, so one computation feeds every picture; :func:`all_plots` draws each at a wide and a
narrow width (:func:`labelhub.charts.responsive`).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime

from labelhub import charts
from labelhub.charts import ACCENT, WARN, WIDE, Series


def agreement_over_time(data: dict, width: float = WIDE) -> str:
    points = data["agreement"]["over_time"]
    if not points:
        return charts.empty("No item has two labels yet", width)
    stamps = [datetime.fromisoformat(p["at"].replace("Z", "+00:00")) for p in points]
    x = [s.timestamp() for s in stamps]
    span = x[-1] - x[0]
    fmt = "%H:%M" if span < 2 * 86400 else "%b %d"
    n_ticks = 6 if width >= 500 else 3
    picks = sorted({round(i * (len(x) - 1) / max(n_ticks - 1, 1)) for i in range(n_ticks)})
    return charts.lines(
        x,
        [
            Series("percent agreement", [p["percent_agreement"] for p in points], ACCENT),
            Series("Krippendorff's α", [p["krippendorff_alpha"] for p in points], WARN),
        ],
        width=width,
        height=260 if width >= 500 else 240,
        x_ticks=[(x[i], stamps[i].strftime(fmt)) for i in picks],
        y_domain=(0.0, 1.0),
        reference=(data["policy"]["min_agreement"], "policy minimum"),
        x_title=f"each point: the last {points[-1]['items']} items labelled",
        y_title="agreement",
        title="Agreement over a rolling window of overlapping items",
    )


def agreement_by_class(data: dict, width: float = WIDE) -> str:
    rows = data["agreement"]["by_class"]
    if not rows or not any(r.get("labels") for r in rows):
        return charts.empty("No labels yet", width)
    names = [r["class"] for r in rows]
    if not data["agreement"]["overall"]["items"]:
        return charts.hbars(
            names,
            [Series("labels so far", [r["labels"] for r in rows], ACCENT)],
            width=width,
            axis_title="labels so far",
            title="Labels per class",
        )
    return charts.hbars(
        names,
        [
            Series("specific agreement", [r["specific_agreement"] for r in rows], ACCENT),
            Series("binary α", [r["krippendorff_alpha"] for r in rows], WARN),
        ],
        width=width,
        domain=(0.0, 1.0),
        axis_title="agreement on overlapping items",
        title="Agreement by class",
    )


def _matrix(table: dict, message: str, width: float, row_title: str, column_title: str) -> str:
    names = table["classes"]
    if not names or not any(any(row) for row in table["counts"]):
        return charts.empty(message, width)
    return charts.heatmap(
        names,
        names,
        table["row_share"],
        table["counts"],
        width=width,
        row_title=row_title,
        column_title=column_title,
    )


def confusion_matrix(data: dict, width: float = WIDE) -> str:
    return _matrix(
        data["agreement"]["coincidence"],
        "No item has two labels yet",
        width,
        "label",
        "another annotator, same item",
    )


def gold_confusion(data: dict, width: float = WIDE) -> str:
    return _matrix(
        data["gold_confusion"], "No gold item labelled yet", width, "gold answer", "annotator's label"
    )


def model_confusion(data: dict, width: float = WIDE) -> str:
    return _matrix(
        data["model_confusion"],
        "No item has a consensus and a suggestion yet",
        width,
        "consensus",
        "model",
    )


def gold_accuracy(data: dict, width: float = WIDE) -> str:
    rows = [r for r in data["annotators"] if r["gold_seen"]]
    if not rows:
        return charts.empty("No gold checks answered yet", width)
    return charts.intervals(
        [f"{r['username']} (n={r['gold_seen']})" for r in rows],
        [r["gold_accuracy"] for r in rows],
        [r["gold_ci_low"] for r in rows],
        [r["gold_ci_high"] for r in rows],
        width=width,
        reference=data["policy"]["min_gold_accuracy"],
        axis_title="gold accuracy, 95% Wilson interval",
        title="Gold accuracy per annotator",
    )


def _per_annotator(data: dict, width: float, field: str, name: str, colour: str) -> str:
    """One bar per annotator who has labelled, of ``field`` of their dashboard row."""
    rows = [r for r in data["annotators"] if r["annotations"]]
    if not rows:
        return charts.empty("No annotations yet", width)
    return charts.hbars(
        [r["username"] for r in rows],
        [Series(name, [r[field] for r in rows], colour)],
        width=width,
        axis_title=name,
        title=f"{name} per annotator",
    )


def volume(data: dict, width: float = WIDE) -> str:
    return _per_annotator(data, width, "annotations", "annotations", ACCENT)


def speed(data: dict, width: float = WIDE) -> str:
    return _per_annotator(data, width, "seconds_per_item_median", "median seconds per item", WARN)


def volume_over_time(data: dict, width: float = WIDE) -> str:
    days = data["volume_by_day"]
    if not days:
        return charts.empty("No annotations yet", width)
    return charts.columns(
        [d["day"][5:] for d in days],  # MM-DD: the year is rarely in doubt on a dashboard
        [d["annotations"] for d in days],
        width=width,
        y_title="per day",
        title="Annotations per day",
    )


PLOTS: dict[str, Callable[[dict, float], str]] = {
    "agreement_over_time": agreement_over_time,
    "agreement_by_class": agreement_by_class,
    "confusion": confusion_matrix,
    "gold_confusion": gold_confusion,
    "model_confusion": model_confusion,
    "gold_accuracy": gold_accuracy,
    "volume": volume,
    "speed": speed,
    "volume_over_time": volume_over_time,
}


def all_plots(data: dict) -> dict[str, str]:
    return {name: charts.responsive(draw, data) for name, draw in PLOTS.items()}
