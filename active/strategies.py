"""Query strategies: which unlabelled items are worth a human's time next.

Two paths compute the same selection:

- the **modAL path** calls modAL-python's own measures (``classifier_uncertainty``,
  ``classifier_margin``, ``classifier_entropy``, ``vote_entropy``, ``consensus_entropy``) and its
  ranked batch-mode sampler (``uncertainty_batch_sampling``) through the sklearn-style wrappers in
  ``active/heads.py``;
- the **fast path** computes the same measures with torch on the head's device (CUDA when present)
  and takes a top-k, for pools in the millions.

Ordering is deterministic in both: higher utility first, and among equal utilities the lower pool
index first. (modAL's own ``multi_argmax`` uses ``np.argpartition``, whose choice among tied
values at the cut is unspecified; the tests check that on tie-free data modAL's ``*_sampling``
functions choose exactly our set, and that both of our paths agree exactly, ties included.)

Utilities are "higher is more informative": least confidence ``1 - max p``, margin ``-(p1 - p2)``
(modAL takes the argmin of the margin), entropy ``H(p)``; with a class-balance target every
utility is made non-negative and multiplied by ``k · Σ_c p_c · deficit_c`` so items likely to
belong to under-represented classes move up.

Three strategies go beyond modAL, because plain uncertainty is no better than random under class
imbalance and a cold start (issue 13; TypiClust, ICML 2022; cluster-margin, NeurIPS 2021):
``typicality`` (a cold start on the embeddings alone), ``balanced_margin`` (per-class quotas, the
balance target's share of the batch when one is set) and ``cluster_margin`` (uncertain, then
diverse). ``auto``, the default for new projects, is typicality for the first
``AUTO_COLD_START_LABELS`` labels, then class-balanced margin on imbalanced projects and
cluster-margin on balanced ones (:func:`resolve_auto`), and from ``EVIDENCE_MIN_LABELS`` labels on
whichever a simulation on the project's own labelled items finds best. They run in numpy /
scikit-learn on the CPU on both paths: their clustering runs on at most ``CLUSTER_SAMPLE`` pool rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from threadpoolctl import threadpool_limits

from active.errors import UnknownStrategy
from active.heads import HeadLearner

UNCERTAINTY = "least_confidence"
MARGIN = "margin"
ENTROPY = "entropy"
RANKED_BATCH = "ranked_batch"
VOTE_ENTROPY = "vote_entropy"
CONSENSUS_ENTROPY = "consensus_entropy"
RANDOM = "random"
TYPICALITY = "typicality"
BALANCED_MARGIN = "balanced_margin"
CLUSTER_MARGIN = "cluster_margin"
AUTO = "auto"

STRATEGIES = (
    AUTO,
    TYPICALITY,
    BALANCED_MARGIN,
    CLUSTER_MARGIN,
    UNCERTAINTY,
    MARGIN,
    ENTROPY,
    RANKED_BATCH,
    VOTE_ENTROPY,
    CONSENSUS_ENTROPY,
    RANDOM,
)
#: Strategies that need the pool's vectors, not only its probabilities.
VECTOR_STRATEGIES = (AUTO, TYPICALITY, CLUSTER_MARGIN)
#: Strategies that can select with no head at all (a cold start).
COLD_START_STRATEGIES = (AUTO, TYPICALITY)
#: ``auto``'s typicality cold start covers the first batch (20 labels), then a head decides. Measured
#: with bench/al_simulate.py, 5 seeds, labels to reach random's 500-label accuracy: a 100-label cold
#: start needed 240 (digits) and 272 (imbalanced WordNet), 40 labels 180 on digits, 20 labels 156 and
#: 256: on both data sets the head's uncertainty pays from the first batch on.
AUTO_COLD_START_LABELS = 20
#: From this many labels on, ``auto`` runs the strategy a simulation on the project's own labelled
#: items chose (``active.simulation.strategy_evidence``).
EVIDENCE_MIN_LABELS = 200
#: ``auto`` after its cold start treats a project as imbalanced when its largest class is more than
#: this many times its smallest, by the labels so far or by the head's mean predicted share over the
#: pool. Calibrated after a 100-label typicality cold start: digits at most 2.2 (labels) and 1.25
#: (shares); the imbalanced WordNet subset (natural ratio 11) 10–28 (labels) and 2.2–6.4 (shares).
IMBALANCE_RATIO = 4.0
#: k-means runs on at most this many pool rows (a uniform sample of larger pools); beyond
#: ``MINIBATCH_FROM`` rows it is MiniBatchKMeans.
CLUSTER_SAMPLE = 20000
MINIBATCH_FROM = 5000
TYPICALITY_NEIGHBOURS = 20
CLUSTER_MARGIN_CANDIDATES = 10  # × the batch: the uncertain candidates cluster-margin diversifies
#: How cluster-margin can group its candidates: ``"kmeans"`` (k-means on the candidates each round,
#: what rounds do) or ``"pool_hac"`` (the paper's form: the whole pool clustered once by
#: average-linkage HAC into ``POOL_HAC_MEAN_SIZE``-item clusters on average, on at most
#: ``POOL_HAC_SAMPLE`` rows, the rest assigned to the nearest cluster mean). The simulation's
#: ``cluster_margin`` choice (issue 13's comparison; pool HAC lost there).
CLUSTER_MARGIN_GROUPINGS = ("kmeans", "pool_hac")
POOL_HAC_SAMPLE = 5000
POOL_HAC_MEAN_SIZE = 10
ALIASES = {
    "default": AUTO,
    "typiclust": TYPICALITY,
    "cold_start": TYPICALITY,
    "class_balanced_margin": BALANCED_MARGIN,
    "uncertainty": UNCERTAINTY,
    "least-confidence": UNCERTAINTY,
    "qbc": VOTE_ENTROPY,
    "batch": RANKED_BATCH,
}
COMMITTEE_STRATEGIES = (VOTE_ENTROPY, CONSENSUS_ENTROPY)
# Pools up to this size go through modAL itself; larger ones take the torch fast path.
MODAL_POOL_LIMIT = 50000


def normalise_strategy(name: str, *, field: str = "strategy") -> str:
    """The canonical strategy name, or :class:`UnknownStrategy` naming the value, the valid ones and
    ``field`` (where the name came from: a form's ``strategy``, the project's ``al_strategy``)."""
    key = (name or "").strip().lower().replace(" ", "_")
    key = ALIASES.get(key, key)
    if key not in STRATEGIES:
        raise UnknownStrategy(f"{field}: {name!r} is not one of {', '.join(STRATEGIES)}", field=field)
    return key


@dataclass
class Selection:
    indices: np.ndarray  # positions in the pool, most informative first
    utilities: np.ndarray  # the (reweighted) utility of each selected position
    path: str  # "modal", "torch", "numpy" (the strategies beyond modAL) or "random"


# Deterministic ordering ---------------------------------------------------------------------
def top_k_numpy(utility: np.ndarray, k: int) -> np.ndarray:
    """Positions of the k highest utilities, ordered by (utility desc, position asc)."""
    k = min(k, len(utility))
    order = np.lexsort((np.arange(len(utility)), -utility))
    return order[:k]


def top_k_torch(utility, k: int):
    """Same order as ``top_k_numpy`` for a torch vector, without sorting the whole pool.

    ``topk`` finds the k-th value; everything strictly above it is in, and the lowest positions
    among those equal to it fill the rest. Only the k winners are then sorted.
    """
    import torch  # heavy: keeps torch out of web processes

    n = utility.shape[0]
    k = min(k, n)
    if k == 0:
        return torch.zeros(0, dtype=torch.long, device=utility.device)
    threshold = torch.topk(utility, k, sorted=False).values.min()
    above = torch.nonzero(utility > threshold, as_tuple=True)[0]
    tied = torch.nonzero(utility == threshold, as_tuple=True)[0][: k - above.numel()]
    chosen = torch.sort(torch.cat([above, tied])).values  # by position
    order = torch.sort(
        utility[chosen], descending=True, stable=True
    ).indices  # stable keeps position order on ties
    return chosen[order]


# Utilities ----------------------------------------------------------------------------------
def balance_weights_numpy(proba: np.ndarray, deficit: np.ndarray) -> np.ndarray:
    return proba.shape[1] * (proba @ deficit)


def utility_modal(strategy: str, model, X: np.ndarray) -> np.ndarray:
    """The strategy's utility per pool row, computed by modAL's own measure functions."""
    # heavy: modAL loads scikit-learn
    from modAL.disagreement import consensus_entropy, vote_entropy
    from modAL.uncertainty import (
        classifier_entropy,
        classifier_margin,
        classifier_uncertainty,
    )  # heavy: modAL loads scikit-learn

    if strategy == UNCERTAINTY:
        return classifier_uncertainty(model, X)
    if strategy == MARGIN:
        return -classifier_margin(model, X)
    if strategy == ENTROPY:
        return classifier_entropy(model, X)
    if strategy == VOTE_ENTROPY:
        return vote_entropy(model, X)
    if strategy == CONSENSUS_ENTROPY:
        return consensus_entropy(model, X)
    raise ValueError(f"strategy: {strategy!r} has no per-item utility")


def utility_torch(strategy: str, proba, votes=None):
    """The same utilities from probabilities (n × k) — or, for vote entropy, committee votes (n × m)."""
    import torch  # heavy: keeps torch out of web processes

    if strategy == UNCERTAINTY:
        return 1 - proba.max(dim=1).values
    if strategy == MARGIN:
        if proba.shape[1] == 1:
            return torch.zeros(proba.shape[0], dtype=proba.dtype, device=proba.device)
        top2 = torch.topk(proba, 2, dim=1).values
        return -(top2[:, 0] - top2[:, 1])
    if strategy in (ENTROPY, CONSENSUS_ENTROPY):
        p = proba / proba.sum(dim=1, keepdim=True)
        return torch.special.entr(p).sum(dim=1)
    if strategy == VOTE_ENTROPY:
        n_members = votes.shape[1]
        counts = torch.zeros(votes.shape[0], proba.shape[1], dtype=proba.dtype, device=proba.device)
        counts.scatter_add_(1, votes, torch.ones_like(votes, dtype=proba.dtype))
        return torch.special.entr(counts / n_members).sum(dim=1)
    raise ValueError(f"strategy: {strategy!r} has no per-item utility")


# Selection ----------------------------------------------------------------------------------
def select_modal(
    strategy: str,
    model,
    X_pool: np.ndarray,
    k: int,
    *,
    X_training: np.ndarray | None = None,
    deficit: np.ndarray | None = None,
) -> Selection:
    """Select through modAL. ``model`` is a ``TorchHeadClassifier`` or, for committee strategies, a ``HeadCommittee``."""
    from modAL.batch import uncertainty_batch_sampling  # heavy: modAL loads scikit-learn

    k = min(k, len(X_pool))
    if strategy in BEYOND_MODAL:
        n_labelled = 0 if X_training is None else len(X_training)
        return select_beyond_modal(
            strategy,
            model.predict_proba(X_pool),
            X_pool,
            k,
            n_labelled=n_labelled,
            class_counts=getattr(model, "class_counts_", None),
            deficit=deficit,
        )
    if strategy == RANKED_BATCH:
        if X_training is None or len(X_training) == 0:
            raise ValueError("ranked batch needs the labelled vectors (X_training)")
        learner = HeadLearner(model, np.asarray(X_training, dtype=np.float64))
        X = np.asarray(X_pool, dtype=np.float64)
        if deficit is not None:
            # modAL's ranked batch reads uncertainty from predict_proba; fold the balance weight in by
            # ranking with reweighted uncertainty through modAL's own ranked_batch.
            from modAL.batch import ranked_batch  # heavy: modAL loads scikit-learn
            from modAL.uncertainty import classifier_uncertainty  # heavy: modAL loads scikit-learn

            proba = model.predict_proba(X)
            weighted = classifier_uncertainty(model, X) * balance_weights_numpy(proba, deficit)
            idx, util = ranked_batch(
                learner,
                unlabeled=X,
                uncertainty_scores=weighted,
                n_instances=k,
                metric="euclidean",
                n_jobs=None,
            )
        else:
            idx, util = uncertainty_batch_sampling(learner, X, n_instances=k)
        return Selection(np.asarray(idx, dtype=np.int64), np.asarray(util, dtype=np.float64), "modal")
    utility = utility_modal(strategy, model, X_pool)
    if deficit is not None:
        utility = _non_negative(strategy, utility) * balance_weights_numpy(
            model.predict_proba(X_pool), deficit
        )
    idx = top_k_numpy(utility, k)
    return Selection(idx, utility[idx], "modal")


def _non_negative(strategy: str, utility):
    # Margin utility is -(p1 - p2) ∈ [-1, 0]; shift it so a multiplicative weight keeps the order sensible.
    return 1 + utility if strategy == MARGIN else utility


def select_torch(
    strategy: str,
    proba,
    k: int,
    *,
    votes=None,
    X_pool=None,
    X_training=None,
    deficit=None,
    class_counts=None,
) -> Selection:
    """Select on the device from pool probabilities (a torch tensor, n × classes).

    ``votes`` (n × members, long) are needed for vote entropy; ``X_pool``/``X_training`` (tensors)
    for ranked batch, ``X_pool`` for the vector strategies; ``class_counts`` (labels per class) for
    class-balanced margin without a balance target (without them its quotas are even).
    """

    k = min(k, proba.shape[0])
    if strategy in BEYOND_MODAL:
        if strategy in VECTOR_STRATEGIES and X_pool is None:
            raise ValueError(f"{strategy} needs the pool's vectors (X_pool)")
        return select_beyond_modal(
            strategy,
            proba.float().cpu().numpy(),
            None if X_pool is None else X_pool.float().cpu().numpy(),
            k,
            n_labelled=0 if X_training is None else X_training.shape[0],
            class_counts=class_counts,
            deficit=None if deficit is None else deficit.cpu().numpy(),
        )
    if strategy == RANKED_BATCH:
        utility = 1 - proba.max(dim=1).values
        if deficit is not None:
            utility = utility * proba.shape[1] * (proba @ deficit.to(proba))
        idx = ranked_batch_torch(X_pool, X_training, utility, k)
        return Selection(idx.cpu().numpy(), utility[idx].cpu().numpy(), "torch")
    utility = utility_torch(strategy, proba, votes)
    if deficit is not None:
        utility = _non_negative(strategy, utility) * proba.shape[1] * (proba @ deficit.to(proba))
    idx = top_k_torch(utility, k)
    return Selection(idx.cpu().numpy(), utility[idx].cpu().numpy(), "torch")


def ranked_batch_torch(X_pool, X_training, uncertainty, k: int, chunk: int = 65536):
    """Cardoso et al.'s ranked batch, exactly as modAL's ``ranked_batch`` scores it, on the device.

    modAL recomputes each pool row's distance to the nearest labelled-or-already-chosen row on
    every step; keeping a running minimum and folding in only the newly chosen row gives the same
    numbers in O(k · n · d) instead of O(k · n · (m + k) · d).
    """
    import torch  # heavy: keeps torch out of web processes

    n = X_pool.shape[0]
    m = X_training.shape[0]
    nearest = torch.full((n,), float("inf"), dtype=X_pool.dtype, device=X_pool.device)
    for start in range(0, m, 1024):
        block = X_training[start : start + 1024]
        for s in range(0, n, chunk):
            d = torch.cdist(X_pool[s : s + chunk], block).min(dim=1).values
            nearest[s : s + chunk] = torch.minimum(nearest[s : s + chunk], d)
    available = torch.ones(n, dtype=torch.bool, device=X_pool.device)
    chosen = []
    for j in range(min(k, n)):
        alpha = (n - j) / ((n - j) + (m + j))
        similarity = 1 / (1 + nearest)
        scores = alpha * (1 - similarity) + (1 - alpha) * uncertainty
        scores = torch.where(available, scores, torch.full_like(scores, -float("inf")))
        best = int(torch.argmax(scores))
        chosen.append(best)
        available[best] = False
        d = torch.cdist(X_pool, X_pool[best : best + 1]).squeeze(1)
        nearest = torch.minimum(nearest, d)
    return torch.tensor(chosen, dtype=torch.long, device=X_pool.device)


def chooses_actively(strategy: str) -> bool:
    """Whether ``strategy``'s labels are chosen by the model (every strategy but ``random``): the
    head choice treats such labels differently (``heads.KERNEL_ACTIVE_FROM``)."""
    return strategy != RANDOM


def select_random(pool_size: int, k: int, rng: np.random.Generator) -> Selection:
    """The baseline: k pool positions uniformly without replacement."""
    k = min(k, pool_size)
    idx = rng.choice(pool_size, size=k, replace=False) if k else np.zeros(0, np.int64)
    return Selection(np.asarray(idx, dtype=np.int64), np.zeros(k), "random")


# Strategies beyond modAL --------------------------------------------------------------------
BEYOND_MODAL = (AUTO, TYPICALITY, BALANCED_MARGIN, CLUSTER_MARGIN)


def is_imbalanced(proba: np.ndarray, class_counts: np.ndarray | None = None) -> bool:
    """Whether the classes look imbalanced: the largest is more than ``IMBALANCE_RATIO`` times the
    smallest, by the labels so far (``class_counts``; a class with none counts as tiny) or by the
    head's mean predicted share over the pool. Both, because each misleads alone: a typicality cold
    start does not draw labels in proportion, and a head with balanced class weights inflates the
    rare classes' predicted shares."""
    shares = np.asarray(proba, np.float64).mean(axis=0)
    if shares.max() > IMBALANCE_RATIO * shares.min():
        return True
    if class_counts is None or len(class_counts) < 2:
        return False
    counts = np.asarray(class_counts, np.float64)
    return bool(counts.max() > IMBALANCE_RATIO * counts.min())


