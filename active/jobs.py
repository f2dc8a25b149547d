"""Round bookkeeping: request a round, claim it, record a failure, retry it, sweep stale ones.

A round is one ``ModelRound`` row moving pending → running → done (or back to pending for a retry,
or failed); ``active.pipeline`` does the work of a running one.

django-tasks-db does not retry failed tasks, and a worker killed mid-task leaves its task
"running" forever; so retries live here: a failure re-enqueues the round's task (with a backoff)
until ``max_attempts``, and ``sweep_stale_rounds`` turns rounds whose worker stopped heart-beating
into such failures.

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
from django.db.models import F, Max
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from active import pipeline
from active.devices import default_device
from active.models import ModelRound
from active.selectors import active_round, labels_since_last_round
from active.strategies import normalise_strategy
from labelhub.projects.models import Project

logger = logging.getLogger(__name__)

STALE_AFTER = timedelta(minutes=15)
RETRY_BACKOFF_SECONDS = (5, 30, 120)

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
    """pending → running, counting the attempt; None when the round is not pending (a duplicate task)."""
    now = timezone.now()
    claimed = ModelRound.objects.filter(pk=round_id, state=ModelRound.State.PENDING).update(
        state=ModelRound.State.RUNNING, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now
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


def attempt_round(round_id: int, device: str | None = None, *, enqueue: Enqueue) -> dict:
    """One worker attempt at a round (the body of the ``run_model_round`` task).

    Sweeps stale rounds first (the worker is the one process sure to run now and then), then runs
    the round; a failure schedules the round's retry and re-raises, so the task records it too.
    """
    sweep_stale_rounds(enqueue=enqueue)
    try:
        model_round = run_round(round_id, device=device)
    except pipeline.RoundSuperseded:
        logger.warning("round %s: a newer attempt owns it; this one wrote nothing", round_id)
        return {"round": round_id, "superseded": True}
    except Exception as exc:
        record_failure(
            round_id, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}", enqueue=enqueue
        )
        raise
    if model_round is None:
        return {"round": round_id, "skipped": True}
    return {"round": model_round.pk, "state": model_round.state, "selected": model_round.selected_count}


# Failures and retries -----------------------------------------------------------------------
def retry_delay(attempts: int) -> timedelta:
    """The backoff before the next attempt, after ``attempts`` of them."""
    return timedelta(seconds=RETRY_BACKOFF_SECONDS[min(max(attempts, 1), len(RETRY_BACKOFF_SECONDS)) - 1])


def record_failure(round_id: int, error: str, *, enqueue: Enqueue) -> ModelRound:
    """After a failed attempt: back to pending with a delayed retry, or failed once attempts are spent."""
    with transaction.atomic():
        model_round = ModelRound.objects.select_for_update().get(pk=round_id)
        if model_round.state in (ModelRound.State.DONE, ModelRound.State.FAILED):
            return model_round
        model_round.error = error[:4000]
        model_round.heartbeat_at = timezone.now()
        if model_round.attempts < model_round.max_attempts:
            model_round.state = ModelRound.State.PENDING
            enqueue(model_round, timezone.now() + retry_delay(model_round.attempts))
        else:
            model_round.state = ModelRound.State.FAILED
            model_round.finished_at = timezone.now()
        model_round.save(update_fields=["state", "error", "heartbeat_at", "finished_at"])
    return model_round


def sweep_stale_rounds(
    *, enqueue: Enqueue, stale_after: timedelta = STALE_AFTER, project: Project | None = None
) -> list[ModelRound]:
    """Turn rounds that stopped making progress into failed attempts, which retry while attempts remain.

    Two ways a round gets stuck: its worker died mid-run (running, heartbeat older than
    ``stale_after``), or its task row vanished or failed without the round hearing of it
    (pending for longer than ``stale_after`` with no ready or running task naming it).
    """
    cutoff = timezone.now() - stale_after
    rounds_qs = ModelRound.objects.all() if project is None else ModelRound.objects.filter(project=project)
    stale = list(
        rounds_qs.filter(state=ModelRound.State.RUNNING, heartbeat_at__lt=cutoff).values_list("pk", flat=True)
    )
    waiting = list(
        rounds_qs.filter(state=ModelRound.State.PENDING, created_at__lt=cutoff)
        .exclude(heartbeat_at__gte=cutoff)
        .values_list("pk", flat=True)
    )
    if waiting:
        live = DBTaskResult.objects.filter(
            task_path__endswith=".run_model_round",
            status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
        ).values_list("args_kwargs", flat=True)
        queued = {ak["args"][0] for ak in live if ak.get("args")}
        stale += [pk for pk in waiting if pk not in queued]
    return [
        record_failure(
            pk,
            f"no progress since {cutoff:%Y-%m-%d %H:%M} UTC (worker died or its task was lost)",
            enqueue=enqueue,
        )
        for pk in stale
    ]


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
