"""The scoring job: uncertainty, novelty against the training snapshot, disagreement with the head."""

import numpy as np
import pytest
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from labelhub.production import jobs, scoring, services
from labelhub.production.models import Capture
from tests.active.builders import run_queued_tasks
from tests.production.builders import clustered_project, embedded_record, unit_vectors

pytestmark = pytest.mark.django_db

CONFIDENT = [0.9, 0.05, 0.05]
UNSURE = [0.45, 0.4, 0.15]


def send(deployment, records):
    return services.capture_batch(deployment, records, enqueue_scoring=lambda d: None)


def test_scores_margin_entropy_novelty_and_the_heads_class():
    project, deployment, _, _, _, C = clustered_project()
    rng = np.random.default_rng(5)
    known = unit_vectors(rng, C[1], 10)
    novel = unit_vectors(rng, C[3], 5)
    send(deployment, [embedded_record(f"k{i}", v, "cat", CONFIDENT) for i, v in enumerate(known)])
    send(deployment, [embedded_record(f"n{i}", v, "cat", UNSURE) for i, v in enumerate(novel)])
    assert scoring.score_pending(deployment) == 15
    rows = {c.key: c for c in Capture.objects.filter(deployment=deployment)}
    assert all(c.scored_at is not None for c in rows.values())
    assert rows["k0"].margin == pytest.approx(0.85, abs=1e-6) and rows["n0"].margin == pytest.approx(
        0.05, abs=1e-6
    )
    assert rows["n0"].entropy > rows["k0"].entropy
    assert all(rows[f"n{i}"].novelty_percentile >= 0.99 for i in range(5))
    assert np.median([rows[f"k{i}"].novelty_percentile for i in range(10)]) < 0.9
    # The head learnt the clusters: known vectors are "dog" (class 1), so the deployed "cat" disagrees.
    assert all(rows[f"k{i}"].head_class == 1 and rows[f"k{i}"].disagrees for i in range(10))


def test_logits_give_energy_and_stand_in_for_probabilities():
    project, deployment, _, _, _, C = clustered_project()
    vector = unit_vectors(np.random.default_rng(1), C[0], 1)[0]
    record = embedded_record("z", vector, "cat", None)
    del record["probabilities"]
    record["logits"] = [3.0, 0.0, 0.0]
    send(deployment, [record])
    scoring.score_pending(deployment)
    capture = Capture.objects.get(key="z")
    expected = np.exp(3) / (np.exp(3) + 2)
    assert capture.margin == pytest.approx(expected - (1 - expected) / 2, abs=1e-5)
    assert capture.energy == pytest.approx(-np.log(np.exp(3) + 2), abs=1e-5)


def test_a_capture_without_probabilities_or_logits_has_no_uncertainty():
    project, deployment, _, _, _, C = clustered_project()
    record = embedded_record("e", C[0], "cat", None)
    del record["probabilities"]
    send(deployment, [record])
    scoring.score_pending(deployment)
    capture = Capture.objects.get(key="e")
    assert capture.margin is None and capture.energy is None and capture.novelty is not None


def test_scoring_twice_scores_nothing_twice():
    project, deployment, _, _, _, C = clustered_project()
    send(deployment, [embedded_record("a", C[0], "cat", CONFIDENT)])
    assert scoring.score_pending(deployment) == 1
    first = Capture.objects.get(key="a").scored_at
    assert scoring.score_pending(deployment) == 0
    assert Capture.objects.get(key="a").scored_at == first


def test_the_capture_batch_queues_one_scoring_task_and_the_worker_runs_it():
    project, deployment, _, _, _, C = clustered_project()
    services.capture_batch(deployment, [embedded_record("a", C[0], "cat", CONFIDENT)])
    services.capture_batch(deployment, [embedded_record("b", C[1], "dog", CONFIDENT)])
    assert DBTaskResult.objects.filter(task_path__endswith="score_captures").count() == 1  # not yet started
    run_queued_tasks()
    task = DBTaskResult.objects.get(task_path__endswith="score_captures")
    assert task.status == TaskResultStatus.SUCCESSFUL, task.exception_class_path
    assert not Capture.objects.filter(deployment=deployment, scored_at__isnull=True).exists()


def test_captures_a_dead_worker_left_unscored_are_queued_again():
    project, deployment, _, _, _, C = clustered_project()
    send(deployment, [embedded_record("a", C[0], "cat", CONFIDENT)])
    queued = []
    assert jobs.revive_lost_scoring(enqueue=queued.append) == []  # too recent to be lost
    from datetime import timedelta

    assert jobs.revive_lost_scoring(enqueue=queued.append, lost_after=timedelta(seconds=-1)) == [
        deployment.pk
    ]
    assert queued == [deployment.pk]
