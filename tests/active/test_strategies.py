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

COLD = strategies.AUTO_COLD_START_LABELS


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


# Strategies beyond modAL ---------------------------------------------------------------------
def blob_pool(sizes, seed=0, spread=0.3):
    """Gaussian blobs far apart (centres 10 units along separate axes); returns (X, blob of each row)."""
    rng = np.random.default_rng(seed)
    X, blob = [], []
    for b, size in enumerate(sizes):
        centre = np.zeros(8)
        centre[b] = 10
        X.append(centre + rng.normal(size=(size, 8)) * spread)
        blob += [b] * size
    return np.concatenate(X).astype(np.float32), np.array(blob)


def test_typicality_takes_the_most_typical_item_of_each_of_the_largest_clusters():
    X, blob = blob_pool([120, 60, 30, 10])
    selection = strategies.select_typical(X, 3, seed=0)
    assert blob[selection.indices].tolist() == [0, 1, 2]  # the largest clusters, largest first
    for position in selection.indices:
        members = np.nonzero(blob == blob[position])[0]
        centre = X[members].mean(axis=0)
        distance = np.linalg.norm(X[members] - centre, axis=1)
        assert np.linalg.norm(X[position] - centre) <= np.quantile(distance, 0.15)  # a typical, central item


def test_typicality_on_a_large_pool_clusters_a_sample_of_it(monkeypatch):
    X, blob = blob_pool([400, 300, 200])
    monkeypatch.setattr(strategies, "CLUSTER_SAMPLE", 100)
    sample = set(strategies.pool_sample(len(X), 5).tolist())
    selection = strategies.select_typical(X, 3, seed=5)
    assert set(selection.indices.tolist()) <= sample
    assert sorted(blob[selection.indices].tolist()) == [0, 1, 2]


def proba_rows(rows):
    return np.asarray(rows, dtype=np.float64)


def test_balanced_margin_gives_more_slots_to_classes_with_fewer_labels():
    # Six items predicted as each class; margins grow with the position inside a class.
    rows = []
    for c in range(3):
        for i in range(6):
            p = np.full(3, (1 - (0.4 + 0.1 * i)) / 2)
            p[c] = 0.4 + 0.1 * i
            rows.append(p)
    proba = proba_rows(rows)
    selection = strategies.select_balanced_margin(proba, 6, class_counts=np.array([50, 10, 0]))
    predicted = proba.argmax(axis=1)[selection.indices]
    # Weights 1/51, 1/11, 1 → quotas 0, 1, 5: five of the unlabelled class, then one of the rarer labelled one.
    assert np.bincount(predicted, minlength=3).tolist() == [0, 1, 5]
    # Inside a class the smallest margins come first: positions 12..16 of class 2, position 6 of class 1.
    assert sorted(selection.indices.tolist()) == [6, 12, 13, 14, 15, 16]


def test_balanced_margin_takes_its_quotas_from_the_balance_target():
    proba = proba_rows([[0.6, 0.3, 0.1]] * 5 + [[0.2, 0.7, 0.1]] * 5 + [[0.1, 0.2, 0.7]] * 5)
    selection = strategies.select_balanced_margin(
        proba, 4, class_counts=np.array([0, 0, 9]), deficit=np.array([0.5, 0.0, 0.5])
    )
    assert np.bincount(proba.argmax(axis=1)[selection.indices], minlength=3).tolist() == [2, 0, 2]


def test_balanced_quotas_hand_slots_a_class_cannot_fill_to_the_others():
    quotas = strategies.balanced_quotas(10, np.array([0.8, 0.1, 0.1]), available=np.array([2, 50, 50]))
    assert quotas.tolist() == [2, 4, 4]
    assert strategies.balanced_quotas(5, np.array([1.0, 0, 0]), available=np.array([1, 3, 0])).tolist() == [
        1,
        3,
        0,
    ]


def test_cluster_margin_spreads_the_batch_over_clusters_of_uncertain_items():
    # Two tight groups of near-ties; group A's margins are the very smallest, so margin takes only A.
    X, blob = blob_pool([10, 10, 30], spread=0.05)
    proba = np.tile([0.9, 0.1], (50, 1))
    proba[:10] = [0.501, 0.499]
    proba[10:20] = [0.51, 0.49]
    plain = strategies.top_k_numpy(strategies.margin_utility(proba), 4)
    assert set(blob[plain]) == {0}
    selection = strategies.select_cluster_margin(proba, X, 4, factor=5)
    assert sorted(blob[selection.indices].tolist()) == [0, 0, 1, 1]


def test_cluster_margin_with_pool_clusters_groups_candidates_by_them_smallest_group_first():
    # Candidates (the 8 smallest margins) fall 5 in pool cluster 7, 2 in cluster 3, 1 in cluster 9.
    proba = np.tile([0.95, 0.05], (20, 1))
    margins = np.linspace(0.0, 0.07, 8)
    proba[:8, 0] = 0.5 + margins / 2
    proba[:8, 1] = 0.5 - margins / 2
    clusters = np.full(20, 1)
    clusters[:8] = [7, 7, 3, 7, 9, 7, 3, 7]
    X = np.zeros((20, 2), np.float32)  # never read when the clusters are given
    selection = strategies.select_cluster_margin(proba, X, 4, factor=2, clusters=clusters)
    # groups by size ascending: {4} (cluster 9), {2, 6} (cluster 3), {0, 1, 3, 5, 7} (cluster 7);
    # round-robin, smallest margin first within each
    assert selection.indices.tolist() == [4, 2, 0, 6]


