"""The scoring job of a deployment: queued after each capture batch, re-queued when a worker died.

One pass (:func:`run_scoring`): score what is unscored, triage it with the sampling rules, then
check drift on the windows it touched. Every step is idempotent (unscored rows, untriaged rows,
one drift row per window), so a duplicate or retried task repeats nothing. Putting the task on the
queue is the caller's ``enqueue`` (``tasks.enqueue_scoring``), so this module never imports tasks.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.db.models import Min, Q
from django.utils import timezone

from active.devices import resolve_device
from labelhub.production import monitoring, scoring, selection
from labelhub.production.models import Capture, Deployment

logger = logging.getLogger(__name__)

#: A queued scoring task that has not started (or whose captures are still unscored) after this long
#: is taken for lost — its worker died, or the task row went — and the housekeeper queues another.
LOST_AFTER = timedelta(minutes=2)

Enqueue = Callable[[int], None]


def request_scoring(deployment: Deployment, *, enqueue: Enqueue) -> bool:
    """Queue a scoring task unless one is queued and not started yet; True when one was queued."""
    claimed = Deployment.objects.filter(pk=deployment.pk, scoring_queued_at__isnull=True).update(
        scoring_queued_at=timezone.now()
    )
    if claimed:
        enqueue(deployment.pk)
    return bool(claimed)


def run_scoring(deployment_id: int, device: str | None = None) -> dict:
    """Score, triage and check drift for one deployment (the body of the scoring task)."""
    deployment = Deployment.objects.select_related("project", "model_run__snapshot").get(pk=deployment_id)
    # From here on, new captures need a new task: this one may already have read past them.
    Deployment.objects.filter(pk=deployment_id).update(scoring_queued_at=None)
    device = resolve_device(device)
    first_unscored = Capture.objects.filter(deployment=deployment, scored_at__isnull=True).aggregate(
        t=Min("captured_at")
    )["t"]
    scored = scoring.score_pending(deployment, device)
    triaged = selection.triage(deployment, device)
    windows = monitoring.check_windows(deployment, device, since=first_unscored) if first_unscored else []
    return {"deployment": deployment_id, "scored": scored, "selected": triaged, "windows": len(windows)}


def revive_lost_scoring(*, enqueue: Enqueue, lost_after: timedelta = LOST_AFTER) -> list[int]:
    """Queue scoring again for deployments whose captures wait unscored past ``lost_after``."""
    cutoff = timezone.now() - lost_after
    waiting = (
        Capture.objects.filter(scored_at__isnull=True, received_at__lt=cutoff)
        .values_list("deployment_id", flat=True)
        .distinct()
    )
    revived = []
    for deployment_id in set(waiting):
        updated = (
            Deployment.objects.filter(pk=deployment_id)
            .filter(Q(scoring_queued_at__isnull=True) | Q(scoring_queued_at__lt=cutoff))
            .update(scoring_queued_at=timezone.now())
        )
        if updated:
            enqueue(deployment_id)
            revived.append(deployment_id)
    if revived:
        logger.warning("re-queued scoring of deployments %s (their captures waited unscored)", revived)
    return revived
