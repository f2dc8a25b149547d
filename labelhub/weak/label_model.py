"""The label model: from the sparse label matrix to a probabilistic weak label per item.

Four aggregators, measured against each other (``bench``/figures; the note of issue 18 quotes them):

- ``majority``: the vote share of each class among the functions that voted.
- ``dawid_skene``: the project's own Dawid–Skene (:func:`annotators.qa.consensus.dawid_skene_posteriors`)
  with each function as an annotator whose abstentions are missing. Honest caveat, visible in
  the figures: a function that only ever votes one class (every keyword, regex and metadata rule)
  has a confusion-matrix row of 1 for that class whatever the truth, so it carries no evidence,
  and the posterior falls back to the class prior wherever only such functions voted.
- ``dawid_skene_abstain``: the same EM with "abstain" as one more observed outcome, so a
  function's coverage per true class is learnt (a keyword for *animal* fires often on animals and
  rarely elsewhere). Sparse: the abstentions are never materialised (their expected counts are
  the class totals minus the votes), so a million items × 20 functions costs seconds.
- ``one_coin``: Snorkel-style accuracies, one per function (symmetric errors, abstentions
  missing), fitted by EM.

Only items with at least one vote get a weak label.

EM from the majority vote can settle in a bad optimum when a poor function votes one class on
much of the pool (measured on digits: a loose "more like these" pulled everything towards its
class). Where gold or human labels exist, ``anchors`` fix those items' posteriors to their known
class and the first M-step reads only them, so the rates start from evidence, not from the vote.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from annotators.qa.consensus import dawid_skene_posteriors
from labelhub.weak.matrix import LabelMatrix

METHODS = ("dawid_skene_abstain", "one_coin", "dawid_skene", "majority")
DEFAULT_METHOD = "dawid_skene_abstain"
MAX_ITERATIONS = 100
TOLERANCE = 1e-5
VOTED_TOLERANCE = 1e-4  # mean posterior change of the voted items that ends the EM
SMOOTHING = 1.0  # pseudo-votes per function and class: no estimated rate is ever exactly 0 or 1
_EPS = 1e-12


@dataclass
class WeakPosterior:
    """Per voted item: its position in the matrix, the class posteriors, and how votes fell."""

    positions: np.ndarray  # into LabelMatrix.item_ids
    probabilities: np.ndarray  # (len(positions), k)
    votes: np.ndarray  # functions that voted, per item
    conflict: np.ndarray  # voted classes differ
    method: str

    @property
    def predicted(self) -> np.ndarray:
        return self.probabilities.argmax(axis=1)

    @property
    def confidence(self) -> np.ndarray:
        return self.probabilities.max(axis=1) if len(self.positions) else np.zeros(0)


def vote_counts(matrix: LabelMatrix) -> np.ndarray:
    """Items × classes count of votes (dense over all items: n × k int32)."""
    k = len(matrix.class_names)
    flat = np.bincount(matrix.rows * k + matrix.codes, minlength=matrix.n_items * k)
    return flat.reshape(matrix.n_items, k).astype(np.int32)


Anchors = tuple[np.ndarray, np.ndarray]  # (positions into the matrix's items, known class codes)


def fit(matrix: LabelMatrix, method: str = DEFAULT_METHOD, anchors: Anchors | None = None) -> WeakPosterior:
    """Run the named label model; :data:`METHODS` lists them. ``anchors`` (known labels) steer the
    EM of ``dawid_skene_abstain`` and ``one_coin``; the two others ignore them."""
    if method not in METHODS:
        raise ValueError(f"method: unknown label model {method!r} (expected one of {', '.join(METHODS)})")
    k = len(matrix.class_names)
    counts = vote_counts(matrix)
    voted = counts.sum(axis=1) > 0
    positions = np.flatnonzero(voted)
    if not len(positions) or k == 0:
        empty = np.zeros(0, np.int64)
        return WeakPosterior(empty, np.zeros((0, k)), empty, empty.astype(bool), method)
    if method == "majority":
        probas = counts[voted] / counts[voted].sum(axis=1, keepdims=True)
    elif method == "dawid_skene":
        probas = _dawid_skene_missing(matrix, positions, k)
    elif method == "one_coin":
        probas = one_coin(matrix, counts, positions, anchors=anchors)
    else:
        probas = dawid_skene_abstain(matrix, counts, anchors=anchors)[positions]
    return WeakPosterior(
        positions=positions,
        probabilities=probas,
        votes=counts[voted].sum(axis=1),
        conflict=(counts[voted] > 0).sum(axis=1) > 1,
        method=method,
    )


def _dawid_skene_missing(matrix: LabelMatrix, positions: np.ndarray, k: int) -> np.ndarray:
    code_of = np.full(matrix.n_items, -1, np.int64)
    code_of[positions] = np.arange(len(positions))
    # Workers numbered densely: a function with no vote would be an all-zero confusion row.
    _, workers = np.unique(matrix.cols, return_inverse=True)
    values, posteriors = dawid_skene_posteriors(code_of[matrix.rows], workers, matrix.codes)
    probas = np.zeros((len(positions), k))
    probas[:, values.astype(np.int64)] = posteriors
    return probas


def _anchor_mask(n: int, anchors: Anchors | None) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    if anchors is None or not len(anchors[0]):
        return None
    positions, codes = (np.asarray(a, np.int64) for a in anchors)
    mask = np.zeros(n)
    mask[positions] = 1.0
    return positions, codes, mask


def _clamp(probas: np.ndarray, anchored) -> np.ndarray:
    if anchored is not None:
        positions, codes, _ = anchored
        probas[positions] = 0.0
        probas[positions, codes] = 1.0
    return probas


def dawid_skene_abstain(
    matrix: LabelMatrix,
    counts: np.ndarray | None = None,
    *,
    anchors: Anchors | None = None,
    n_iter: int = MAX_ITERATIONS,
    tol: float = VOTED_TOLERANCE,
) -> np.ndarray:
    """Posteriors (n_items × k) of Dawid–Skene over k + 1 outcomes per function (abstain is one).

    Starts from the majority vote (uniform where nobody voted); stops when the posteriors of voted
    items move by less than ``tol`` on average. (Those of items nobody voted on, and with them the
    evidence, keep drifting by ~1e-4 per round for a hundred rounds after every vote's class is
    settled; a few items on a class boundary keep swinging by a few points.)
    """
    n, m, k = matrix.n_items, matrix.n_functions, len(matrix.class_names)
    counts = vote_counts(matrix) if counts is None else counts
    totals = counts.sum(axis=1, keepdims=True)
    probas = np.where(totals > 0, counts / np.maximum(totals, 1), 1.0 / k)
    anchored = _anchor_mask(n, anchors)
    probas = _clamp(probas, anchored)
    answer = matrix.cols.astype(np.int64) * k + matrix.codes
    rows = matrix.rows
    diagonal = np.eye(k)
    voted = totals[:, 0] > 0
    for iteration in range(n_iter):
        # M-step: expected (function, vote, true class) counts; abstentions are the remainder.
        # The first one reads only the anchored items when there are some.
        weighted = probas * anchored[2][:, None] if anchored is not None and iteration == 0 else probas
        per_answer = weighted[rows]
        expected = np.empty((m * k, k))
        for true in range(k):
            expected[:, true] = np.bincount(answer, weights=per_answer[:, true], minlength=m * k)
        expected = expected.reshape(m, k, k) + SMOOTHING * diagonal / k
        class_mass = weighted.sum(axis=0)
        abstained = np.maximum(class_mass[None, :] - expected.sum(axis=1), 0) + SMOOTHING
        outcome_total = expected.sum(axis=1) + abstained  # (m, k): per function and true class
        log_vote = np.log(np.maximum(expected / outcome_total[:, None, :], _EPS))  # (m, vote, true)
        log_abstain = np.log(np.maximum(abstained / outcome_total, _EPS))  # (m, true)
        priors = (class_mass + SMOOTHING) / (class_mass.sum() + k * SMOOTHING)
        # E-step: every function abstains, corrected by the votes actually cast.
        delta = log_vote.reshape(m * k, k)[answer] - log_abstain[matrix.cols]
        log_likelihood = np.empty((n, k))
        for true in range(k):
            log_likelihood[:, true] = np.bincount(rows, weights=delta[:, true], minlength=n)
        log_likelihood += np.log(priors) + log_abstain.sum(axis=0)
        log_likelihood -= log_likelihood.max(axis=1, keepdims=True)
        new = np.exp(log_likelihood)
        new = _clamp(new / new.sum(axis=1, keepdims=True), anchored)
        moved = float(np.abs(new[voted] - probas[voted]).mean()) if voted.any() else 0.0
        probas = new
        if moved < tol:
            break
    return probas


def one_coin(
    matrix: LabelMatrix,
    counts: np.ndarray,
    positions: np.ndarray,
    *,
    anchors: Anchors | None = None,
    n_iter: int = MAX_ITERATIONS,
    tol: float = TOLERANCE,
) -> np.ndarray:
    """Posteriors of the voted items under one accuracy per function (errors spread evenly)."""
    m, k = matrix.n_functions, len(matrix.class_names)
    code_of = np.full(matrix.n_items, -1, np.int64)
    code_of[positions] = np.arange(len(positions))
    rows = code_of[matrix.rows]
    cols = matrix.cols.astype(np.int64)
    n = len(positions)
    voted_counts = counts[positions]
    probas = voted_counts / voted_counts.sum(axis=1, keepdims=True)
    anchored = None
    if anchors is not None and len(anchors[0]):
        inside = code_of[np.asarray(anchors[0], np.int64)] >= 0  # anchors with a vote
        anchored = _anchor_mask(n, (code_of[anchors[0]][inside], np.asarray(anchors[1])[inside]))
    probas = _clamp(probas, anchored)
    previous = -np.inf
    for iteration in range(n_iter):
        weight = anchored[2][rows] if anchored is not None and iteration == 0 else np.ones(len(rows))
        hit = probas[rows, matrix.codes] * weight
        per_function = np.bincount(cols, weights=weight, minlength=m)
        accuracy = (np.bincount(cols, weights=hit, minlength=m) + SMOOTHING) / (per_function + 2 * SMOOTHING)
        accuracy = np.clip(accuracy, 1e-3, 1 - 1e-3)
        priors = (probas.sum(axis=0) + SMOOTHING) / (n + k * SMOOTHING)
        log_on = np.log(accuracy)
        log_off = np.log((1 - accuracy) / max(k - 1, 1))
        log_likelihood = np.bincount(
            rows * k + matrix.codes, weights=(log_on - log_off)[cols], minlength=n * k
        )
        log_likelihood = log_likelihood.reshape(n, k) + np.log(priors)
        top = log_likelihood.max(axis=1, keepdims=True)
        new = np.exp(log_likelihood - top)
        total = new.sum(axis=1, keepdims=True)
        evidence = float((top + np.log(total)).mean())
        probas = _clamp(new / total, anchored)
        if evidence - previous < tol:
            break
        previous = evidence
    return probas
