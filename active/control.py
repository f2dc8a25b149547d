"""The random control slice: items held out of every round's training, for an unbiased accuracy
estimate of each model version and an honest "is active learning beating random here?".

Membership is decided per item before any model exists: an item is a control item when a
pseudo-random number drawn from its id alone (SplitMix64 of the project and item ids, uniform in
[0, 1)) falls below the project's ``control_share``. The choice therefore cannot depend on the model,
the strategy or the item's content, it is the same in every process and every round (durable without
a table), and raising the share only adds items (the slices are nested). Strategies never select a
control item; each round queues enough of them, drawn uniformly from the unlabelled ones, for them
to be ``control_share`` of what is served (queue reason ``control``), and never writes a model
suggestion on them, so the labels they get are not anchored on the model they judge.

Because the labelled control items are a uniform sample of the project's items, a head's accuracy
on them estimates its accuracy on the project's data; :func:`wilson_interval` gives its 95 %
interval. :func:`compare_with_random` adds the paired comparison the manager asks for: a head
trained on the project's first *m* (actively chosen) labels against a head trained on *m* random
labels (the other control folds), both judged on the same held-out control items.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: 95 % intervals.
Z_95 = 1.959963984540054
#: Below this many labelled control items the AL-vs-random comparison says nothing yet.
MIN_COMPARE = 20
COMPARE_FOLDS = 5
BOOTSTRAP = 2000
_SALT = np.uint64(0xC0_47_12_01)


def control_draws(project_id: int, item_ids) -> np.ndarray:
    """Per item, its fixed uniform draw in [0, 1) (SplitMix64 of the project and item ids)."""
    ids = np.asarray(item_ids, dtype=np.int64).astype(np.uint64)
    with np.errstate(over="ignore"):
        z = (
            ids * np.uint64(0x9E3779B97F4A7C15)
            + np.uint64(project_id) * np.uint64(0xD1B54A32D192ED03)
            + _SALT
        )
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(11)).astype(np.float64) / float(1 << 53)


def is_control(project_id: int, item_ids, share: float) -> np.ndarray:
    """Boolean mask: which of ``item_ids`` belong to the project's control slice at ``share``."""
    if share <= 0:
        return np.zeros(len(np.asarray(item_ids)), dtype=bool)
    return control_draws(project_id, item_ids) < share


def controls_needed(share: float, *, served_other: int, served_controls: int) -> int:
    """How many more control items make them ``share`` of everything labelled or queued.

    ``served_other``: items labelled or queued that are not control items (this round's batch
    included); ``served_controls``: control items labelled or queued already.
    """
    if share <= 0:
        return 0
    return max(0, math.ceil(share / (1 - share) * served_other - 1e-9) - served_controls)


def wilson_interval(correct: int, n: int, z: float = Z_95) -> tuple[float, float]:
    """The Wilson score interval of a proportion ``correct / n`` (``(0, 1)`` when ``n`` is 0)."""
    if n == 0:
        return 0.0, 1.0
    p = correct / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


def accuracy_estimate(y_true: np.ndarray, predicted: np.ndarray) -> dict:
    """A model version's accuracy on the labelled control items, with its 95 % Wilson interval."""
    n = len(y_true)
    correct = int((np.asarray(predicted) == np.asarray(y_true)).sum())
    low, high = wilson_interval(correct, n)
    return {
        "labelled": n,
        "correct": correct,
        "accuracy": round(correct / n, 4) if n else None,
        "interval": [round(low, 4), round(high, 4)],
    }


@dataclass
class Comparison:
    """Per held-out control item, whether the AL-trained and the random-trained head got it right."""

    labels: float  # mean training size m of both heads over the folds
    al_correct: np.ndarray
    random_correct: np.ndarray

    def as_metrics(self, seed: int = 0) -> dict:
        n = len(self.al_correct)
        difference = self.al_correct.astype(float) - self.random_correct.astype(float)
        rng = np.random.default_rng(seed)
        means = difference[rng.integers(0, n, size=(BOOTSTRAP, n))].mean(axis=1)
        low, high = np.quantile(means, [0.025, 0.975])
        verdict = "better" if low > 0 else "worse" if high < 0 else "no clear difference"
        return {
            "labels": round(self.labels, 1),
            "items": n,
            "al_accuracy": round(float(self.al_correct.mean()), 4),
            "random_accuracy": round(float(self.random_correct.mean()), 4),
            "difference": round(float(difference.mean()), 4),
            "interval": [round(float(low), 4), round(float(high), 4)],
            "verdict": verdict,
        }


def compare_with_random(
    X_control: np.ndarray,
    y_control: np.ndarray,
    X_al: np.ndarray,
    y_al: np.ndarray,
    make_head,
    *,
    seed: int = 0,
    folds: int = COMPARE_FOLDS,
) -> Comparison | None:
    """Active labels against random labels at the same count, on the same held-out control items.

    The control items are split into ``folds``; for each fold, a head is fitted on the other folds
    (``m`` random labels) and another on the first ``m`` of ``X_al`` / ``y_al`` (the project's
    non-control labels in the order they were given), and both predict the fold. ``make_head()``
    returns an unfitted head (the round's kind). None when there are fewer than ``MIN_COMPARE``
    labelled control items, or fewer active labels than a fold's training size.
    """
    n = len(y_control)
    if n < MIN_COMPARE:
        return None
    rng = np.random.default_rng(seed)
    fold_of = rng.permutation(np.arange(n) % folds)
    al_correct, random_correct, sizes = [], [], []
    for fold in range(folds):
        test, train = np.nonzero(fold_of == fold)[0], np.nonzero(fold_of != fold)[0]
        m = len(train)
        if m > len(y_al) or len(np.unique(y_control[train])) < 2 or len(np.unique(y_al[:m])) < 2:
            continue
        random_head = make_head().fit(X_control[train], y_control[train])
        al_head = make_head().fit(X_al[:m], y_al[:m])
        al_correct.append(al_head.predict(X_control[test]) == y_control[test])
        random_correct.append(random_head.predict(X_control[test]) == y_control[test])
        sizes.append(m)
    if not sizes:
        return None
    return Comparison(float(np.mean(sizes)), np.concatenate(al_correct), np.concatenate(random_correct))
