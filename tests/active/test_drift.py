"""Drift tests on the digits: planted shifts are found, windows without a shift rarely alarm."""

import numpy as np
import pytest
from sklearn.datasets import load_digits

from active import drift


@pytest.fixture(scope="module")
def digits():
    data = load_digits()
    X, y = data.data / 16, data.target
    order = np.random.default_rng(0).permutation(len(X))
    return X, y, order[:900], order[900:]  # training rows, production rows


def counts(labels) -> np.ndarray:
    return np.bincount(labels, minlength=10)


@pytest.mark.slow
def test_windows_without_a_shift_alarm_in_at_most_five_percent(digits):
    """40 windows of 200 fresh rows from the training distribution; the deployed model's
    predictions are the truth with 5 % random errors (fixed seeds)."""
    X, y, train, pool = digits
    alarms = 0
    for seed in range(40):
        rng = np.random.default_rng(100 + seed)
        window = rng.choice(pool, 200, replace=False)
        predicted = y[window].copy()
        wrong = rng.random(len(window)) < 0.05
        predicted[wrong] = rng.integers(0, 10, wrong.sum())
        check = drift.check_window(X[train], X[window], counts(y[train]), counts(predicted), seed=seed)
        alarms += check.alarm
    assert alarms / 40 <= 0.05


def biased_model(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """A deployed model biased toward digit 8: it takes 40 % of the 1-4s (a fixed choice per row,
    as a model's would be) and errs at random on 5 % of the rest."""
    rng = np.random.default_rng(42)
    predicted = y.copy()
    predicted[(y >= 1) & (y <= 4) & (rng.random(len(y)) < 0.4)] = 8
    wrong = rng.random(len(y)) < 0.05
    predicted[wrong] = rng.integers(0, 10, wrong.sum())
    return predicted


@pytest.mark.slow
def test_a_biased_model_without_a_shift_alarms_in_at_most_five_percent(digits):
    """The class mix is held against the model's own predictions on reference data, so its bias
    is no alarm; held against the training labels instead, the same windows nearly all alarm."""
    X, y, train, pool = digits
    predicted = biased_model(X, y)
    alarms = against_labels = 0
    for seed in range(40):
        window = np.random.default_rng(500 + seed).choice(pool, 200, replace=False)
        check = drift.check_window(
            X[train], X[window], counts(predicted[train]), counts(predicted[window]), seed=seed
        )
        alarms += check.alarm
        tvd, p = drift.class_mix_test(counts(y[train]), counts(predicted[window]))
        against_labels += tvd >= drift.MIN_CLASS_TVD and p <= drift.ALPHA_CLASS_MIX
    assert alarms / 40 <= 0.05
    assert against_labels / 40 >= 0.9


def test_a_biased_model_still_finds_a_change_of_class_mix(digits):
    X, y, train, pool = digits
    predicted = biased_model(X, y)
    skewed = pool[y[pool] < 3]
    for seed in range(5):
        window = np.random.default_rng(600 + seed).choice(skewed, 200, replace=False)
        check = drift.check_window(
            X[train], X[window], counts(predicted[train]), counts(predicted[window]), seed=seed
        )
        assert "class_mix" in check.reasons


def test_without_a_reference_mix_the_class_mix_is_not_judged(digits):
    X, y, train, pool = digits
    window = pool[y[pool] < 3][:200]
    check = drift.check_window(X[train], X[window], None, counts(y[window]))
    assert "class_mix" not in check.reasons and check.class_p == 1.0


def test_classes_withheld_from_training_are_found_in_the_embeddings(digits):
    """Digits 7-9 never labelled; in production they are about 30 % of each window, and the
    deployed model (which does not know them) predicts one of its own classes for them."""
    X, y, train, pool = digits
    known = train[y[train] < 7]
    found = 0
    for seed in range(10):
        window = np.random.default_rng(200 + seed).choice(pool, 400, replace=False)
        check = drift.check_window(
            X[known], X[window], counts(y[known]), counts(np.minimum(y[window], 6)), seed=seed
        )
        found += "embeddings" in check.reasons
        assert check.domain.auc > check.domain.threshold or "embeddings" not in check.reasons
    assert found >= 9


def test_the_most_production_like_rows_are_the_withheld_classes(digits):
    X, y, train, pool = digits
    known = train[y[train] < 7]
    window = np.random.default_rng(7).choice(pool, 400, replace=False)
    check = drift.check_window(X[known], X[window], counts(y[known]), counts(np.minimum(y[window], 6)))
    top = check.domain.production_like[:20]
    assert (y[window][top] >= 7).mean() >= 0.6  # against about 0.3 at random


def test_a_change_of_class_mix_is_found(digits):
    X, y, train, pool = digits
    skewed = pool[y[pool] < 3]  # production sees only digits 0-2
    for seed in range(5):
        window = np.random.default_rng(300 + seed).choice(skewed, 200, replace=False)
        check = drift.check_window(X[train], X[window], counts(y[train]), counts(y[window]), seed=seed)
        assert "class_mix" in check.reasons and check.class_tvd > 0.5


def test_a_small_mix_difference_is_not_an_alarm_however_significant():
    training = np.array([5000, 5000])
    production = np.array([5300, 4700])  # 3 points apart: significant, but below MIN_CLASS_TVD
    tvd, p = drift.class_mix_test(training, production)
    assert p < 0.01 and tvd < drift.MIN_CLASS_TVD


def test_control_accuracy_below_the_test_accuracy_is_an_alarm():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((100, 8))
    low = drift.check_window(
        X[:50], X[50:], np.array([25, 25]), np.array([25, 25]), control=(60, 100), test_accuracy=0.9
    )
    fine = drift.check_window(
        X[:50], X[50:], np.array([25, 25]), np.array([25, 25]), control=(88, 100), test_accuracy=0.9
    )
    assert "control_accuracy" in low.reasons and "control_accuracy" not in fine.reasons
    lower, upper = fine.control_interval
    assert lower < 0.88 < upper


def test_wilson_interval_of_nothing_is_everything():
    assert drift.wilson_interval(0, 0) == (0.0, 1.0)
