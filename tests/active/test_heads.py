"""Heads: logistic regression with the heads' interface, and the head chosen by cross-validation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from active import heads
from active.heads import LogisticHead, choose_head, fit_head, head_config, unit_rows


@pytest.fixture(scope="module")
def blobs():
    rng = np.random.default_rng(3)
    centres = rng.normal(size=(4, 24)) * 2
    y = rng.integers(0, 4, 300)
    return (centres[y] + rng.normal(size=(300, 24))).astype(np.float32), y


def test_logistic_head_is_balanced_logistic_regression_on_unit_rows(blobs):
    X, y = blobs
    head = LogisticHead(4).fit(X[:200], y[:200])
    reference = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000).fit(
        unit_rows(X[:200]), y[:200]
    )
    np.testing.assert_allclose(
        head.predict_proba(X[200:]), reference.predict_proba(unit_rows(X[200:])), atol=1e-5
    )
    np.testing.assert_allclose(
        head.predict_proba_tensor(X[200:]).numpy(), head.predict_proba(X[200:]), atol=1e-5
    )


def test_logistic_head_gives_classes_missing_from_its_labels_probability_zero(blobs):
    X, y = blobs
    two = y < 2
    proba = LogisticHead(4).fit(X[two], y[two]).predict_proba(X)
    assert proba[:, 2:].max() < 1e-6
    np.testing.assert_allclose(proba.sum(axis=1), 1)
    reference = LogisticRegression(C=1.0, class_weight="balanced", max_iter=1000).fit(
        unit_rows(X[two]), y[two]
    )
    np.testing.assert_allclose(proba[:, :2], reference.predict_proba(unit_rows(X)), atol=1e-5)


def test_heads_record_their_class_counts_for_balanced_quotas(blobs):
    X, y = blobs
    for head in (LogisticHead(5), heads.TorchHeadClassifier(5, epochs=5)):
        assert head.fit(X, y).class_counts_.tolist() == np.bincount(y, minlength=5).tolist()


def test_choose_head_picks_the_mlp_where_classes_are_not_linearly_separable():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(300, 2)).astype(np.float32)
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)  # XOR: no line separates it
    choice = choose_head(X, y, 2, head_config("cpu", 2))
    assert choice.kind == "mlp"
    assert choice.scores["mlp"]["accuracy"] > choice.scores["logistic"]["accuracy"] + 0.2
    assert choice.folds == 3


def test_choose_head_picks_logistic_regression_where_it_cross_validates_better():
    # Few labels in many dimensions, one informative direction: the torch linear head overfits.
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 90)
    X = rng.normal(size=(90, 400)).astype(np.float32)
    X[:, 0] += np.where(y == 1, 3.0, -3.0)
    config = {**head_config("cpu", 400), "weight_decay": 0.0, "epochs": 300}
    choice = choose_head(X, y, 2, config)
    assert choice.kind == "logistic", choice.scores


def test_choose_head_without_enough_labels_per_class_keeps_the_backbones_default(blobs):
    X, y = blobs
    labels = np.array([0, 0, 0, 1])
    choice = choose_head(X[:4], labels, 4, head_config("cpu", 384))
    assert (choice.kind, choice.scores, choice.folds) == ("linear", {}, 0)


def test_fit_head_fits_the_chosen_head_once_on_all_labels(blobs, monkeypatch):
    X, y = blobs
    fits = []
    original = LogisticHead.fit
    monkeypatch.setattr(
        LogisticHead, "fit", lambda self, X, y, **kw: fits.append(len(y)) or original(self, X, y)
    )
    head, choice = fit_head(X, y, 4, head_config("cpu", 24), kind="logistic")
    assert isinstance(head, LogisticHead) and choice.kind == "logistic"
    assert fits == [len(y)]