def test_pool_clusters_is_average_linkage_over_the_pool_and_assigns_rows_beyond_its_sample():
    X, blob = blob_pool([30, 30, 30], spread=0.05)
    clusters = strategies.pool_clusters(X, mean_size=30)
    assert len(set(clusters.tolist())) == 3
    assert all(len(set(clusters[blob == b].tolist())) == 1 for b in range(3))
    assert strategies.pool_clusters(X).max() + 1 == 9  # 90 rows / 10 per cluster on average
    sampled = strategies.pool_clusters(X, mean_size=15, sample=45, seed=1)  # 3 clusters of the 45
    assert len(set(sampled.tolist())) == 3
    assert all(len(set(sampled[blob == b].tolist())) == 1 for b in range(3))


def test_auto_is_the_typicality_cold_start_then_class_balanced_margin_on_imbalanced_labels():
    X, _ = blob_pool([40, 30, 20])
    rng = np.random.default_rng(2)
    proba = rng.dirichlet(np.ones(3), size=len(X))
    counts = np.array([60, 40, 1])
    cold = strategies.select_beyond_modal("auto", proba, X, 5, n_labelled=COLD - 1, class_counts=counts)
    assert cold.indices.tolist() == strategies.select_typical(X, 5, n_labelled=COLD - 1).indices.tolist()
    warm = strategies.select_beyond_modal("auto", proba, X, 5, n_labelled=COLD + 1, class_counts=counts)
    assert (
        warm.indices.tolist()
        == strategies.select_balanced_margin(proba, 5, class_counts=counts).indices.tolist()
    )
    assert strategies.normalise_strategy("default") == strategies.AUTO


def test_auto_is_cluster_margin_on_balanced_classes():
    X, _ = blob_pool([40, 30, 20])
    proba = np.random.default_rng(2).dirichlet(np.ones(3), size=len(X))
    counts = np.array([40, 35, 30])
    warm = strategies.select_beyond_modal("auto", proba, X, 5, n_labelled=105, class_counts=counts, seed=3)
    assert warm.indices.tolist() == strategies.select_cluster_margin(proba, X, 5, seed=3).indices.tolist()


def test_resolve_auto_reads_imbalance_from_the_labels_or_the_predicted_shares():
    even = np.full((30, 3), 1 / 3)
    assert strategies.resolve_auto(None, 500) == strategies.TYPICALITY
    assert (
        strategies.resolve_auto(even, COLD - 1, class_counts=np.array([33, 33, 33])) == strategies.TYPICALITY
    )
    assert (
        strategies.resolve_auto(even, 120, class_counts=np.array([40, 40, 40])) == strategies.CLUSTER_MARGIN
    )
    # One class ten times another among the labels; or one never labelled.
    assert (
        strategies.resolve_auto(even, 120, class_counts=np.array([100, 10, 10])) == strategies.BALANCED_MARGIN
    )
    assert (
        strategies.resolve_auto(even, 120, class_counts=np.array([60, 60, 0])) == strategies.BALANCED_MARGIN
    )
    # The head predicts one class five times as often as another.
    skewed = np.tile([0.5, 0.4, 0.1], (30, 1))
    assert (
        strategies.resolve_auto(skewed, 120, class_counts=np.array([40, 40, 40]))
        == strategies.BALANCED_MARGIN
    )
    # A balance target asks for quotas; the project's own simulation overrides both rules.
    assert (
        strategies.resolve_auto(even, 120, class_counts=np.array([40, 40, 40]), deficit=np.ones(3) / 3)
        == strategies.BALANCED_MARGIN
    )
    assert (
        strategies.resolve_auto(
            skewed, 300, class_counts=np.array([100, 100, 100]), evidence="cluster_margin"
        )
        == strategies.CLUSTER_MARGIN
    )
    assert strategies.resolve_auto(None, 300, evidence="cluster_margin") == strategies.TYPICALITY


def test_new_strategies_select_the_same_on_both_paths(fitted):
    _, y, pool, head, _ = fitted
    proba = head.predict_proba(pool)
    for strategy in (strategies.BALANCED_MARGIN, strategies.CLUSTER_MARGIN, strategies.TYPICALITY):
        modal = strategies.select_modal(strategy, head, pool, 20, X_training=pool[:150])
        fast = strategies.select_torch(
            strategy,
            torch.from_numpy(proba),
            20,
            X_pool=torch.from_numpy(pool),
            X_training=torch.from_numpy(pool[:150]),
            class_counts=head.class_counts_,
        )
        assert fast.indices.tolist() == modal.indices.tolist(), strategy