def resolve_auto(
    proba: np.ndarray | None,
    n_labelled: int,
    *,
    class_counts: np.ndarray | None = None,
    deficit: np.ndarray | None = None,
    evidence: str | None = None,
) -> str:
    """What ``auto`` runs: typicality for a cold start (no head, or fewer than ``AUTO_COLD_START_LABELS``
    labels); then the strategy the project's own simulation chose (``evidence``) when there is one;
    else class-balanced margin for a project with a balance target or an imbalanced pool
    (:func:`is_imbalanced`) and cluster-margin for a balanced one (issue 13: balanced margin won on
    imbalanced text, cluster-margin on digits)."""
    if proba is None or n_labelled < AUTO_COLD_START_LABELS:
        return TYPICALITY
    if evidence is not None:
        return evidence
    if deficit is not None or is_imbalanced(proba, class_counts):
        return BALANCED_MARGIN
    return CLUSTER_MARGIN


def select_beyond_modal(
    strategy: str,
    proba: np.ndarray | None,
    X_pool: np.ndarray | None,
    k: int,
    *,
    n_labelled: int = 0,
    class_counts: np.ndarray | None = None,
    deficit: np.ndarray | None = None,
    seed: int = 0,
    evidence: str | None = None,
    clusters: np.ndarray | None = None,
) -> Selection:
    """Dispatch ``auto``, ``typicality``, ``balanced_margin`` and ``cluster_margin`` (numpy in, numpy out).

    ``proba`` may be None for the cold-start strategies (no head yet); ``auto`` is what
    :func:`resolve_auto` says (``evidence``: the strategy the project's own simulation chose).
    ``clusters``: a precomputed cluster per pool row (:func:`pool_clusters`) for cluster-margin.
    """
    if strategy == AUTO:
        strategy = resolve_auto(
            proba, n_labelled, class_counts=class_counts, deficit=deficit, evidence=evidence
        )
    if strategy == TYPICALITY:
        return select_typical(X_pool, k, n_labelled=n_labelled, seed=seed)
    if proba is None:
        raise ValueError(f"{strategy} needs the head's probabilities over the pool")
    if strategy == BALANCED_MARGIN:
        return select_balanced_margin(proba, k, class_counts=class_counts, deficit=deficit)
    if strategy == CLUSTER_MARGIN:
        return select_cluster_margin(proba, X_pool, k, seed=seed, clusters=clusters)
    raise ValueError(f"strategy: {strategy!r} is not one of {', '.join(BEYOND_MODAL)}")


