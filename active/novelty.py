"""Novelty: how far a vector lies from the labelled (training) set, on the training set's own scale.

A query's novelty is its mean cosine distance to its ``k`` nearest reference vectors. Alone that
number means little (a text backbone and pixel features live on different scales), so it is also
given as a percentile of the reference set's own k-NN distances (each reference vector against the
others, leaving itself out): 0.99 means "farther from the labelled data than 99 % of the labelled
data is from the rest of it".

Up to :data:`EXACT_MAX` reference vectors the search is brute force on the device, in chunks, and
exact. Past it the reference goes into an inverted-file index (:class:`InvertedLists`): spherical
k-means centroids (Lloyd iterations in torch on a sample, so CUDA when present), every vector
filed under its nearest centroid, and a query compared only with the vectors of its
``n_probe`` nearest centroids' lists — at a million vectors about 3 % of them. Its k-NN distances
can only be too large (a true neighbour in a list not probed is missed), and the percentile scale
is measured by the same index, so the percentiles keep their meaning; tests bound the agreement
with the exact search.
"""

from __future__ import annotations

import math

import numpy as np

#: Neighbours averaged: one neighbour is noisy (a single near-duplicate hides novelty), many blur it.
DEFAULT_K = 5
#: Reference vectors whose own distances make the percentile scale (a sample: the scale is a
#: distribution, and 5,000 points pin its upper percentiles to within a fraction of a percent).
SCALE_SAMPLE = 5_000
QUERY_CHUNK = 1024
REFERENCE_CHUNK = 262_144
#: Reference vectors searched exactly; past this the inverted-file index answers.
EXACT_MAX = 100_000
#: Lists probed per query: at a million vectors in 1,000 lists, 32 lists hold the true 5 nearest
#: neighbours of clustered data almost always (see the tests' recall bound).
N_PROBE = 32
KMEANS_ITERATIONS = 10
KMEANS_SAMPLE_PER_LIST = 32
#: Queries probed together: their (query, list) pairs are grouped by list, one product per list.
IVF_QUERY_CHUNK = 8192


def unit(X: np.ndarray) -> np.ndarray:
    X = np.asarray(X, dtype=np.float32)
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.maximum(norms, 1e-12)


