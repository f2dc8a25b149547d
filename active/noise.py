"""Label-noise detection on plain arrays: out-of-sample probabilities, cleanlab, CROWDLAB, near-duplicates.

The core the background check (``active.noise_jobs``) and the benchmarks share; nothing here reads
the database. Probabilities are out-of-sample: K stratified folds, one fit of the project's head per
fold (the head ``heads.choose_head`` picks once on all labels), each fold scored by the head that
never saw it. cleanlab then ranks the resolved labels by label quality (self-confidence) and flags
issues (``find_label_issues``, confident learning); items with several annotators are judged by
CROWDLAB (``get_label_quality_multiannotator``), which weighs the model against each annotator.
Gold items are arbiters: they train every fold with their gold answer and are never suspects.

cleanlab, scikit-learn and torch are imported inside the functions: web processes import the job
module that imports this one.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from active.heads import choose_head, head_config, make_head, unit_rows

DEFAULT_FOLDS = 5
#: Cosine similarity from which two items count as near-duplicates (after centring: on digits every pair above it is a planted flip).
DUPLICATE_SIMILARITY = 0.95
LSH_BITS = 10
LSH_TABLES = 16
DUPLICATE_PAIRS_LIMIT = 1000


# Folds and out-of-sample probabilities ------------------------------------------------------
def fold_assignment(y: np.ndarray, folds: int, seed: int) -> np.ndarray:
    """The fold (0..folds-1) of every row: stratified by class, deterministic in ``seed``.

    A class with fewer rows than folds is spread over as many folds as it has rows (those rows
    are still scored out of sample; the fold that holds a class's only row trains without it).
    """
    rng = np.random.default_rng(seed)
    assignment = np.empty(len(y), np.int64)
    offset = 0
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        rng.shuffle(rows)
        # Round-robin from a rolling offset, so small classes do not all land in fold 0.
        assignment[rows] = (np.arange(len(rows)) + offset) % folds
        offset += len(rows)
    return assignment


def effective_folds(n: int, folds: int) -> int:
    return max(2, min(folds, n))


@dataclass
class OutOfSample:
    """Out-of-sample probabilities of every row, the head that made them, and its fit times."""

    proba: np.ndarray  # (n, n_classes) float32
    folds: np.ndarray  # fold of each row
    head: str
    fold_seconds: list[float] = field(default_factory=list)


def out_of_sample_proba(
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    *,
    folds: int = DEFAULT_FOLDS,
    seed: int = 0,
    device: str = "cpu",
    kind: str = "auto",
    done: dict[int, np.ndarray] | None = None,
    on_fold: Callable[[int, np.ndarray, np.ndarray], None] | None = None,
) -> OutOfSample:
    """K-fold probabilities: fold ``f``'s rows are scored by a head fitted on the other folds.

    ``done`` maps folds already computed (by an earlier attempt) to their rows' probabilities, in
    row order within the fold: they are not fitted again (the job is resumable). ``on_fold(f, rows,
    proba)`` is called after each new fold, so the caller can store it before the next one starts.
    """
    y = np.asarray(y, np.int64)
    folds = effective_folds(len(y), folds)
    assignment = fold_assignment(y, folds, seed)
    config = head_config(device, X.shape[1])
    if kind == "auto":
        kind = choose_head(X, y, n_classes, config, seed=seed).kind
    proba = np.zeros((len(y), n_classes), np.float32)
    seconds = []
    for f in range(folds):
        test = np.flatnonzero(assignment == f)
        if done and f in done:
            proba[test] = done[f]
            continue
        started = time.perf_counter()
        train = np.flatnonzero(assignment != f)
        if len(np.unique(y[train])) < 2:  # nothing to learn from: a uniform guess, honestly uninformative
            fold_proba = np.full((len(test), n_classes), 1.0 / n_classes, np.float32)
        else:
            head = make_head(kind, n_classes, config, seed + f).fit(X[train], y[train])
            fold_proba = head.predict_proba_tensor(X[test]).float().cpu().numpy()
        proba[test] = fold_proba
        seconds.append(round(time.perf_counter() - started, 3))
        if on_fold is not None:
            on_fold(f, test, fold_proba)
    return OutOfSample(proba, assignment, kind, seconds)


# Detection -----------------------------------------------------------------------------------
@dataclass
class Detection:
    """Per row: label quality of the given label (low = suspect), cleanlab's issue flag, the model's
    suggestion and its probability, and an outlier score (low = unlike the rest)."""

    quality: np.ndarray
    is_issue: np.ndarray
    suggestion: np.ndarray
    confidence: np.ndarray
    outlier: np.ndarray
    crowdlab: dict = field(default_factory=dict)  # annotator quality etc., when it ran


def _present_columns(y: np.ndarray, proba: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """cleanlab wants every class column to have labels: keep the classes present, renormalised."""
    present = np.unique(y)
    remap = np.full(proba.shape[1], -1, np.int64)
    remap[present] = np.arange(len(present))
    sub = proba[:, present].astype(np.float64)
    sub = np.clip(sub, 1e-6, None)
    sub /= sub.sum(axis=1, keepdims=True)
    return present, remap[y], sub


def detect(
    y: np.ndarray,
    proba: np.ndarray,
    *,
    arbiter: np.ndarray | None = None,
    annotations: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> Detection:
    """Score every row's given label ``y`` against out-of-sample ``proba``.

    ``arbiter`` marks gold rows: their quality is 1 and they are never issues. ``annotations`` is
    ``(row, annotator_code, class)`` of the individual labels; where a row has two or more, CROWDLAB's
    quality of the given label replaces the single-label score (and its per-annotator quality is
    returned in ``crowdlab``).
    """
    from cleanlab.filter import find_label_issues  # heavy: worker paths only
    from cleanlab.outlier import OutOfDistribution
    from cleanlab.rank import get_label_quality_scores

    y = np.asarray(y, np.int64)
    n = len(y)
    arbiter = np.zeros(n, bool) if arbiter is None else np.asarray(arbiter, bool)
    suggestion = proba.argmax(axis=1)
    confidence = proba[np.arange(n), suggestion].astype(np.float64)
    quality = np.ones(n)
    is_issue = np.zeros(n, bool)
    outlier = np.ones(n)
    present, labels, sub = _present_columns(y, proba)
    crowd: dict = {}
    if len(present) >= 2 and n >= 2:
        quality = get_label_quality_scores(labels, sub, method="self_confidence")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # small classes: cleanlab warns, and copes
            is_issue = find_label_issues(labels, sub, filter_by="prune_by_noise_rate", n_jobs=1)
            outlier = OutOfDistribution().fit_score(pred_probs=sub, labels=labels, verbose=False)
        if annotations is not None:
            crowd_quality, disagrees, crowd = crowdlab_quality(
                labels, sub, annotations, remap_classes=present
            )
            multi = ~np.isnan(crowd_quality)
            # CROWDLAB judges these rows: its quality of the given label ranks them, and an issue is
            # a row where CROWDLAB's consensus (model and annotators weighed) is another label.
            quality = np.where(multi, crowd_quality, quality)
            is_issue = np.where(multi, disagrees, is_issue)
    quality = np.where(arbiter, 1.0, quality)
    is_issue = is_issue & ~arbiter
    return Detection(quality, is_issue, suggestion, confidence, outlier, crowd)


def crowdlab_quality(
    labels: np.ndarray,
    pred_probs: np.ndarray,
    annotations: tuple[np.ndarray, np.ndarray, np.ndarray],
    *,
    remap_classes: np.ndarray,
) -> tuple[np.ndarray, np.ndarray, dict]:
    """CROWDLAB on the rows with two or more annotators: quality of each row's given label (NaN for
    the others), whether CROWDLAB's consensus differs from it, and per-annotator quality.

    The given label (the project's resolved label, Dawid–Skene or majority) is scored as CROWDLAB
    scores any annotator's label: by the detailed quality of an annotator who gave it, else by the
    consensus quality when CROWDLAB's consensus is that label, else as the lowest quality on the row.
    """
    import pandas as pd
    from cleanlab.multiannotator import get_label_quality_multiannotator  # heavy: worker paths only

    rows, who, cls = (np.asarray(a, np.int64) for a in annotations)
    remap = np.full(int(remap_classes.max()) + 1, -1, np.int64)
    remap[remap_classes] = np.arange(len(remap_classes))
    cls = np.where(cls <= remap_classes.max(), remap[np.minimum(cls, remap_classes.max())], -1)
    keep = cls >= 0
    rows, who, cls = rows[keep], who[keep], cls[keep]
    quality = np.full(len(labels), np.nan)
    disagrees = np.zeros(len(labels), bool)
    per_row = np.bincount(rows, minlength=len(labels))
    multi_rows = np.flatnonzero(per_row >= 2)
    if not len(multi_rows):
        return quality, disagrees, {}
    # CROWDLAB reads all rows any annotator labelled (single ones inform annotator quality too).
    labelled_rows = np.unique(rows)
    position = np.full(len(labels), -1, np.int64)
    position[labelled_rows] = np.arange(len(labelled_rows))
    annotators = np.unique(who)
    column = {int(a): j for j, a in enumerate(annotators)}
    matrix = np.full((len(labelled_rows), len(annotators)), np.nan)
    for r, a, c in zip(rows, who, cls, strict=True):
        matrix[position[r], column[int(a)]] = c
    frame = pd.DataFrame(matrix, columns=[int(a) for a in annotators])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = get_label_quality_multiannotator(
            frame, pred_probs[labelled_rows], verbose=False, return_detailed_quality=True
        )
    label_quality = result["label_quality"]
    detailed = result["detailed_label_quality"].to_numpy()
    consensus = label_quality["consensus_label"].to_numpy()
    consensus_quality = label_quality["consensus_quality_score"].to_numpy()
    for r in multi_rows:
        p = position[r]
        given = labels[r]
        disagrees[r] = consensus[p] != given
        gave = np.flatnonzero(matrix[p] == given)
        if len(gave):
            quality[r] = float(np.nanmean(detailed[p, gave]))
        elif consensus[p] == given:
            quality[r] = float(consensus_quality[p])
        else:
            quality[r] = float(np.nanmin(detailed[p]))
    stats = result["annotator_stats"]
    annotator_quality = {
        int(a): {
            "quality": round(float(row["annotator_quality"]), 4),
            "agreement_with_consensus": round(float(row["agreement_with_consensus"]), 4),
            "labelled": int(row["num_examples_labeled"]),
        }
        for a, row in stats.iterrows()
    }
    return quality, disagrees, {"annotators": annotator_quality, "items": len(multi_rows)}


# Near-duplicates -----------------------------------------------------------------------------
def near_duplicate_conflicts(
    X: np.ndarray,
    y: np.ndarray,
    *,
    similarity: float = DUPLICATE_SIMILARITY,
    seed: int = 0,
    limit: int = DUPLICATE_PAIRS_LIMIT,
) -> list[tuple[int, int, float]]:
    """Pairs of rows (i < j) at cosine similarity >= ``similarity`` whose labels differ, closest first.

    Similarity is the cosine of the centred vectors. Sign random projections (SimHash) of them put near-duplicates in the
    same bucket of at least one of ``LSH_TABLES`` tables with high probability (at 0.95 similarity
    two rows share all 10 bits of one table with p ≈ 0.34, of some of the 16 tables with p > 0.998); only rows
    sharing a bucket are compared, exactly. Linear in the rows, not quadratic: 100,000 in seconds.
    """
    n = len(y)
    if n < 2:
        return []
    # Centred first: embeddings share a common direction (all-positive pixel features, MiniLM's
    # mean vector) that makes raw cosines of unrelated items high.
    V = unit_rows(np.asarray(X, np.float32))
    V = unit_rows(V - V.mean(axis=0))
    centred = V
    rng = np.random.default_rng(seed)
    found: dict[tuple[int, int], float] = {}
    weights = 1 << np.arange(LSH_BITS)
    for _ in range(LSH_TABLES):
        planes = rng.standard_normal((V.shape[1], LSH_BITS)).astype(np.float32)
        codes = ((centred @ planes) > 0).astype(np.int64) @ weights
        order = np.argsort(codes, kind="stable")
        bounds = np.flatnonzero(np.diff(codes[order])) + 1
        for bucket in np.split(order, bounds):
            if len(bucket) < 2 or len(np.unique(y[bucket])) < 2:
                continue  # one label in the bucket: no conflict possible
            sims = V[bucket] @ V[bucket].T
            i, j = np.nonzero(np.triu(sims >= similarity, k=1))
            for a, b in zip(bucket[i], bucket[j], strict=True):
                if y[a] != y[b]:
                    key = (int(min(a, b)), int(max(a, b)))
                    found[key] = float(V[a] @ V[b])
    pairs = sorted(((a, b, s) for (a, b), s in found.items()), key=lambda p: (-p[2], p[0], p[1]))
    return pairs[:limit]


# Ranking -------------------------------------------------------------------------------------
def ranked_suspects(detection: Detection, arbiter: np.ndarray | None = None) -> np.ndarray:
    """Rows by suspicion, most suspect first: lowest label quality, cleanlab's issues before the rest
    at equal quality; gold rows never appear."""
    arbiter = np.zeros(len(detection.quality), bool) if arbiter is None else np.asarray(arbiter, bool)
    rows = np.flatnonzero(~arbiter)
    order = np.lexsort((rows, ~detection.is_issue[rows], detection.quality[rows]))
    return rows[order]


def flip_labels(y: np.ndarray, n_classes: int, rate: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``(noisy labels, flipped rows)``: ``rate`` of the rows moved to another class uniformly at random.

    The planted noise of the done-when figures and the benchmarks (fixed seeds), kept beside the
    detector so both read the same definition.
    """
    rng = np.random.default_rng(seed)
    y = np.asarray(y, np.int64)
    count = int(round(rate * len(y)))
    flipped = np.sort(rng.choice(len(y), size=count, replace=False))
    noisy = y.copy()
    shift = rng.integers(1, n_classes, size=count)
    noisy[flipped] = (y[flipped] + shift) % n_classes
    return noisy, flipped


def precision_recall_at(ranking: np.ndarray, flipped: np.ndarray) -> dict:
    """Precision of the top k (k = planted flips) and recall of the flips in the top 2k."""
    k = len(flipped)
    planted = set(flipped.tolist())
    top_k = sum(1 for r in ranking[:k] if int(r) in planted)
    top_2k = sum(1 for r in ranking[: 2 * k] if int(r) in planted)
    return {
        "planted": k,
        "precision_at_k": round(top_k / k, 4) if k else None,
        "recall_at_2k": round(top_2k / k, 4) if k else None,
    }