def margin_utility(proba: np.ndarray) -> np.ndarray:
    """``-(p1 - p2)`` per row: higher is more uncertain (0 = a tie between the top two classes)."""
    if proba.shape[1] < 2:
        return np.zeros(len(proba))
    top2 = -np.partition(-proba, 1, axis=1)[:, :2]
    return -(top2[:, 0] - top2[:, 1])


def kmeans_labels(X: np.ndarray, n_clusters: int, seed: int) -> np.ndarray:
    """Cluster of each row: exact k-means (k-means++) up to ``MINIBATCH_FROM`` rows, MiniBatchKMeans beyond."""
    from sklearn.cluster import KMeans, MiniBatchKMeans  # heavy: scikit-learn stays out of web processes

    n_clusters = max(1, min(n_clusters, len(X)))
    if n_clusters == 1:
        return np.zeros(len(X), np.int64)
    X = np.asarray(X, dtype=np.float32)
    with threadpool_limits(1 if X.size < 2_000_000 else None):
        if len(X) <= MINIBATCH_FROM:
            model = KMeans(n_clusters=n_clusters, n_init=1, random_state=seed)
        else:
            model = MiniBatchKMeans(n_clusters=n_clusters, n_init=1, batch_size=2048, random_state=seed)
        return model.fit_predict(X).astype(np.int64)


