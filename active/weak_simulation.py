"""Weak supervision measured against known answers: the figures of issue 18.

For each seed and human-label budget a stratified test split is held out, ``budget`` random pool
items get their known answer as the human labels, the labeling functions vote on the rest of the
pool through the same code as the apply job (``labelhub.weak.definitions`` for text rules, the
``model`` and ``similar`` votes of :mod:`active.weak` for the others), every label model is
fitted with the human labels as anchors, and the head is trained three ways: on the human
labels alone, with the weak labels at the weight chosen on held-out human labels
(:func:`active.weak.choose_weak_weight`), and with them at a fixed weight (what an unguarded
mix would do). Weak labels are judged only on items nobody labelled.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from active.embeddings import TextEncoder, decode_image, pixel_features
from active.heads import head_config, make_head
from active.simulation import stratified_split
from active.weak import head_probabilities, model_votes, pool_mean, similarity_votes
from active.weak_training import choose_weak_weight, fit_with_weak
from labelhub.projects.datasets import (
    WORDNET_IMBALANCED_CLASSES,
    load_digits_records,
    wordnet_imbalanced_records,
)
from labelhub.projects.labels import LabelSchema
from labelhub.weak import label_model
from labelhub.weak.definitions import Batch, clean_definition, compile_function
from labelhub.weak.matrix import from_columns
from labelhub.weak.models import LabelingFunction

BUDGETS = (100, 200, 500)
SEEDS = 5
FIXED_WEIGHT = 0.5
TEST_FRACTION = 0.25

# Keyword and pattern functions written from lexnames(5WN)'s one-line definitions of the nine
# noun classes of the imbalanced WordNet demo ("nouns denoting man-made objects", "… people", …),
# in the words a gloss for such a noun would use. Written once, not tuned on the data.
WORDNET_FUNCTIONS = [
    (
        "artifact: made objects",
        "keyword",
        "noun.artifact",
        {
            "keywords": [
                "device",
                "instrument",
                "tool",
                "machine",
                "container",
                "apparatus",
                "implement",
                "weapon",
                "vehicle",
                "building",
                "structure",
                "garment",
                "fabric",
            ]
        },
    ),
    (
        "artifact: used for",
        "regex",
        "noun.artifact",
        {"pattern": r"\b(used|designed|worn) (for|to|in|by|as)\b"},
    ),
    (
        "person: people",
        "keyword",
        "noun.person",
        {
            "keywords": [
                "person",
                "someone",
                "somebody",
                "man",
                "woman",
                "people",
                "follower",
                "member",
                "expert",
                "worker",
            ]
        },
    ),
    (
        "person: one who",
        "regex",
        "noun.person",
        {"pattern": r"^(a |an )?(person|someone|somebody|one) (who|whose|that)\b"},
    ),
    (
        "plant: plants",
        "keyword",
        "noun.plant",
        {
            "keywords": [
                "plant",
                "plants",
                "tree",
                "shrub",
                "herb",
                "fern",
                "grass",
                "vine",
                "moss",
                "flowers",
                "leaves",
                "foliage",
                "seeds",
            ]
        },
    ),
    (
        "animal: animals",
        "keyword",
        "noun.animal",
        {
            "keywords": [
                "animal",
                "mammal",
                "bird",
                "fish",
                "insect",
                "reptile",
                "snake",
                "larva",
                "beetle",
                "moth",
                "dog",
                "wings",
            ]
        },
    ),
    (
        "act: acts and actions",
        "keyword",
        "noun.act",
        {
            "keywords": [
                "act",
                "action",
                "activity",
                "practice",
                "performance",
                "process of",
                "the act of",
                "an attempt",
                "the activity of",
            ]
        },
    ),
    (
        "location: places",
        "keyword",
        "noun.location",
        {
            "keywords": [
                "city",
                "town",
                "region",
                "area",
                "country",
                "capital",
                "port",
                "province",
                "state",
                "district",
                "located",
            ]
        },
    ),
    ("location: compass", "regex", "noun.location", {"pattern": r"\b(north|south|east|west)(ern)?\b"}),
    (
        "food: foods and drinks",
        "keyword",
        "noun.food",
        {
            "keywords": [
                "food",
                "dish",
                "sauce",
                "cooked",
                "baked",
                "fried",
                "eaten",
                "drink",
                "beverage",
                "bread",
                "cake",
                "flavored",
                "served",
            ]
        },
    ),
    (
        "body: body parts",
        "keyword",
        "noun.body",
        {
            "keywords": [
                "body",
                "muscle",
                "bone",
                "tissue",
                "organ",
                "gland",
                "nerve",
                "artery",
                "vein",
                "skin",
                "blood",
                "cells",
            ]
        },
    ),
    (
        "time: time and periods",
        "keyword",
        "noun.time",
        {
            "keywords": [
                "time",
                "period",
                "day",
                "days",
                "year",
                "years",
                "month",
                "season",
                "hour",
                "era",
                "century",
                "week",
            ]
        },
    ),
]
DIGITS_MODEL_CONFIDENCE = 0.9
DIGITS_SIMILAR_THRESHOLD = 0.9
DIGITS_EXAMPLES_PER_CLASS = 5


@dataclass
class Case:
    name: str
    class_names: tuple[str, ...]
    X: np.ndarray
    y: np.ndarray
    payloads: list[dict] = field(default_factory=list)
    text_functions: list[tuple[str, str, str, dict]] = field(default_factory=list)
    model_function: bool = False
    similar_functions: bool = False
    head_kind: str = "logistic"

    @property
    def schema(self) -> LabelSchema:
        return LabelSchema.build(self.name, [(c, "") for c in self.class_names], multi_label=False)


def wordnet_case(
    X: np.ndarray, payloads: list[dict], labels: list[str], class_names: tuple[str, ...]
) -> Case:
    y = np.asarray([class_names.index(label) for label in labels], np.int64)
    return Case("wordnet", class_names, X, y, payloads, WORDNET_FUNCTIONS, head_kind="logistic")


def digits_case(X: np.ndarray, y: np.ndarray, head_kind: str = "mlp") -> Case:
    return Case(
        "digits",
        tuple(str(d) for d in range(10)),
        X,
        y,
        model_function=True,
        similar_functions=True,
        head_kind="mlp",
    )


def function_columns(case: Case, pool: np.ndarray, human: np.ndarray, seed: int) -> list:
    """``(function, voted positions, codes)`` of every function over ``pool`` (positions into the case)."""
    schema = case.schema
    columns = []
    if case.text_functions:
        batch = Batch(pool, [case.payloads[i] for i in pool])
        for index, (name, kind, label, config) in enumerate(case.text_functions):
            label, config = clean_definition(kind, label, config, schema)
            votes = compile_function(kind, label, config, schema).vote(batch)
            columns.append(
                (LabelingFunction(pk=index + 1, name=name, version=1), pool[votes >= 0], votes[votes >= 0])
            )
    if case.model_function:
        config = head_config("cpu", case.X.shape[1])
        p_pool, p_own = head_probabilities(
            case.X[human],
            case.y[human],
            case.X[pool],
            len(case.class_names),
            config,
            seed,
            kind=case.head_kind,
        )
        p = p_pool.copy()
        p[np.searchsorted(pool, human)] = p_own  # the labelled items' votes come out of fold
        votes = model_votes(p, DIGITS_MODEL_CONFIDENCE)
        columns.append(
            (LabelingFunction(pk=100, name="head ≥ 0.9", version=1), pool[votes >= 0], votes[votes >= 0])
        )
    if case.similar_functions:
        centre = pool_mean(case.X[pool])
        for code, name in enumerate(case.class_names):
            examples = human[case.y[human] == code][:DIGITS_EXAMPLES_PER_CLASS]
            if not len(examples):
                continue
            votes = similarity_votes(case.X[pool], case.X[examples], DIGITS_SIMILAR_THRESHOLD, code, centre)
            columns.append(
                (
                    LabelingFunction(pk=200 + code, name=f"like these {name}s", version=1),
                    pool[votes >= 0],
                    votes[votes >= 0],
                )
            )
    return columns


def run_point(case: Case, budget: int, seed: int) -> dict:
    """One seed × budget: the weak labels' coverage and accuracy per label model, the head three ways."""
    test, pool = stratified_split(case.y, seed, TEST_FRACTION)
    rng = np.random.default_rng(seed)
    human = np.sort(rng.choice(pool, size=min(budget, len(pool)), replace=False))
    columns = function_columns(case, pool, human, seed)
    matrix = from_columns(pool, case.class_names, columns)
    anchors = (np.searchsorted(pool, human), case.y[human])
    point = {"case": case.name, "budget": budget, "seed": seed, "functions": matrix.n_functions}
    unlabelled_pool = np.setdiff1d(pool, human)
    for method in label_model.METHODS:
        posterior = label_model.fit(matrix, method, anchors=anchors)
        items = pool[posterior.positions]
        free = ~np.isin(items, human)
        correct = posterior.predicted[free] == case.y[items[free]]
        point[f"coverage_{method}"] = round(float(free.sum()) / len(unlabelled_pool), 4)
        point[f"accuracy_{method}"] = round(float(correct.mean()), 4) if free.any() else None

    def weak_rows(known: np.ndarray):
        """Weak rows from functions and anchors built on the ``known`` human items only (never
        on a held-out fold), for the pool items nobody labelled."""
        cols = columns if len(known) == len(human) else function_columns(case, pool, known, seed)
        fitted = label_model.fit(
            from_columns(pool, case.class_names, cols),
            label_model.DEFAULT_METHOD,
            anchors=(np.searchsorted(pool, known), case.y[known]),
        )
        items = pool[fitted.positions]
        free = ~np.isin(items, human)
        return case.X[items[free]], fitted.predicted[free], fitted.confidence[free]

    config = head_config("cpu", case.X.shape[1])
    n_classes = len(case.class_names)
    X_h, y_h = case.X[human], case.y[human]
    X_w, y_w, c_w = weak_rows(human)
    test_accuracy = lambda head: round(float((head.predict(case.X[test]) == case.y[test]).mean()), 4)  # noqa: E731
    point["head_human_only"] = test_accuracy(make_head(case.head_kind, n_classes, config, seed).fit(X_h, y_h))
    choice = choose_weak_weight(
        X_h, y_h, lambda train: weak_rows(human[train]), n_classes, case.head_kind, config, seed=seed
    )
    point["weak_weight"] = choice.weight
    point["head_with_weak"] = test_accuracy(
        fit_with_weak(X_h, y_h, X_w, y_w, c_w, choice.weight, n_classes, case.head_kind, config, seed)
    )
    point["head_weak_fixed"] = test_accuracy(
        fit_with_weak(X_h, y_h, X_w, y_w, c_w, FIXED_WEIGHT, n_classes, case.head_kind, config, seed)
    )
    return point


