"""Scoring a round's pool in shards that workers take from the queue, then resuming the round."""

from __future__ import annotations

from datetime import timedelta
from functools import partial

import numpy as np
import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from active import embeddings, jobs, pipeline, score_shards, shards, tasks
from active.models import ActiveSettings, ModelRound
from labelhub.projects.models import Item
from labelhub.queues.models import QueueEntry
from tests.active.builders import label_items, make_digits_project, run_queued_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def digits():
    project, items, y = make_digits_project(240, al_strategy="entropy", al_batch_size=15, al_trigger_labels=0)
    ActiveSettings.objects.create(project=project, control_share=0)
    label_items(items[:60], y[:60])
    embeddings.ensure_embedded(project)  # the embedding shards' business, not these tests'
    return project


def deferred_round(project, count: int) -> ModelRound:
    """A round whose first task trained its head and handed the scoring to ``count`` shards."""
    model_round, _ = jobs.request_round(
        project, enqueue=partial(tasks.enqueue_round, score_shard_count=count)
    )
    assert run_queued_tasks(limit=1) == 1
    model_round.refresh_from_db()
    return model_round


def score_rows(model_round: ModelRound, statuses=None) -> list[shards.ShardTask]:
    return shards.shard_tasks(model_round.pk, statuses, suffix=shards.SCORE_TASK_SUFFIX)


def outcome(model_round: ModelRound) -> tuple[list[int], dict]:
    """The round's queued batch, best first, and the suggestions it wrote."""
    batch = list(
        QueueEntry.objects.filter(batch_key=model_round.batch_key)
        .order_by("-priority")
        .values_list("item_id", flat=True)
    )
    suggestions = dict(
        Item.objects.filter(project=model_round.project, suggestion__isnull=False).values_list(
            "pk", "suggestion"
        )
    )
    return batch, suggestions


def unsharded_outcome(model_round: ModelRound) -> tuple[list[int], dict]:
    """What the same round (same id, so the same seeds) selects and suggests scoring the pool itself."""
    QueueEntry.objects.filter(project=model_round.project).delete()
    Item.objects.filter(project=model_round.project).update(suggestion=None)
    ModelRound.objects.filter(pk=model_round.pk).update(
        state=ModelRound.State.PENDING, attempts=0, metrics={}, timings={}
    )
    done = jobs.run_round(model_round.pk)
    assert done.state == ModelRound.State.DONE and "score_shards" not in done.metrics
    return outcome(done)


def test_score_shard_count_follows_the_threshold_unless_shards_are_asked_for():
    threshold = score_shards.SCORE_SHARD_THRESHOLD
    assert score_shards.score_shard_count(threshold - 1) == 0
    assert score_shards.score_shard_count(threshold) == -(-threshold // score_shards.SCORE_SHARD_ROWS)
    assert score_shards.score_shard_count(10, requested=3) == 3
    assert score_shards.score_shard_count(2 * threshold, requested=0) == 0  # the round scores it itself
    assert score_shards.plan_rows(10, 3) == [(0, 3), (4, 6), (7, 9)]


@pytest.mark.parametrize("strategy", ["entropy", "random"])
def test_a_sharded_round_selects_and_suggests_what_the_unsharded_round_does(digits, strategy):
    digits.al_strategy = strategy
    digits.save(update_fields=["al_strategy"])
    model_round = deferred_round(digits, 3)
    assert model_round.state == ModelRound.State.PENDING
    assert model_round.attempts == 1 and model_round.scoring_attempt == 1
    assert [t.status for t in score_rows(model_round)] == [TaskResultStatus.READY] * 3
    waiting = DBTaskResult.objects.filter(
        task_path__endswith=jobs.ROUND_TASK_SUFFIX, status=TaskResultStatus.READY
    ).get()
    assert waiting.run_after > timezone.now()  # the round polls later: its worker is free for a shard

    run_queued_tasks(limit=3)  # the shards; the last one queues the round at once
    assert run_queued_tasks() == 1
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.DONE, model_round.error
    assert model_round.attempts == 1 and model_round.scoring_attempt is None
    assert model_round.metrics["score_shards"] == {
        "shards": 3,
        "rows_from_shards": 240,
        "rows_scored_by_round": 0,
    }
    assert {"train", "score", "score_shards_wait", "select", "write", "total"} <= set(model_round.timings)
    assert not score_shards.round_dir(model_round.pk).exists()
    sharded = outcome(model_round)
    assert len(sharded[0]) == 15

    assert unsharded_outcome(model_round) == sharded


def test_the_round_does_not_load_labels_or_train_again_when_it_resumes(digits, monkeypatch):
    calls = []
    for stage in ("load_labels", "train_and_evaluate", "measure_control"):
        original = getattr(pipeline, stage)
        monkeypatch.setattr(pipeline, stage, lambda *a, _f=original, _n=stage: calls.append(_n) or _f(*a))
    model_round = deferred_round(digits, 2)
    run_queued_tasks(limit=5)
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.DONE
    assert calls == ["load_labels", "train_and_evaluate", "measure_control"]
    assert "accuracy" in model_round.metrics and "head" in model_round.metrics  # kept from the training


def test_a_shard_run_twice_writes_its_result_once(digits):
    model_round = deferred_round(digits, 2)
    first, _ = score_rows(model_round)
    run = partial(
        score_shards.run_score_shard,
        model_round.pk,
        first.first_id,
        first.last_id,
        1,
        enqueue_round=lambda r, at: None,
    )
    assert run()["scored"] == first.last_id - first.first_id + 1
    path = score_shards.result_path(model_round.pk, 1, first.first_id, first.last_id)
    written, stamp = np.load(path), path.stat().st_mtime_ns
    assert run()["scored"] == 0
    assert path.stat().st_mtime_ns == stamp
    np.testing.assert_array_equal(np.load(path), written)
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".")] == []  # no temporary left


