"""Simulated active learning: the real heads and strategies, with an oracle (ground truth) instead of humans.

The project's items are embedded with the same backbone and cache as real rounds; a fixed test
slice of the ground truth measures accuracy and is never queried; every strategy starts from the
same random seed set and random sampling runs alongside as the baseline. The result is a learning
curve (accuracy against labels) per strategy, written as CSV and PNG under ``LABELHUB_DATA_DIR``
and recorded as a ``SimulationRun``.
"""

from __future__ import annotations

import csv
import logging
import time
from pathlib import Path

import numpy as np
from django.conf import settings

from active import strategies as st
from active.devices import resolve_device
from active.embeddings import ensure_embedded
from active.errors import SimulationError
from active.heads import TorchHeadClassifier, head_config, train_committee
from active.models import SimulationRun
from labelhub.projects.models import GroundTruth
from labelhub.projects.selectors import label_schema

logger = logging.getLogger(__name__)

TEST_FRACTION = 0.3


def ground_truth(project, class_names: tuple[str, ...]) -> tuple[np.ndarray, np.ndarray]:
    """``(item_ids, class_index)`` of the items with a known answer (its first class), in item-id order."""
    index = {name: i for i, name in enumerate(class_names)}
    ids, ys = [], []
    for item_id, labels in GroundTruth.objects.filter(item__project=project).values_list("item_id", "labels"):
        names = labels if isinstance(labels, list) else [labels]
        if names and names[0] in index:
            ids.append(item_id)
            ys.append(index[names[0]])
    order = np.argsort(ids)
    return np.asarray(ids, np.int64)[order], np.asarray(ys, np.int64)[order]


def choose(strategy: str, X_pool, X_train, y_train, k: int, n_classes: int, config: dict, seed: int, rng):
    """Train the head on the labels so far and select k pool positions, as a real round would."""
    if strategy == st.RANDOM:
        return st.select_random(len(X_pool), k, rng).indices, None
    head = TorchHeadClassifier(n_classes, seed=seed, **config).fit(X_train, y_train)
    if strategy in st.COMMITTEE_STRATEGIES:
        model = train_committee(X_train, y_train, n_classes, 5, seed=seed, **config)
    else:
        model = head
    if config["device"] == "cpu":
        return st.select_modal(strategy, model, X_pool, k, X_training=X_train).indices, head
    import torch  # heavy: keeps torch out of web processes

    device = config["device"]
    pool_t = torch.from_numpy(X_pool).to(device)
    if strategy in st.COMMITTEE_STRATEGIES:
        member_proba = [m.predict_proba_tensor(X_pool) for m in model.learner_list]
        votes = torch.stack([p.argmax(dim=1) for p in member_proba], dim=1)
        selection = st.select_torch(strategy, torch.stack(member_proba).mean(0), k, votes=votes)
    else:
        selection = st.select_torch(
            strategy,
            head.predict_proba_tensor(X_pool),
            k,
            X_pool=pool_t,
            X_training=torch.from_numpy(X_train).to(device),
        )
    return selection.indices, head


def labels_to_reach(curve: list[dict], strategy: str, target: float) -> int | None:
    for point in curve:
        if point["strategy"] == strategy and point["accuracy"] >= target:
            return point["labels"]
    return None