def simulate_weak(case: Case, budgets=BUDGETS, seeds: int = SEEDS) -> list[dict]:
    return [run_point(case, budget, seed) for budget in budgets for seed in range(seeds)]


def summarise(points: list[dict]) -> list[dict]:
    """Mean and spread over seeds per case × budget."""
    keys = [k for k in points[0] if k not in ("case", "budget", "seed", "functions")]
    rows = []
    for case, budget in sorted({(p["case"], p["budget"]) for p in points}):
        group = [p for p in points if p["case"] == case and p["budget"] == budget]
        row = {"case": case, "budget": budget, "seeds": len(group)}
        for key in keys:
            values = [p[key] for p in group if p[key] is not None]
            row[key] = round(float(np.mean(values)), 4) if values else None
            row[f"{key}_sd"] = round(float(np.std(values)), 4) if values else None
        row["weak_never_worse_seeds"] = sum(p["head_with_weak"] >= p["head_human_only"] for p in group)
        rows.append(row)
    return rows


def wordnet_data(cache_dir, size: int, device: str = "cpu") -> Case:
    """The imbalanced WordNet noun demo (nine classes at natural frequencies), MiniLM-embedded once
    and cached in ``cache_dir`` (keyed by size)."""

    records = wordnet_imbalanced_records(size=size)
    path = Path(cache_dir) / f"wordnet-imbalanced-{size}.npy"
    if path.exists():
        X = np.load(path)
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        X = TextEncoder.get(device).encode([r.payload["text"] for r in records])
        np.save(path, X)
    return wordnet_case(
        X, [r.payload for r in records], [r.label for r in records], WORDNET_IMBALANCED_CLASSES
    )


