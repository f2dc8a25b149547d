"""Benchmark: a label-noise check's computation on 100,000 labelled items with 384-d cached vectors.

    .venv/bin/python bench/label_noise.py [--items 100000] [--dim 384] [--classes 20] [--device cpu|cuda]

The vectors are read as a check reads them: fp16 rows of a memory-mapped embedding store
(``active.store.EmbeddingStore``), turned to float32 for the fold fits. Labels are clustered
synthetic classes (one Gaussian cluster per class, unit-length like MiniLM vectors) with 5 % of
them flipped at random. Times, as JSON: the head choice and the K fits (``active.noise
.out_of_sample_proba``), cleanlab's detection (``detect``: label quality, ``find_label_issues``,
outliers), the near-duplicate search, and the whole; peak resident memory of the process; and how
many of the planted flips the top k holds. No database: the check's database writes are the job's.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from active import noise  # noqa: E402
from active.devices import resolve_device  # noqa: E402
from active.store import EmbeddingStore  # noqa: E402


def clustered(n: int, dim: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((classes, dim)).astype(np.float32)
    y = rng.integers(0, classes, n)
    X = centres[y] + 2.2 * rng.standard_normal((n, dim)).astype(np.float32)
    X /= np.linalg.norm(X, axis=1, keepdims=True)
    return X, y


def peak_rss_mb() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=100_000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--classes", type=int, default=20)
    parser.add_argument("--folds", type=int, default=noise.DEFAULT_FOLDS)
    parser.add_argument("--rate", type=float, default=0.05)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    device = resolve_device(args.device)
    X, y = clustered(args.items, args.dim, args.classes, args.seed)
    noisy, flipped = noise.flip_labels(y, args.classes, args.rate, args.seed)
    with tempfile.TemporaryDirectory() as root:
        store = EmbeddingStore(1, "bench", args.dim, root=Path(root))
        ids = np.arange(1, args.items + 1, dtype=np.int64)
        store.append(ids, X)
        del X
        rss_before = peak_rss_mb()
        started = time.perf_counter()
        vectors = store.get(ids)
        read = time.perf_counter() - started
        clock = time.perf_counter()
        oos = noise.out_of_sample_proba(
            vectors, noisy, args.classes, folds=args.folds, seed=args.seed, device=device
        )
        folds_seconds = time.perf_counter() - clock
        clock = time.perf_counter()
        detection = noise.detect(noisy, oos.proba)
        detect_seconds = time.perf_counter() - clock
        clock = time.perf_counter()
        pairs = noise.near_duplicate_conflicts(vectors, noisy, seed=args.seed)
        duplicate_seconds = time.perf_counter() - clock
        total = time.perf_counter() - started
    ranking = noise.ranked_suspects(detection)
    print(
        json.dumps(
            {
                "items": args.items,
                "dim": args.dim,
                "classes": args.classes,
                "folds": args.folds,
                "device": device,
                "head": oos.head,
                "seconds": {
                    "read_store": round(read, 2),
                    "folds": round(folds_seconds, 2),
                    "per_fold": oos.fold_seconds,
                    "detect": round(detect_seconds, 2),
                    "near_duplicates": round(duplicate_seconds, 2),
                    "total": round(total, 2),
                },
                "target_seconds": 60,
                "under_target": total < 60,
                "peak_rss_mb": peak_rss_mb(),
                "rss_before_check_mb": rss_before,
                "issues_flagged": int(detection.is_issue.sum()),
                "near_duplicate_conflicts": len(pairs),
                "planted": noise.precision_recall_at(ranking, flipped),
            },
            indent=2,
        )
    )


if __name__ == "__main__":
    main()
