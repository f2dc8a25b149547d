"""Server-side SVG plots of the data-quality page (matplotlib, Agg backend, imported lazily), drawn
from ``noise_selectors.data_quality`` the way the QA dashboard draws its own."""

from __future__ import annotations

import numpy as np

from annotators.qa.plots import ACCENT, WARN, _empty, _pyplot, _svg


def suspects_by_class(data: dict) -> str:
    rows = data["by_class"]
    if not rows:
        return _empty("No label-noise check yet")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 2.8))
    x = np.arange(len(rows))
    ax.bar(x, [100 * (r["suspect_rate"] or 0) for r in rows], color=ACCENT)
    ax.set_xticks(x, [r["class"] for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylabel("% of labels suspected")
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)


def confirmed_error_rate(data: dict) -> str:
    rows = [r for r in data["history"] if r["confirmed_error_rate"] is not None]
    if not rows:
        return _empty("No reviewed suspects yet")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 2.4))
    ax.plot(
        [r["check"] for r in rows],
        [100 * r["confirmed_error_rate"] for r in rows],
        marker="o",
        color=WARN,
    )
    ax.set_xlabel("label-noise check")
    ax.set_ylabel("% of reviewed suspects\nthat were errors")
    ax.set_ylim(0, 102)
    ax.set_xticks([r["check"] for r in rows])
    ax.grid(alpha=0.3)
    return _svg(fig)


def suspects_by_annotator(data: dict) -> str:
    rows = data["by_annotator"][:20]
    if not rows:
        return _empty("No annotators' labels checked yet")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, max(1.6, 0.32 * len(rows) + 0.8)))
    y = np.arange(len(rows))
    ax.barh(y, [100 * (r["suspect_rate"] or 0) for r in rows], color=ACCENT)
    ax.set_yticks(y, [r["username"] for r in rows], fontsize=8)
    ax.invert_yaxis()
    ax.set_xlabel("% of the annotator's labels suspected")
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def all_plots(data: dict) -> dict[str, str]:
    return {
        "by_class": suspects_by_class(data),
        "error_rate": confirmed_error_rate(data),
        "by_annotator": suspects_by_annotator(data),
    }
