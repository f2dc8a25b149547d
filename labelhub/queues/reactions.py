"""Reactions to submitted annotations, delivered from an outbox so none is ever lost.

A submit writes a :class:`~labelhub.queues.models.PendingReaction` row in its own transaction.
Delivering it sends ``annotation_submitted`` (QA scoring, consensus, policy, active-learning
trigger) and deletes the row, in one transaction per annotation: a reaction that fails is rolled
back whole, counted on the row and tried again later, never half-applied.

``LABELHUB_REACTIONS=inline`` delivers right after the submit commits, in the request;
``deferred`` leaves it to ``manage.py keep_queues``, which delivers in batches off the request
path. Either way ``keep_queues`` picks up what a crashed process left behind.
"""

from __future__ import annotations

import contextvars
import logging
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import F
from django.utils import timezone

from labelhub.projects.models import Annotation
from labelhub.projects.signals import annotation_submitted
from labelhub.queues.models import PendingReaction

logger = logging.getLogger(__name__)

#: A reaction that failed this often is left for a person (``last_error`` says why).
MAX_ATTEMPTS = 5
#: ``keep_queues`` leaves inline reactions this long to their own request before taking them.
INLINE_GRACE = timedelta(seconds=30)


_batch_keys: contextvars.ContextVar[set | None] = contextvars.ContextVar("reaction_batch_keys", default=None)


def first_in_batch(key) -> bool:
    """True the first time ``key`` comes up in the delivery batch running now (always outside one).

    For project-wide reactions that need to run once per batch rather than once per label, such
    as "are there enough new labels for an active-learning round?".
    """
    seen = _batch_keys.get()
    if seen is None:
        return True
    if key in seen:
        return False
    seen.add(key)
    return True


@dataclass
class Delivery:
    delivered: int = 0
    failed: int = 0


def deferred() -> bool:
    return settings.LABELHUB_REACTIONS == "deferred"


def record(annotation: Annotation) -> None:
    """Write the outbox row of a new annotation; call inside the submit's transaction."""
    PendingReaction.objects.create(annotation=annotation, project_id=annotation.item.project_id)
    if not deferred():
        transaction.on_commit(lambda: deliver([annotation.pk]))


def deliver(
    annotation_ids: list[int] | None = None, *, limit: int = 500, older_than: timedelta | None = None
) -> Delivery:
    """Deliver pending reactions (these annotations', or the oldest ``limit``), oldest first.

    Rows another deliverer holds are skipped (SKIP LOCKED), so the keeper and requests never
    deliver one twice. Returns how many were delivered and how many failed this time.
    """
    result = Delivery()
    with transaction.atomic():
        pending = PendingReaction.objects.filter(attempts__lt=MAX_ATTEMPTS)
        if annotation_ids is not None:
            pending = pending.filter(annotation_id__in=annotation_ids)
        if older_than is not None:
            pending = pending.filter(created_at__lte=timezone.now() - older_than)
        if connection.features.has_select_for_update_skip_locked:
            pending = pending.select_for_update(skip_locked=True)
        rows = list(
            pending.order_by("created_at", "annotation_id").values_list("annotation_id", flat=True)[:limit]
        )
        if not rows:
            return result
        annotations = Annotation.objects.select_related("item__project").in_bulk(rows)
        token = _batch_keys.set(set())
        try:
            _deliver_rows(rows, annotations, result)
        finally:
            _batch_keys.reset(token)
    return result


def _deliver_rows(rows: list[int], annotations: dict[int, Annotation], result: Delivery) -> None:
    """Each row in a savepoint of its own, inside the caller's transaction."""
    seen = _batch_keys.get()
    for annotation_id in rows:
        annotation = annotations.get(annotation_id)
        keys_before = set(seen)
        try:
            with transaction.atomic():
                if annotation is not None and annotation.retracted_at is None:
                    project = annotation.item.project
                    annotation_submitted.send(Annotation, annotation=annotation, project=project)
                PendingReaction.objects.filter(annotation_id=annotation_id).delete()
        except Exception as exc:  # noqa: BLE001 - one bad reaction must not block the others
            logger.exception("reactions to annotation %s failed", annotation_id)
            seen.intersection_update(keys_before)  # what it did once per batch was rolled back too
            PendingReaction.objects.filter(annotation_id=annotation_id).update(
                attempts=F("attempts") + 1, last_error=f"{type(exc).__name__}: {exc}"[:2000]
            )
            result.failed += 1
        else:
            result.delivered += 1


def deliver_due(*, limit: int = 500) -> Delivery:
    """What ``keep_queues`` delivers each tick: every pending reaction when deferred, else only
    those their own request left behind (older than :data:`INLINE_GRACE`)."""
    return deliver(limit=limit, older_than=None if deferred() else INLINE_GRACE)


def withdraw(annotation: Annotation) -> bool:
    """An undone annotation's reactions, when still pending, are dropped; call inside the undo's
    transaction. Returns whether they had already run (so QA must take the label back out)."""
    withdrawn, _ = PendingReaction.objects.filter(annotation=annotation).delete()
    return not withdrawn
