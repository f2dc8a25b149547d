"""Round bookkeeping: request a round, claim it, record a failure, retry it, sweep stale ones.

A round is one ``ModelRound`` row moving pending → running → done (or back to pending for a retry,
or failed); ``active.pipeline`` does the work of a running one.

django-tasks-db does not retry failed tasks, and a worker killed mid-task leaves its task
"running" forever; so retries live here: a failure re-enqueues the round's task (with a backoff)
until ``max_attempts``, and ``sweep_stale_rounds`` turns rounds whose worker stopped heart-beating
(``active.heartbeat``) into such failures and closes the task rows the dead worker left running
(embedding shards' rows too, once their round stopped waiting: ``active.shards``).
Every worker sweeps before each round and every ``SWEEP_EVERY`` (``al_worker``).

Putting a round on the task queue is the caller's ``enqueue`` (``active.tasks.enqueue_round``;
``active.services`` binds it): the task definitions call into this module, so this module never
imports them.
"""

from __future__ import annotations

import logging
import traceback
from collections.abc import Callable
from datetime import datetime, timedelta

from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from active import pipeline, score_shards, shards
from active.devices import default_device, resolve_device
from active.heartbeat import close_dead_task_rows
from active.models import ModelRound
from active.selectors import active_round, labels_since_last_round
from active.strategies import normalise_strategy
from labelhub.projects.models import Project

logger = logging.getLogger(__name__)

#: A running round whose heartbeat (every ``heartbeat.HEARTBEAT_EVERY``, 10 s) is older than this is
#: dead: four beats missed. Workers sweep every ``SWEEP_EVERY``, so a dead one is noticed within a minute.
DEAD_AFTER = timedelta(seconds=45)
SWEEP_EVERY = timedelta(seconds=10)
RETRY_BACKOFF_SECONDS = (5, 30, 120)
ROUND_TASK_SUFFIX = ".run_model_round"

#: Puts a round's task on the queue, to run at once or not before ``run_after``.
Enqueue = Callable[[ModelRound, datetime | None], None]