def pool_sample(n: int, seed: int, size: int = CLUSTER_SAMPLE) -> np.ndarray:
    """All positions of a pool up to ``size`` (``CLUSTER_SAMPLE``), else a uniform sample of that many (sorted)."""
    if n <= size:
        return np.arange(n)
    return np.sort(np.random.default_rng(seed).choice(n, size=size, replace=False))


def select_typical(X_pool: np.ndarray, k: int, *, n_labelled: int = 0, seed: int = 0) -> Selection:
    """TypiClust (Hacohen et al., ICML 2022): the most typical item of each of the largest clusters.

    k-means with ``n_labelled + k`` clusters over the pool (a uniform ``CLUSTER_SAMPLE`` of larger
    pools, MiniBatchKMeans beyond ``MINIBATCH_FROM`` rows), so each new label lands in a dense
    region the labelled set is unlikely to cover yet. Clusters are taken largest first, one item
    each; an item's typicality is the inverse of its mean distance to its ``TYPICALITY_NEIGHBOURS``
    nearest neighbours in its cluster. Needs no head: it is the cold start. (The paper also skips
    clusters already holding labels; the labelled rows are not in this pool, and clusters sized by
    unlabelled items alone serve the same end.)
    """
    n = len(X_pool)
    k = min(k, n)
    if k == 0:
        return Selection(np.zeros(0, np.int64), np.zeros(0), "numpy")
    rows = pool_sample(n, seed)
    X = np.asarray(X_pool[rows], dtype=np.float32)
    cluster = kmeans_labels(X, n_labelled + k, seed)
    sizes = np.bincount(cluster)
    by_size = np.lexsort((np.arange(len(sizes)), -sizes))  # largest first, then by cluster number
    picked, utilities = [], []
    queues = {c: typicality_order(X[cluster == c], np.nonzero(cluster == c)[0]) for c in by_size[:k]}
    while len(picked) < min(k, len(rows)):
        for c in by_size:  # round-robin only when the pool has fewer clusters than k
            if c not in queues:
                queues[c] = typicality_order(X[cluster == c], np.nonzero(cluster == c)[0])
            if queues[c]:
                position, typicality = queues[c].pop(0)
                picked.append(rows[position])
                utilities.append(typicality)
                if len(picked) == k:
                    break
    return Selection(np.asarray(picked, np.int64), np.asarray(utilities), "numpy")


