"""The label model on hand-made label matrices."""

from __future__ import annotations

import numpy as np
import pytest

from labelhub.weak import label_model
from labelhub.weak.matrix import LabelMatrix


def matrix_from(dense: np.ndarray, classes=("a", "b")) -> LabelMatrix:
    rows, cols = np.nonzero(dense >= 0)
    return LabelMatrix(
        item_ids=np.arange(1, len(dense) + 1),
        class_names=tuple(classes),
        function_ids=list(range(dense.shape[1])),
        function_names=[f"lf{j}" for j in range(dense.shape[1])],
        function_versions=[1] * dense.shape[1],
        rows=rows.astype(np.int64),
        cols=cols.astype(np.int32),
        codes=dense[rows, cols].astype(np.int16),
    )


def simulated(seed=0, n=3000, accuracies=(0.9, 0.85, 0.6, 0.55), coverage=0.6):
    """Items with a known class; each function votes on a share of them, right with its accuracy."""
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, 2, n)
    dense = np.full((n, len(accuracies)), -1)
    for j, accuracy in enumerate(accuracies):
        votes = rng.random(n) < coverage
        right = rng.random(n) < accuracy
        dense[votes, j] = np.where(right[votes], truth[votes], 1 - truth[votes])
    return truth, dense


def test_majority_vote_shares_and_conflicts_on_a_tiny_matrix():
    dense = np.array([[0, 0, -1], [0, 1, 1], [-1, -1, -1], [1, -1, -1]])
    posterior = label_model.fit(matrix_from(dense), "majority")
    assert posterior.positions.tolist() == [0, 1, 3]  # the item nobody voted on has no weak label
    assert posterior.probabilities.round(3).tolist() == [[1, 0], [0.333, 0.667], [0, 1]]
    assert posterior.conflict.tolist() == [False, True, False]
    assert posterior.votes.tolist() == [2, 3, 1]


@pytest.mark.parametrize("method", ["dawid_skene_abstain", "one_coin", "dawid_skene"])
def test_weighted_models_beat_majority_when_functions_differ_in_accuracy(method):
    truth, dense = simulated()
    matrix = matrix_from(dense)
    base = label_model.fit(matrix, "majority")
    model = label_model.fit(matrix, method)
    accuracy = lambda p: float((p.predicted == truth[p.positions]).mean())  # noqa: E731
    assert accuracy(model) > accuracy(base) + 0.02


def test_dawid_skene_with_abstain_learns_from_functions_that_vote_one_class():
    # Every function only ever votes one class (keywords do): each fires on 60% of its class and
    # on 10% of the other. With abstentions missing nothing tells two such votes apart; with
    # abstain as an outcome the firing rates are learnt.
    rng = np.random.default_rng(1)
    n = 4000
    truth = rng.integers(0, 2, n)
    dense = np.full((n, 3), -1)
    for j, (cls, hit, false) in enumerate([(0, 0.6, 0.05), (1, 0.6, 0.3), (1, 0.5, 0.05)]):
        fires = np.where(truth == cls, rng.random(n) < hit, rng.random(n) < false)
        dense[fires, j] = cls
    matrix = matrix_from(dense)
    abstain = label_model.fit(matrix, "dawid_skene_abstain")
    missing = label_model.fit(matrix, "dawid_skene")
    accuracy = lambda p: float((p.predicted == truth[p.positions]).mean())  # noqa: E731
    assert accuracy(abstain) > 0.8
    assert accuracy(abstain) > accuracy(missing) + 0.1


def test_posteriors_are_distributions_and_confidence_is_their_max():
    truth, dense = simulated(seed=2, n=500)
    posterior = label_model.fit(matrix_from(dense), "dawid_skene_abstain")
    assert np.allclose(posterior.probabilities.sum(axis=1), 1)
    assert np.allclose(posterior.confidence, posterior.probabilities.max(axis=1))


def test_an_empty_matrix_gives_no_weak_labels():
    posterior = label_model.fit(matrix_from(np.full((3, 2), -1)), "dawid_skene_abstain")
    assert len(posterior.positions) == 0


def test_unknown_method_is_refused():
    with pytest.raises(ValueError, match="label model"):
        label_model.fit(matrix_from(np.zeros((1, 1), int)), "snorkel")


@pytest.mark.parametrize("method", ["dawid_skene_abstain", "one_coin"])
def test_anchors_rescue_em_from_a_poor_function_that_votes_one_class_everywhere(method):
    # A good 10-class function, and a poor one voting class 0 on 45% of items whatever they are:
    # from the majority vote EM drifts towards class 0; known labels on 60 items keep it right.
    rng = np.random.default_rng(0)
    n, k = 300, 10
    truth = rng.integers(0, k, n)
    dense = np.full((n, 2), -1)
    votes, right = rng.random(n) < 0.97, rng.random(n) < 0.87
    dense[votes, 0] = np.where(right[votes], truth[votes], rng.integers(0, k, votes.sum()))
    dense[rng.random(n) < 0.45, 1] = 0
    matrix = matrix_from(dense, tuple(str(c) for c in range(k)))
    anchored = label_model.fit(matrix, method, anchors=(np.arange(60), truth[:60]))
    free = label_model.fit(matrix, method)
    unlabelled = anchored.positions >= 60
    accuracy = float((anchored.predicted == truth[anchored.positions])[unlabelled].mean())
    assert accuracy > 0.85
    assert accuracy > float((free.predicted == truth[free.positions])[free.positions >= 60].mean()) + 0.2
    known = ~unlabelled
    assert (anchored.predicted[known] == truth[anchored.positions[known]]).all()
