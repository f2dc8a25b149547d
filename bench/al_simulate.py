"""Benchmark: does active learning beat random on digits and an imbalanced WordNet subset? (issue 13)

    .venv/bin/python bench/al_simulate.py [--seeds 5 --seed-base 0] [--datasets digits,wordnet,abstract]
        [--strategies auto,margin,...]

Runs the real simulation core (``active.simulation.simulate_arrays``: the project's heads, chosen
by cross-validation, and strategies) on the vectors rounds would see: the project's 16×16 pixel
features of the demo's digit images, and MiniLM embeddings of ``datasets.wordnet_imbalanced_records``
(embedded once, cached under ``bench/out/``): the concrete-noun subset the demo loads (``wordnet``)
and, as a third imbalanced set to check that a rule tuned on the first two holds, nine abstract-noun
classes at their natural frequencies (``abstract``; noun.feeling is 1.7 %). Prints one JSON object:
per data set and strategy, labels to reach random's mean accuracy at the budget (mean ± sd over seeds, per seed), and
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

from active import strategies as st  # noqa: E402
from active.simulation import simulate_arrays  # noqa: E402
from labelhub.projects import datasets  # noqa: E402

OUT = Path(__file__).resolve().parent / "out"
TARGET_RATIO = {"digits": 0.30, "wordnet": 0.60}
#: The third set: abstract-noun lexicographer classes, drawn like the WordNet subset (natural shares).
ABSTRACT_CLASSES = (
    "noun.act",
    "noun.attribute",
    "noun.cognition",
    "noun.communication",
    "noun.event",
    "noun.feeling",
    "noun.state",
    "noun.process",
    "noun.time",
)


def digits_vectors() -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """The pixel features a digits project's rounds use: the demo's PNG, decoded and box-averaged."""
    from active.embeddings import decode_image, pixel_features

    records = list(datasets.load_digits_records())
    X = np.stack([pixel_features(decode_image(i, r.payload)) for i, r in enumerate(records)])
    names = datasets.DIGIT_CLASSES
    return X, np.array([names.index(r.label) for r in records]), names


def wordnet_vectors(
    size: int, classes: tuple[str, ...] = datasets.WORDNET_IMBALANCED_CLASSES, name: str = "imbalanced"
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...]]:
    """MiniLM vectors of an imbalanced WordNet subset (``classes``), embedded once and cached as fp16."""
    records = datasets.wordnet_imbalanced_records(size=size, classes=classes)
    cache = OUT / f"wordnet-{name}-{size}-0.npy"
    if cache.is_file():
        X = np.load(cache).astype(np.float32)
    else:
        from active.embeddings import TextEncoder

        X = TextEncoder.get("cpu").encode([r.payload["text"] for r in records])
        OUT.mkdir(parents=True, exist_ok=True)
        np.save(cache, X.astype(np.float16))
        X = X.astype(np.float32)
    return X, np.array([classes.index(r.label) for r in records]), classes


def interpolated_crossing(points: list[dict], strategy: str, seed: int, target: float) -> float | None:
    """Diagnostic only: labels where the seed's accuracy curve first crosses ``target``, linearly
    interpolated between the two curve points around it (the measured figure stays the first point
    at or above it)."""
    curve = sorted(
        (p["labels"], p["accuracy"]) for p in points if p["strategy"] == strategy and p["seed"] == seed
    )
    for i, (n1, a1) in enumerate(curve):
        if a1 >= target:
            if i == 0:
                return float(n1)
            n0, a0 = curve[i - 1]
            return round(n0 + (target - a0) / (a1 - a0) * (n1 - n0), 1)
    return None


def report(name: str, summary: dict, seconds: float, points: list[dict]) -> dict:
    budget = summary["budget"]
    random = summary["at_budget"]["random"]
    rarest = summary["rarest_class"]
    rows = {}
    for strategy, reach in summary["labels_to_reach"].items():
        here = summary["at_budget"][strategy]
        rows[strategy] = {
            "labels_to_reach": reach,
            "diagnostic_interpolated_crossing": [
                interpolated_crossing(points, strategy, seed, summary["target_accuracy"])
                for seed in summary["seeds"]
            ],
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
    parser.add_argument("--seed-base", type=int, default=0, help="First seed: seeds N .. N + seeds - 1.")
    parser.add_argument("--datasets", default="digits,wordnet", help="Any of digits, wordnet, abstract.")
    parser.add_argument("--strategies", default="auto,balanced_margin,cluster_margin,margin")
    parser.add_argument("--batch", type=int, default=20)
    parser.add_argument("--initial", type=int, default=20)
    parser.add_argument("--labels", type=int, default=500, help="Last point of each curve (also the budget).")
    parser.add_argument("--wordnet-size", type=int, default=datasets.WORDNET_IMBALANCED_SIZE)
    parser.add_argument("--head", default="auto")
    parser.add_argument(
        "--cluster-margin",
        choices=st.CLUSTER_MARGIN_GROUPINGS,
        default="kmeans",
        help="How cluster-margin groups its candidates (kmeans: what rounds do).",
    )
    parser.add_argument("--points", type=Path, help="Also write every curve point (JSON lines) here.")
    args = parser.parse_args()
    loaders = {
        "digits": digits_vectors,
        "wordnet": lambda: wordnet_vectors(args.wordnet_size),
        "abstract": lambda: wordnet_vectors(args.wordnet_size, ABSTRACT_CLASSES, "abstract"),
    }
    results = []
    for name in args.datasets.split(","):
        X, y, names = loaders[name]()
        started = time.perf_counter()
        points, summary = simulate_arrays(
            X,
            y,
            names,
            args.strategies.split(","),
            rounds=(args.labels - args.initial) // args.batch,
            batch=args.batch,
            initial=args.initial,
            seeds=args.seeds,
            first_seed=args.seed_base,
            budget=args.labels,
            head=args.head,
            cluster_margin=args.cluster_margin,
        )
        results.append(report(name, summary, time.perf_counter() - started, points))
        results[-1]["cluster_margin"] = args.cluster_margin
        if args.points:
            with open(args.points, "a") as fh:
                for point in points:
                    fh.write(json.dumps({"dataset": name, **point}) + "\n")
        print(json.dumps(results[-1]), file=sys.stderr, flush=True)
    print(json.dumps({"results": results}, indent=1))


if __name__ == "__main__":
    main()