def typicality_order(X: np.ndarray, positions: np.ndarray) -> list[tuple[int, float]]:
    """``(position, typicality)`` of a cluster's rows, most typical first (ties: lower position)."""
    if len(X) == 1:
        return [(int(positions[0]), 1.0)]
    neighbours = min(TYPICALITY_NEIGHBOURS, len(X) - 1)
    # A huge cluster measures its rows' neighbours among a fixed sample of 2,000 of them.
    reference = X if len(X) <= 2000 else X[np.linspace(0, len(X) - 1, 2000).astype(int)]
    distances = euclidean(X, reference)
    nearest = np.sort(distances, axis=1)[:, 1 : neighbours + 1]
    typicality = 1 / (nearest.mean(axis=1) + 1e-12)
    order = np.lexsort((positions, -typicality))
    return [(int(positions[i]), float(typicality[i])) for i in order]


def euclidean(A: np.ndarray, B: np.ndarray) -> np.ndarray:
    """Pairwise distances ``|a - b|`` (rows of A × rows of B) through dot products."""
    squared = (A * A).sum(1)[:, None] + (B * B).sum(1)[None, :] - 2 * (A @ B.T)
    return np.sqrt(np.maximum(squared, 0))


def balanced_quotas(k: int, weights: np.ndarray, available: np.ndarray) -> np.ndarray:
    """Split ``k`` slots over classes in proportion to ``weights``, at most ``available[c]`` each.

    Largest remainders round the shares (ties to the lower class); slots a class cannot use
    (too few items predicted as it) go to the others, again by weight.
    """
    quotas = np.zeros(len(weights), np.int64)
    weights = np.where(available > 0, np.asarray(weights, np.float64), 0.0)
    left = min(k, int(available.sum()))
    while left > 0:
        open_ = (quotas < available) & (weights > 0)
        if not open_.any():
            open_ = quotas < available  # weights exhausted: fill from any class with items left
            weights = open_.astype(np.float64)
        share = np.where(open_, weights, 0) / np.where(open_, weights, 0).sum() * left
        add = np.floor(share).astype(np.int64)
        remainder = left - int(add.sum())
        if remainder:
            order = np.lexsort((np.arange(len(share)), -(share - add)))
            add[order[:remainder]] += 1
        add = np.minimum(add, available - quotas)
        quotas += add
        left -= int(add.sum())
    return quotas


