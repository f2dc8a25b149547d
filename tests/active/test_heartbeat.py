"""``active/heartbeat.py``: a running attempt beats from a background thread, and only while it owns the round."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from active import heartbeat, pipeline, services
from active.heartbeat import Periodic, beat_round
from active.models import ModelRound
from tests.active.builders import label_items, make_digits_project, run_queued_tasks


@pytest.mark.django_db(transaction=True)  # the heartbeat thread has its own connection: it sees commits only
def test_a_long_stage_keeps_beating_from_the_background(monkeypatch):
    monkeypatch.setattr(heartbeat, "HEARTBEAT_EVERY", timedelta(milliseconds=50))
    project, items, y = make_digits_project(40, al_batch_size=4, al_trigger_labels=0)
    label_items(items[:20], y[:20])
    model_round, _ = services.request_round(project)
    seen = []

    def long_training(run, training):
        # One stage, no stage boundary inside it: only a background beat can move the heartbeat.
        seen.append(ModelRound.objects.get(pk=run.model_round.pk).heartbeat_at)
        time.sleep(0.6)
        seen.append(ModelRound.objects.get(pk=run.model_round.pk).heartbeat_at)
        return None

    monkeypatch.setattr(pipeline, "train_and_evaluate", long_training)
    assert run_queued_tasks() == 1
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.DONE, model_round.error
    assert seen[1] > seen[0]


def test_a_superseded_attempt_no_longer_beats(db):
    project, _, _ = make_digits_project(4, al_trigger_labels=0)
    model_round, _ = services.request_round(project)
    long_ago = timezone.now() - timedelta(hours=1)
    ModelRound.objects.filter(pk=model_round.pk).update(
        state=ModelRound.State.RUNNING, attempts=2, heartbeat_at=long_ago
    )
    assert beat_round(model_round.pk, attempt=1) is False
    assert ModelRound.objects.get(pk=model_round.pk).heartbeat_at == long_ago
    assert beat_round(model_round.pk, attempt=2) is True
    assert ModelRound.objects.get(pk=model_round.pk).heartbeat_at > long_ago


def test_the_pipeline_stops_at_its_next_beat_once_another_attempt_owns_the_round(db, monkeypatch):
    project, items, y = make_digits_project(40, al_trigger_labels=0)
    label_items(items[:20], y[:20])
    model_round, _ = services.request_round(project)
    stages = []

    def load_labels_then_lose_the_round(run, store):
        stages.append("labels")
        ModelRound.objects.filter(pk=run.model_round.pk).update(attempts=run.attempt + 1)
        return original_load(run, store)

    def train(run, training):
        stages.append("train")

    original_load = pipeline.load_labels
    monkeypatch.setattr(pipeline, "load_labels", load_labels_then_lose_the_round)
    monkeypatch.setattr(pipeline, "train_and_evaluate", train)
    run_queued_tasks()
    assert stages == ["labels"]  # the clock's beat at the next stage noticed, before training
    assert ModelRound.objects.get(pk=model_round.pk).state == ModelRound.State.RUNNING


def test_periodic_calls_again_after_a_failing_call():
    calls = []
    twice = threading.Event()

    def flaky():
        calls.append(time.monotonic())
        if len(calls) == 1:
            raise RuntimeError("database went away")
        twice.set()

    with Periodic(timedelta(milliseconds=20), flaky, name="test-periodic"):
        assert twice.wait(timeout=5)
    assert len(calls) >= 2
