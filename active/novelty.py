"""Novelty: how far a vector lies from the labelled (training) set, on the training set's own scale.

A query's novelty is its mean cosine distance to its ``k`` nearest reference vectors. Alone that
number means little (a text backbone and pixel features live on different scales), so it is also
given as a percentile of the reference set's own k-NN distances (each reference vector against the
others, leaving itself out): 0.99 means "farther from the labelled data than 99 % of the labelled
data is from the rest of it". Brute force on the device, in chunks: exact, and a million 384-d
reference vectors are one fp16 matrix product per chunk of queries.
"""

from __future__ import annotations

import numpy as np

#: Neighbours averaged: one neighbour is noisy (a single near-duplicate hides novelty), many blur it.
DEFAULT_K = 5
#: Reference vectors whose own distances make the percentile scale (a sample: the scale is a
#: distribution, and 5,000 points pin its upper percentiles to within a fraction of a percent).
SCALE_SAMPLE = 5_000
QUERY_CHUNK = 1024
REFERENCE_CHUNK = 262_144


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
    ):
        import torch  # heavy: novelty runs in workers only

        if len(reference) < 2:
            raise ValueError("novelty needs at least two reference vectors")
        self.torch = torch
        self.device = device
        self.k = max(1, min(k, len(reference) - 1))
        dtype = torch.float16 if device.startswith("cuda") else torch.float32
        self.reference = torch.from_numpy(unit(reference)).to(device=device, dtype=dtype)
        rng = np.random.default_rng(seed)
        sample = rng.choice(len(reference), size=min(scale_sample, len(reference)), replace=False)
        # Each sampled reference vector's nearest neighbour is itself (distance 0): ask for k + 1, drop it.
        own = self._knn(unit(reference[np.sort(sample)]), self.k + 1)[:, 1:]
        self.scale = np.sort(own.mean(axis=1))

    def _knn(self, queries: np.ndarray, k: int) -> np.ndarray:
        """Sorted cosine distances of each query to its ``k`` nearest reference vectors."""
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
