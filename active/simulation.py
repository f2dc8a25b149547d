"""Simulated active learning: the real heads and strategies, with an oracle (ground truth) instead of humans.

Honest by construction (issue 13): several seeds (5 by default), each with its own stratified test
split that is never queried; every strategy of a seed starts from the same labels (a random draw,
or the cold start's own typical items for strategies that have one, as a real round would);
random sampling runs alongside. The target is random's *mean* accuracy at a stated budget (500
labels, or the run's midpoint when it is shorter), and "labels to reach it" is measured per seed
and reported as mean ± sd. Each point records accuracy, macro recall, macro F1 and per-class
recall; the summary adds the area under the learning curve and a plain verdict. The project's
``balance_target`` is simulated: the quotas follow the simulated labelled set. Each round fits its
head once: the same head is measured on the test split and selects the next batch.

``simulate_arrays`` is the core on plain vectors (the bench calls it); ``simulate`` runs it on a
project's cached embeddings and writes the CSV, the PNG (bands across seeds) and a ``SimulationRun``.
"""

from __future__ import annotations

import csv
import logging
import time
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import numpy as np
from django.conf import settings

from active import strategies as st
from active.devices import resolve_device
from active.embeddings import ensure_embedded
from active.errors import SimulationError
from active.heads import choose_head, head_config, make_head, train_committee
from active.models import SimulationRun
from labelhub.projects.models import GroundTruth
from labelhub.projects.selectors import label_schema
from labelhub.queues.sampling import class_deficit

logger = logging.getLogger(__name__)

TEST_FRACTION = 0.3
DEFAULT_SEEDS = 5
DEFAULT_BUDGET = 500
HEAD_RECHOOSE_GROWTH = 1.5  # re-run the head's cross-validation when the labels grew by this factor
#: ``auto`` lets a simulation on the project's own labelled items choose its strategy from
#: ``st.EVIDENCE_MIN_LABELS`` labels on, again each time the labels grew by ``EVIDENCE_GROWTH``.
EVIDENCE_MIN_LABELS = st.EVIDENCE_MIN_LABELS
EVIDENCE_GROWTH = 1.5
EVIDENCE_SEEDS = 3
EVIDENCE_SAMPLE = 600  # labelled items the evidence simulates on at most (a uniform draw)
EVIDENCE_CANDIDATES = (st.BALANCED_MARGIN, st.CLUSTER_MARGIN)


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


def stratified_split(y: np.ndarray, seed: int, test_fraction: float = TEST_FRACTION):
    """``(test, pool)`` positions: each class keeps its share in the test split (at least one item)."""
    rng = np.random.default_rng(seed)
    test = []
    for c in np.unique(y):
        members = rng.permutation(np.nonzero(y == c)[0])
        if len(members) > 1:
            test.extend(members[: max(1, round(len(members) * test_fraction))])
    test = np.sort(np.asarray(test, np.int64))
    return test, np.setdiff1d(np.arange(len(y)), test)


def measure(y_true: np.ndarray, predicted: np.ndarray, n_classes: int) -> dict:
    """Accuracy, macro recall and macro F1 over the classes present in ``y_true``, and recall per class."""
    recall, f1 = {}, []
    for c in np.unique(y_true):
        actual, said = y_true == c, predicted == c
        hits = int((actual & said).sum())
        r = hits / actual.sum()
        p = hits / said.sum() if said.any() else 0.0
        recall[int(c)] = r
        f1.append(2 * p * r / (p + r) if p + r else 0.0)
    return {
        "accuracy": float((predicted == y_true).mean()),
        "macro_recall": float(np.mean(list(recall.values()))),
        "macro_f1": float(np.mean(f1)),
        "per_class_recall": recall,
    }


