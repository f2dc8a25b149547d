"""Server-side SVG plots of the data-quality page (:mod:`labelhub.charts`), drawn from
``noise_selectors.data_quality`` the way the QA dashboard draws its own."""

from __future__ import annotations

from labelhub import charts
from labelhub.charts import ACCENT, WARN, WIDE, Series


def suspects_by_class(data: dict, width: float = WIDE) -> str:
    rows = data["by_class"]
    if not rows:
        return charts.empty("No label-noise check yet", width)
    return charts.hbars(
        [r["class"] for r in rows],
        [
            Series(
                "suspected",
                [None if r["suspect_rate"] is None else 100 * r["suspect_rate"] for r in rows],
                ACCENT,
            )
        ],
        width=width,
        axis_title="% of labels suspected",
        title="Suspected label errors by class",
    )


def confirmed_error_rate(data: dict, width: float = WIDE) -> str:
    rows = [r for r in data["history"] if r["confirmed_error_rate"] is not None]
    if not rows:
        return charts.empty("No reviewed suspects yet", width)
    checks = [float(r["check"]) for r in rows]
    return charts.lines(
        checks,
        [Series("confirmed errors", [100 * r["confirmed_error_rate"] for r in rows], WARN)],
        width=width,
        height=220,
        x_ticks=[(c, f"#{int(c)}") for c in checks],
        y_domain=(0.0, 100.0),
        x_title="label-noise check",
        y_title="% of reviewed that were errors",
        title="Confirmed-error rate over checks",
    )


def suspects_by_annotator(data: dict, width: float = WIDE) -> str:
    rows = data["by_annotator"][:20]
    if not rows:
        return charts.empty("No annotators' labels checked yet", width)
    return charts.hbars(
        [r["username"] for r in rows],
        [
            Series(
                "suspected",
                [None if r["suspect_rate"] is None else 100 * r["suspect_rate"] for r in rows],
                ACCENT,
            )
        ],
        width=width,
        axis_title="% of the annotator's labels suspected",
        title="Suspected label errors by annotator",
    )


def all_plots(data: dict) -> dict[str, str]:
    return {
        "by_class": charts.responsive(suspects_by_class, data),
        "error_rate": charts.responsive(confirmed_error_rate, data),
        "by_annotator": charts.responsive(suspects_by_annotator, data),
    }
