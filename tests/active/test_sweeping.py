"""Sweeping (``active.jobs``): a round whose worker died is noticed within a minute, retried, and its
task row closed; by the sweep itself, ``al_worker`` and the queues' housekeeper."""

from __future__ import annotations

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import call_command
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from active import jobs, pipeline, receivers, services
from active.heartbeat import HEARTBEAT_EVERY
from active.models import ModelRound
from tests.active.builders import label_items, make_digits_project, run_queued_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    project, items, y = make_digits_project(60, al_batch_size=5, al_trigger_labels=0)
    label_items(items[:30], y[:30])
    return project


def die_while_running(model_round: ModelRound, *, silent_for: timedelta) -> DBTaskResult:
    """The state a kill -9 leaves: the round running with an old heartbeat, its task row running."""
    task_row = DBTaskResult.objects.get(status=TaskResultStatus.READY)
    task_row.claim("killed-worker")
    ModelRound.objects.filter(pk=model_round.pk).update(
        state=ModelRound.State.RUNNING, attempts=1, heartbeat_at=timezone.now() - silent_for
    )
    return task_row


def round_task_rows(model_round: ModelRound, status: str) -> list[DBTaskResult]:
    return [
        row
        for row in DBTaskResult.objects.filter(status=status)
        if row.args_kwargs["args"] == [model_round.pk]
    ]


def test_a_dead_worker_is_noticed_within_a_minute():
    assert HEARTBEAT_EVERY * 4 <= jobs.DEAD_AFTER  # a few late beats are not a death
    worst_case = jobs.DEAD_AFTER + jobs.SWEEP_EVERY  # from the last beat to a sweeper noticing
    assert worst_case.total_seconds() <= 60


def test_a_round_silent_for_fifty_seconds_is_dead_and_retried(project):
    model_round, _ = services.request_round(project)
    die_while_running(model_round, silent_for=timedelta(seconds=50))
    assert [r.pk for r in services.sweep_stale_rounds()] == [model_round.pk]
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.PENDING and "no heartbeat" in model_round.error
    assert run_queued_tasks(include_delayed=True) == 1
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.DONE and model_round.attempts == 2


def test_a_round_that_beat_twenty_seconds_ago_is_alive(project):
    model_round, _ = services.request_round(project)
    die_while_running(model_round, silent_for=timedelta(seconds=20))
    assert services.sweep_stale_rounds() == []
    assert ModelRound.objects.get(pk=model_round.pk).state == ModelRound.State.RUNNING


def test_the_dead_workers_task_row_is_failed_not_running_forever(project):
    model_round, _ = services.request_round(project)
    task_row = die_while_running(model_round, silent_for=timedelta(hours=1))
    services.sweep_stale_rounds()
    task_row.refresh_from_db()
    assert task_row.status == TaskResultStatus.FAILED and task_row.finished_at is not None
    assert task_row.exception_class_path == "active.jobs.WorkerLost"
    assert task_row.task_result.errors[0].exception_class is jobs.WorkerLost


def test_a_worker_that_died_before_claiming_the_round_leaves_no_task_running(project):
    model_round, _ = services.request_round(project)
    task_row = DBTaskResult.objects.get(status=TaskResultStatus.READY)
    task_row.claim("killed-worker")
    an_hour_ago = timezone.now() - timedelta(hours=1)
    DBTaskResult.objects.filter(pk=task_row.pk).update(started_at=an_hour_ago)
    ModelRound.objects.filter(pk=model_round.pk).update(created_at=an_hour_ago)

    assert [r.pk for r in services.sweep_stale_rounds()] == [model_round.pk]
    task_row.refresh_from_db()
    assert task_row.status == TaskResultStatus.FAILED
    assert run_queued_tasks(include_delayed=True) == 1
    assert ModelRound.objects.get(pk=model_round.pk).state == ModelRound.State.DONE


def test_the_late_failure_of_an_attempt_the_sweeper_gave_up_on_queues_no_second_retry(project, monkeypatch):
    model_round, _ = services.request_round(project)

    def swept_meanwhile_then_crash(run, training):
        # The worker stalled (an hour: stale by any threshold), a sweeper handed the round on, then it failed.
        ModelRound.objects.filter(pk=run.model_round.pk).update(
            heartbeat_at=timezone.now() - timedelta(hours=1)
        )
        assert services.sweep_stale_rounds()
        raise RuntimeError("CUDA error after a long stall")

    monkeypatch.setattr(pipeline, "train_and_evaluate", swept_meanwhile_then_crash)
    run_queued_tasks()
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.PENDING and model_round.attempts == 1
    assert "no heartbeat" in model_round.error
    assert len(round_task_rows(model_round, TaskResultStatus.READY)) == 1


@pytest.mark.django_db(transaction=True)  # the real worker loop closes connections between tasks
def test_al_worker_sweeps_when_it_starts(project):
    model_round, _ = services.request_round(project)
    task_row = die_while_running(model_round, silent_for=timedelta(hours=1))
    call_command("al_worker", device="cpu", batch=True)
    task_row.refresh_from_db()
    assert task_row.status == TaskResultStatus.FAILED
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.PENDING and len(round_task_rows(model_round, "READY")) == 1


def test_the_housekeepers_tick_sweeps_at_most_every_sweep_interval(project, monkeypatch):
    monkeypatch.setattr(receivers, "_last_sweep", float("-inf"))
    first, _ = services.request_round(project)
    die_while_running(first, silent_for=timedelta(minutes=2))
    receivers.sweep_rounds_on_housekeeping(sender=None)
    assert ModelRound.objects.get(pk=first.pk).state == ModelRound.State.PENDING

    ModelRound.objects.filter(pk=first.pk).update(
        state=ModelRound.State.RUNNING, heartbeat_at=timezone.now() - timedelta(minutes=2)
    )
    receivers.sweep_rounds_on_housekeeping(sender=None)  # the next tick, a second later
    assert ModelRound.objects.get(pk=first.pk).state == ModelRound.State.RUNNING


def test_a_keep_queues_tick_sweeps_a_dead_round(project, monkeypatch):
    monkeypatch.setattr(receivers, "_last_sweep", float("-inf"))
    model_round, _ = services.request_round(project)
    task_row = die_while_running(model_round, silent_for=timedelta(minutes=2))
    call_command("keep_queues", every=0, stdout=StringIO())
    assert ModelRound.objects.get(pk=model_round.pk).state == ModelRound.State.PENDING
    task_row.refresh_from_db()
    assert task_row.status == TaskResultStatus.FAILED
