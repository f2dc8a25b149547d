"""Class balance: how far the labelled set is from the project's target distribution."""

from __future__ import annotations

from collections import Counter

from labelhub.projects.models import Annotation, Project


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


def current_label_counts(project: Project) -> Counter[str]:
    """Labels given so far per class (non-retracted annotations; one count per label per annotation)."""
    counts: Counter[str] = Counter()
    rows = Annotation.objects.filter(item__project=project, retracted_at__isnull=True).values_list(
        "labels", flat=True
    )
    for labels in rows.iterator(chunk_size=5000):
        counts.update(labels or [])
    return counts


def class_deficit(project: Project, class_names: list[str]) -> dict[str, float] | None:
    """Per class, how much the labelled share falls short of the target share (>= 0, sums to 1).

    A sampler multiplies an item's chance of belonging to each class by this to favour
    under-represented classes. None when the project sets no target.
    """
    target = target_distribution(project, class_names)
    if target is None:
        return None
    counts = current_label_counts(project)
    total = sum(counts[name] for name in class_names)
    if total == 0:
        return target
    shortfall = {name: max(target[name] - counts[name] / total, 0.0) for name in class_names}
    norm = sum(shortfall.values())
    if norm == 0:
        return target
    return {name: s / norm for name, s in shortfall.items()}
