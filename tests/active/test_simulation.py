"""The simulation is honest: many seeds, a stratified split, a mean target at a stated budget, more than accuracy."""

from __future__ import annotations

import csv
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from django.core.management import call_command

from active import simulation
from active.heads import LogisticHead
from active.models import SimulationRun
from active.simulation import SimulationError, simulate, stratified_split, summarise
from labelhub.projects import datasets
from labelhub.projects.models import GroundTruth, Project
from tests import factories
from tests.active.builders import make_digits_project

pytestmark = pytest.mark.django_db


def test_test_split_is_stratified():
    y = np.array([0] * 900 + [1] * 80 + [2] * 20)
    for seed in range(4):
        test, pool = stratified_split(y, seed)
        assert np.bincount(y[test]).tolist() == [270, 24, 6]
        assert len(np.intersect1d(test, pool)) == 0 and len(test) + len(pool) == len(y)


def point(strategy, seed, labels, accuracy, recall=(1.0, 1.0)):
    return {
        "strategy": strategy,
        "seed": seed,
        "round": 0,
        "labels": labels,
        "accuracy": accuracy,
        "macro_recall": float(np.mean(recall)),
        "macro_f1": accuracy,
        "per_class_recall": dict(enumerate(recall)),
    }


def test_target_is_randoms_mean_accuracy_at_the_budget_not_its_last_point():
    points = []
    for seed, (at_500, at_600) in enumerate([(0.80, 0.81), (0.90, 0.91)]):
        points += [
            point("random", seed, 100, 0.5),
            point("random", seed, 500, at_500),
            point("random", seed, 600, at_600),
        ]
        points += [
            point("margin", seed, 100, 0.86 + seed / 100),
            point("margin", seed, 500, 0.95),
            point("margin", seed, 600, 0.95),
        ]
    summary = summarise(points, ("a", "b"), None, np.array([0, 0, 1]))
    assert summary["budget"] == 500 and summary["target_accuracy"] == pytest.approx(0.85)
    # Random itself reaches its mean only on the seed above the mean: the one-seed "random matches itself early" is gone.
    assert summary["labels_to_reach"]["random"]["per_seed"] == [None, 500]
    assert summary["labels_to_reach"]["margin"] == {
        "per_seed": [100, 100],
        "reached": 2,
        "mean": 100.0,
        "sd": 0.0,
    }
    assert summary["labels_to_match_random"] == {"margin": 100.0, "random": None}
    assert summary["verdict"].startswith("On this project, margin reaches random's accuracy at 500 labels")


def test_budget_is_the_runs_midpoint_when_the_run_stops_before_it():
    points = [point("random", 0, n, n / 1000) for n in (50, 100, 150, 200, 250)]
    assert summarise(points, ("a", "b"), 500, np.array([0, 1]))["budget"] == 150


def test_verdict_says_when_active_learning_is_not_beating_random():
    points = []
    for seed in range(3):
        points += [point("random", seed, 100, 0.7), point("random", seed, 500, 0.9)]
        # Margin beats random on two seeds of three: not on every seed, so not a win.
        points += [
            point("margin", seed, 100, 0.95 if seed else 0.6),
            point("margin", seed, 500, 0.95 if seed else 0.85),
        ]
    summary = summarise(points, ("a", "b"), 500, np.array([0, 1]))
    assert summary["labels_to_reach"]["margin"]["reached"] == 2
    assert summary["labels_to_match_random"]["margin"] is None
    assert summary["verdict"].startswith("Active learning is not beating random here")


def test_verdict_compares_rare_class_recall():
    points = []
    for seed in range(2):
        points += [point("random", seed, 100, 0.7, (0.9, 0.2)), point("random", seed, 500, 0.9, (0.95, 0.3))]
        points += [point("auto", seed, 100, 0.92, (0.9, 0.6)), point("auto", seed, 500, 0.93, (0.95, 0.7))]
    summary = summarise(points, ("common", "rare"), 500, np.array([0, 0, 0, 1]))
    assert summary["rarest_class"] == "rare"
    assert "rare-class recall (rare) at 500 labels is better (0.70 vs 0.30)" in summary["verdict"]
    assert summary["at_budget"]["auto"]["per_class_recall"] == {"common": 0.95, "rare": 0.7}


