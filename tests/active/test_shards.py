"""Embedding a pool in shards that workers take from the queue, then running the round."""

from __future__ import annotations

import zlib
from datetime import timedelta
from functools import partial

import numpy as np
import pytest
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from active import embeddings, jobs, shards, tasks
from active.models import ModelRound
from labelhub.projects.models import Item
from tests import factories
from tests.active.builders import run_queued_tasks

pytestmark = pytest.mark.django_db


class TextHashEncoder:
    """A stand-in for MiniLM whose vector depends on the text alone (never on its batch), counting texts."""

    def __init__(self):
        self.seen: list[str] = []

    def encode(self, texts, batch_size=128):
        self.seen.extend(texts)
        return np.stack(
            [
                np.random.default_rng(zlib.crc32(t.encode()))
                .normal(size=embeddings.TEXT_DIM)
                .astype(np.float32)
                for t in texts
            ]
        ).reshape(len(texts), embeddings.TEXT_DIM)


@pytest.fixture
def encoder(monkeypatch):
    fake = TextHashEncoder()
    monkeypatch.setattr(embeddings.TextEncoder, "get", classmethod(lambda cls, device: fake))
    return fake


def sharded_round(project, count: int) -> ModelRound:
    model_round, _ = jobs.request_round(project, enqueue=partial(tasks.enqueue_round, shard_count=count))
    return model_round


def shard_rows(model_round: ModelRound) -> list[shards.ShardTask]:
    return shards.shard_tasks(model_round.pk)


def test_shards_cover_every_missing_item_exactly_once():
    missing = np.array([3, 4, 9, 10, 11, 25, 26, 40, 41, 42, 43], dtype=np.int64)
    ranges = shards.plan_shards(missing[::-1], 4)
    assert len(ranges) == 4
    hits = [sum(first <= i <= last for first, last in ranges) for i in missing]
    assert hits == [1] * len(missing)
    assert all(a[1] < b[0] for a, b in zip(ranges, ranges[1:], strict=False))
    sizes = [int(((missing >= f) & (missing <= lst)).sum()) for f, lst in ranges]
    assert max(sizes) - min(sizes) <= 1
    assert shards.plan_shards(missing, 0) == []


def test_shard_count_follows_the_threshold_unless_shards_are_asked_for():
    assert shards.shard_count(shards.SHARD_THRESHOLD - 1) == 0
    assert shards.shard_count(shards.SHARD_THRESHOLD) == shards.SHARD_THRESHOLD // shards.SHARD_ITEMS
    assert shards.shard_count(10, requested=3) == 3
    assert shards.shard_count(2, requested=3) == 2
    assert shards.shard_count(0, requested=3) == 0


def test_the_round_waits_for_its_shards_then_runs(encoder):
    project = factories.make_project(al_batch_size=5)
    factories.make_items(project, 40)
    model_round = sharded_round(project, 3)

    assert run_queued_tasks(limit=1) == 1  # the round's task: plans the shards, waits
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.PENDING and model_round.attempts == 0
    ready = [t for t in shard_rows(model_round) if t.status == TaskResultStatus.READY]
    assert len(ready) == 3 and encoder.seen == []
    waiting = DBTaskResult.objects.filter(
        task_path__endswith=jobs.ROUND_TASK_SUFFIX, status=TaskResultStatus.READY
    ).get()
    assert waiting.run_after > timezone.now()  # polls later: no busy wait

    run_queued_tasks(limit=2)  # two of three shards
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.PENDING
    # The poll comes round before the last shard is in: the round keeps waiting.
    assert jobs.attempt_round(
        model_round.pk, enqueue=tasks.enqueue_round, enqueue_shard=tasks.enqueue_shard
    ) == {"round": model_round.pk, "waiting_for_shards": 1}

    run_queued_tasks(limit=1)  # the last shard, which queues the round at once
    assert run_queued_tasks() >= 1
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.DONE and model_round.selected_count == 5
    assert model_round.metrics["embedded_new"] == 0  # every item came from the shards
    assert sorted(encoder.seen) == sorted(
        p["text"] for p in Item.objects.filter(project=project).values_list("payload", flat=True)
    )


