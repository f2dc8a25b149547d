"""How many more labels a target accuracy needs, and what they cost: a learning curve fitted to the
project's own rounds.

The curve is the inverse power law ``accuracy(n) = a − b · n^(−c)`` (``a`` the plateau), the usual
shape of learning curves at these sizes, fitted by least squares to each round's held-out accuracy
against its labels. Each point is weighted by its binomial standard error
``√(p(1 − p) / eval_size)``, taken as known (``absolute_sigma``), so the parameters' covariance is
an honest one even with three rounds. The interval on the labels needed comes from parameter
draws from that covariance (a parametric bootstrap): the share of draws whose plateau stays below
the target is the chance the target is not reachable at all, and an upper end beyond every label
the draws reach is reported as unbounded rather than invented.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

MIN_POINTS = 3  # one per parameter: fewer cannot pin the curve down
LEVEL = 0.9  # the interval's coverage
DRAWS = 4000
UNBOUNDED = 1e12  # labels: a draw whose plateau is below the target never gets there  # a perfect or null held-out score still has sampling error


@dataclass(frozen=True)
class LearningCurve:
    """``accuracy(n) = a − b · n^(−c)``; ``covariance`` of (a, ln b, c), None when the points cannot bound it.

    The fit runs on ``ln b``: b and c trade off along a curved ridge, which is far closer to a
    Gaussian in ``ln b`` (draws from a Gaussian in b put much of their mass at b ≤ 0, i.e. "no labels").
    """

    a: float
    b: float
    c: float
    covariance: np.ndarray | None

    def labels_for(self, target: float) -> float | None:
        """Labels at which the curve reaches ``target``; None when its plateau is at or below it."""
        return labels_for(target, self.a, self.b, self.c)

    def labels_interval(self, target: float, *, level: float = LEVEL, seed: int = 0):
        """``(low, high)`` of the labels needed at ``level`` (high None: unbounded), or None without a covariance."""
        if self.covariance is None:
            return None
        draws = np.random.default_rng(seed).multivariate_normal(
            [self.a, math.log(self.b), self.c], self.covariance, size=DRAWS, method="eigh"
        )
        a, b, c = draws[:, 0], np.exp(np.minimum(draws[:, 1], 50)), np.maximum(draws[:, 2], 1e-3)
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            needed = np.where(a > target, (b / (a - target)) ** (1 / c), UNBOUNDED)
        needed = np.where(np.isfinite(needed), np.minimum(needed, UNBOUNDED), UNBOUNDED)
        tail = (1 - level) / 2
        low, high = np.quantile(needed, [tail, 1 - tail])
        return (None if low >= UNBOUNDED else float(low), None if high >= UNBOUNDED else float(high))


def power_law(n, a, b, c):
    return a - b * np.power(n, -c)


def power_law_log_b(n, a, log_b, c):
    return a - np.exp(log_b) * np.power(n, -c)


def labels_for(target: float, a: float, b: float, c: float) -> float | None:
    if a <= target:
        return None
    if b <= 0:
        return 1.0
    return float((b / (a - target)) ** (1 / c))


def fit_learning_curve(labels, accuracy, eval_sizes=None) -> LearningCurve | None:
    """The inverse power law through ``(labels, accuracy)``; None below ``MIN_POINTS`` distinct label counts.

    ``eval_sizes`` (held-out items behind each accuracy) weight the points and make the covariance
    absolute; without them the residuals set its scale, which needs more points than parameters.
    """
    from scipy.optimize import curve_fit  # heavy: scipy.optimize is only loaded by pages that forecast

    n = np.asarray(labels, dtype=np.float64)
    acc = np.asarray(accuracy, dtype=np.float64)
    if len(np.unique(n)) < MIN_POINTS or (n <= 0).any():
        return None
    sigma = None
    if eval_sizes is not None:
        sizes = np.asarray(eval_sizes, dtype=np.float64)
        sizes = np.maximum(sizes, 1)
        p = np.clip(acc, 0.5 / sizes, 1 - 0.5 / sizes)  # a perfect or null score still has sampling error
        sigma = np.sqrt(p * (1 - p) / sizes)
    a0 = min(1.0, float(acc.max()) + 0.02)
    c0 = 0.5
    log_b0 = math.log(max(a0 - float(acc.min()), 1e-3) * float(n.min()) ** c0)
    params, covariance = curve_fit(
        power_law_log_b,
        n,
        acc,
        p0=[a0, log_b0, c0],
        sigma=sigma,
        absolute_sigma=sigma is not None,
        bounds=([0.0, -30.0, 1e-3], [1.0, 30.0, 3.0]),
        maxfev=20000,
    )
    if not np.isfinite(covariance).all():
        covariance = None
    return LearningCurve(float(params[0]), math.exp(params[1]), float(params[2]), covariance)


@dataclass
class Forecast:
    """What the page says about the labels a target needs. ``status``: ``too_few_rounds``,
    ``reached`` (the latest round already measures at or above the target), ``unreachable`` (the
    fitted plateau is below it) or ``forecast``."""

    status: str
    target: float
    points: int
    labels_now: int
    curve: LearningCurve | None = None
    labels_needed: int | None = None
    interval: tuple[int | None, int | None] | None = None  # labels needed, low and high (None: unbounded)
    more_labels: int | None = None
    seconds_per_label: float | None = None
    hours: float | None = None
    hours_interval: tuple[float | None, float | None] | None = None
    cost_per_hour: float = 0.0
    cost: float | None = None
    cost_interval: tuple[float | None, float | None] | None = None

    @property
    def plateau(self) -> float | None:
        return None if self.curve is None else round(self.curve.a, 4)


def annotator_hours(labels: float, seconds_per_label: float) -> float:
    """Hours of labelling for ``labels`` items at ``seconds_per_label`` each."""
    return labels * seconds_per_label / 3600


def forecast(
    points: list[dict],
    target: float,
    *,
    seconds_per_label: float | None,
    cost_per_hour: float = 0.0,
    labels_now: int | None = None,
) -> Forecast:
    """The labels ``target`` accuracy needs from ``points`` (``labels``, ``accuracy``, optional
    ``eval_size``), how many more than ``labels_now`` (default: the last point's), and their hours
    and cost at ``seconds_per_label`` (None when the project has no timed labels yet)."""
    points = sorted(points, key=lambda p: p["labels"])
    now = labels_now if labels_now is not None else (points[-1]["labels"] if points else 0)
    result = Forecast(
        "too_few_rounds",
        target,
        len(points),
        now,
        seconds_per_label=seconds_per_label,
        cost_per_hour=cost_per_hour,
    )
    sizes = [p.get("eval_size") for p in points]
    curve = fit_learning_curve(
        [p["labels"] for p in points],
        [p["accuracy"] for p in points],
        sizes if points and all(sizes) else None,
    )
    if curve is None:
        return result
    result.curve = curve
    if points[-1]["accuracy"] >= target:
        result.status, result.labels_needed, result.more_labels = "reached", now, 0
        return result
    needed = curve.labels_for(target)
    interval = curve.labels_interval(target)
    if interval is not None:
        low, high = interval
        result.interval = (
            None if low is None else max(now, math.ceil(low)),
            None if high is None else max(now, math.ceil(high)),
        )
    if needed is None:
        result.status = "unreachable"  # at the fitted plateau; the interval may still hold a chance
        return result
    result.status = "forecast"
    result.labels_needed = max(now, math.ceil(needed))
    result.more_labels = result.labels_needed - now
    if seconds_per_label is not None:
        result.hours = round(annotator_hours(result.more_labels, seconds_per_label), 2)
        result.cost = round(result.hours * cost_per_hour, 2)
        if result.interval is not None:
            result.hours_interval = tuple(
                None if end is None else round(annotator_hours(end - now, seconds_per_label), 2)
                for end in result.interval
            )
            result.cost_interval = tuple(
                None if h is None else round(h * cost_per_hour, 2) for h in result.hours_interval
            )
    return result