def test_each_round_fits_its_head_once_and_uses_it_to_measure_and_select(data_dir, monkeypatch):
    project, _, _ = make_digits_project(300)
    fits = []
    original = LogisticHead.fit
    monkeypatch.setattr(
        LogisticHead, "fit", lambda self, X, y, **kw: fits.append(len(y)) or original(self, X, y)
    )
    simulate(project, ["margin"], rounds=2, batch=10, seeds=2, head="logistic")
    # 2 seeds × 2 strategies (margin, random) × 3 points, one fit each.
    assert len(fits) == 2 * 2 * 3


def test_balance_target_is_simulated(data_dir):
    project, _, _ = make_digits_project(300)
    plain = simulate(project, ["balanced_margin"], rounds=3, batch=10, seeds=1, head="logistic")
    project.balance_target = {"7": 1}
    project.save(update_fields=["balance_target"])
    balanced = simulate(project, ["balanced_margin"], rounds=3, batch=10, seeds=1, head="logistic")
    curve = [(p["labels"], p["per_class_recall"]) for p in plain.curve if p["strategy"] == "balanced_margin"]
    other = [
        (p["labels"], p["per_class_recall"]) for p in balanced.curve if p["strategy"] == "balanced_margin"
    ]
    assert curve[0] == other[0] and curve != other  # same start, then the target's quotas steer the picks
    assert balanced.summary["balance_target"] == {"7": 1}


def test_al_simulate_command_writes_curves_over_seeds_with_recall_per_class(data_dir):
    project, _, _ = make_digits_project(400)
    call_command(
        "al_simulate",
        project=str(project.pk),
        strategy=["least_confidence"],
        rounds=2,
        batch=10,
        seed=1,
        seeds=2,
        head="logistic",
        device="cpu",
    )
    run = SimulationRun.objects.get(project=project)
    assert run.strategies == ["least_confidence", "random"]
    assert [p["labels"] for p in run.curve if p["strategy"] == "random"] == [10, 20, 30] * 2
    assert run.summary["seeds"] == [1, 2] and run.summary["budget"] == 20
    assert set(run.curve[0]) >= {"accuracy", "macro_recall", "macro_f1", "per_class_recall", "seed", "head"}
    with open(Path(data_dir) / run.csv_path) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(run.curve) and "recall:7" in rows[0]
    assert (Path(data_dir) / run.png_path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_the_simulation_tells_the_head_choice_which_labels_an_active_strategy_chose(monkeypatch):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 300)
    X = (rng.normal(size=(3, 8)) * 3)[y] + rng.normal(size=(300, 8))
    told = []
    original = simulation.choose_head

    def choose_head(*args, **kwargs):
        told.append(kwargs["active"])
        return original(*args, **kwargs)

    monkeypatch.setattr(simulation, "choose_head", choose_head)
    points = simulation.run_seed(
        X, y, 3, ["margin", "random"], seed=0, rounds=1, batch=10, initial=10, config={"device": "cpu"}
    )
    assert [p["strategy"] for p in points] == ["margin", "margin", "random", "random"]
    assert told == [True, True, False, False]  # a choice at 10 labels and again at 20, per strategy


def test_simulation_without_ground_truth_says_so():
    project = factories.make_project(modality="image")
    with pytest.raises(SimulationError, match="no ground truth"):
        simulate(project, ["entropy"], rounds=1, batch=5)


