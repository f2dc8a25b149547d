"""Simulation on load_digits: uncertainty sampling needs far fewer labels than random for the same accuracy."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
from django.core.management import call_command

from active.models import SimulationRun
from active.simulation import SimulationError, labels_to_reach, simulate
from tests import factories
from tests.active.builders import make_digits_project

pytestmark = pytest.mark.django_db


@pytest.mark.slow
def test_margin_or_entropy_match_random_at_500_labels_with_at_most_70_percent(data_dir):
    project, _, _ = make_digits_project()
    run = simulate(project, ["entropy", "margin"], rounds=18, batch=25, initial=50, seed=0)
    random_points = [p for p in run.curve if p["strategy"] == "random"]
    assert random_points[-1]["labels"] == 500
    target = random_points[-1]["accuracy"]
    needed = {s: labels_to_reach(run.curve, s, target) for s in ("entropy", "margin")}
    best = min(n for n in needed.values() if n is not None)
    assert best <= 0.7 * 500, (needed, target)
    # The files behind the page exist and hold the same curve.
    with open(Path(data_dir) / run.csv_path) as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(run.curve) == 3 * 19
    assert (Path(data_dir) / run.png_path).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_al_simulate_command_writes_a_curve_per_strategy(data_dir):
    project, _, _ = make_digits_project(400)
    call_command(
        "al_simulate",
        project=str(project.pk),
        strategy=["least_confidence"],
        rounds=2,
        batch=10,
        seed=1,
        device="cpu",
    )
    run = SimulationRun.objects.get(project=project)
    assert run.strategies == ["least_confidence", "random"]
    assert [p["labels"] for p in run.curve if p["strategy"] == "random"] == [10, 20, 30]
    assert (Path(data_dir) / run.png_path).is_file()


def test_simulation_without_ground_truth_says_so():
    project = factories.make_project(modality="image")
    with pytest.raises(SimulationError, match="no ground truth"):
        simulate(project, ["entropy"], rounds=1, batch=5)