# Requesting ---------------------------------------------------------------------------------
def request_round(
    project: Project,
    *,
    enqueue: Enqueue,
    trigger: str = ModelRound.Trigger.MANAGER,
    requested_by=None,
    device: str | None = None,
) -> tuple[ModelRound, bool]:
    """Create a pending round and enqueue its task, unless one is already pending or running.

    The round row and its task row are written in one transaction (the task backend is the
    database), so there is never a pending round without a task to run it. Returns
    ``(round, created)``; :class:`~active.errors.UnknownStrategy` (field ``al_strategy``) when the
    project's strategy is not one we know.
    """
    strategy = normalise_strategy(project.al_strategy, field="al_strategy")
    existing = active_round(project)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            number = (ModelRound.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
            model_round = ModelRound.objects.create(
                project=project,
                number=number,
                trigger=trigger,
                requested_by=requested_by,
                strategy=strategy,
                batch_size=project.al_batch_size,
                device=device or default_device(),
            )
            enqueue(model_round, None)
    except IntegrityError:
        # Another process created the project's active round between our check and insert.
        existing = active_round(project)
        if existing is None:
            raise
        return existing, False
    return model_round, True


def maybe_trigger_round(project: Project, *, enqueue: Enqueue) -> ModelRound | None:
    """Start a round when ``al_trigger_labels`` new labels arrived since the last one (0 disables)."""
    if not project.al_trigger_labels:
        return None
    sweep_stale_rounds(enqueue=enqueue, project=project)
    if active_round(project) is not None:
        return None
    if labels_since_last_round(project, up_to=project.al_trigger_labels) < project.al_trigger_labels:
        return None
    model_round, created = request_round(project, enqueue=enqueue, trigger=ModelRound.Trigger.LABELS)
    return model_round if created else None


# Running ------------------------------------------------------------------------------------
def claim_round(round_id: int) -> ModelRound | None:
    """pending → running, counting the attempt; None when the round is not pending (a duplicate task).

    A round pending for its score shards (``scoring_attempt``) resumes that attempt: no new one is
    counted, so the pipeline finds the attempt's head and shard files (``active.score_shards``).
    """
    now = timezone.now()
    pending = ModelRound.objects.filter(pk=round_id, state=ModelRound.State.PENDING)
    resumed = pending.filter(scoring_attempt=F("attempts")).update(
        state=ModelRound.State.RUNNING, scoring_attempt=None, heartbeat_at=now
    )
    claimed = resumed or pending.update(
        state=ModelRound.State.RUNNING,
        attempts=F("attempts") + 1,
        scoring_attempt=None,
        started_at=now,
        heartbeat_at=now,
    )
    if not claimed:
        return None
    return ModelRound.objects.select_related("project").get(pk=round_id)


def run_round(round_id: int, device: str | None = None) -> ModelRound | None:
    """Claim a pending round and run its pipeline in this process; None when it was not pending.

    Raises what the pipeline raises; the caller records the failure (``attempt_round`` does).
    """
    model_round = claim_round(round_id)
    if model_round is None:
        logger.info("round %s is not pending; nothing to do", round_id)
        return None
    return pipeline.run_round(model_round, device)


def wait_for_shard_tasks(
    round_id: int,
    *,
    enqueue: Enqueue,
    enqueue_shard: shards.EnqueueShard | None,
    shard_count: int | None,
    enqueue_score_shard: shards.EnqueueShard | None,
) -> dict | None:
    """The answer of a round task that finds its round waiting for shards (embedding before the
    round, scoring after its training), or None when the round can run now."""
    if enqueue_score_shard is not None:
        waiting = score_shards.wait_for_score_shards(
            round_id, enqueue_round=enqueue, enqueue_shard=enqueue_score_shard
        )
        if waiting:
            logger.info("round %s waits for %d score shards", round_id, waiting)
            return {"round": round_id, "waiting_for_score_shards": waiting}
    if enqueue_shard is not None:
        waiting = shards.wait_for_shards(
            round_id, enqueue_round=enqueue, enqueue_shard=enqueue_shard, requested=shard_count
        )
        if waiting:
            logger.info("round %s waits for %d embedding shards", round_id, waiting)
            return {"round": round_id, "waiting_for_shards": waiting}
    return None


def attempt_round(
    round_id: int,
    device: str | None = None,
    *,
    enqueue: Enqueue,
    enqueue_shard: shards.EnqueueShard | None = None,
    shard_count: int | None = None,
    enqueue_evidence: Callable[[ModelRound], None] | None = None,
    enqueue_score_shard: shards.EnqueueShard | None = None,
    score_shard_count: int | None = None,
) -> dict:
    """One worker attempt at a round (the body of the ``run_model_round`` task).

    Sweeps stale rounds first (the worker is the one process sure to run now and then). With
    ``enqueue_shard``, a pool with many items missing from the embedding cache (or ``shard_count``
    asked for) is first embedded in shard tasks: the round stays pending and its task comes back
    until they are in (``active.shards``). With ``enqueue_score_shard``, a large store (or
    ``score_shard_count`` asked for) is scored in shard tasks after training: the round goes back
    to pending until they are in, then resumes the same attempt (``active.score_shards``). A
    failure schedules the round's retry and re-raises, so the task records it too. A done round
    that asks for a strategy simulation (``auto`` with enough labels) gets it queued with
    ``enqueue_evidence``.
    """
    sweep_stale_rounds(enqueue=enqueue)
    waiting = wait_for_shard_tasks(
        round_id,
        enqueue=enqueue,
        enqueue_shard=enqueue_shard,
        shard_count=shard_count,
        enqueue_score_shard=enqueue_score_shard,
    )
    if waiting is not None:
        return waiting
    model_round = claim_round(round_id)
    if model_round is None:
        logger.info("round %s is not pending; nothing to do", round_id)
        return {"round": round_id, "skipped": True}
    attempt = model_round.attempts
    sharding = (
        pipeline.ScoreSharding(enqueue, enqueue_score_shard, score_shard_count)
        if enqueue_score_shard is not None
        else None
    )
    try:
        model_round = pipeline.run_round(model_round, device, sharding=sharding)
    except pipeline.RoundSuperseded:
        logger.warning("round %s: a newer attempt owns it; attempt %s wrote nothing", round_id, attempt)
        return {"round": round_id, "superseded": True}
    except Exception as exc:
        record_failure(
            round_id,
            f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}",
            enqueue=enqueue,
            attempt=attempt,
        )
        raise
    if model_round.state == ModelRound.State.PENDING:
        logger.info("round %s attempt %s handed its scoring to shards", round_id, attempt)
        return {"round": round_id, "scoring_in_shards": True}
    if enqueue_evidence is not None and "evidence_requested" in (model_round.metrics or {}):
        enqueue_evidence(model_round)
    return {"round": model_round.pk, "state": model_round.state, "selected": model_round.selected_count}


