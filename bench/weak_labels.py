"""Benchmark: 20 labeling functions applied to 1,000,000 items, then the label model fitted.

Synthetic texts (12 words each from a 5,000-word Zipf vocabulary, one hidden class in 10 that
shifts the words used) with a metadata field. The functions are 14 keyword lists, 4 regular
expressions (evaluated item by item through ``regex`` with its time limit) and 2 metadata rules,
compiled and voted exactly as the apply job does, batch by batch; then the sparse matrix is
assembled and each label model is fitted. The database read of the payloads is not timed here
(``bench/import.py`` measures reading and writing items); the figures are the weak-supervision work.

    .venv/bin/python bench/weak_labels.py [--items N] [--batch B]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "labelhub.settings")

import django  # noqa: E402

django.setup()

from labelhub.projects.labels import LabelSchema  # noqa: E402
from labelhub.weak import label_model  # noqa: E402
from labelhub.weak.definitions import ABSTAIN, Batch, clean_definition, compile_function  # noqa: E402
from labelhub.weak.matrix import from_columns  # noqa: E402
from labelhub.weak.models import LabelingFunction  # noqa: E402

CLASSES = tuple(f"class{c}" for c in range(10))
VOCABULARY = 5000
WORDS_PER_TEXT = 12
BLOCK = 1000


def peak_mib() -> float:
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def make_pool(n: int, seed: int = 0) -> tuple[list[str], list[dict], np.ndarray]:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, len(CLASSES), n)
    words = np.array([f"w{i}" for i in range(VOCABULARY)])
    ranks = np.minimum(rng.zipf(1.3, (n, WORDS_PER_TEXT)) - 1, VOCABULARY - 1)
    # A third of the words are drawn from the item's class block (words 1000 + 100·c … + 99, rare
    # under the Zipf background, so a keyword of the block is evidence for its class).
    own = rng.random((n, WORDS_PER_TEXT)) < 1 / 3
    ranks = np.where(own, BLOCK + 100 * truth[:, None] + rng.integers(0, 100, (n, WORDS_PER_TEXT)), ranks)
    texts = [" ".join(row) for row in words[ranks]]
    sources = np.array(["forum", "news", "mail", "chat"])[
        np.where(rng.random(n) < 0.5, truth % 4, rng.integers(0, 4, n))
    ]
    payloads = [{"text": t, "source": s} for t, s in zip(texts, sources.tolist(), strict=True)]
    return texts, payloads, truth


def functions(schema: LabelSchema) -> list[tuple[str, str, dict]]:
    defs = []
    for j in range(14):
        c = j % 10
        first = BLOCK + 100 * c + j // 10 * 5  # classes 0-3 get a second list of five
        defs.append(("keyword", CLASSES[c], {"keywords": [f"w{first + i}" for i in range(5)]}))
    for j in range(4):
        prefix = (BLOCK + 100 * (j + 4)) // 10  # class 4: w140x … w141x
        pattern = rf"\bw{prefix}\d\b.*\bw{prefix + 1}\d\b"
        defs.append(("regex", CLASSES[j + 4], {"pattern": pattern}))
    for j in range(2):
        defs.append(("metadata", CLASSES[j + 8], {"field": "source", "value": f"s{j + 8}"}))
    return [(kind, *clean_definition(kind, label, config, schema)) for kind, label, config in defs]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=20000)
    args = parser.parse_args()
    schema = LabelSchema.build("bench", [(c, "") for c in CLASSES], multi_label=False)

    started = time.perf_counter()
    texts, payloads, truth = make_pool(args.items)
    generate = time.perf_counter() - started
    rss_after_pool = peak_mib()

    definitions = functions(schema)
    compiled = [compile_function(kind, label, config, schema) for kind, label, config in definitions]
    ids = np.arange(1, args.items + 1, dtype=np.int64)
    voted_ids = [[] for _ in compiled]
    voted_codes = [[] for _ in compiled]
    seconds_by_kind = {"keyword": 0.0, "regex": 0.0, "metadata": 0.0}
    started = time.perf_counter()
    for start in range(0, args.items, args.batch):
        stop = min(start + args.batch, args.items)
        batch = Batch(ids[start:stop], payloads[start:stop], _texts=texts[start:stop])
        for j, function in enumerate(compiled):
            t = time.perf_counter()
            votes = function.vote(batch)
            seconds_by_kind[definitions[j][0]] += time.perf_counter() - t
            hit = votes != ABSTAIN
            voted_ids[j].append(batch.item_ids[hit])
            voted_codes[j].append(votes[hit])
    apply_seconds = time.perf_counter() - started

    started = time.perf_counter()
    columns = [
        (LabelingFunction(pk=j + 1, name=f"lf{j}", version=1), np.concatenate(i), np.concatenate(c))
        for j, (i, c) in enumerate(zip(voted_ids, voted_codes, strict=True))
    ]
    matrix = from_columns(ids, schema.class_names, columns)
    assemble_seconds = time.perf_counter() - started

    models = {}
    anchors = (np.arange(0, args.items, 1000), truth[::1000])  # 0.1 % known labels
    for method in label_model.METHODS:
        t = time.perf_counter()
        posterior = label_model.fit(
            matrix, method, anchors=anchors if method in ("dawid_skene_abstain", "one_coin") else None
        )
        seconds = time.perf_counter() - t
        unlabelled = posterior.positions % 1000 != 0
        models[method] = {
            "seconds": round(seconds, 2),
            "coverage": round(len(posterior.positions) / args.items, 4),
            "accuracy": round(
                float((posterior.predicted == truth[posterior.positions])[unlabelled].mean()), 4
            ),
        }
    default = models[label_model.DEFAULT_METHOD]["seconds"]
    print(
        json.dumps(
            {
                "items": args.items,
                "functions": len(compiled),
                "answers": len(matrix.rows),
                "generate_pool_seconds": round(generate, 2),
                "apply_seconds": round(apply_seconds, 2),
                "apply_seconds_by_kind": {k: round(v, 2) for k, v in seconds_by_kind.items()},
                "assemble_matrix_seconds": round(assemble_seconds, 2),
                "label_models": models,
                "apply_and_default_model_seconds": round(apply_seconds + assemble_seconds + default, 2),
                "target_seconds": 60,
                "peak_rss_mib": peak_mib(),
                "rss_after_pool_mib": rss_after_pool,
            },
            indent=1,
        )
    )


if __name__ == "__main__":
    main()
