"""Benchmark: does active learning beat random on digits and an imbalanced WordNet subset? (issue 13)

    .venv/bin/python bench/al_simulate.py [--seeds 5] [--datasets digits,wordnet] [--strategies auto,margin,...]

Runs the real simulation core (``active.simulation.simulate_arrays``: the project's heads, chosen
by cross-validation, and strategies) on the vectors rounds would see: the project's 16×16 pixel
features of the demo's digit images, and MiniLM embeddings of ``datasets.wordnet_imbalanced_records``
(embedded once, cached under ``bench/out/``). Prints one JSON object: per data set and strategy,
labels to reach random's mean accuracy at the budget (mean ± sd over seeds, per seed), and
accuracy / macro recall / rarest-class recall at the budget against random's; plus the verdict.
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

from active.simulation import simulate_arrays  # noqa: E402
from labelhub.projects import datasets  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
TARGET_RATIO = {"digits": 0.30, "wordnet": 0.60}


def digits_vectors() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The pixel features a digits project's rounds use: the demo's PNG, decoded and box-averaged."""
    from active.embeddings import decode_image, pixel_features

    records = list(datasets.load_digits_records())
    X = np.stack([pixel_features(decode_image(i, r.payload)) for i, r in enumerate(records)])
    names = datasets.DIGIT_CLASSES
    return X, np.array([names.index(r.label) for r in records]), names


def wordnet_vectors(size: int) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """MiniLM vectors of the imbalanced WordNet subset, embedded once and cached as fp16."""
    records = datasets.wordnet_imbalanced_records(size=size)
    cache = OUT / f"wordnet-imbalanced-{size}-0.npy"
    if cache.is_file():
        X = np.load(cache).astype(np.float32)
    else:
        from active.embeddings import TextEncoder

        X = TextEncoder.get("cpu").encode([r.payload["text"] for r in records])
        OUT.mkdir(parents=True, exist_ok=True)
        np.save(cache, X.astype(np.float16))
        X = X.astype(np.float32)
    names = datasets.WORDNET_IMBALANCED_CLASSES
    return X, np.array([names.index(r.label) for r in records]), names


def report(name: str, summary: dict, seconds: float) -> dict:
    budget = summary["budget"]
    random = summary["at_budget"]["random"]
    rarest = summary["rarest_class"]
    rows = {}
    for strategy, reach in summary["labels_to_reach"].items():
        here = summary["at_budget"][strategy]
        rows[strategy] = {
            "labels_to_reach": reach,
            "ratio_of_budget": None if reach["mean"] is None else round(reach["mean"] / budget, 3),
            "accuracy_at_budget": here["accuracy"],
            "macro_recall_at_budget": here["macro_recall"],
            "macro_f1_at_budget": here["macro_f1"],
            "rarest_recall_at_budget": here["per_class_recall"].get(rarest),
            "macro_recall_above_random": here["macro_recall"]["mean"] > random["macro_recall"]["mean"],
            "aulc": summary["aulc"][strategy],
        }
    return {
        "dataset": name,
        "budget": budget,
        "target_accuracy": summary["target_accuracy"],
        "target_ratio": TARGET_RATIO.get(name),
        "rarest_class": rarest,
        "seeds": summary["seeds"],
        "strategies": rows,
        "verdict": summary["verdict"],
        "seconds": round(seconds, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--datasets", default="digits,wordnet")
    parser.add_argument("--strategies", default="auto,balanced_margin,cluster_margin,margin")
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--initial", type=int, default=20)
    parser.add_argument("--labels", type=int, default=500, help="Last point of each curve (also the budget).")
    parser.add_argument("--wordnet-size", type=int, default=datasets.WORDNET_IMBALANCED_SIZE)
    parser.add_argument("--head", default="auto")
    args = parser.parse_args()
    loaders = {"digits": digits_vectors, "wordnet": lambda: wordnet_vectors(args.wordnet_size)}
    results = []
    for name in args.datasets.split(","):
        X, y, names = loaders[name]()
        started = time.perf_counter()
        _, summary = simulate_arrays(
            X,
            y,
            names,
            args.strategies.split(","),
            rounds=(args.labels - args.initial) // args.batch,
            batch=args.batch,
            initial=args.initial,
            seeds=args.seeds,
            budget=args.labels,
            head=args.head,
        )
        results.append(report(name, summary, time.perf_counter() - started))
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"results": results}, indent=1))


if __name__ == "__main__":
    main()