def select_balanced_margin(
    proba: np.ndarray,
    k: int,
    *,
    class_counts: np.ndarray | None = None,
    deficit: np.ndarray | None = None,
) -> Selection:
    """Class-balanced margin: per-class quotas, smallest-margin items within each predicted class.

    Quotas come from the balance target when the project sets one (``deficit``: each class's share
    of what the labelled set lacks), else from the labels so far — class c's weight is
    ``1 / (1 + labels of c)``, so classes with fewer labels get more slots; without counts the
    quotas are even. Items are grouped by the head's predicted class. Issue 13 measured quotas
    doing better than reweighting the scores by the deficit, for accuracy and rare-class recall.
    """
    n, n_classes = proba.shape
    k = min(k, n)
    utility = margin_utility(proba)
    predicted = proba.argmax(axis=1)
    if deficit is not None:
        weights = np.asarray(deficit, np.float64)
    elif class_counts is not None:
        weights = 1.0 / (1.0 + np.asarray(class_counts, np.float64))
    else:
        weights = np.ones(n_classes)
    quotas = balanced_quotas(k, weights, np.bincount(predicted, minlength=n_classes))
    chosen = []
    for c in range(n_classes):
        members = np.nonzero(predicted == c)[0]
        chosen.append(members[top_k_numpy(utility[members], int(quotas[c]))])
    chosen = np.concatenate(chosen) if chosen else np.zeros(0, np.int64)
    order = np.lexsort((chosen, -utility[chosen]))
    return Selection(chosen[order].astype(np.int64), utility[chosen[order]], "numpy")


