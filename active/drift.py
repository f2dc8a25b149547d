"""Drift tests of a production window against the training data, on embeddings and predicted classes.

- :func:`domain_classifier`: can a classifier tell production from training vectors? Out-of-fold
  ROC-AUC, with its null distribution from refits on permuted domain labels (the permutation
  threshold and p-value); its out-of-fold scores name the most "production-like" rows.
- :func:`mmd_test`: the second opinion, kernel two-sample MMD (RBF, median bandwidth) with a
  permutation p-value.
- :func:`class_mix_test`: the window's predicted-class mix against a reference mix (a two-sample
  chi-square test of homogeneity and the total variation distance: with thousands of records any
  small difference is "significant", so an effect size must be crossed too). The reference should
  be the deployed model's own predictions on reference data, not the training labels: a model that
  over-predicts a class differs from the label mix in every window, drift or none.
- :func:`wilson_interval`: accuracy of the labelled control slice with its interval.

:func:`check_window` combines them with a Bonferroni split of the false-alarm budget (``ALPHA``):
an embedding alarm needs both the domain classifier and MMD below their share (a second opinion
confirms, it cannot add false alarms), the class mix and the control accuracy have their own
shares, so a window without a shift raises an alarm with probability at most ``ALPHA``.
All sampling is seeded: the same window gives the same figures.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

ALPHA = 0.05
ALPHA_EMBEDDING = 0.03
ALPHA_CLASS_MIX = 0.01
ALPHA_CONTROL = 0.01
#: Class mixes this far apart (total variation distance) before a significant difference is an alarm.
MIN_CLASS_TVD = 0.1
MAX_ROWS = 1000  # per side: enough power for the tests, and a window checks in about a second
DOMAIN_PERMUTATIONS = 49
DOMAIN_FOLDS = 5
DOMAIN_COMPONENTS = 20
MMD_PERMUTATIONS = 199
MIN_WINDOW = 30


def _unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    return X / np.maximum(np.linalg.norm(X, axis=1, keepdims=True), 1e-12)


def subsample(n: int, limit: int, rng: np.random.Generator) -> np.ndarray:
    return np.arange(n) if n <= limit else np.sort(rng.choice(n, limit, replace=False))


@dataclass
class DomainResult:
    auc: float
    threshold: float
    p_value: float
    production_like: np.ndarray  # production row indices, most production-like first


def domain_classifier(
    reference: np.ndarray,
    production: np.ndarray,
    *,
    permutations: int = DOMAIN_PERMUTATIONS,
    folds: int = DOMAIN_FOLDS,
    components: int = DOMAIN_COMPONENTS,
    alpha: float = ALPHA_EMBEDDING,
    seed: int = 0,
) -> DomainResult:
    """Cross-validated ROC-AUC of a logistic domain classifier, and its permutation threshold.

    The vectors are first reduced by PCA on the pooled rows: unsupervised, so it never sees the
    domain labels and the permutation null stays valid, and it makes each of the
    ``(permutations + 1) × folds`` fits cheap.
    """
    from sklearn.decomposition import PCA  # heavy: scikit-learn stays out of web processes
    from sklearn.linear_model import LogisticRegression  # heavy: see above
    from sklearn.metrics import roc_auc_score  # heavy: see above
    from sklearn.model_selection import StratifiedKFold  # heavy: see above

    rng = np.random.default_rng(seed)
    X = _unit(np.vstack([reference, production]))
    y = np.r_[np.zeros(len(reference), int), np.ones(len(production), int)]
    n_components = max(1, min(components, X.shape[1], len(X) - 1))
    Z = PCA(n_components=n_components, random_state=seed).fit_transform(X)
    Z /= np.maximum(Z.std(axis=0), 1e-12)
    folds = max(2, min(folds, int(min(len(reference), len(production)))))
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=seed)

    def out_of_fold(labels: np.ndarray) -> tuple[float, np.ndarray]:
        scores = np.zeros(len(labels))
        for train, test in splitter.split(Z, labels):
            model = LogisticRegression(C=1.0, max_iter=200).fit(Z[train], labels[train])
            scores[test] = model.decision_function(Z[test])
        return float(roc_auc_score(labels, scores)), scores

    auc, scores = out_of_fold(y)
    null = np.array([out_of_fold(rng.permutation(y))[0] for _ in range(permutations)])
    p_value = (1 + int((null >= auc).sum())) / (permutations + 1)
    production_scores = scores[len(reference) :]
    return DomainResult(
        auc=auc,
        threshold=float(np.quantile(null, 1 - alpha)),
        p_value=p_value,
        production_like=np.argsort(-production_scores, kind="stable"),
    )


def mmd_test(
    reference: np.ndarray, production: np.ndarray, *, permutations: int = MMD_PERMUTATIONS, seed: int = 0
) -> tuple[float, float]:
    """``(MMD², p-value)``: RBF kernel at the median pairwise distance, V-statistic, label permutations."""
    rng = np.random.default_rng(seed)
    X = _unit(np.vstack([reference, production])).astype(np.float32)
    sq = (X * X).sum(axis=1)
    D2 = np.maximum(sq[:, None] + sq[None, :] - 2 * X @ X.T, 0)
    off_diagonal = D2[np.triu_indices(len(X), k=1)]
    bandwidth = float(np.median(off_diagonal[off_diagonal > 0])) if (off_diagonal > 0).any() else 1.0
    K = np.exp(-D2 / bandwidth)
    m, n = len(reference), len(production)
    labels = np.r_[np.zeros(m, bool), np.ones(n, bool)]
    columns = [labels] + [rng.permutation(labels) for _ in range(permutations)]
    V = np.stack([np.where(c, 1.0 / n, -1.0 / m) for c in columns], axis=1).astype(np.float32)
    stats = ((K @ V) * V).sum(axis=0)
    observed = float(stats[0])
    p_value = (1 + int((stats[1:] >= observed).sum())) / (permutations + 1)
    return observed, p_value


def class_mix_test(reference_counts: np.ndarray, production_counts: np.ndarray) -> tuple[float, float]:
    """``(total variation distance, chi-square p-value)`` of the production mix against the reference mix.

    Both mixes are samples (the reference is a finite window too), so the test is of homogeneity
    of the two rows of counts, over the classes either of them holds.
    """
    from scipy.stats import chi2_contingency  # heavy: scipy stays out of web processes

    reference = np.asarray(reference_counts, np.float64)
    production = np.asarray(production_counts, np.float64)
    if production.sum() == 0 or reference.sum() == 0:
        return 0.0, 1.0
    tvd = 0.5 * float(np.abs(production / production.sum() - reference / reference.sum()).sum())
    seen = (reference + production) > 0
    if seen.sum() < 2:
        return tvd, 1.0
    table = np.vstack([reference[seen], production[seen]])
    return tvd, float(chi2_contingency(table, correction=False).pvalue)


def wilson_interval(correct: int, total: int, *, z: float = 2.326) -> tuple[float, float]:
    """Wilson score interval of a proportion; ``z`` 2.326 is two-sided 98 % (one-sided 1 % each end)."""
    if total == 0:
        return 0.0, 1.0
    p = correct / total
    denominator = 1 + z * z / total
    centre = (p + z * z / (2 * total)) / denominator
    half = z * math.sqrt(p * (1 - p) / total + z * z / (4 * total * total)) / denominator
    return max(0.0, centre - half), min(1.0, centre + half)


@dataclass
class WindowCheck:
    n_production: int
    n_reference: int
    domain: DomainResult | None
    mmd: float | None
    mmd_p: float | None
    class_tvd: float
    class_p: float
    control_interval: tuple[float, float] | None
    reasons: list[str] = field(default_factory=list)

    @property
    def alarm(self) -> bool:
        return bool(self.reasons)


def check_window(
    reference: np.ndarray,
    production: np.ndarray,
    reference_counts: np.ndarray | None,
    production_counts: np.ndarray,
    *,
    control: tuple[int, int] = (0, 0),
    test_accuracy: float | None = None,
    min_class_tvd: float = MIN_CLASS_TVD,
    seed: int = 0,
) -> WindowCheck:
    """Every test on one window; ``control`` is ``(correct, labelled)`` of its control slice.

    ``reference_counts`` is the class mix the window's predicted classes are held against (the
    deployed model's own predictions on reference data); ``None`` leaves the class mix unjudged.
    """
    rng = np.random.default_rng(seed)
    ref = reference[subsample(len(reference), MAX_ROWS, rng)]
    production_rows = subsample(len(production), MAX_ROWS, rng)
    prod = production[production_rows]
    reasons: list[str] = []
    domain = mmd = mmd_p = None
    if len(prod) >= MIN_WINDOW and len(ref) >= MIN_WINDOW:
        domain = domain_classifier(ref, prod, seed=seed)
        domain.production_like = production_rows[domain.production_like]  # rows of ``production``
        mmd, mmd_p = mmd_test(ref, prod, seed=seed)
        if domain.p_value <= ALPHA_EMBEDDING and mmd_p <= ALPHA_EMBEDDING:
            reasons.append("embeddings")
    tvd, class_p = (
        (0.0, 1.0) if reference_counts is None else class_mix_test(reference_counts, production_counts)
    )
    if tvd >= min_class_tvd and class_p <= ALPHA_CLASS_MIX:
        reasons.append("class_mix")
    interval = None
    correct, total = control
    if total:
        interval = wilson_interval(correct, total)
        if test_accuracy is not None and interval[1] < test_accuracy:
            reasons.append("control_accuracy")
    return WindowCheck(
        n_production=len(production),
        n_reference=len(ref),
        domain=domain,
        mmd=mmd,
        mmd_p=mmd_p,
        class_tvd=tvd,
        class_p=class_p,
        control_interval=interval,
        reasons=reasons,
    )
