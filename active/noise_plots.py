"""Server-side SVG plots of the data-quality page (:mod:`labelhub.charts`), drawn from
``noise_selectors.data_quality`` the way the QA dashboard draws its own."""

from __future__ import annotations

from labelhub import charts
from labelhub.charts import ACCENT, WARN, WIDE, Series


def _suspect_rates(
    rows: list[dict], name_key: str, empty: str, axis_title: str, title: str, width: float
) -> str:
    """Horizontal bars of each row's suspected share of labels (– where too few to say)."""
    if not rows:
        return charts.empty(empty, width)
    rates = [None if r["suspect_rate"] is None else 100 * r["suspect_rate"] for r in rows]
    return charts.hbars(
        [r[name_key] for r in rows],
        [Series("suspected", rates, ACCENT)],
        width=width,
        axis_title=axis_title,
        title=title,
    )


def suspects_by_class(data: dict, width: float = WIDE) -> str:
    return _suspect_rates(
        data["by_class"],
        "class",
        "No label-noise check yet",
        "% of labels suspected",
        "Suspected label errors by class",
        width,
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
    return _suspect_rates(
        data["by_annotator"][:20],
        "username",
        "No annotators' labels checked yet",
        "% of the annotator's labels suspected",
        "Suspected label errors by annotator",
        width,
    )


def all_plots(data: dict) -> dict[str, str]:
    return {
        "by_class": charts.responsive(suspects_by_class, data),
        "error_rate": charts.responsive(confirmed_error_rate, data),
        "by_annotator": charts.responsive(suspects_by_annotator, data),
    }
