"""Benchmark: the RBF kernel head's fit and pool-scoring cost, against libsvm's own scoring.

    .venv/bin/python bench/kernel_head.py [--labels 500,2000] [--pool 100000] [--dim 384] [--device cpu]

Synthetic MiniLM-like vectors (unit norm, one cluster per class, 10 classes). For each labels count:
the head's fit (libsvm with its Platt cross-validation), its scoring of ``--pool`` rows (the
matrix-product path rounds use) and libsvm's own ``decision_function`` on the first 20,000 of them,
with the largest difference of the pairs' decision values and how often the head's most probable
class is the machine's own vote. The work
``pool × labels`` is what ``heads.KERNEL_SCORE_WORK`` bounds. Prints one JSON object.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402

from active.devices import resolve_device  # noqa: E402
from active.heads import KERNEL_SCORE_WORK, KernelHead  # noqa: E402

CLASSES = 10
COMPARED = 20000


def vectors(n: int, dim: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    centres = rng.normal(size=(CLASSES, dim)).astype(np.float32)
    y = rng.integers(0, CLASSES, n)
    X = centres[y] + 2.5 * rng.normal(size=(n, dim)).astype(np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True), y


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--labels", default="500,2000")
    parser.add_argument("--pool", type=int, default=100000)
    parser.add_argument("--dim", type=int, default=384)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    device = resolve_device(args.device)
    rng = np.random.default_rng(0)
    pool, _ = vectors(args.pool, args.dim, rng)
    results = []
    for n in (int(v) for v in args.labels.split(",")):
        X, y = vectors(n, args.dim, rng)
        started = time.perf_counter()
        head = KernelHead(CLASSES, device=device).fit(X, y)
        fit_s = time.perf_counter() - started
        head.predict_proba(pool[:1000])  # warm-up
        started = time.perf_counter()
        proba = head.predict_proba_tensor(pool).cpu().numpy()
        score_s = time.perf_counter() - started
        head.svc_.set_params(decision_function_shape="ovo")
        started = time.perf_counter()
        reference = head.svc_.decision_function(pool[:COMPARED])
        libsvm_s = time.perf_counter() - started
        votes = head.svc_.predict(pool[:COMPARED])
        results.append(
            {
                "labels": n,
                "support_vectors": len(head.support_vectors_),
                "fit_s": round(fit_s, 3),
                "pool": args.pool,
                "work": args.pool * n,
                "within_kernel_score_work": args.pool * n <= KERNEL_SCORE_WORK,
                "score_s": round(score_s, 3),
                "rows_per_s": round(args.pool / score_s),
                "libsvm_rows_per_s": round(COMPARED / libsvm_s),
                "slope": round(head.slope_, 3),
                "max_decision_difference_from_libsvm": round(
                    float(np.abs(head.decision_values(pool[:COMPARED]) - reference).max()), 6
                ),
                "argmax_is_the_vote": round(float((proba[:COMPARED].argmax(1) == votes).mean()), 5),
            }
        )
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"device": device, "dim": args.dim, "results": results}, indent=1))


if __name__ == "__main__":
    main()