def simulate(
    project,
    strategies: list[str],
    *,
    rounds: int,
    batch: int,
    initial: int | None = None,
    seed: int = 0,
    device: str = "cpu",
) -> SimulationRun:
    started = time.perf_counter()
    device = resolve_device(device)
    names = [st.normalise_strategy(s) for s in strategies]
    compared = list(dict.fromkeys([n for n in names if n != st.RANDOM] + [st.RANDOM]))
    class_names = label_schema(project).class_names
    ids, y = ground_truth(project, class_names)
    if len(ids) == 0:
        raise SimulationError(
            f"project {project.name!r} has no ground truth: simulation needs a data set with known answers"
        )
    if len(np.unique(y)) < 2:
        raise SimulationError(f"project {project.name!r}: ground truth covers fewer than two classes")
    initial = initial if initial is not None else batch
    store, _ = ensure_embedded(project, device)
    X = store.get(ids)
    split = np.random.default_rng(seed).permutation(len(ids))
    n_test = int(len(ids) * TEST_FRACTION)
    test, pool = split[:n_test], split[n_test:]
    if initial + rounds * batch > len(pool):
        raise SimulationError(
            f"rounds: {initial} initial + {rounds} × {batch} labels exceed the {len(pool)} items left after the test slice",
            field="rounds",
        )
    seed_set = np.random.default_rng(seed + 1).choice(len(pool), size=initial, replace=False)
    config = head_config(device, store.dim)
    curve: list[dict] = []
    for strategy in compared:
        rng = np.random.default_rng(seed + 2)
        labelled = list(pool[seed_set])
        remaining = np.setdiff1d(pool, labelled, assume_unique=False)
        for r in range(rounds + 1):
            head = TorchHeadClassifier(len(class_names), seed=seed, **config).fit(X[labelled], y[labelled])
            accuracy = float((head.predict(X[test]) == y[test]).mean())
            curve.append(
                {"strategy": strategy, "round": r, "labels": len(labelled), "accuracy": round(accuracy, 4)}
            )
            if r == rounds:
                break
            picked, _ = choose(
                strategy, X[remaining], X[labelled], y[labelled], batch, len(class_names), config, seed, rng
            )
            labelled.extend(remaining[picked].tolist())
            remaining = np.delete(remaining, picked)
        logger.info("simulation %s: %s done (%.1f s)", project.pk, strategy, time.perf_counter() - started)

    random_points = [p for p in curve if p["strategy"] == st.RANDOM]
    target = random_points[-1]["accuracy"]
    target_labels = random_points[-1]["labels"]
    summary = {
        "random_final_labels": target_labels,
        "random_final_accuracy": target,
        "labels_to_match_random": {s: labels_to_reach(curve, s, target) for s in compared},
    }
    summary["label_ratio"] = {
        s: (round(n / target_labels, 3) if n is not None else None)
        for s, n in summary["labels_to_match_random"].items()
    }
    run = SimulationRun.objects.create(
        project=project,
        strategies=compared,
        rounds=rounds,
        batch_size=batch,
        initial_labels=initial,
        seed=seed,
        curve=curve,
        summary=summary,
        csv_path="",
        png_path="",
    )
    folder = Path("simulations") / f"project-{project.pk}"
    (Path(settings.LABELHUB_DATA_DIR) / folder).mkdir(parents=True, exist_ok=True)
    run.csv_path = str(folder / f"simulation-{run.pk}.csv")
    run.png_path = str(folder / f"simulation-{run.pk}.png")
    write_csv(curve, Path(settings.LABELHUB_DATA_DIR) / run.csv_path)
    write_plot(
        curve, Path(settings.LABELHUB_DATA_DIR) / run.png_path, title=f"{project.name}: accuracy vs labels"
    )
    run.seconds = round(time.perf_counter() - started, 2)
    run.save(update_fields=["csv_path", "png_path", "seconds"])
    return run


def write_csv(curve: list[dict], path: Path) -> None:
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=["strategy", "round", "labels", "accuracy"])
        writer.writeheader()
        writer.writerows(curve)


def write_plot(curve: list[dict], path: Path, title: str) -> None:
    """A learning-curve PNG; matplotlib is imported here, on the non-interactive Agg backend."""
    import matplotlib  # heavy: matplotlib stays out of web processes

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # heavy: as above, after choosing the Agg backend

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for strategy in dict.fromkeys(p["strategy"] for p in curve):
        points = [p for p in curve if p["strategy"] == strategy]
        style = {"linestyle": "--", "color": "#888888"} if strategy == st.RANDOM else {}
        ax.plot(
            [p["labels"] for p in points],
            [p["accuracy"] for p in points],
            marker=".",
            label=strategy,
            **style,
        )
    ax.set_xlabel("labels")
    ax.set_ylabel("held-out accuracy")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