def digits_data(head_kind: str = "mlp") -> Case:
    """scikit-learn's digits as the demo stores them, through the image backbone's pixel features."""

    records = list(load_digits_records())
    X = np.stack([pixel_features(decode_image(i, r.payload)) for i, r in enumerate(records)])
    return digits_case(X, np.asarray([int(r.label) for r in records], np.int64), head_kind)


def write_plot(rows: list[dict], path) -> None:
    """Head accuracy vs human labels, with and without weak labels, one panel per case."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = sorted({r["case"] for r in rows})
    figure, axes = plt.subplots(1, len(cases), figsize=(5 * len(cases), 3.6), squeeze=False)
    for axis, case in zip(axes[0], cases, strict=True):
        mine = sorted((r for r in rows if r["case"] == case), key=lambda r: r["budget"])
        budgets = [r["budget"] for r in mine]
        for key, label in [
            ("head_human_only", "human labels only"),
            ("head_with_weak", "+ weak, weight chosen"),
            ("head_weak_fixed", f"+ weak, weight {FIXED_WEIGHT}"),
        ]:
            means = np.array([r[key] for r in mine])
            sds = np.array([r[f"{key}_sd"] for r in mine])
            axis.errorbar(budgets, means, yerr=sds, marker="o", capsize=3, label=label)
        axis.set_xscale("log")
        axis.set_xticks(budgets, [str(b) for b in budgets])
        axis.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
        axis.set_xlabel("human labels")
        axis.set_ylabel("test accuracy (5 seeds, ±1 sd)")
        axis.set_title(case)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)