def test_shards_in_any_order_or_twice_give_the_vectors_of_one_process(encoder, settings, tmp_path):
    project = factories.make_project()
    items = factories.make_items(project, 50)
    settings.LABELHUB_DATA_DIR = tmp_path / "one-process"
    reference, _ = embeddings.ensure_embedded(project)
    expected = reference.get([i.pk for i in items])

    settings.LABELHUB_DATA_DIR = tmp_path / "sharded"
    model_round = sharded_round(project, 4)
    run_queued_tasks(limit=1)
    planned = [(t.first_id, t.last_id) for t in shard_rows(model_round)]
    for first_id, last_id in [*planned[::-1], planned[1]]:  # reversed, and one shard twice
        shards.run_shard(model_round.pk, first_id, last_id, enqueue_round=lambda r, at: None)
    store = embeddings.store_for(project)
    assert len(store) == 50 and len(np.unique(store.ids)) == 50
    np.testing.assert_array_equal(store.get([i.pk for i in items]), expected)
    assert len(encoder.seen) == 50 + 50  # the reference once, the shards once: the repeat embedded nothing


def test_a_crashed_shard_resumes_from_the_cache(monkeypatch):
    project = factories.make_project()
    factories.make_items(project, 1000)
    model_round = sharded_round(project, 1)
    run_queued_tasks(limit=1)
    (shard,) = shard_rows(model_round)

    class Dies(TextHashEncoder):
        def encode(self, texts, batch_size=128):
            if len(self.seen) + len(texts) > 600:
                raise RuntimeError("worker killed mid-shard")
            return super().encode(texts, batch_size)

    dying, retry = Dies(), TextHashEncoder()
    monkeypatch.setattr(embeddings.TextEncoder, "get", classmethod(lambda cls, device: dying))
    with pytest.raises(RuntimeError, match="killed"):
        shards.run_shard(model_round.pk, shard.first_id, shard.last_id, enqueue_round=lambda r, at: None)
    monkeypatch.setattr(embeddings.TextEncoder, "get", classmethod(lambda cls, device: retry))
    shards.run_shard(model_round.pk, shard.first_id, shard.last_id, enqueue_round=lambda r, at: None)
    assert 0 < len(dying.seen) <= 600 and len(dying.seen) + len(retry.seen) == 1000
    assert not set(dying.seen) & set(retry.seen)


def test_a_shard_whose_worker_died_is_queued_again(encoder):
    project = factories.make_project()
    factories.make_items(project, 30)
    model_round = sharded_round(project, 2)
    run_queued_tasks(limit=1)
    first, second = shard_rows(model_round)
    long_ago = timezone.now() - timedelta(minutes=5)
    DBTaskResult.objects.filter(pk=first.task_id).update(status=TaskResultStatus.RUNNING, started_at=long_ago)
    run_queued_tasks(limit=1)  # the other shard finishes; the dead one still "runs"
    ModelRound.objects.filter(pk=model_round.pk).update(heartbeat_at=long_ago)  # and beats no more

    waiting = shards.wait_for_shards(
        model_round.pk, enqueue_round=tasks.enqueue_round, enqueue_shard=tasks.enqueue_shard
    )
    assert waiting == 1
    rows = shard_rows(model_round)
    assert [t.status for t in rows if t.task_id == first.task_id] == [TaskResultStatus.FAILED]
    again = [t for t in rows if t.status == TaskResultStatus.READY]
    assert [(t.first_id, t.last_id) for t in again] == [(first.first_id, first.last_id)]
    run_queued_tasks(limit=5)
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.DONE
    assert len(encoder.seen) == 30


def test_a_small_pool_is_embedded_by_the_round_itself(encoder):
    project = factories.make_project(al_batch_size=3)
    factories.make_items(project, 20)
    model_round, _ = jobs.request_round(project, enqueue=tasks.enqueue_round)
    run_queued_tasks()
    model_round.refresh_from_db()
    assert model_round.state == ModelRound.State.DONE
    assert model_round.metrics["embedded_new"] == 20
    assert not DBTaskResult.objects.filter(task_path__endswith=shards.SHARD_TASK_SUFFIX).exists()


def test_sweep_closes_shard_rows_left_running_after_their_round_ended(encoder):
    project = factories.make_project()
    factories.make_items(project, 10)
    model_round = sharded_round(project, 1)
    run_queued_tasks(limit=1)
    (shard,) = shard_rows(model_round)
    long_ago = timezone.now() - timedelta(minutes=5)
    DBTaskResult.objects.filter(pk=shard.task_id).update(status=TaskResultStatus.RUNNING, started_at=long_ago)
    ModelRound.objects.filter(pk=model_round.pk).update(state=ModelRound.State.FAILED)
    jobs.sweep_stale_rounds(enqueue=tasks.enqueue_round)
    assert DBTaskResult.objects.get(pk=shard.task_id).status == TaskResultStatus.FAILED
