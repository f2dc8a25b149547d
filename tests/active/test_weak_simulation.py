"""Weak labels as training data never make the head worse on held-out data than human labels alone
(digits: model-as-LF and more-like-these functions; the weight is chosen on human labels only)."""

from __future__ import annotations

import numpy as np
import pytest

from active import weak_simulation

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def digits():
    # The logistic head: ten times cheaper than the MLP here, and what `weak_simulate --digits-head
    # logistic` reports.
    return weak_simulation.digits_data("logistic")


def test_the_chosen_weight_never_costs_held_out_accuracy(digits):
    points = weak_simulation.simulate_weak(digits, budgets=(100, 200), seeds=3)
    for point in points:
        # Per seed at most a point lower (a weight chosen on 100–200 labels can miss by chance) …
        assert point["head_with_weak"] >= point["head_human_only"] - 0.01, point
    # … and on average never lower.
    with_weak = np.mean([p["head_with_weak"] for p in points])
    alone = np.mean([p["head_human_only"] for p in points])
    assert with_weak >= alone, (with_weak, alone)


def test_weak_labels_cover_most_of_the_pool_and_beat_chance(digits):
    (point,) = weak_simulation.simulate_weak(digits, budgets=(100,), seeds=1)
    assert point["coverage_dawid_skene_abstain"] > 0.5
    assert point["accuracy_dawid_skene_abstain"] > 0.7
