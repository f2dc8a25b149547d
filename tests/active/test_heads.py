"""Heads: logistic regression with the heads' interface, and the head chosen by cross-validation."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

from active import heads
from active.heads import (
    KernelHead,
    LogisticHead,
    choose_head,
    fit_head,
    head_config,
    kernel_affordable,
    make_head,
    unit_rows,
)


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
    for head in (LogisticHead(5), heads.TorchHeadClassifier(5, epochs=5), KernelHead(5)):
        assert head.fit(X, y).class_counts_.tolist() == np.bincount(y, minlength=5).tolist()


def test_choose_head_picks_the_mlp_where_classes_are_not_linearly_separable():
    rng = np.random.default_rng(0)
    X = rng.uniform(-1, 1, size=(300, 2)).astype(np.float32)
    y = ((X[:, 0] > 0) ^ (X[:, 1] > 0)).astype(int)  # XOR: no line separates it
    # A pool too large to score with the kernel head: the choice is between the other two.
    choice = choose_head(X, y, 2, head_config("cpu", 2), pool_rows=10**7)
    assert choice.kind == "mlp"
    assert set(choice.scores) == {"logistic", "mlp"}
    assert choice.scores["mlp"]["accuracy"] > choice.scores["logistic"]["accuracy"] + 0.2
    assert choice.folds == 3


def test_choose_head_picks_the_kernel_head_where_it_cross_validates_best():
    # 150 labels, the class is "outside a sphere" in 8 dimensions: an RBF machine's shape, and too
    # few labels for the MLP to find it (measured on three seeds: 0.86–0.92 against 0.70–0.75).
    rng = np.random.default_rng(0)
    X = rng.normal(size=(150, 8)).astype(np.float32)
    y = (np.linalg.norm(X, axis=1) > np.sqrt(8)).astype(int)
    choice = choose_head(X, y, 2, head_config("cpu", 8), pool_rows=1000)
    assert choice.kind == "svm", choice.scores
    assert choice.scores["svm"]["accuracy"] > choice.scores["mlp"]["accuracy"] + 0.05


def test_the_kernel_head_is_offered_only_where_scoring_and_fitting_it_stay_cheap(blobs):
    X, y = blobs
    assert kernel_affordable(300, None) and kernel_affordable(300, heads.KERNEL_SCORE_WORK // 300)
    assert not kernel_affordable(300, heads.KERNEL_SCORE_WORK // 300 + 1)
    assert not kernel_affordable(heads.KERNEL_MAX_LABELS + 1, None)
    config = head_config("cpu", 24)
    assert "svm" in choose_head(X, y, 4, config, pool_rows=1000).scores
    assert "svm" not in choose_head(X, y, 4, config, pool_rows=heads.KERNEL_SCORE_WORK).scores


def test_kernel_head_is_libsvms_machine_scored_by_matrix_products(blobs):
    from sklearn.svm import SVC

    X, y = blobs
    for labels in (y, (y == 0).astype(int)):  # four classes, and the binary machine's flipped signs
        n_classes = int(labels.max()) + 1
        head = make_head("svm", n_classes, head_config("cpu", 24), seed=0).fit(X[:200], labels[:200])
        assert isinstance(head, KernelHead)
        reference = SVC(C=10, gamma="scale", class_weight="balanced", decision_function_shape="ovo")
        reference.fit(X[:200], labels[:200])
        expected = reference.decision_function(X[200:])
        if n_classes == 2:  # scikit-learn's binary sign: positive means the second class
            expected = -expected[:, None]
        np.testing.assert_allclose(head.decision_values(X[200:]), expected, atol=1e-4)
        proba = head.predict_proba(X[200:])
        np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
        # The coupled probabilities agree with the machine's own vote where the vote is clear.
        votes = reference.predict(X[200:])
        assert (proba.argmax(1) == votes).mean() > 0.97
        assert head.slope_ > 0
        # Chunked scoring is the same scoring.
        np.testing.assert_allclose(head.predict_proba_tensor(X[200:], chunk=7).numpy(), proba, atol=1e-6)


def test_kernel_head_couples_pairwise_probabilities_exactly():
    """Wu, Lin & Weng's method 2 recovers a distribution from the pairwise ratios it implies."""
    head = KernelHead(3).fit(np.eye(3, dtype=np.float32).repeat(4, 0), np.arange(3).repeat(4))
    target = np.array([[0.6, 0.3, 0.1], [0.2, 0.2, 0.6]])
    pairs = head.pairs_
    pairwise = target[:, pairs[:, 0]] / (target[:, pairs[:, 0]] + target[:, pairs[:, 1]])
    import torch

    np.testing.assert_allclose(head._couple(torch.tensor(pairwise)).numpy(), target, atol=1e-6)