def run_strategy_evidence(round_id: int, device: str | None = None) -> dict | None:
    """The strategy simulation a done round asked for (the body of the ``choose_strategy`` task)."""
    model_round = ModelRound.objects.select_related("project").filter(pk=round_id).first()
    if model_round is None or model_round.state != ModelRound.State.DONE:
        return None
    requested = device or model_round.device
    if requested == "auto":
        requested = default_device()
    return pipeline.record_strategy_evidence(model_round, resolve_device(requested))


# Failures and retries -----------------------------------------------------------------------
def retry_delay(attempts: int) -> timedelta:
    """The backoff before the next attempt, after ``attempts`` of them."""
    return timedelta(seconds=RETRY_BACKOFF_SECONDS[min(max(attempts, 1), len(RETRY_BACKOFF_SECONDS)) - 1])


def record_failure(round_id: int, error: str, *, enqueue: Enqueue, attempt: int | None = None) -> ModelRound:
    """After a failed attempt: back to pending with a delayed retry, or failed once attempts are spent.

    With ``attempt``, only while that attempt still runs the round: when a sweeper has already
    handed the round on, the late failure of the old attempt changes nothing (and queues no
    second retry).
    """
    with transaction.atomic():
        model_round = ModelRound.objects.select_for_update().get(pk=round_id)
        if model_round.state in (ModelRound.State.DONE, ModelRound.State.FAILED):
            return model_round
        if attempt is not None and (
            model_round.state != ModelRound.State.RUNNING or model_round.attempts != attempt
        ):
            return model_round
        fail_attempt(model_round, error, enqueue=enqueue)
    return model_round


def fail_attempt(model_round: ModelRound, error: str, *, enqueue: Enqueue) -> None:
    """Record a failed attempt on a round locked by the caller's transaction, and queue its retry."""
    now = timezone.now()
    model_round.error = error[:4000]
    model_round.heartbeat_at = now
    model_round.scoring_attempt = None  # a retry is a new attempt: it trains again
    if model_round.attempts < model_round.max_attempts:
        model_round.state = ModelRound.State.PENDING
        enqueue(model_round, now + retry_delay(model_round.attempts))
    else:
        model_round.state = ModelRound.State.FAILED
        model_round.finished_at = now
    model_round.save(update_fields=["state", "error", "heartbeat_at", "finished_at", "scoring_attempt"])


# Sweeping -----------------------------------------------------------------------------------
class WorkerLost(Exception):
    """Recorded on the task row of a worker that died running it (django-tasks-db leaves it running)."""


def sweep_stale_rounds(
    *, enqueue: Enqueue, stale_after: timedelta = DEAD_AFTER, project: Project | None = None
) -> list[ModelRound]:
    """Revive the rounds whose worker died, and close the task rows it left running.

    Three ways a round gets stuck: its worker died mid-run (running, heartbeat older than
    ``stale_after``: the attempt is recorded as failed, so it retries while attempts remain, and its
    task row is set failed); a worker died holding the task but not the round (a task row running
    for longer than ``stale_after`` whose round is not running: set failed); or the round's task
    vanished (pending, quiet for longer than ``stale_after``, no ready or running task naming it:
    recorded as a failed attempt, which queues a new task). Safe to run from many processes at
    once: each round is re-checked under its row lock before anything is written.
    """
    cutoff = timezone.now() - stale_after
    rounds_qs = ModelRound.objects.all() if project is None else ModelRound.objects.filter(project=project)
    dead = rounds_qs.filter(state=ModelRound.State.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    )
    swept = [
        r for pk in dead.values_list("pk", flat=True) if (r := revive_dead_round(pk, cutoff, enqueue=enqueue))
    ]
    fail_orphaned_tasks(cutoff, project)
    if project is None:
        shards.close_orphaned_shards(cutoff)
    waiting = rounds_qs.filter(state=ModelRound.State.PENDING, created_at__lt=cutoff).exclude(
        heartbeat_at__gte=cutoff
    )
    waiting_ids = list(waiting.values_list("pk", flat=True))
    if waiting_ids:
        queued = round_tasks([TaskResultStatus.READY, TaskResultStatus.RUNNING])
        swept += [
            r
            for pk in waiting_ids
            if pk not in queued and (r := revive_lost_round(pk, cutoff, enqueue=enqueue))
        ]
    return swept


