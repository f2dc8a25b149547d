"""The label-noise core on plain arrays (``active.noise``)."""

from __future__ import annotations

import numpy as np

from active import noise


def blobs(n: int = 300, classes: int = 3, dim: int = 16, seed: int = 0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim)) * 4
    y = np.arange(n) % classes
    return (centres[y] + rng.standard_normal((n, dim))).astype(np.float32), y


def test_folds_are_stratified_and_the_same_for_the_same_seed():
    y = np.array([0] * 50 + [1] * 20 + [2] * 3)
    folds = noise.fold_assignment(y, 5, seed=7)
    assert np.array_equal(folds, noise.fold_assignment(y, 5, seed=7))
    for c in (0, 1):
        assert set(np.bincount(folds[y == c], minlength=5)) <= {len(y[y == c]) // 5, len(y[y == c]) // 5 + 1}
    assert len(set(folds[y == 2])) == 3  # a class smaller than the folds is spread, not piled in one


def test_every_row_is_scored_by_a_head_that_never_saw_it():
    X, y = blobs()
    y[0] = (y[0] + 1) % 3  # a flipped label: a head trained on it would believe it
    oos = noise.out_of_sample_proba(X, y, 3, folds=5, seed=0, kind="logistic")
    assert oos.proba.shape == (300, 3) and np.allclose(oos.proba.sum(axis=1), 1, atol=1e-4)
    assert oos.proba[0].argmax() != y[0]
    assert len(oos.fold_seconds) == 5


def test_stored_folds_are_not_fitted_again():
    X, y = blobs()
    first = noise.out_of_sample_proba(X, y, 3, seed=1, kind="logistic")
    done = {f: first.proba[first.folds == f] for f in (0, 1, 2)}
    fitted = []
    again = noise.out_of_sample_proba(
        X, y, 3, seed=1, kind="logistic", done=done, on_fold=lambda f, rows, p: fitted.append(f)
    )
    assert fitted == [3, 4]
    assert np.allclose(again.proba, first.proba)


def test_flips_rank_first_and_gold_rows_never_do():
    X, y = blobs(600)
    noisy, flipped = noise.flip_labels(y, 3, 0.05, seed=0)
    assert len(flipped) == 30 and (noisy[flipped] != y[flipped]).all()
    assert (noisy[np.setdiff1d(np.arange(600), flipped)] == y[np.setdiff1d(np.arange(600), flipped)]).all()
    oos = noise.out_of_sample_proba(X, noisy, 3, seed=0, kind="logistic")
    gold = np.zeros(600, bool)
    gold[flipped[:10]] = True
    detection = noise.detect(noisy, oos.proba, arbiter=gold)
    ranking = noise.ranked_suspects(detection, gold)
    assert not np.isin(ranking, flipped[:10]).any()
    assert not detection.is_issue[gold].any() and (detection.quality[gold] == 1).all()
    assert np.isin(ranking[:20], flipped[10:]).mean() >= 0.9


def test_precision_and_recall_of_planted_flips():
    ranking = np.array([5, 1, 9, 2, 7, 3])
    assert noise.precision_recall_at(ranking, np.array([1, 2, 3])) == {
        "planted": 3,
        "precision_at_k": round(1 / 3, 4),
        "recall_at_2k": 1.0,
    }


def test_near_duplicates_with_different_labels_are_found_and_agreeing_ones_are_not():
    X, y = blobs(400, dim=32)
    X[10] = X[20] + 0.001  # a near-copy of item 20, labelled differently
    X[30] = X[40] + 0.001  # a near-copy with the same label: no conflict
    y = y.copy()
    y[10] = (y[20] + 1) % 3
    y[30] = y[40]
    pairs = noise.near_duplicate_conflicts(X, y, similarity=0.99)
    assert [(a, b) for a, b, _ in pairs] == [(10, 20)]


def test_items_with_several_annotators_are_scored_by_crowdlab():
    X, y = blobs(300)
    oos = noise.out_of_sample_proba(X, y, 3, seed=0, kind="logistic")
    given = y.copy()
    given[:3] = (y[:3] + 1) % 3  # the resolved label of three items is wrong…
    # …and two careful annotators gave the truth on items 0–99, one careless one the wrong label.
    rows = np.concatenate([np.arange(100), np.arange(100), np.arange(100)])
    who = np.repeat([0, 1, 2], 100)
    careless = np.where(np.arange(100) % 4 == 0, (y[:100] + 1) % 3, y[:100])
    cls = np.concatenate([y[:100], y[:100], careless])
    single = noise.detect(given, oos.proba)
    crowd = noise.detect(given, oos.proba, annotations=(rows, who, cls))
    assert crowd.crowdlab["items"] == 100
    assert not np.allclose(crowd.quality[:100], single.quality[:100])
    assert np.array_equal(crowd.quality[100:], single.quality[100:])
    assert crowd.is_issue[:3].all()
    quality = {a: figures["quality"] for a, figures in crowd.crowdlab["annotators"].items()}
    assert quality[2] < min(quality[0], quality[1])