def test_kernel_head_slope_is_cross_validated_and_steeper_for_separable_classes(blobs):
    X, y = blobs
    clear = KernelHead(4).fit(X, y)
    rng = np.random.default_rng(0)
    muddled = KernelHead(4).fit(X, np.where(rng.random(len(y)) < 0.3, rng.integers(0, 4, len(y)), y))
    assert clear.slope_ > muddled.slope_ > 0
    few = KernelHead(4).fit(X[:8], np.array([0, 0, 1, 1, 2, 2, 3, 0]))  # one label of class 3
    assert few.slope_ == KernelHead.DEFAULT_SLOPE


def test_kernel_head_gives_classes_missing_from_its_labels_probability_zero(blobs):
    X, y = blobs
    two = y < 2
    proba = KernelHead(4).fit(X[two], y[two]).predict_proba(X)
    assert proba[:, 2:].max() == 0
    np.testing.assert_allclose(proba.sum(axis=1), 1, atol=1e-5)
    assert (proba.argmax(1)[two] == y[two]).mean() > 0.9
    only = KernelHead(4).fit(X[y == 3], y[y == 3])  # one class: certain of it
    assert only.predict(X).tolist() == [3] * len(X)
    assert only.class_counts_.tolist() == [0, 0, 0, int((y == 3).sum())]


def test_choose_head_picks_logistic_regression_where_it_cross_validates_better():
    # Few labels in many dimensions, one informative direction: the torch linear head overfits.
    rng = np.random.default_rng(1)
    y = rng.integers(0, 2, 90)
    X = rng.normal(size=(90, 400)).astype(np.float32)
    X[:, 0] += np.where(y == 1, 3.0, -3.0)
    config = {**head_config("cpu", 400), "weight_decay": 0.0, "epochs": 300}
    choice = choose_head(X, y, 2, config, pool_rows=10**7)  # logistic against the torch head alone
    assert choice.kind == "logistic", choice.scores


def test_choose_head_uses_five_folds_while_labels_are_few_and_three_from_200(blobs):
    X, y = blobs
    config = head_config("cpu", 24)
    assert choose_head(X[:199], y[:199], 4, config).folds == heads.FEW_LABELS_FOLDS == 5
    assert choose_head(X[:200], y[:200], 4, config).folds == heads.CHOICE_FOLDS == 3
    assert choose_head(X[:199], y[:199], 4, config, folds=2).folds == 2  # asked for
    rare = np.r_[y[:40] % 3, [3, 3, 3]]  # the rarest class has three labels: three folds at most
    assert choose_head(X[:43], rare, 4, config).folds == 3


def test_choose_head_without_enough_labels_per_class_keeps_the_backbones_default(blobs):
    X, y = blobs
    labels = np.array([0, 0, 0, 1])
    choice = choose_head(X[:4], labels, 4, head_config("cpu", 384))
    assert (choice.kind, choice.scores, choice.folds, choice.rule) == ("linear", {}, 0, "default")


def test_actively_chosen_labels_get_the_kernel_head_from_100_labels_where_it_is_affordable(blobs):
    X, y = blobs
    config = head_config("cpu", 24)
    n = heads.KERNEL_ACTIVE_FROM
    choice = choose_head(X[:n], y[:n], 4, config, active=True, pool_rows=1000)
    assert (choice.kind, choice.scores, choice.rule) == ("svm", {}, "active_labels")
    assert choice.as_metrics()["head_rule"] == "active_labels"
    # Fewer labels, random labels, or a pool too large to score with it: cross-validation votes.
    for kwargs in (
        {"active": True, "pool_rows": 1000, "n": n - 1},
        {"active": False, "pool_rows": 1000, "n": n},
        {"active": True, "pool_rows": heads.KERNEL_SCORE_WORK, "n": n},
    ):
        m = kwargs.pop("n")
        choice = choose_head(X[:m], y[:m], 4, config, **kwargs)
        assert choice.rule == "cross_validation" and choice.scores, kwargs
    head, choice = fit_head(X[:n], y[:n], 4, config, active=True, pool_rows=1000)
    assert isinstance(head, KernelHead) and choice.kind == "svm"
    assert fit_head(X[:n], y[:n], 4, config, kind="logistic")[1].rule == "fixed"


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
