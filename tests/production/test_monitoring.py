"""Drift windows of a deployment: written per window and source, alarms pushed once."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from labelhub.production import monitoring, scoring, services
from labelhub.production.models import Deployment, DriftWindow
from tests.production.builders import clustered_project, embedded_record, unit_vectors

pytestmark = pytest.mark.django_db

CONFIDENT = [0.9, 0.05, 0.05]
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def stream(deployment, vectors, predictions, *, at: datetime, source: str = "web", prefix: str = "r"):
    records = [
        embedded_record(
            f"{prefix}{i}", v, p, CONFIDENT, timestamp=(at + timedelta(seconds=i)).isoformat(), source=source
        )
        for i, (v, p) in enumerate(zip(vectors, predictions, strict=True))
    ]
    services.capture_batch(deployment, records, enqueue_scoring=lambda d: None)
    scoring.score_pending(deployment)


class FakeLayer:
    def __init__(self):
        self.sent = []

    async def group_send(self, group, message):
        self.sent.append((group, message))


def test_a_window_like_the_training_data_raises_no_alarm(settings):
    project, deployment, _, _, _, C = clustered_project()
    rng = np.random.default_rng(0)
    classes = ("cat", "dog", "wolf")
    vectors = np.vstack([unit_vectors(rng, C[i % 3], 1) for i in range(90)])
    stream(deployment, vectors, [classes[i % 3] for i in range(90)], at=START)
    rows = monitoring.check_windows(deployment, since=START)
    assert len(rows) == 1
    row = DriftWindow.objects.get()
    assert row.window_start == START and row.source == "web" and row.n_production == 90
    assert not row.alarm, row.reasons
    assert row.class_mix["production"] == {"cat": 30, "dog": 30, "wolf": 30}


def test_a_new_kind_of_input_raises_an_alarm_pushed_to_pages_and_the_webhook(
    monkeypatch, django_capture_on_commit_callbacks
):
    project, deployment, _, _, _, C = clustered_project()
    Deployment.objects.filter(pk=deployment.pk).update(webhook_url="https://hooks.example.org/drift")
    deployment.refresh_from_db()
    layer, posted = FakeLayer(), []
    monkeypatch.setattr(monitoring, "get_channel_layer", lambda: layer)
    monkeypatch.setattr(monitoring, "post_webhook", lambda url, body: posted.append((url, body)))
    rng = np.random.default_rng(1)
    vectors = np.vstack([unit_vectors(rng, C[3 if i % 2 else 0], 1) for i in range(80)])
    stream(deployment, vectors, ["cat"] * 80, at=START)
    with django_capture_on_commit_callbacks(execute=True):
        monitoring.check_windows(deployment, since=START)
    row = DriftWindow.objects.get()
    assert row.alarm and "embeddings" in row.reasons
    assert row.domain_auc > row.domain_threshold
    assert len(row.production_like) == monitoring.PRODUCTION_LIKE_SHOWN
    assert layer.sent[0][0] == f"production-{project.pk}" and layer.sent[0][1]["type"] == "drift.alarm"
    assert posted[0][0] == "https://hooks.example.org/drift" and posted[0][1]["reasons"] == row.reasons
    # Re-checking the same window (more captures came) does not announce it again.
    with django_capture_on_commit_callbacks(execute=True):
        monitoring.check_windows(deployment, since=START)
    assert len(layer.sent) == 1 and len(posted) == 1


def test_windows_are_per_source_and_per_period(settings):
    settings.LABELHUB_DRIFT_WINDOW_MINUTES = 60
    project, deployment, _, _, _, C = clustered_project()
    rng = np.random.default_rng(2)
    vectors = np.vstack([unit_vectors(rng, C[i % 3], 1) for i in range(40)])
    predictions = [("cat", "dog", "wolf")[i % 3] for i in range(40)]
    stream(deployment, vectors, predictions, at=START, source="web", prefix="w")
    stream(deployment, vectors, predictions, at=START, source="app", prefix="a")
    stream(deployment, vectors, predictions, at=START + timedelta(hours=1), source="web", prefix="l")
    monitoring.check_windows(deployment, since=START)
    keys = set(DriftWindow.objects.values_list("source", "window_start"))
    assert keys == {("web", START), ("app", START), ("web", START + timedelta(hours=1))}


def test_a_window_with_too_few_captures_is_not_judged():
    project, deployment, _, _, _, C = clustered_project()
    stream(deployment, [C[0]] * 5, ["cat"] * 5, at=START)
    assert monitoring.check_windows(deployment, since=START) == []


def test_a_biased_model_is_judged_against_its_own_first_traffic():
    """The training labels are a third each; the deployed model predicts "cat" for half of what it
    sees. That bias is in every window: only a change from the model's first traffic is an alarm."""
    project, deployment, _, _, _, C = clustered_project()
    rng = np.random.default_rng(3)
    biased = [("cat", "cat", "cat", "dog", "wolf", "cat")[i % 6] for i in range(120)]
    for hour in range(3):
        vectors = np.vstack([unit_vectors(rng, C[i % 3], 1) for i in range(120)])
        stream(deployment, vectors, biased, at=START + timedelta(hours=hour), prefix=f"h{hour}-")
    shifted = np.vstack([unit_vectors(rng, C[i % 3], 1) for i in range(120)])
    stream(deployment, shifted, ["wolf"] * 120, at=START + timedelta(hours=3), prefix="s")
    monitoring.check_windows(deployment, since=START)
    rows = list(DriftWindow.objects.order_by("window_start"))
    assert [row.n_production for row in rows] == [120] * 4
    assert rows[0].class_mix["reference"] == {} and rows[0].class_p == 1.0  # no baseline yet
    assert rows[1].class_mix["reference"] == {"cat": 80, "dog": 20, "wolf": 20}
    training = rows[1].class_mix["training"]  # the train split of 40 per class: near a third each
    assert max(training.values()) - min(training.values()) <= 10 and training["cat"] < 50
    assert ["class_mix" in row.reasons for row in rows] == [False, False, False, True]