class NoveltyScorer:
    """k-NN cosine distance to ``reference`` vectors and its percentile among their own distances."""

    def __init__(
        self,
        reference: np.ndarray,
        *,
        k: int = DEFAULT_K,
        device: str = "cpu",
        seed: int = 0,
        scale_sample: int = SCALE_SAMPLE,
        exact_max: int = EXACT_MAX,
        n_lists: int | None = None,
        n_probe: int = N_PROBE,
    ):
        import torch  # heavy: novelty runs in workers only

        if len(reference) < 2:
            raise ValueError("novelty needs at least two reference vectors")
        self.torch = torch
        self.device = device
        self.k = max(1, min(k, len(reference) - 1))
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        vectors = torch.from_numpy(unit(reference)).to(device=device, dtype=dtype)
        self.index = None
        if len(reference) > exact_max:
            self.index = InvertedLists(vectors, n_lists=n_lists, n_probe=n_probe, seed=seed)
            vectors = None  # the index holds them, in list order
        self.reference = vectors
        rng = np.random.default_rng(seed)
        sample = rng.choice(len(reference), size=min(scale_sample, len(reference)), replace=False)
        # Each sampled reference vector's nearest neighbour is itself (distance 0): ask for k + 1, drop it.
        own = self._knn(unit(reference[np.sort(sample)]), self.k + 1)[:, 1:]
        self.scale = np.sort(own.mean(axis=1))

    def _knn(self, queries: np.ndarray, k: int) -> np.ndarray:
        """Sorted cosine distances of each query to its ``k`` nearest reference vectors."""
        if self.index is not None:
            return self.index.knn(queries, k)
        torch = self.torch
        out = np.empty((len(queries), k), np.float32)
        with torch.inference_mode():
            for start in range(0, len(queries), QUERY_CHUNK):
                q = torch.from_numpy(queries[start : start + QUERY_CHUNK]).to(
                    self.device, self.reference.dtype
                )
                best = None
                for ref_start in range(0, len(self.reference), REFERENCE_CHUNK):
                    sims = q @ self.reference[ref_start : ref_start + REFERENCE_CHUNK].T
                    top = sims.float().topk(min(k, sims.shape[1]), dim=1).values
                    best = top if best is None else torch.cat([best, top], dim=1).topk(k, dim=1).values
                out[start : start + len(q)] = (1.0 - best).clamp(min=0).cpu().numpy()
        return out

    def distances(self, queries: np.ndarray) -> np.ndarray:
        """Mean cosine distance of each query to its k nearest reference vectors."""
        if len(queries) == 0:
            return np.zeros(0, np.float32)
        return self._knn(unit(queries), self.k).mean(axis=1)

    def percentiles(self, distances: np.ndarray) -> np.ndarray:
        """Share (0–1) of the reference set's own k-NN distances below each distance."""
        return np.searchsorted(self.scale, distances, side="left") / len(self.scale)

    def score(self, queries: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self.distances(queries)
        return d, self.percentiles(d)


class InvertedLists:
    """An inverted-file index of unit vectors (a torch tensor on its device) for cosine k-NN.

    ``n_lists`` defaults to the square root of the vector count (a query then costs about
    ``n_probe`` lists of ``sqrt(n)`` vectors plus the ``sqrt(n)`` centroids).
    """

    def __init__(self, vectors, *, n_lists: int | None = None, n_probe: int = N_PROBE, seed: int = 0):
        import torch  # heavy: novelty runs in workers only

        self.torch = torch
        n = len(vectors)
        self.n_lists = max(1, min(n, n_lists or round(math.sqrt(n))))
        self.n_probe = max(1, min(n_probe, self.n_lists))
        self.centroids = self._kmeans(vectors, seed)
        assignment = torch.empty(n, dtype=torch.int64, device=vectors.device)
        with torch.inference_mode():
            for start in range(0, n, REFERENCE_CHUNK):
                chunk = vectors[start : start + REFERENCE_CHUNK]
                assignment[start : start + len(chunk)] = (chunk @ self.centroids.T).float().argmax(dim=1)
            order = torch.argsort(assignment, stable=True)
            self.vectors = vectors[order]
            sizes = torch.bincount(assignment, minlength=self.n_lists)
        self.offsets = np.concatenate([[0], np.cumsum(sizes.cpu().numpy())]).astype(np.int64)

    def _kmeans(self, vectors, seed: int):
        """Spherical k-means (Lloyd) on a sample: unit centroids, an empty list re-seeded at random."""
        torch = self.torch
        rng = np.random.default_rng(seed)
        n = len(vectors)
        sample_size = min(n, self.n_lists * KMEANS_SAMPLE_PER_LIST)
        sample = vectors[
            torch.from_numpy(np.sort(rng.choice(n, sample_size, replace=False))).to(vectors.device)
        ]
        sample = sample.float()
        centroids = sample[
            torch.from_numpy(rng.choice(sample_size, self.n_lists, replace=False)).to(sample.device)
        ]
        with torch.inference_mode():
            for _ in range(KMEANS_ITERATIONS):
                nearest = (sample @ centroids.T).argmax(dim=1)
                sums = torch.zeros_like(centroids).index_add_(0, nearest, sample)
                empty = torch.bincount(nearest, minlength=self.n_lists) == 0
                if empty.any():
                    refill = rng.choice(sample_size, int(empty.sum()), replace=False)
                    sums[empty] = sample[torch.from_numpy(refill).to(sample.device)]
                centroids = sums / sums.norm(dim=1, keepdim=True).clamp(min=1e-12)
        return centroids.to(vectors.dtype)

    def knn(self, queries: np.ndarray, k: int) -> np.ndarray:
        """Sorted cosine distances of each (unit) query to its ``k`` nearest vectors in the probed lists."""
        out = np.empty((len(queries), k), np.float32)
        for start in range(0, len(queries), IVF_QUERY_CHUNK):
            chunk = queries[start : start + IVF_QUERY_CHUNK]
            out[start : start + len(chunk)] = self._knn_chunk(chunk, k)
        return out

    def _knn_chunk(self, queries: np.ndarray, k: int) -> np.ndarray:
        torch = self.torch
        with torch.inference_mode():
            q = torch.from_numpy(queries).to(self.vectors.device, self.vectors.dtype)
            probes = (q @ self.centroids.T).float().topk(self.n_probe, dim=1).indices.cpu().numpy()
            # Each (query, probe) pair keeps the k best similarities of its list; -1 (distance 2, the largest) pads short lists.
            best = torch.full((probes.size, k), -1.0, device=q.device)
            flat = probes.ravel()
            order = np.argsort(flat, kind="stable")
            bounds = np.searchsorted(flat[order], np.arange(self.n_lists + 1))
            pair_query = torch.from_numpy(order // self.n_probe).to(q.device)
            pair_slot = torch.from_numpy(order).to(q.device)
            for lst in np.flatnonzero(np.diff(bounds)):
                lo, hi = self.offsets[lst], self.offsets[lst + 1]
                if hi == lo:
                    continue
                pairs = pair_slot[bounds[lst] : bounds[lst + 1]]
                # index_select: a tensor index (q[rows]) takes a slow path on CPU
                sims = q.index_select(0, pair_query[bounds[lst] : bounds[lst + 1]]) @ self.vectors[lo:hi].T
                top = sims.float().topk(min(k, hi - lo), dim=1).values
                best[pairs, : top.shape[1]] = top
            merged = best.view(len(queries), -1).topk(k, dim=1).values
            return (1.0 - merged).clamp(min=0).cpu().numpy()


def uncertainty(probabilities: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(margin, normalised entropy)`` of rows of class probabilities: margin small, entropy high = unsure."""
    P = np.clip(np.asarray(probabilities, np.float64), 0.0, 1.0)
    if P.shape[1] < 2:
        return np.ones(len(P)), np.zeros(len(P))
    top2 = -np.partition(-P, 1, axis=1)[:, :2]
    margin = top2[:, 0] - top2[:, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        entropy = -np.where(P > 0, P * np.log(P), 0.0).sum(axis=1) / np.log(P.shape[1])
    return margin, entropy


def softmax(logits: np.ndarray) -> np.ndarray:
    z = np.asarray(logits, np.float64)
    z = z - z.max(axis=1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=1, keepdims=True)


def energy(logits: np.ndarray) -> np.ndarray:
    """Free energy ``-logsumexp(logits)`` (Liu et al. 2020): higher means less like the training data."""
    z = np.asarray(logits, np.float64)
    top = z.max(axis=1)
    return -(top + np.log(np.exp(z - top[:, None]).sum(axis=1)))