def pool_clusters(
    X: np.ndarray, *, seed: int = 0, mean_size: int | None = None, sample: int | None = None
) -> np.ndarray:
    """Cluster of each pool row by average-linkage agglomerative clustering (cluster-margin's HAC).

    ``len(X) / mean_size`` clusters (``POOL_HAC_MEAN_SIZE`` by default). Pools above ``sample``
    rows (``POOL_HAC_SAMPLE``) are clustered on a uniform sample of that many; every other row
    joins the cluster whose mean is nearest.
    """
    from sklearn.cluster import AgglomerativeClustering  # heavy: scikit-learn stays out of web processes

    mean_size = POOL_HAC_MEAN_SIZE if mean_size is None else mean_size
    sample = POOL_HAC_SAMPLE if sample is None else sample
    X = np.asarray(X, dtype=np.float32)
    n = len(X)
    if n < 2:
        return np.zeros(n, np.int64)
    rows = pool_sample(n, seed, sample)
    n_clusters = max(1, min(len(rows), round(len(rows) / mean_size)))
    if n_clusters == 1:
        return np.zeros(n, np.int64)
    sampled = X[rows]
    with threadpool_limits(1):
        fitted = AgglomerativeClustering(n_clusters=n_clusters, linkage="average").fit_predict(sampled)
    if len(rows) == n:
        return fitted.astype(np.int64)
    sums = np.zeros((n_clusters, X.shape[1]), np.float64)
    np.add.at(sums, fitted, sampled)
    means = (sums / np.bincount(fitted, minlength=n_clusters)[:, None]).astype(np.float32)
    out = np.empty(n, np.int64)
    for start in range(0, n, 8192):
        out[start : start + 8192] = euclidean(X[start : start + 8192], means).argmin(axis=1)
    out[rows] = fitted
    return out


