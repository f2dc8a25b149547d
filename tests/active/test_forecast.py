"""The learning-curve forecast: recovers a known curve, its interval covers the truth, hours and cost."""

from __future__ import annotations

import numpy as np
import pytest

from active.forecast import annotator_hours, fit_learning_curve, forecast, labels_for

A, B, C = 0.93, 2.4, 0.55
LABELS = [20, 40, 60, 80, 100, 130, 160, 200, 300, 400, 500]


def true_accuracy(n):
    return A - B * np.power(np.asarray(n, float), -C)


def noisy_points(rng, eval_size=400):
    """Rounds measured on ``eval_size`` held-out items: binomial noise around the true curve."""
    measured = rng.binomial(eval_size, true_accuracy(LABELS)) / eval_size
    return [
        {"labels": n, "accuracy": float(a), "eval_size": eval_size}
        for n, a in zip(LABELS, measured, strict=True)
    ]


def test_fit_recovers_the_parameters_of_an_exact_curve():
    curve = fit_learning_curve(LABELS, true_accuracy(LABELS))
    assert (curve.a, curve.b, curve.c) == pytest.approx((A, B, C), rel=1e-3)


def test_labels_for_inverts_the_curve():
    needed = labels_for(0.88, A, B, C)
    assert true_accuracy(needed) == pytest.approx(0.88)
    assert labels_for(0.95, A, B, C) is None  # above the plateau


def test_the_interval_contains_the_true_labels_needed_at_about_its_level():
    truth = labels_for(0.87, A, B, C)  # ~820 labels: beyond the last round, at 500
    rng = np.random.default_rng(7)
    covered = bounded = 0
    for _ in range(60):
        interval = forecast(noisy_points(rng, eval_size=1000), 0.87, seconds_per_label=None).interval
        if interval is None:  # a lucky round measured the target already: a miss
            continue
        low, high = interval
        bounded += high is not None
        covered += low <= truth and (high is None or truth <= high)
    assert covered / 60 >= 0.85  # a 90 % interval; the point estimate alone covers ~0 %
    assert bounded / 60 >= 0.8  # and it does not cover by answering "unbounded"


def test_hours_are_labels_times_median_seconds_over_3600_and_cost_follows():
    result = forecast(
        [{"labels": n, "accuracy": float(a)} for n, a in zip(LABELS, true_accuracy(LABELS), strict=True)],
        0.9,
        seconds_per_label=12.0,
        cost_per_hour=30.0,
    )
    assert result.status == "forecast" and result.labels_needed > LABELS[-1]
    assert result.more_labels == result.labels_needed - LABELS[-1]
    assert result.hours == pytest.approx(result.more_labels * 12.0 / 3600, abs=0.01)
    assert result.cost == pytest.approx(result.hours * 30.0, abs=0.01)
    assert annotator_hours(300, 12.0) == 1.0


def test_fewer_than_three_rounds_do_not_forecast():
    result = forecast(
        [{"labels": 20, "accuracy": 0.5}, {"labels": 40, "accuracy": 0.6}], 0.9, seconds_per_label=5
    )
    assert result.status == "too_few_rounds" and result.labels_needed is None


def test_a_target_above_the_plateau_is_unreachable():
    points = [{"labels": n, "accuracy": float(a)} for n, a in zip(LABELS, true_accuracy(LABELS), strict=True)]
    assert forecast(points, 0.97, seconds_per_label=5).status == "unreachable"


def test_a_target_the_latest_round_already_meets_needs_no_more_labels():
    points = [{"labels": n, "accuracy": float(a)} for n, a in zip(LABELS, true_accuracy(LABELS), strict=True)]
    result = forecast(points, 0.5, seconds_per_label=5)
    assert (result.status, result.more_labels) == ("reached", 0)