def select_next(
    strategy: str,
    head,
    X_pool,
    X_train,
    y_train,
    k: int,
    config: dict,
    seed: int,
    rng,
    deficit,
    evidence=None,
    clusters=None,
):
    """Positions in ``X_pool`` a real round would pick with this (already fitted) head
    (``evidence``: the strategy ``auto``'s own simulation chose, see :func:`strategy_evidence`;
    ``clusters``: the pool's precomputed clusters for cluster-margin, or None)."""
    n_classes = head.n_classes
    if strategy == st.RANDOM:
        return st.select_random(len(X_pool), k, rng).indices
    if strategy in st.BEYOND_MODAL:
        return st.select_beyond_modal(
            strategy,
            head.predict_proba(X_pool),
            X_pool,
            k,
            n_labelled=len(y_train),
            class_counts=np.bincount(y_train, minlength=n_classes),
            deficit=deficit,
            seed=seed,
            evidence=evidence,
            clusters=clusters,
        ).indices
    model = head
    if strategy in st.COMMITTEE_STRATEGIES:
        model = train_committee(X_train, y_train, n_classes, 5, seed=seed, **config)
    return st.select_modal(strategy, model, X_pool, k, X_training=X_train, deficit=deficit).indices


def run_seed(
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    strategies: list[str],
    *,
    seed: int,
    rounds: int,
    batch: int,
    initial: int,
    config: dict,
    head: str = "auto",
    deficit_for: Callable[[np.ndarray], np.ndarray | None] | None = None,
    evidence: bool = True,
    cluster_margin: str = "kmeans",
) -> list[dict]:
    """One seed's learning curve per strategy (points carry ``seed``).

    ``auto`` runs as in a real round, including the simulation on its own labelled items that picks
    its strategy from ``EVIDENCE_MIN_LABELS`` labels on (``evidence`` off: never).
    ``cluster_margin``: how cluster-margin groups its candidates (one of
    ``strategies.CLUSTER_MARGIN_GROUPINGS``; rounds use ``"kmeans"``).
    """
    test, pool = stratified_split(y, seed)
    if initial + rounds * batch > len(pool):
        raise SimulationError(
            f"rounds: {initial} initial + {rounds} × {batch} labels exceed the {len(pool)} items left "
            "after the test slice",
            field="rounds",
        )
    random_start = np.random.default_rng(seed + 1).choice(len(pool), size=initial, replace=False)
    typical_start = None
    # Cluster-margin's paper form clusters the whole pool once (positions in X); None: k-means per round.
    clusters = None
    if cluster_margin == "pool_hac" and {st.AUTO, st.CLUSTER_MARGIN} & set(strategies):
        clusters = np.full(len(y), -1, np.int64)
        clusters[pool] = st.pool_clusters(X[pool], seed=seed)
    points = []
    for strategy in strategies:
        rng = np.random.default_rng(seed + 2)
        if strategy in st.COLD_START_STRATEGIES:
            if typical_start is None:
                typical_start = st.select_typical(X[pool], initial, seed=seed).indices
            start = typical_start
        else:
            start = random_start
        labelled = list(pool[start])
        remaining = np.setdiff1d(pool, labelled)
        chosen_at, kind = 0, None
        evidence_at, chosen_strategy = 0, None
        for r in range(rounds + 1):
            y_l = y[labelled]
            if head != "auto":
                kind = head
            elif kind is None or len(labelled) >= chosen_at * HEAD_RECHOOSE_GROWTH:
                kind, chosen_at = (
                    choose_head(
                        X[labelled],
                        y_l,
                        n_classes,
                        config,
                        seed=seed,
                        pool_rows=len(y),
                        active=st.chooses_actively(strategy),
                    ).kind,
                    len(labelled),
                )
            fitted = make_head(kind, n_classes, config, seed).fit(X[labelled], y_l)  # the round's one fit
            scores = measure(y[test], fitted.predict(X[test]), n_classes)
            points.append(
                {
                    "strategy": strategy,
                    "seed": seed,
                    "round": r,
                    "labels": len(labelled),
                    "head": kind,
                    **scores,
                }
            )
            if r == rounds:
                break
            deficit = deficit_for(y_l) if deficit_for is not None else None
            picked = select_next(
                strategy,
                fitted,
                X[remaining],
                X[labelled],
                y_l,
                batch,
                config,
                seed,
                rng,
                deficit,
                evidence=chosen_strategy,
                clusters=None if clusters is None else clusters[remaining],
            )
            # As in real rounds, the simulation a round asks for (a job of its own) steers the next ones.
            if (
                evidence
                and strategy == st.AUTO
                and evidence_due(len(labelled), evidence_at)
                and len(np.unique(y_l)) >= 2
            ):
                chosen_strategy = strategy_evidence(X[labelled], y_l, n_classes, kind, config, seed=seed)[
                    "chosen"
                ]
                evidence_at = len(labelled)
            labelled.extend(remaining[picked].tolist())
            remaining = np.delete(remaining, picked)
    return points


