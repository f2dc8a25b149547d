"""Weak labels as low-weight training data for the active-learning head: the weight is chosen on
held-out human labels, and 0 (human labels alone) stands unless a weight beats it.

Apart from :mod:`active.weak` so that the round pipeline can use it (``active.weak`` reads the
pipeline's labelled items).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from active.heads import make_head
from active.store import EmbeddingStore
from labelhub.projects.labels import LabelSchema
from labelhub.projects.models import Project
from labelhub.weak.models import WeakLabel

#: Weights tried for weak rows (times the label model's confidence), 0 first: weak labels train
#: the head only where they beat human labels alone on held-out human labels.
WEAK_WEIGHTS = (0.0, 0.05, 0.2, 0.5)
WEAK_FOLDS = 3
#: A weight above 0 must beat 0 by this much cross-validated accuracy, or 0 stands.
WEAK_MARGIN = 0.005


@dataclass
class WeakChoice:
    weight: float
    scores: dict[float, float]  # weight -> mean held-out accuracy on human labels


WeakRows = tuple[np.ndarray, np.ndarray, np.ndarray]  # (vectors, class codes, confidence)


def choose_weak_weight(
    X_human: np.ndarray,
    y_human: np.ndarray,
    weak_rows: WeakRows | Callable[[np.ndarray], WeakRows],
    n_classes: int,
    kind: str,
    config: dict,
    *,
    weights: tuple[float, ...] = WEAK_WEIGHTS,
    folds: int = WEAK_FOLDS,
    seed: int = 0,
) -> WeakChoice:
    """The weak rows' weight that cross-validates best on the human labels (never the weak ones).

    Each fold trains on the other human folds plus the weak rows at ``weight × confidence`` and is
    scored on its held-out human fold; 0 (human labels alone) wins unless a weight beats it by
    ``WEAK_MARGIN`` on average and is no worse on any fold. ``weak_rows`` may be a function of the
    training fold's positions that re-derives the weak labels without the held-out fold: functions
    built from human labels (model-as-LF, examples of "more like these", the label model's
    anchors) otherwise carry the held-out answers into training and flatter every weight.
    """
    from sklearn.model_selection import StratifiedKFold  # heavy: scikit-learn stays out of web processes

    counts = np.bincount(y_human)
    folds = min(folds, int(counts[counts > 0].min())) if len(counts[counts > 0]) >= 2 else 0
    if folds < 2:
        return WeakChoice(0.0, {})
    per_fold: dict[float, list[float]] = {w: [] for w in weights}
    splitter = StratifiedKFold(folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(X_human, y_human):
        X_weak, y_weak, confidence = weak_rows(train) if callable(weak_rows) else weak_rows
        for weight in weights:
            head = fit_with_weak(
                X_human[train],
                y_human[train],
                X_weak,
                y_weak,
                confidence,
                weight,
                n_classes,
                kind,
                config,
                seed,
            )
            per_fold[weight].append(float((head.predict(X_human[test]) == y_human[test]).mean()))
    totals = {w: float(np.mean(scores)) for w, scores in per_fold.items()}
    base = np.asarray(per_fold.get(0.0, [0.0] * folds))
    best = max(weights, key=lambda w: (round(totals[w], 6), -w))
    if best != 0.0 and (
        totals[best] < totals.get(0.0, 0.0) + WEAK_MARGIN or (np.asarray(per_fold[best]) < base).any()
    ):
        best = 0.0
    return WeakChoice(best, {w: round(s, 4) for w, s in totals.items()})


def fit_with_weak(
    X_human,
    y_human,
    X_weak,
    y_weak,
    confidence,
    weight: float,
    n_classes: int,
    kind: str,
    config: dict,
    seed: int = 0,
):
    """A head on the human rows (weight 1) and, when ``weight`` > 0, the weak rows (``weight × confidence``)."""
    head = make_head(kind, n_classes, config, seed)
    if weight <= 0 or not len(y_weak):
        return head.fit(X_human, y_human)
    X = np.concatenate([X_human, X_weak])
    y = np.concatenate([y_human, y_weak])
    w = np.concatenate([np.ones(len(y_human)), weight * np.asarray(confidence, np.float64)])
    return head.fit(X, y, sample_weight=w)


def weak_training_rows(
    project: Project, store: EmbeddingStore, schema: LabelSchema, exclude: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(vectors, class codes, confidence)`` of the weakly labelled items in the store, without ``exclude``."""
    rows = WeakLabel.objects.filter(project=project).values_list("item_id", "labels", "confidence")
    kept = [(i, schema.position(labels[0]), c) for i, labels, c in rows if labels and labels[0] in schema]
    ids = np.asarray([i for i, _, _ in kept], np.int64)
    keep = np.isin(ids, store.ids) & ~np.isin(ids, exclude) if len(ids) else np.zeros(0, bool)
    codes = np.asarray([k for _, k, _ in kept], np.int64)[keep] if len(ids) else np.zeros(0, np.int64)
    conf = np.asarray([c for _, _, c in kept], np.float64)[keep] if len(ids) else np.zeros(0)
    return (store.get(ids[keep]) if keep.any() else np.zeros((0, store.dim), np.float32)), codes, conf