@pytest.mark.slow
def test_on_digits_the_default_strategy_reaches_randoms_500_label_accuracy_sooner(data_dir):
    """Five seeds, the real code, bench/al_simulate.py's settings (see the README's table).

    Asserted: auto reaches random's 500-label accuracy with fewer labels on every seed, within
    issue 13's 30 % of the budget on average (140 ± 28 measured, 28 %, the same in three checkouts;
    144 ± 32 on seeds 100–104), and has the higher macro recall.
    """
    from sklearn.datasets import load_digits

    from active.embeddings import pixel_features
    from labelhub.projects.datasets import digit_png_data_url

    digits = load_digits()
    from active.embeddings import decode_image

    X = np.stack(
        [pixel_features(decode_image(i, {"image": digit_png_data_url(d)})) for i, d in enumerate(digits.data)]
    )
    _, summary = simulation.simulate_arrays(
        X, digits.target, tuple("0123456789"), ["auto"], rounds=24, batch=20, initial=20, seeds=5
    )
    reach = summary["labels_to_reach"]["auto"]
    assert reach["reached"] == 5 and reach["mean"] <= 0.30 * 500
    assert (
        summary["at_budget"]["auto"]["macro_recall"]["mean"]
        > summary["at_budget"]["random"]["macro_recall"]["mean"]
    )
    assert summary["verdict"].startswith("On this project, ")


@pytest.mark.slow
@pytest.mark.skipif(not datasets.wordnet_available(), reason="WordNet (Debian wordnet-base) is not installed")
def test_on_the_imbalanced_wordnet_subset_the_default_strategy_beats_random(data_dir):
    """Five seeds, the real code and encoder, bench/al_simulate.py's settings (see the README's table).

    The 4,000 glosses of the demo's imbalanced WordNet subset (noun.time is 1.5 %), embedded with
    the shipped MiniLM. Asserted: auto reaches random's mean 500-label accuracy on every seed within
    issue 13's 60 % of the budget on average (the bench measured 204 ± 32, 41 %, on these seeds; 248
    ± 20 on seeds 100–104 and 278 ± 46 over seeds 0–19, see the README), and ends with the higher
    accuracy and macro recall.
    """
    from active.embeddings import TextEncoder

    records = datasets.wordnet_imbalanced_records()
    classes = datasets.WORDNET_IMBALANCED_CLASSES
    X = TextEncoder.get("cpu").encode([r.payload["text"] for r in records])
    y = np.array([classes.index(r.label) for r in records])
    _, summary = simulation.simulate_arrays(X, y, classes, ["auto"], rounds=24, batch=20, initial=20, seeds=5)
    reach = summary["labels_to_reach"]["auto"]
    assert reach["reached"] == 5 and reach["mean"] <= 0.60 * 500
    ours, random = summary["at_budget"]["auto"], summary["at_budget"]["random"]
    assert ours["accuracy"]["mean"] > random["accuracy"]["mean"]
    assert ours["macro_recall"]["mean"] > random["macro_recall"]["mean"]


@pytest.mark.skipif(not datasets.wordnet_available(), reason="WordNet (Debian wordnet-base) is not installed")
def test_imbalanced_wordnet_subset_keeps_natural_frequencies_and_loads_as_a_demo_project():
    records = datasets.wordnet_imbalanced_records(size=2000)
    assert records == datasets.wordnet_imbalanced_records(size=2000)  # the same draw every time
    counts = Counter(r.label for r in records)
    assert set(counts) == set(datasets.WORDNET_IMBALANCED_CLASSES)
    assert counts.most_common()[0][0] in ("noun.artifact", "noun.person")  # 11,587 and 11,087 synsets
    assert counts.most_common()[-1][0] == "noun.time"
    assert 0.01 < counts["noun.time"] / 2000 < 0.03
    call_command(
        "demo_data", digits_limit=5, wordnet_limit=8, wordnet_imbalanced=True, wordnet_imbalanced_size=120
    )
    project = Project.objects.get(name="WordNet nouns (imbalanced)")
    assert project.items.count() == 120 and project.classes.count() == 9
    assert GroundTruth.objects.filter(item__project=project).count() == 120


def fake_curve(strategy, seed, accuracies, recalls):
    return [
        {"strategy": strategy, "seed": seed, "labels": 10 * (i + 1), "accuracy": a, "macro_recall": r}
        for i, (a, r) in enumerate(zip(accuracies, recalls, strict=True))
    ]