def evidence_due(n_labelled: int, last_at: int) -> bool:
    """Whether ``auto`` should (re)run its strategy simulation at ``n_labelled`` labels (last run at ``last_at``, 0: never)."""
    if n_labelled < EVIDENCE_MIN_LABELS:
        return False
    return last_at == 0 or n_labelled >= last_at * EVIDENCE_GROWTH


def strategy_evidence(
    X: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    kind: str,
    config: dict,
    *,
    seed: int = 0,
    seeds: int = EVIDENCE_SEEDS,
    sample: int = EVIDENCE_SAMPLE,
    candidates: tuple[str, ...] = EVIDENCE_CANDIDATES,
) -> dict:
    """Which strategy does best on these labelled items: a small simulation with them as the oracle.

    At most ``sample`` items (a uniform draw) are split per seed into a stratified test slice and a
    pool; each candidate and random start from the same random labels and label half the pool in
    about seven batches, with the head ``kind`` (no cross-validation, to stay cheap). A strategy's
    score is the mean over seeds of its area under the learning curve for accuracy and for macro
    recall, averaged; the best candidate is chosen, the first one on a tie. Random's score is
    recorded beside them, so the page can say whether active learning beats it here.
    """
    rng = np.random.default_rng(seed)
    if len(y) > sample:
        rows = np.sort(rng.choice(len(y), size=sample, replace=False))
        X, y = X[rows], y[rows]
    n_pool = len(y) - int(round(len(y) * TEST_FRACTION))
    batch = max(5, n_pool // 14)
    rounds = max(2, (n_pool // 2 - batch) // batch)
    compared = [*candidates, st.RANDOM]
    points = []
    for s in range(seed, seed + seeds):
        points += run_seed(
            X,
            y,
            n_classes,
            compared,
            seed=s,
            rounds=rounds,
            batch=batch,
            initial=batch,
            config=config,
            head=kind,
            evidence=False,
        )
    scores = {}
    for strategy in compared:
        areas = []
        for s in range(seed, seed + seeds):
            curve = [p for p in points if p["strategy"] == strategy and p["seed"] == s]
            xs = np.array([p["labels"] for p in curve], float)
            for metric in ("accuracy", "macro_recall"):
                areas.append(float(np.trapezoid([p[metric] for p in curve], xs) / (xs[-1] - xs[0])))
        scores[strategy] = round(float(np.mean(areas)), 4)
    chosen = max(candidates, key=lambda c: (scores[c], -candidates.index(c)))
    return {
        "chosen": chosen,
        "scores": scores,
        "beats_random": scores[chosen] > scores[st.RANDOM],
        "labels": int(len(y)),
        "seeds": seeds,
        "batch": batch,
        "rounds": rounds,
        "head": kind,
    }


def budget_point(labels: list[int], budget: int | None) -> int:
    """The curve point the target is read at: ``budget`` (default 500) if the run reaches it, else its midpoint."""
    budget = DEFAULT_BUDGET if budget is None else budget
    if budget > labels[-1]:
        budget = (labels[0] + labels[-1]) / 2
    return min((n for n in labels if n >= budget), default=labels[-1])


def summarise(points: list[dict], class_names: tuple[str, ...], budget: int | None, y: np.ndarray) -> dict:
    """Target, labels to reach it per strategy (mean ± sd over seeds), scores at the budget, AULC, verdict."""
    strategies = list(dict.fromkeys(p["strategy"] for p in points))
    seeds = sorted({p["seed"] for p in points})
    labels = sorted({p["labels"] for p in points if p["strategy"] == st.RANDOM})
    at = budget_point(labels, budget)
    target = float(
        np.mean([p["accuracy"] for p in points if p["strategy"] == st.RANDOM and p["labels"] == at])
    )
    rarest = int(
        np.argmin(
            np.where(
                np.bincount(y, minlength=len(class_names)) > 0,
                np.bincount(y, minlength=len(class_names)),
                np.inf,
            )
        )
    )

    def curve(strategy, seed):
        return [p for p in points if p["strategy"] == strategy and p["seed"] == seed]

    reach, at_budget, aulc = {}, {}, {}
    for s in strategies:
        needed = [
            next((p["labels"] for p in curve(s, seed) if p["accuracy"] >= target), None) for seed in seeds
        ]
        got = [n for n in needed if n is not None]
        reach[s] = {
            "per_seed": needed,
            "reached": len(got),
            "mean": round(float(np.mean(got)), 1) if got else None,
            "sd": round(float(np.std(got)), 1) if got else None,
        }
        there = [p for p in points if p["strategy"] == s and p["labels"] == at]
        at_budget[s] = {
            metric: band([p[metric] for p in there]) for metric in ("accuracy", "macro_recall", "macro_f1")
        }
        at_budget[s]["per_class_recall"] = {
            class_names[c]: round(
                float(np.mean([p["per_class_recall"][c] for p in there if c in p["per_class_recall"]])), 4
            )
            for c in sorted({c for p in there for c in p["per_class_recall"]})
        }
        areas = []
        for seed in seeds:
            xs = np.array([p["labels"] for p in curve(s, seed)], float)
            ys = np.array([p["accuracy"] for p in curve(s, seed)])
            areas.append(float(np.trapezoid(ys, xs) / (xs[-1] - xs[0])) if len(xs) > 1 else float(ys[0]))
        aulc[s] = band(areas)
    summary = {
        "seeds": seeds,
        "budget": at,
        "target_accuracy": round(target, 4),
        "rarest_class": class_names[rarest],
        "labels_to_reach": reach,
        "at_budget": at_budget,
        "aulc": aulc,
        # The names the project page reads: random's (mean) accuracy at the budget, and each
        # strategy's mean labels to reach it where every seed did (None otherwise).
        "random_final_labels": at,
        "random_final_accuracy": round(target, 4),
        "labels_to_match_random": {
            s: (reach[s]["mean"] if reach[s]["reached"] == len(seeds) else None) for s in strategies
        },
    }
    summary["label_ratio"] = {
        s: (round(n / at, 3) if n is not None else None) for s, n in summary["labels_to_match_random"].items()
    }
    summary["verdict"] = verdict(summary)
    return summary


def band(values: list[float]) -> dict:
    """Mean, sd, min and max of a metric across seeds."""
    a = np.asarray(values, float)
    if not len(a):
        return {"mean": None, "sd": None, "min": None, "max": None}
    return {
        k: round(float(f(a)), 4)
        for k, f in (("mean", np.mean), ("sd", np.std), ("min", np.min), ("max", np.max))
    }


def verdict(summary: dict) -> str:
    """One plain sentence: the best strategy that beats random on every seed, or that none does."""
    at, target, rarest = summary["budget"], summary["target_accuracy"], summary["rarest_class"]
    n_seeds = len(summary["seeds"])
    winners = [
        (r["mean"], s)
        for s, r in summary["labels_to_reach"].items()
        if s != st.RANDOM and r["reached"] == n_seeds and r["mean"] < at
    ]
    if not winners:
        return (
            f"Active learning is not beating random here: no strategy reached random's accuracy at {at} "
            f"labels ({target:.3f}) with fewer labels on all {n_seeds} seeds."
        )
    _, best = min(winners)
    reach = summary["labels_to_reach"][best]
    ours = summary["at_budget"][best]
    theirs = summary["at_budget"][st.RANDOM]
    rare_ours = ours["per_class_recall"].get(rarest, 0.0)
    rare_theirs = theirs["per_class_recall"].get(rarest, 0.0)
    word = "better" if rare_ours > rare_theirs else "worse" if rare_ours < rare_theirs else "the same"
    return (
        f"On this project, {best} reaches random's accuracy at {at} labels ({target:.3f}) with "
        f"{reach['mean']:.0f} ± {reach['sd']:.0f} labels over {n_seeds} seeds; rare-class recall "
        f"({rarest}) at {at} labels is {word} ({rare_ours:.2f} vs {rare_theirs:.2f}), macro recall "
        f"{ours['macro_recall']['mean']:.3f} vs {theirs['macro_recall']['mean']:.3f}."
    )


def simulate_arrays(
    X: np.ndarray,
    y: np.ndarray,
    class_names: tuple[str, ...],
    strategies: list[str],
    *,
    rounds: int,
    batch: int,
    initial: int | None = None,
    seeds: int = DEFAULT_SEEDS,
    first_seed: int = 0,
    budget: int | None = None,
    head: str = "auto",
    device: str = "cpu",
    deficit_for: Callable[[np.ndarray], np.ndarray | None] | None = None,
    cluster_margin: str = "kmeans",
) -> tuple[list[dict], dict]:
    """``(points, summary)`` of every strategy against random over ``seeds`` seeds, on plain vectors
    (``cluster_margin``: see :func:`run_seed`)."""
    names = [st.normalise_strategy(s) for s in strategies]
    compared = list(dict.fromkeys([n for n in names if n != st.RANDOM] + [st.RANDOM]))
    if len(np.unique(y)) < 2:
        raise SimulationError("ground truth covers fewer than two classes")
    if seeds < 1:
        raise SimulationError("seeds must be at least 1", field="seeds")
    config = head_config(device, X.shape[1])
    initial = batch if initial is None else initial
    points = []
    for seed in range(first_seed, first_seed + seeds):
        points += run_seed(
            X,
            y,
            len(class_names),
            compared,
            seed=seed,
            rounds=rounds,
            batch=batch,
            initial=initial,
            config=config,
            head=head,
            deficit_for=deficit_for,
            cluster_margin=cluster_margin,
        )
    return points, summarise(points, class_names, budget, y)


def simulate(
    project,
    strategies: list[str],
    *,
    rounds: int,
    batch: int,
    initial: int | None = None,
    seed: int = 0,
    seeds: int = DEFAULT_SEEDS,
    budget: int | None = None,
    head: str = "auto",
    device: str = "cpu",
) -> SimulationRun:
    """Simulate on the project's ground truth and record it; ``seed`` is the first of ``seeds`` seeds."""
    started = time.perf_counter()
    device = resolve_device(device)
    schema = label_schema(project)
    class_names = schema.class_names
    ids, y = ground_truth(project, class_names)
    if len(ids) == 0:
        raise SimulationError(
            f"project {project.name!r} has no ground truth: simulation needs a data set with known answers"
        )
    if len(np.unique(y)) < 2:
        raise SimulationError(f"project {project.name!r}: ground truth covers fewer than two classes")
    store, _ = ensure_embedded(project, device)
    X = np.asarray(store.get(ids), dtype=np.float32)

    def deficit_for(y_labelled: np.ndarray) -> np.ndarray | None:
        # The real rule (queues.sampling.class_deficit) on the simulated labels instead of the database's.
        counts = Counter(
            {
                class_names[c]: int(n)
                for c, n in enumerate(np.bincount(y_labelled, minlength=len(class_names)))
            }
        )
        deficit = class_deficit(project, schema, counts=counts)
        return None if deficit is None else np.array([deficit[c] for c in class_names])

    initial = initial if initial is not None else batch
    curve, summary = simulate_arrays(
        X,
        y,
        class_names,
        strategies,
        rounds=rounds,
        batch=batch,
        initial=initial,
        seeds=seeds,
        first_seed=seed,
        budget=budget,
        head=head,
        device=device,
        deficit_for=deficit_for,
    )
    summary["balance_target"] = project.balance_target or None
    for point in curve:  # class names, not indices, in what is stored
        point["per_class_recall"] = {
            class_names[c]: round(r, 4) for c, r in point["per_class_recall"].items()
        }
        for metric in ("accuracy", "macro_recall", "macro_f1"):
            point[metric] = round(point[metric], 4)
    logger.info("simulation %s: %d points (%.1f s)", project.pk, len(curve), time.perf_counter() - started)
    run = SimulationRun.objects.create(
        project=project,
        strategies=list(dict.fromkeys(p["strategy"] for p in curve)),
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
    write_csv(curve, class_names, Path(settings.LABELHUB_DATA_DIR) / run.csv_path)
    write_plot(
        curve, Path(settings.LABELHUB_DATA_DIR) / run.png_path, title=f"{project.name}: learning curves"
    )
    run.seconds = round(time.perf_counter() - started, 2)
    run.save(update_fields=["csv_path", "png_path", "seconds"])
    return run


def labels_to_reach(curve: list[dict], strategy: str, target: float, seed: int | None = None) -> int | None:
    """The first labels count at which ``strategy`` (on ``seed``, or any) reaches ``target`` accuracy."""
    for point in curve:
        if (
            point["strategy"] == strategy
            and seed in (None, point.get("seed"))
            and point["accuracy"] >= target
        ):
            return point["labels"]
    return None


def write_csv(curve: list[dict], class_names: tuple[str, ...], path: Path) -> None:
    """One row per (strategy, seed, round): the scores, then recall per class as ``recall:<class>``."""
    fields = ["strategy", "seed", "round", "labels", "head", "accuracy", "macro_recall", "macro_f1"]
    with open(path, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields + [f"recall:{c}" for c in class_names])
        writer.writeheader()
        for point in curve:
            row = {k: point[k] for k in fields}
            row.update({f"recall:{c}": r for c, r in point["per_class_recall"].items()})
            writer.writerow(row)


def write_plot(curve: list[dict], path: Path, title: str) -> None:
    """Accuracy and macro recall against labels: mean line and min–max band across seeds per strategy.

    matplotlib is imported here, on the non-interactive Agg backend.
    """
    import matplotlib  # heavy: matplotlib stays out of web processes

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # heavy: as above, after choosing the Agg backend

    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), dpi=110)
    for ax, metric in zip(axes, ("accuracy", "macro_recall"), strict=True):
        for strategy in dict.fromkeys(p["strategy"] for p in curve):
            points = [p for p in curve if p["strategy"] == strategy]
            xs = sorted({p["labels"] for p in points})
            values = [[p[metric] for p in points if p["labels"] == x] for x in xs]
            style = {"linestyle": "--", "color": "#888888"} if strategy == st.RANDOM else {}
            (line,) = ax.plot(xs, [np.mean(v) for v in values], marker=".", label=strategy, **style)
            ax.fill_between(
                xs, [min(v) for v in values], [max(v) for v in values], color=line.get_color(), alpha=0.15
            )
        ax.set_xlabel("labels")
        ax.set_ylabel(f"held-out {metric.replace('_', ' ')} (mean, min–max over seeds)")
        ax.grid(alpha=0.3)
    axes[0].legend()
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