def select_cluster_margin(
    proba: np.ndarray,
    X_pool: np.ndarray,
    k: int,
    *,
    seed: int = 0,
    factor: int = CLUSTER_MARGIN_CANDIDATES,
    clusters: np.ndarray | None = None,
) -> Selection:
    """Cluster-margin (Citovsky et al., NeurIPS 2021): the ``factor · k`` smallest-margin candidates,
    grouped by cluster, then taken round-robin, smallest group first and the smallest margin first
    within each, so one batch does not spend itself on one confusable region.

    The groups are the pool's precomputed ``clusters`` (the paper's form: HAC over the whole pool
    once, :func:`pool_clusters`) when given, else k-means on the candidates into k groups (exact up
    to ``MINIBATCH_FROM`` candidates, MiniBatchKMeans beyond). A group's size is its number of
    candidates.
    """
    n = len(proba)
    k = min(k, n)
    if k == 0:
        return Selection(np.zeros(0, np.int64), np.zeros(0), "numpy")
    utility = margin_utility(proba)
    candidates = top_k_numpy(utility, min(n, max(k, factor * k)))
    if clusters is not None:
        _, cluster = np.unique(np.asarray(clusters)[candidates], return_inverse=True)
    else:
        cluster = kmeans_labels(np.asarray(X_pool[candidates], np.float32), k, seed)
    sizes = np.bincount(cluster)
    queues = [list(candidates[cluster == c]) for c in np.lexsort((np.arange(len(sizes)), sizes))]
    picked: list[int] = []
    while len(picked) < k:
        for queue in queues:  # candidates are in utility order, so each queue is too
            if queue and len(picked) < k:
                picked.append(int(queue.pop(0)))
    picked_arr = np.asarray(picked, np.int64)
    return Selection(picked_arr, utility[picked_arr], "numpy")
