"""Class balance: how far the labelled set is from the project's target distribution.

The labelled set is counted by resolved label (:func:`annotators.qa.resolved.resolved_label_counts`:
one count per item per class, the consensus label when QA wrote one), as snapshots and rounds see
it — not per annotation, so overlap copies do not count a class twice.
"""

from __future__ import annotations

from collections import Counter

from annotators.qa.resolved import resolved_label_counts
from labelhub.projects.labels import LabelSchema
from labelhub.projects.models import Project
from labelhub.projects.selectors import label_schema


def target_distribution(project: Project, class_names: list[str]) -> dict[str, float] | None:
    """The target share of each class (summing to 1), or None when the project sets no target.

    ``balance_target`` is ``{"uniform": true}`` or relative weights such as ``{"wolf": 1, "dog": 10}``;
    classes it leaves out get weight 0.
    """
    target = project.balance_target or {}
    if not target:
        return None
    if target.get("uniform"):
        weights = dict.fromkeys(class_names, 1.0)
    else:
        weights = {name: float(target.get(name, 0)) for name in class_names}
    total = sum(weights.values())
    if total <= 0:
        return None
    return {name: w / total for name, w in weights.items()}


def class_deficit(
    project: Project,
    schema: LabelSchema | None = None,
    *,
    counts: Counter[str] | None = None,
) -> dict[str, float] | None:
    """Per class, how much the labelled share falls short of the target share (>= 0, sums to 1).

    A sampler multiplies an item's chance of belonging to each class by this to favour
    under-represented classes. None when the project sets no target. The labelled share is by
    resolved label (``counts`` when the caller already read them).
    """
    schema = schema or label_schema(project)
    class_names = list(schema.class_names)
    target = target_distribution(project, class_names)
    if target is None:
        return None
    if counts is None:
        counts = resolved_label_counts(project, schema)
    total = sum(counts[name] for name in class_names)
    if total == 0:
        return target
    shortfall = {name: max(target[name] - counts[name] / total, 0.0) for name in class_names}
    norm = sum(shortfall.values())
    if norm == 0:
        return target
    return {name: s / norm for name, s in shortfall.items()}


#: With a balance target, fills score this many random candidates per entry they add...
BALANCE_POOL_FACTOR = 10
#: ...and never fewer than this, so rare classes (1 % of the pool) show up among them.
BALANCE_MIN_POOL = 2000


def class_probabilities(suggestion: dict | None, class_names: list[str]) -> dict[str, float] | None:
    """The model's probability per class from ``Item.suggestion``, or None without a suggestion.

    Uses ``suggestion["probabilities"]`` (``{class: p}``) when the worker wrote one; otherwise
    spreads ``confidence`` over the suggested labels and the rest evenly over the other classes.
    """
    if not suggestion:
        return None
    probabilities = suggestion.get("probabilities")
    if isinstance(probabilities, dict) and probabilities:
        raw = {name: max(float(probabilities.get(name, 0) or 0), 0.0) for name in class_names}
        total = sum(raw.values())
        return {name: p / total for name, p in raw.items()} if total > 0 else None
    labels = [name for name in suggestion.get("labels") or [] if name in class_names]
    if not labels:
        return None
    confidence = min(max(float(suggestion.get("confidence") or 0), 0.0), 1.0)
    others = [name for name in class_names if name not in labels]
    rest = (1 - confidence) / len(others) if others else 0.0
    spread = confidence / len(labels) if others else 1 / len(labels)
    return {name: (spread if name in labels else rest) for name in class_names}


def balance_scores(items, class_names: list[str], deficit: dict[str, float]) -> dict[int, float]:
    """Per item id, the expected share of the classes' shortfall it fills: sum_c deficit[c] * p(c).

    Items without a model suggestion get the uniform prior, so with no model at all every item
    scores the same and the fill stays random; with one, likely members of under-represented
    classes rank first.
    """
    uniform = 1 / len(class_names)
    scores = {}
    for item in items:
        probabilities = class_probabilities(item.suggestion, class_names)
        if probabilities is None:
            scores[item.pk] = sum(deficit[name] * uniform for name in class_names)
        else:
            scores[item.pk] = sum(deficit[name] * probabilities[name] for name in class_names)
    return scores


def balance_report(project: Project) -> dict:
    """Target vs actual share per class (by resolved label), for the admin and
    ``GET /api/projects/<id>/balance/``; ``labelled`` is the sum of the per-class counts."""
    schema = label_schema(project)
    class_names = list(schema.class_names)
    target = target_distribution(project, class_names)
    counts = resolved_label_counts(project, schema)
    total = sum(counts[name] for name in class_names)
    deficit = class_deficit(project, schema, counts=counts)
    return {
        "target_set": target is not None,
        "labelled": total,
        "classes": [
            {
                "name": name,
                "count": counts[name],
                "actual_share": counts[name] / total if total else 0.0,
                "target_share": target[name] if target else None,
                "deficit": deficit[name] if deficit else None,
            }
            for name in class_names
        ],
    }
