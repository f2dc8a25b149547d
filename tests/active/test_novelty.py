"""Novelty (k-NN distance on the training set's own scale) and the uncertainty scores."""

import numpy as np
import pytest
from scipy.stats import spearmanr
from sklearn.datasets import load_digits

from active.novelty import NoveltyScorer, energy, softmax, uncertainty

#: The inverted-file index forced on small sets, probing an eighth of its lists.
INDEXED = {"exact_max": 0, "n_lists": 32, "n_probe": 4}


def test_distances_are_the_brute_force_k_nearest_cosine_distances():
    rng = np.random.default_rng(0)
    reference, queries = rng.standard_normal((300, 16)), rng.standard_normal((20, 16))
    scorer = NoveltyScorer(reference, k=3)
    R = reference / np.linalg.norm(reference, axis=1, keepdims=True)
    Q = queries / np.linalg.norm(queries, axis=1, keepdims=True)
    expected = np.sort(1 - Q @ R.T, axis=1)[:, :3].mean(axis=1)
    assert np.allclose(scorer.distances(queries), expected, atol=1e-5)


def test_fresh_data_from_the_training_distribution_sits_mid_scale():
    digits = load_digits()
    X = digits.data[np.random.default_rng(1).permutation(len(digits.data))] / 16
    scorer = NoveltyScorer(X[:1200])
    _, percentiles = scorer.score(X[1200:])
    assert 0.35 < np.median(percentiles) < 0.65
    assert ((percentiles >= 0) & (percentiles <= 1)).all()


@pytest.mark.parametrize("index", [{}, INDEXED], ids=["exact", "indexed"])
@pytest.mark.parametrize("withheld", range(10))
def test_items_of_a_never_labelled_class_rank_in_the_top_novelty_decile(withheld, index):
    """Each digit in turn is left out of the labelled set; in a stream holding it (about a tenth of
    the stream) its items score above the 90th percentile of the training set's own distances, and
    half of them or more land in the stream's top novelty decile."""
    digits = load_digits()
    X, y = digits.data / 16, digits.target
    order = np.random.default_rng(0).permutation(len(X))
    train, stream = order[:1000], order[1000:]
    train = train[y[train] != withheld]
    distances, percentiles = NoveltyScorer(X[train], **index).score(X[stream])
    new = y[stream] == withheld
    rank = np.empty(len(stream))
    rank[np.argsort(-distances)] = np.arange(len(stream)) / len(stream)
    assert np.median(percentiles[new]) >= 0.9
    assert np.median(rank[new]) < 0.1
    assert np.median(percentiles[~new]) < 0.6


def test_the_indexed_search_agrees_with_the_exact_one():
    """40,000 clustered vectors (400 clusters), queries from the clusters and 10 % from nowhere: the
    index (200 lists, 16 probed) finds the exact k-NN distance for nearly every query, never a
    smaller one, and its percentiles agree with the exact ones."""
    rng = np.random.default_rng(3)
    centres = rng.standard_normal((400, 32)).astype(np.float32)

    def draw(n):
        return centres[rng.integers(0, 400, n)] + 0.5 * rng.standard_normal((n, 32)).astype(np.float32)

    reference, queries = draw(40_000), draw(1_000)
    queries[:100] = 2 * rng.standard_normal((100, 32))
    exact = NoveltyScorer(reference, scale_sample=2_000)
    indexed = NoveltyScorer(reference, scale_sample=2_000, exact_max=10_000, n_lists=200, n_probe=16)
    assert exact.index is None and indexed.index is not None and indexed.index.n_lists == 200
    d_exact, p_exact = exact.score(queries)
    d_indexed, p_indexed = indexed.score(queries)
    assert (d_indexed >= d_exact - 1e-5).all()  # a missed neighbour only makes a distance larger
    assert np.mean(np.isclose(d_indexed, d_exact, rtol=1e-3, atol=1e-5)) >= 0.9  # recall of the k-NN
    assert spearmanr(p_indexed, p_exact).statistic >= 0.98
    assert np.abs(p_indexed - p_exact).mean() <= 0.02
    assert (p_indexed[:100] > 0.99).all() and (p_exact[:100] > 0.99).all()


def test_the_default_index_size_is_the_square_root_of_the_reference():
    reference = np.random.default_rng(4).standard_normal((2_500, 8))
    scorer = NoveltyScorer(reference, exact_max=1_000, scale_sample=200)
    assert scorer.index.n_lists == 50 and scorer.index.offsets[-1] == 2_500
    assert np.all(np.diff(scorer.index.offsets) >= 0)


def test_margin_and_entropy_of_probabilities():
    margin, entropy = uncertainty(np.array([[1.0, 0.0, 0.0], [0.4, 0.4, 0.2], [1 / 3, 1 / 3, 1 / 3]]))
    assert np.allclose(margin, [1.0, 0.0, 0.0])
    assert np.allclose(entropy, [0.0, entropy[1], 1.0]) and 0.9 < entropy[1] < 1.0


def test_energy_is_minus_logsumexp_and_softmax_rows_sum_to_one():
    logits = np.array([[10.0, 0.0], [0.0, 0.0]])
    assert np.allclose(energy(logits), -np.log(np.exp(logits).sum(axis=1)))
    assert energy(logits)[0] < energy(logits)[1]  # a confident, large logit is more familiar
    assert np.allclose(softmax(logits).sum(axis=1), 1)
