"""Benchmark: how many planted label flips does the label-noise check find? (issue 17)

    .venv/bin/python bench/label_noise_quality.py [--seeds 5] [--datasets digits,wordnet] [--rates 0.05,0.10]

Flips 5 % and 10 % of the labels at random from the ground truth (``active.noise.flip_labels``,
fixed seeds), then runs the check's own core on the vectors a project's check would see: K-fold
out-of-sample probabilities from the head ``choose_head`` picks, cleanlab's label-quality ranking
(``active.noise``). Digits: the 16×16 pixel features of the demo's digit images (1,797 items, 10
classes); WordNet: MiniLM embeddings of ``datasets.wordnet_imbalanced_records`` (embedded once,
cached under ``bench/out/``). Prints one JSON object: per data set and rate, precision of the top k
suspects (k = planted flips) and recall of the flips in the top 2k, mean ± sd over seeds and per seed.
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

from active import noise  # noqa: E402
from bench.al_simulate import digits_vectors, wordnet_vectors  # noqa: E402


def figures(X: np.ndarray, y: np.ndarray, n_classes: int, rate: float, seed: int) -> dict:
    noisy, flipped = noise.flip_labels(y, n_classes, rate, seed)
    oos = noise.out_of_sample_proba(X, noisy, n_classes, seed=seed)
    detection = noise.detect(noisy, oos.proba)
    ranking = noise.ranked_suspects(detection)
    result = noise.precision_recall_at(ranking, flipped)
    flagged = detection.is_issue
    result["head"] = oos.head
    result["flagged"] = int(flagged.sum())
    result["flagged_precision"] = (
        round(float(np.isin(np.flatnonzero(flagged), flipped).mean()), 4) if flagged.any() else None
    )
    return result


def band(values: list[float]) -> dict:
    return {"mean": round(float(np.mean(values)), 4), "sd": round(float(np.std(values)), 4)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--datasets", default="digits,wordnet")
    parser.add_argument("--rates", default="0.05,0.10")
    parser.add_argument("--wordnet-size", type=int, default=4000)
    args = parser.parse_args()
    loaders = {"digits": digits_vectors, "wordnet": lambda: wordnet_vectors(args.wordnet_size)}
    report: dict = {"seeds": args.seeds, "folds": noise.DEFAULT_FOLDS, "datasets": {}}
    for name in args.datasets.split(","):
        X, y, classes = loaders[name]()
        per_rate = {}
        for rate in (float(r) for r in args.rates.split(",")):
            started = time.perf_counter()
            runs = [figures(X, y, len(classes), rate, seed) for seed in range(args.seeds)]
            per_rate[f"{rate:.0%}"] = {
                "planted": runs[0]["planted"],
                "precision_at_k": band([r["precision_at_k"] for r in runs]),
                "recall_at_2k": band([r["recall_at_2k"] for r in runs]),
                "heads": sorted({r["head"] for r in runs}),
                "per_seed": runs,
                "seconds_per_seed": round((time.perf_counter() - started) / args.seeds, 2),
            }
        report["datasets"][name] = {"items": len(y), "classes": len(classes), "rates": per_rate}
    digits_5 = report["datasets"].get("digits", {}).get("rates", {}).get("5%")
    if digits_5:
        report["digits_5pct_target"] = {
            "target_precision_at_k": 0.70,
            "met": digits_5["precision_at_k"]["mean"] >= 0.70,
        }
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