def test_a_score_shard_whose_worker_died_is_queued_again(digits):
    model_round = deferred_round(digits, 2)
    first, second = score_rows(model_round)
    long_ago = timezone.now() - timedelta(minutes=5)
    DBTaskResult.objects.filter(pk=first.task_id).update(status=TaskResultStatus.RUNNING, started_at=long_ago)
    run_queued_tasks(limit=1)  # the other shard finishes; the dead one still "runs"
    ModelRound.objects.filter(pk=model_round.pk).update(heartbeat_at=long_ago)  # and beats no more

    waiting = score_shards.wait_for_score_shards(
        model_round.pk, enqueue_round=tasks.enqueue_round, enqueue_shard=tasks.enqueue_score_shard
    )
    assert waiting == 1
    rows = score_rows(model_round)
    assert [t.status for t in rows if t.task_id == first.task_id] == [TaskResultStatus.FAILED]
    again = [t for t in rows if t.status == TaskResultStatus.READY]
    assert [(t.first_id, t.last_id, t.attempt) for t in again] == [(first.first_id, first.last_id, 1)]
    run_queued_tasks(limit=5, include_delayed=True)
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.DONE, model_round.error
    assert model_round.metrics["score_shards"]["rows_from_shards"] == 240


def test_the_round_scores_itself_the_rows_of_a_shard_that_failed(digits):
    model_round = deferred_round(digits, 3)
    failed = score_rows(model_round)[1]
    DBTaskResult.objects.filter(pk=failed.task_id).update(status=TaskResultStatus.FAILED)
    run_queued_tasks(limit=5)
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.DONE, model_round.error
    own = failed.last_id - failed.first_id + 1
    assert model_round.metrics["score_shards"]["rows_scored_by_round"] == own
    assert model_round.metrics["score_shards"]["rows_from_shards"] == 240 - own
    sharded = outcome(model_round)
    assert unsharded_outcome(model_round) == sharded


def test_a_retried_round_ignores_the_files_of_the_attempt_before(digits):
    model_round = deferred_round(digits, 3)
    stale = score_rows(model_round)
    for shard in stale[:2]:
        score_shards.run_score_shard(
            model_round.pk, shard.first_id, shard.last_id, 1, enqueue_round=lambda r, at: None
        )
    for path in score_shards.attempt_dir(model_round.pk, 1).glob("proba-*.npy"):
        np.save(path, np.full_like(np.load(path), 1 / 10))  # were they read, the selection would show it
    jobs.record_failure(model_round.pk, "the worker's machine went away", enqueue=tasks.enqueue_round)
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.PENDING and model_round.scoring_attempt is None

    retried = jobs.attempt_round(
        model_round.pk,
        enqueue=tasks.enqueue_round,
        enqueue_score_shard=tasks.enqueue_score_shard,
        score_shard_count=2,
    )
    assert retried == {"round": model_round.pk, "scoring_in_shards": True}
    model_round.refresh_from_db()
    assert model_round.attempts == 2 and model_round.scoring_attempt == 2
    assert not score_shards.attempt_dir(model_round.pk, 1).exists()
    assert len(score_rows(model_round, shards.LIVE)) == 3 + 2  # attempt 1's shard tasks are still queued

    run_queued_tasks(limit=10, include_delayed=True)
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.DONE, model_round.error
    assert model_round.metrics["score_shards"] == {
        "shards": 2,
        "rows_from_shards": 240,
        "rows_scored_by_round": 0,
    }
    leftovers = DBTaskResult.objects.filter(pk__in=[t.task_id for t in stale])
    assert [t.return_value.get("skipped") for t in leftovers] == [True] * 3
    sharded = outcome(model_round)
    assert unsharded_outcome(model_round) == sharded
