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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from active.errors import UnknownStrategy
from active.heads import HeadLearner

UNCERTAINTY = "least_confidence"
MARGIN = "margin"
ENTROPY = "entropy"
RANKED_BATCH = "ranked_batch"
VOTE_ENTROPY = "vote_entropy"
CONSENSUS_ENTROPY = "consensus_entropy"
RANDOM = "random"

STRATEGIES = (UNCERTAINTY, MARGIN, ENTROPY, RANKED_BATCH, VOTE_ENTROPY, CONSENSUS_ENTROPY, RANDOM)
ALIASES = {
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
    path: str  # "modal", "torch" or "random"


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
) -> Selection:
    """Select on the device from pool probabilities (a torch tensor, n × classes).

    ``votes`` (n × members, long) are needed for vote entropy; ``X_pool``/``X_training`` (tensors)
    for ranked batch.
    """

    k = min(k, proba.shape[0])
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


def select_random(pool_size: int, k: int, rng: np.random.Generator) -> Selection:
    """The baseline: k pool positions uniformly without replacement."""
    k = min(k, pool_size)
    idx = rng.choice(pool_size, size=k, replace=False) if k else np.zeros(0, np.int64)
    return Selection(np.asarray(idx, dtype=np.int64), np.zeros(k), "random")
