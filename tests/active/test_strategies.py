"""The torch fast path selects exactly what modAL selects, for every strategy, on the same numbers."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from modAL.disagreement import consensus_entropy_sampling, vote_entropy_sampling
from modAL.uncertainty import entropy_sampling, margin_sampling, uncertainty_sampling

from active import strategies
from active.errors import UnknownStrategy
from active.heads import TorchHeadClassifier, train_committee


@pytest.fixture(scope="module")
def fitted():
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(4, 16)) * 2
    y = rng.integers(0, 4, 120)
    X = (centres[y] + rng.normal(size=(120, 16))).astype(np.float32)
    pool = (centres[rng.integers(0, 4, 3000)] + rng.normal(size=(3000, 16)) * 1.5).astype(np.float32)
    head = TorchHeadClassifier(4, epochs=60, seed=1).fit(X, y)
    committee = train_committee(X, y, 4, size=5, seed=3, epochs=40)
    return X, y, pool, head, committee


MODAL_SAMPLERS = {
    strategies.UNCERTAINTY: uncertainty_sampling,
    strategies.MARGIN: margin_sampling,
    strategies.ENTROPY: entropy_sampling,
}


@pytest.mark.parametrize("strategy", [strategies.UNCERTAINTY, strategies.MARGIN, strategies.ENTROPY])
def test_fast_path_matches_modal_for_single_head(fitted, strategy):
    _, _, pool, head, _ = fitted
    modal = strategies.select_modal(strategy, head, pool, 50)
    proba = torch.from_numpy(head.predict_proba(pool))
    fast = strategies.select_torch(strategy, proba, 50)
    assert fast.indices.tolist() == modal.indices.tolist()
    np.testing.assert_allclose(fast.utilities, modal.utilities, rtol=1e-12)
    # And modAL's own sampling function (argpartition, no defined order) picks the same set.
    modal_own, _ = MODAL_SAMPLERS[strategy](head, pool, n_instances=50)
    assert set(modal_own.tolist()) == set(fast.indices.tolist())


def test_fast_path_matches_modal_for_consensus_entropy(fitted):
    _, _, pool, _, committee = fitted
    modal = strategies.select_modal(strategies.CONSENSUS_ENTROPY, committee, pool, 40)
    fast = strategies.select_torch(
        strategies.CONSENSUS_ENTROPY, torch.from_numpy(committee.predict_proba(pool)), 40
    )
    assert fast.indices.tolist() == modal.indices.tolist()
    modal_own, _ = consensus_entropy_sampling(committee, pool, n_instances=40)
    assert set(modal_own.tolist()) == set(fast.indices.tolist())


def test_fast_path_matches_modal_for_vote_entropy_ties_included(fitted):
    _, _, pool, _, committee = fitted
    modal = strategies.select_modal(strategies.VOTE_ENTROPY, committee, pool, 40)
    votes = torch.from_numpy(committee.vote(pool)).long()
    fast = strategies.select_torch(
        strategies.VOTE_ENTROPY, torch.from_numpy(committee.predict_proba(pool)), 40, votes=votes
    )
    # Vote entropy takes few distinct values, so the cut falls inside a tie: both paths break it by position.
    assert fast.indices.tolist() == modal.indices.tolist()
    modal_own, own_values = vote_entropy_sampling(committee, pool, n_instances=40)
    assert sorted(own_values.tolist(), reverse=True) == pytest.approx(fast.utilities.tolist())


def test_fast_path_matches_modal_ranked_batch(fitted):
    X, _, pool, head, _ = fitted
    small = pool[:600].astype(np.float64)
    modal = strategies.select_modal(strategies.RANKED_BATCH, head, small, 15, X_training=X)
    proba = torch.from_numpy(head.predict_proba(small))
    fast = strategies.select_torch(
        strategies.RANKED_BATCH,
        proba,
        15,
        X_pool=torch.from_numpy(small),
        X_training=torch.from_numpy(X.astype(np.float64)),
    )
    assert fast.indices.tolist() == modal.indices.tolist()


def test_class_balance_reweighting_matches_between_paths(fitted):
    _, _, pool, head, _ = fitted
    deficit = np.array([0.7, 0.1, 0.1, 0.1])
    modal = strategies.select_modal(strategies.MARGIN, head, pool, 30, deficit=deficit)
    fast = strategies.select_torch(
        strategies.MARGIN, torch.from_numpy(head.predict_proba(pool)), 30, deficit=torch.from_numpy(deficit)
    )
    assert fast.indices.tolist() == modal.indices.tolist()


def test_class_balance_favours_items_of_the_missing_class(fitted):
    _, _, pool, head, _ = fitted
    proba = head.predict_proba(pool)
    plain = strategies.select_modal(strategies.ENTROPY, head, pool, 100)
    balanced = strategies.select_modal(strategies.ENTROPY, head, pool, 100, deficit=np.array([1.0, 0, 0, 0]))
    assert proba[balanced.indices, 0].mean() > proba[plain.indices, 0].mean() + 0.1


def test_top_k_torch_breaks_ties_by_lower_position():
    utility = torch.tensor([0.5, 0.9, 0.5, 0.9, 0.1, 0.5])
    assert strategies.top_k_torch(utility, 4).tolist() == [1, 3, 0, 2]
    assert strategies.top_k_numpy(utility.numpy(), 4).tolist() == [1, 3, 0, 2]


def test_unknown_strategy_is_refused_with_the_valid_names():
    with pytest.raises(UnknownStrategy, match="'smartest'.*entropy") as refused:
        strategies.normalise_strategy("smartest")
    assert refused.value.field == "strategy" and refused.value.code == "unknown_strategy"


def test_head_never_predicts_a_class_missing_from_its_labels():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(40, 8)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int)  # classes 0 and 1 of 4
    head = TorchHeadClassifier(4, epochs=30).fit(X, y)
    far_away = rng.normal(size=(200, 8)).astype(np.float32) * 50
    proba = head.predict_proba(far_away)
    assert proba[:, 2:].max() < 1e-6
    assert set(head.predict(far_away)) <= {0, 1}