def test_strategy_evidence_picks_the_best_area_under_accuracy_and_macro_recall(monkeypatch):
    curves = {
        # Cluster-margin is more accurate, but balanced margin's macro recall more than makes up for it.
        "balanced_margin": ([0.5, 0.7, 0.8], [0.5, 0.7, 0.8]),
        "cluster_margin": ([0.6, 0.8, 0.85], [0.3, 0.4, 0.5]),
        "random": ([0.5, 0.6, 0.7], [0.4, 0.5, 0.6]),
    }
    calls = []

    def run_seed(X, y, n_classes, strategies, *, seed, evidence, head, **_):
        calls.append((seed, tuple(strategies), evidence, head))
        return [p for s in strategies for p in fake_curve(s, seed, *curves[s])]

    monkeypatch.setattr(simulation, "run_seed", run_seed)
    X, y = np.zeros((300, 4)), np.arange(300) % 3
    result = simulation.strategy_evidence(X, y, 3, "logistic", {}, seed=5)
    # Area under each curve over its label range, accuracy and macro recall averaged.
    assert result["scores"] == {"balanced_margin": 0.675, "cluster_margin": 0.5813, "random": 0.55}
    assert result["chosen"] == "balanced_margin" and result["beats_random"] is True
    assert [c[0] for c in calls] == [5, 6, 7]  # three seeds
    assert all(c[1] == ("balanced_margin", "cluster_margin", "random") and c[2] is False for c in calls)
    assert all(c[3] == "logistic" for c in calls)  # the round's head, no cross-validation
    assert result["labels"] == 300 and result["batch"] == 15 and result["rounds"] == 6


def test_strategy_evidence_keeps_the_first_candidate_on_a_tie_and_says_when_random_wins(monkeypatch):
    same = ([0.5, 0.6], [0.5, 0.6])
    curves = {"balanced_margin": same, "cluster_margin": same, "random": ([0.7, 0.8], [0.7, 0.8])}
    monkeypatch.setattr(
        simulation,
        "run_seed",
        lambda X, y, n, strategies, *, seed, **_: [
            p for s in strategies for p in fake_curve(s, seed, *curves[s])
        ],
    )
    result = simulation.strategy_evidence(np.zeros((250, 2)), np.arange(250) % 2, 2, "logistic", {})
    assert result["chosen"] == "balanced_margin" and result["beats_random"] is False


def test_strategy_evidence_runs_the_real_simulation_on_a_sample_of_the_labels():
    X, y = digit_vectors(700)
    result = simulation.strategy_evidence(X, y, 10, "logistic", {"device": "cpu"}, seed=0, seeds=1)
    assert result["labels"] == simulation.EVIDENCE_SAMPLE
    assert set(result["scores"]) == {"balanced_margin", "cluster_margin", "random"}
    assert all(0.3 < score <= 1 for score in result["scores"].values())
    assert result["chosen"] in ("balanced_margin", "cluster_margin")


def test_auto_in_a_simulation_asks_for_evidence_from_200_labels_and_again_as_they_grow(monkeypatch):
    asked = []

    def evidence(X, y, n_classes, kind, config, *, seed):
        asked.append(len(y))
        return {"chosen": "cluster_margin"}

    monkeypatch.setattr(simulation, "strategy_evidence", evidence)
    X, y = digit_vectors(1000)
    config = {"hidden": 0, "epochs": 5, "lr": 0.01, "weight_decay": 0, "device": "cpu"}
    simulation.run_seed(
        X, y, 10, ["auto"], seed=0, rounds=24, batch=20, initial=20, config=config, head="logistic"
    )
    assert asked == [200, 300, 460]
    asked.clear()
    simulation.run_seed(
        X, y, 10, ["margin"], seed=0, rounds=12, batch=20, initial=20, config=config, head="logistic"
    )
    assert asked == []  # only auto chooses by evidence


def digit_vectors(n: int):
    from sklearn.datasets import load_digits

    digits = load_digits()
    X = (digits.data[:n] / 16).astype(np.float32)
    return X, digits.target[:n]
