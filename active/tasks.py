"""Background jobs (Django Tasks API, run by ``manage.py db_worker``): thin task definitions.

The app's top on the job side: these tasks call into ``active.jobs`` and ``active.simulation``, and
hand ``jobs`` the way back onto the queue (:func:`enqueue_round`) as an argument, so nothing below
imports this module.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django_tasks import task

from active import jobs, noise_jobs, score_shards, shards, weak
from active.devices import default_device
from active.models import ModelRound, NoiseCheck
from active.simulation import simulate
from labelhub.projects.models import Project


@task()
def run_model_round(
    round_id: int,
    device: str | None = None,
    shard_count: int | None = None,
    score_shard_count: int | None = None,
) -> dict:
    """Run an active-learning round (after its embedding shards, and around its score shards, if the
    pool needs them); a failure schedules the round's retry, then re-raises for the record. A round
    that finished queues the project's label-noise check (``LABELHUB_NOISE_AFTER_ROUND``)."""
    result = jobs.attempt_round(
        round_id,
        device,
        enqueue=enqueue_round,
        enqueue_shard=enqueue_shard,
        shard_count=shard_count,
        enqueue_evidence=enqueue_evidence,
        enqueue_score_shard=enqueue_score_shard,
        score_shard_count=score_shard_count,
    )
    if result.get("state") == ModelRound.State.DONE and settings.LABELHUB_NOISE_AFTER_ROUND:
        model_round = ModelRound.objects.select_related("project").get(pk=round_id)
        if model_round.labels_used >= noise_jobs.MIN_LABELS:
            check, created = noise_jobs.request_check(
                model_round.project,
                enqueue=enqueue_noise_check,
                trigger=NoiseCheck.Trigger.ROUND,
                model_round=model_round,
                device=model_round.device,
            )
            result["noise_check"] = check.pk
    return result


@task()
def choose_strategy(round_id: int, device: str | None = None) -> dict | None:
    """The simulation on a project's own labels that picks ``auto``'s strategy, after the round that asked."""
    return jobs.run_strategy_evidence(round_id, device)


def enqueue_evidence(model_round: ModelRound) -> None:
    choose_strategy.enqueue(model_round.pk, device=model_round.device)


def enqueue_round(
    model_round: ModelRound,
    run_after: datetime | None = None,
    *,
    shard_count: int | None = None,
    score_shard_count: int | None = None,
) -> None:
    """Queue ``run_model_round`` for the round, not to run before ``run_after`` when given.

    ``shard_count`` asks for the missing embeddings in that many shard tasks whatever their number;
    ``score_shard_count`` for the pool's scoring in that many score shards whatever the pool's size
    (0: scored by the round itself).
    """
    queued = run_model_round if run_after is None else run_model_round.using(run_after=run_after)
    asked = {"shard_count": shard_count or None, "score_shard_count": score_shard_count}
    queued.enqueue(
        model_round.pk, device=model_round.device, **{k: v for k, v in asked.items() if v is not None}
    )


@task(takes_context=True)
def embed_shard(context, round_id: int, first_id: int, last_id: int, device: str | None = None) -> dict:
    """Embed a round's missing items with ids ``first_id..last_id`` (any worker; idempotent)."""
    return shards.run_shard(
        round_id, first_id, last_id, device, enqueue_round=enqueue_round, own_task_id=context.task_result.id
    )


def enqueue_shard(model_round: ModelRound, first_id: int, last_id: int) -> None:
    """Queue ``embed_shard`` for one item-id range of the round's pool."""
    embed_shard.enqueue(model_round.pk, first_id, last_id, device=model_round.device)


@task(takes_context=True)
def score_shard(context, round_id: int, first_row: int, last_row: int, attempt: int) -> dict:
    """Score store rows ``first_row..last_row`` with the head of the round's ``attempt`` (any worker; idempotent)."""
    return score_shards.run_score_shard(
        round_id,
        first_row,
        last_row,
        attempt,
        enqueue_round=enqueue_round,
        own_task_id=context.task_result.id,
    )


def enqueue_score_shard(model_round: ModelRound, first_row: int, last_row: int) -> None:
    """Queue ``score_shard`` for one store-row range of a round waiting for its ``scoring_attempt``'s scores."""
    score_shard.enqueue(model_round.pk, first_row, last_row, model_round.scoring_attempt)


@task()
def run_simulation(
    project_id: int, strategies: list[str], rounds: int, batch: int, seed: int = 0, device: str | None = None
) -> dict:
    """A simulation started from the project page (the same code as ``manage.py al_simulate``)."""
    run = simulate(
        Project.objects.get(pk=project_id),
        strategies,
        rounds=rounds,
        batch=batch,
        seed=seed,
        device=device or default_device(),
    )
    return {"simulation": run.pk, "summary": run.summary}


@task()
def run_weak_labels(run_id: int, device: str | None = None, method: str | None = None) -> dict:
    """Apply the project's labeling functions, fit the label model, queue the unsure items."""
    return weak.run_weak(run_id, device or default_device(), method=method)


@task()
def run_noise_check(check_id: int, device: str | None = None) -> dict:
    """Run a label-noise check (K-fold probabilities, detection, suspects to review); resumable."""
    return noise_jobs.attempt_check(check_id, device, enqueue=enqueue_noise_check)


def enqueue_noise_check(check: NoiseCheck, run_after: datetime | None = None) -> None:
    """Queue ``run_noise_check`` for the check, not to run before ``run_after`` when given."""
    queued = run_noise_check if run_after is None else run_noise_check.using(run_after=run_after)
    queued.enqueue(check.pk, device=check.device)
