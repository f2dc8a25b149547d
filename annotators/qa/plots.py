"""Server-side SVG plots of the QA dashboard (matplotlib, Agg backend, imported lazily).

Each function takes the JSON-ready dashboard data (``annotators.qa.selectors.dashboard``) and returns
an SVG string to inline in the page, so one computation feeds every picture.
"""

from __future__ import annotations

import io

import numpy as np

ACCENT = "#3b5bdb"
WARN = "#e8590c"


def _pyplot():
    import matplotlib  # heavy: only the dashboard page draws; web processes start without it

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt  # heavy: after use("Agg"), so no GUI backend is picked

    return plt


def _svg(fig) -> str:
    plt = _pyplot()
    buffer = io.StringIO()
    fig.savefig(buffer, format="svg", bbox_inches="tight")
    plt.close(fig)
    text = buffer.getvalue()
    return text[text.index("<svg") :]  # drop the XML prologue and DOCTYPE: the page inlines it


def _empty(message: str) -> str:
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(5, 1.2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", color="#616e7c")
    return _svg(fig)


def agreement_over_time(data: dict) -> str:
    points = data["agreement"]["over_time"]
    if not points:
        return _empty("No overlapping items yet")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 2.8))
    periods = [p["period"] for p in points]
    ax.plot(
        periods, [p["percent_agreement"] for p in points], marker="o", color=ACCENT, label="percent agreement"
    )
    alphas = [
        p["krippendorff_alpha"] if p["krippendorff_alpha"] is not None else float("nan") for p in points
    ]
    ax.plot(periods, alphas, marker="s", color=WARN, label="Krippendorff's α")
    ax.axhline(
        data["policy"]["min_agreement"], color="#adb5bd", linestyle="--", linewidth=1, label="policy minimum"
    )
    ax.set_ylim(min(0, *[a for a in alphas if a == a]) if any(a == a for a in alphas) else 0, 1.02)
    ax.set_ylabel("agreement")
    ax.legend(loc="best", fontsize=8, framealpha=0.8)
    ax.tick_params(axis="x", rotation=30, labelsize=8)
    ax.grid(alpha=0.3)
    return _svg(fig)


def agreement_by_class(data: dict) -> str:
    rows = data["agreement"]["by_class"]
    if not rows or all(r["ratings"] == 0 for r in rows):
        return _empty("No labels yet")
    plt = _pyplot()

    fig, ax = plt.subplots(figsize=(7, 2.8))
    x = np.arange(len(rows))
    specific = [r["specific_agreement"] if r["specific_agreement"] is not None else 0 for r in rows]
    alpha = [r["krippendorff_alpha"] if r["krippendorff_alpha"] is not None else 0 for r in rows]
    ax.bar(x - 0.2, specific, width=0.4, color=ACCENT, label="specific agreement")
    ax.bar(x + 0.2, alpha, width=0.4, color=WARN, label="binary α")
    ax.set_xticks(x, [r["class"] for r in rows], rotation=30, ha="right", fontsize=8)
    ax.set_ylim(min(0, *alpha), 1.02)
    ax.legend(fontsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)


def confusion_matrix(data: dict) -> str:
    coincidence = data["agreement"]["coincidence"]
    classes = coincidence["classes"]
    if not classes or not any(any(row) for row in coincidence["counts"]):
        return _empty("No overlapping items yet")
    plt = _pyplot()
    share = coincidence["row_share"]
    size = max(3.5, 0.45 * len(classes) + 1.5)
    fig, ax = plt.subplots(figsize=(size + 1, size))
    image = ax.imshow(share, cmap="Blues", vmin=0, vmax=1)
    ax.set_xticks(range(len(classes)), classes, rotation=45, ha="right", fontsize=8)
    ax.set_yticks(range(len(classes)), classes, fontsize=8)
    ax.set_xlabel("paired with (another annotator's label)")
    ax.set_ylabel("label")
    if len(classes) <= 15:
        for i, row in enumerate(share):
            for j, value in enumerate(row):
                if value >= 0.005:
                    ax.text(
                        j, i, f"{value:.2f}", ha="center", va="center", fontsize=7,
                        color="white" if value > 0.6 else "#1f2933",
                    )  # fmt: skip
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="share of row")
    return _svg(fig)


def gold_accuracy(data: dict) -> str:
    rows = [r for r in data["annotators"] if r["gold_seen"]]
    if not rows:
        return _empty("No gold checks answered yet")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, max(1.8, 0.32 * len(rows) + 0.8)))
    names = [r["username"] for r in rows]
    acc = [r["gold_accuracy"] for r in rows]
    low = [r["gold_accuracy"] - r["gold_ci_low"] for r in rows]
    high = [r["gold_ci_high"] - r["gold_accuracy"] for r in rows]
    threshold = data["policy"]["min_gold_accuracy"]
    colours = [WARN if a < threshold else ACCENT for a in acc]
    ax.errorbar(acc, range(len(rows)), xerr=[low, high], fmt="none", ecolor="#868e96", capsize=3)
    ax.scatter(acc, range(len(rows)), color=colours, zorder=3)
    ax.axvline(threshold, color="#adb5bd", linestyle="--", linewidth=1)
    ax.set_yticks(
        range(len(rows)), [f"{n} (n={r['gold_seen']})" for n, r in zip(names, rows, strict=True)], fontsize=8
    )
    ax.set_xlim(0, 1.02)
    ax.set_xlabel("gold accuracy with 95% Wilson interval")
    ax.invert_yaxis()
    ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def speed_and_volume(data: dict) -> str:
    rows = [r for r in data["annotators"] if r["annotations"]]
    if not rows:
        return _empty("No annotations yet")
    plt = _pyplot()
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, max(1.8, 0.32 * len(rows) + 0.8)), sharey=True)
    names = [r["username"] for r in rows]
    left.barh(range(len(rows)), [r["annotations"] for r in rows], color=ACCENT)
    left.set_xlabel("annotations")
    left.set_yticks(range(len(rows)), names, fontsize=8)
    right.barh(range(len(rows)), [r["seconds_per_item_median"] or 0 for r in rows], color=WARN)
    right.set_xlabel("median seconds per item")
    left.invert_yaxis()
    for ax in (left, right):
        ax.grid(axis="x", alpha=0.3)
    return _svg(fig)


def volume_over_time(data: dict) -> str:
    days = data["volume_by_day"]
    if not days:
        return _empty("No annotations yet")
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 2.4))
    ax.bar([d["day"] for d in days], [d["annotations"] for d in days], color=ACCENT)
    ax.set_ylabel("annotations per day")
    ax.tick_params(axis="x", rotation=30, labelsize=8)
    ax.grid(axis="y", alpha=0.3)
    return _svg(fig)


def all_plots(data: dict) -> dict[str, str]:
    return {
        "agreement_over_time": agreement_over_time(data),
        "agreement_by_class": agreement_by_class(data),
        "confusion": confusion_matrix(data),
        "gold_accuracy": gold_accuracy(data),
        "speed_volume": speed_and_volume(data),
        "volume_over_time": volume_over_time(data),
    }