def revive_dead_round(round_id: int, cutoff: datetime, *, enqueue: Enqueue) -> ModelRound | None:
    """A running round whose heartbeat stopped before ``cutoff``: fail the attempt and its task row."""
    with transaction.atomic():
        model_round = ModelRound.objects.select_for_update().get(pk=round_id)
        if model_round.state != ModelRound.State.RUNNING or (
            model_round.heartbeat_at is not None and model_round.heartbeat_at >= cutoff
        ):
            return None  # it beat again, or another sweeper got here first
        error = (
            f"attempt {model_round.attempts}: no heartbeat since {cutoff:%Y-%m-%d %H:%M:%S} UTC (worker died)"
        )
        fail_task_rows(round_tasks([TaskResultStatus.RUNNING], round_ids={round_id}).get(round_id, []), error)
        fail_attempt(model_round, error, enqueue=enqueue)
    logger.warning("round %s: %s; now %s", round_id, error, model_round.state)
    return model_round


def revive_lost_round(round_id: int, cutoff: datetime, *, enqueue: Enqueue) -> ModelRound | None:
    """A pending round that no live task names: a failed attempt, whose retry queues a new task."""
    with transaction.atomic():
        model_round = ModelRound.objects.select_for_update().get(pk=round_id)
        if model_round.state != ModelRound.State.PENDING or (
            model_round.heartbeat_at is not None and model_round.heartbeat_at >= cutoff
        ):
            return None
        if round_id in round_tasks([TaskResultStatus.READY, TaskResultStatus.RUNNING], round_ids={round_id}):
            return None  # another sweeper queued it meanwhile
        fail_attempt(
            model_round,
            f"no task to run it since {cutoff:%Y-%m-%d %H:%M:%S} UTC (its worker died or its task was lost)",
            enqueue=enqueue,
        )
    return model_round


def fail_orphaned_tasks(cutoff: datetime, project: Project | None = None) -> int:
    """Set failed the round task rows running since before ``cutoff`` whose round is not running.

    Their worker died before it claimed the round or after the round was written; either way no
    process will ever finish the row.
    """
    running = DBTaskResult.objects.filter(
        task_path__endswith=ROUND_TASK_SUFFIX, status=TaskResultStatus.RUNNING, started_at__lt=cutoff
    )
    by_round = round_tasks([TaskResultStatus.RUNNING], queryset=running)
    if not by_round:
        return 0
    rounds_qs = ModelRound.objects.filter(pk__in=by_round, state=ModelRound.State.RUNNING)
    alive = set(rounds_qs.values_list("pk", flat=True))
    if project is not None:
        ours = set(ModelRound.objects.filter(pk__in=by_round, project=project).values_list("pk", flat=True))
        by_round = {pk: rows for pk, rows in by_round.items() if pk in ours}
    orphans = [row for pk, rows in by_round.items() if pk not in alive for row in rows]
    return fail_task_rows(orphans, "the worker running this task died")


def round_tasks(statuses: list[str], *, round_ids: set[int] | None = None, queryset=None) -> dict[int, list]:
    """Ids of ``run_model_round`` task rows in ``statuses``, by the round they name."""
    rows = (
        queryset
        if queryset is not None
        else DBTaskResult.objects.filter(task_path__endswith=ROUND_TASK_SUFFIX)
    )
    found: dict[int, list] = {}
    for task_id, args_kwargs in rows.filter(status__in=statuses).values_list("id", "args_kwargs"):
        args = (args_kwargs or {}).get("args") or []
        if args and isinstance(args[0], int) and (round_ids is None or args[0] in round_ids):
            found.setdefault(args[0], []).append(task_id)
    return found


def fail_task_rows(task_ids: list, reason: str) -> int:
    """Mark running task rows failed with :class:`WorkerLost`, so none stays "running" forever."""
    return close_dead_task_rows(task_ids, WorkerLost, reason)


def retry_failed_round(model_round: ModelRound, *, enqueue: Enqueue) -> ModelRound:
    """A manager's "try once more" on a failed round: one extra attempt, queued now."""
    with transaction.atomic():
        model_round = ModelRound.objects.select_for_update().get(pk=model_round.pk)
        if model_round.state != ModelRound.State.FAILED:
            return model_round
        model_round.state = ModelRound.State.PENDING
        model_round.max_attempts = model_round.attempts + 1
        model_round.finished_at = None
        model_round.save(update_fields=["state", "max_attempts", "finished_at"])
        enqueue(model_round, None)
    return model_round
