"""The annotation flow on a lease: submit, skip, flag, release, renew, and undo of the last submit.

A lease is live until it is completed, released, skipped, flagged or expired — exactly once; each
of these re-reads and locks it first (:func:`_locked_live_lease`). Labels are checked by the one
label rule, :func:`labelhub.projects.labels.clean_labels`.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Case, Exists, F, OuterRef, Subquery, Value, When
from django.utils import timezone

from annotators.qa.models import GoldItem
from labelhub.compiled import CompiledQuery
from labelhub.guidelines.selectors import current_version, current_version_id
from labelhub.projects.labels import clean_labels
from labelhub.projects.models import Annotation, Project, ProjectMembership
from labelhub.projects.selectors import label_schema, projects_for_user
from labelhub.projects.signals import annotation_retracted
from labelhub.queues import reactions
from labelhub.queues.models import ItemFlag, Lease, QueueEntry
from labelhub.queues.services.errors import AnnotatorPaused, LeaseNotVisible, QueueError
from labelhub.weak.selectors import WEAK_LABEL_PATH, weak_suggestion_record

#: Longest time one annotation may claim, in seconds (a day): a bound that no real item reaches,
#: and that keeps the QA counters summing ``time_spent`` far from float overflow.
MAX_TIME_SPENT = 24 * 60 * 60


def check_time_spent(raw) -> float:
    """Seconds spent on an item, as a finite float in ``[0, MAX_TIME_SPENT]`` (400 on ``time_spent``)."""
    try:
        time_spent = float(raw or 0)
    except (TypeError, ValueError):
        raise QueueError(
            f"time_spent must be a number of seconds, got {raw!r}.", field="time_spent"
        ) from None
    if not math.isfinite(time_spent):
        raise QueueError("time_spent must be a finite number of seconds.", field="time_spent")
    if time_spent < 0:
        raise QueueError("time_spent cannot be negative.", field="time_spent")
    if time_spent > MAX_TIME_SPENT:
        raise QueueError(
            f"time_spent is at most {MAX_TIME_SPENT} seconds (a day), got {time_spent:g}.", field="time_spent"
        )
    return time_spent


def _lease_read(shape: tuple, lease_id: int, user_id: int | None = None):
    """The locked read of one lease with its entry, item and project, for :func:`_locked_live_lease`.

    ``shape`` is ``(check_pause, for_submit, scope)``; ``scope`` None reads any lease, ``"staff"``
    or ``"member"`` only one in the projects user ``user_id`` may see (:func:`projects_for_user`).
    """
    check_pause, for_submit, scope = shape
    rows = Lease.objects.select_for_update(of=("self",)).select_related(
        "entry", "entry__item", "entry__project"
    )
    if check_pause:
        pause = ProjectMembership.objects.filter(
            project=OuterRef("entry__project_id"), user=OuterRef("annotator_id"), is_paused=True
        )
        rows = rows.annotate(paused_reason=Subquery(pause.values("paused_reason")[:1]))
    if scope is not None:
        viewer = get_user_model()(pk=user_id, is_staff=scope == "staff")
        rows = rows.filter(entry__project__in=projects_for_user(viewer))
    if for_submit:
        # The weak label the page showed comes with the item (it is recorded on the annotation).
        rows = rows.select_related(f"entry__item__{WEAK_LABEL_PATH}").annotate(
            current_version_id=current_version_id("entry__project_id"),
            is_gold=Exists(GoldItem.objects.filter(item_id=OuterRef("entry__item_id"))),
        )
    return rows.filter(pk=lease_id)


# Compiled once per shape (labelhub.compiled): compiling this read cost 5 ms a submit, more than running it.
_ANY_LEASE = CompiledQuery(_lease_read, lease_id=int)
_VISIBLE_LEASE = CompiledQuery(_lease_read, lease_id=int, user_id=int)


def _locked_live_lease(
    lease: Lease | int,
    annotator,
    *,
    allow_expired: bool = False,
    scoped: bool = False,
    for_submit: bool = False,
    check_pause: bool = False,
) -> Lease:
    """Re-read and lock the lease; refuse (400, naming the lease) anything not live and ours.

    ``scoped`` answers 404 for a lease outside the projects ``annotator`` may see, in the same
    query. ``for_submit`` also reads, in that query, what the annotation records: the project's
    current guideline version (``current_version_id``) and whether the item is gold (``is_gold``).
    ``check_pause`` refuses (403, :class:`AnnotatorPaused`) an annotator paused on the lease's
    project, read in that same query: a pause stops work on leases already held, not only "next".
    """
    lease_id = int(lease if isinstance(lease, int) else lease.pk)
    if scoped:
        scope = "staff" if annotator.is_staff else "member"
        locked = _VISIBLE_LEASE.first(
            (check_pause, for_submit, scope), lease_id=lease_id, user_id=annotator.pk
        )
    else:
        locked = _ANY_LEASE.first((check_pause, for_submit, None), lease_id=lease_id)
    if locked is None:
        if scoped:
            raise LeaseNotVisible()
        raise QueueError(f"Lease {lease_id} does not exist.", field="lease", code="not_found")
    if locked.annotator_id != annotator.pk:
        raise QueueError(f"Lease {lease_id} belongs to another annotator.", field="lease", code="not_yours")
    if locked.completed_at is not None:
        raise QueueError(f"Lease {lease_id} was already submitted.", field="lease", code="completed")
    if locked.released_at is not None:
        reason = locked.get_release_reason_display().lower() or "released"
        raise QueueError(
            f"Lease {lease_id} has ended ({reason}).", field="lease", code=f"lease_{locked.release_reason}"
        )
    if not allow_expired and locked.expires_at <= timezone.now():
        raise QueueError(
            f"Lease {lease_id} expired at {locked.expires_at:%H:%M:%S} UTC; ask for the next item again.",
            field="lease",
            code="lease_expired",
        )
    if check_pause and locked.paused_reason is not None:
        raise AnnotatorPaused(locked.paused_reason)
    return locked


def _end_lease(lease: Lease, reason: str, now: datetime) -> None:
    lease.released_at = now
    lease.release_reason = reason
    lease.save(update_fields=["released_at", "release_reason"])
    QueueEntry.objects.filter(pk=lease.entry_id).update(leased_count=F("leased_count") - 1)


def suggestions_shown(model: dict | None, weak: dict | None) -> dict | None:
    """What an annotation records as the suggestions the labeling page showed with its item.

    The model's suggestion keeps its own shape at the top (``labels``, ``confidence``,
    ``model_version``: what every reader of ``suggestion_shown`` takes for the model's); the weak
    label, shown beside it, goes under ``weak`` marked ``"source": "weak"`` with the label model's
    method, confidence, run and function versions, so it is never read as the model's.
    """
    if weak is None:
        return model
    return {**(model or {}), "weak": weak}


def submit_annotation(
    lease: Lease | int,
    labels: Sequence[str],
    time_spent: float = 0,
    *,
    annotator=None,
    scoped: bool = False,
) -> Annotation:
    """Store the annotator's labels for a leased item and complete the lease.

    ``labels`` pass :func:`~labelhub.projects.labels.clean_labels` (stored in schema order;
    :class:`~labelhub.projects.labels.InvalidLabels` names what is wrong). ``annotator`` defaults to the lease holder (pass the requesting user from views: a lease of
    someone else is refused; ``scoped`` makes a lease outside the projects they may see a 404). The entry
    closes once it has all its annotations; QA and active learning hear about it through
    ``annotation_submitted``, delivered from the outbox row written here
    (:mod:`labelhub.queues.reactions`).
    """
    if annotator is None:
        annotator = lease.annotator if isinstance(lease, Lease) else Lease.objects.get(pk=lease).annotator
    time_spent = check_time_spent(time_spent)
    with transaction.atomic():
        locked = _locked_live_lease(lease, annotator, scoped=scoped, for_submit=True, check_pause=True)
        entry = locked.entry
        clean = clean_labels(label_schema(entry.project), labels)
        annotation = Annotation.objects.create(
            item=entry.item,
            annotator=annotator,
            labels=clean,
            time_spent=time_spent,
            source=Annotation.Source.HUMAN,
            guideline_version_id=locked.current_version_id,
            lease=locked,
            suggestion_shown=suggestions_shown(entry.item.suggestion, weak_suggestion_record(entry.item)),
            was_gold_check=locked.is_gold,
        )
        locked.completed_at = timezone.now()
        locked.save(update_fields=["completed_at"])
        # One statement: the slot turns into a completed annotation, and the entry closes once
        # it has all it asked for.
        QueueEntry.objects.filter(pk=entry.pk).update(
            leased_count=F("leased_count") - 1,
            completed_annotations=F("completed_annotations") + 1,
            is_open=Case(
                When(completed_annotations__gte=F("required_annotations") - 1, then=Value(False)),
                default=F("is_open"),
            ),
        )
        reactions.record(annotation)
    return annotation


def release_lease(lease: Lease | int, annotator, *, reason: str = Lease.ReleaseReason.RELEASED) -> Lease:
    """Give an unused lease back (prefetched items on leaving the page); the entry is served again.

    Releasing an already-expired lease is accepted: the page only tidies up.
    """
    with transaction.atomic():
        locked = _locked_live_lease(lease, annotator, allow_expired=True)
        _end_lease(locked, reason, timezone.now())
    return locked


def release_leases(lease_ids: Iterable[int], annotator) -> int:
    """Release several of the annotator's live leases at once (ids that are not live are ignored)."""
    now = timezone.now()
    with transaction.atomic():
        locked = list(
            Lease.objects.select_for_update()
            .filter(
                pk__in=list(lease_ids),
                annotator=annotator,
                released_at__isnull=True,
                completed_at__isnull=True,
            )
            .order_by("entry_id")
        )
        for lease in locked:
            _end_lease(lease, Lease.ReleaseReason.RELEASED, now)
    return len(locked)


def release_leases_of_paused(project_id: int, user_id: int) -> int:
    """End every live lease a paused annotator holds in the project: the items go back to others.

    Idempotent (a second pause finds nothing live). Returns the leases released.
    """
    now = timezone.now()
    with transaction.atomic():
        locked = list(
            Lease.objects.select_for_update()
            .filter(
                entry__project_id=project_id,
                annotator_id=user_id,
                released_at__isnull=True,
                completed_at__isnull=True,
            )
            .order_by("entry_id")
        )
        for lease in locked:
            _end_lease(lease, Lease.ReleaseReason.RELEASED, now)
    return len(locked)


def skip(lease: Lease | int, annotator) -> Lease:
    """The annotator passes on the item: it goes back to the queue for others, never to them."""
    return release_lease(lease, annotator, reason=Lease.ReleaseReason.SKIPPED)


def flag(lease: Lease | int, annotator, comment: str = "") -> ItemFlag:
    """Flag the leased item as ambiguous (for the guideline owners) and release the lease."""
    comment = (comment or "").strip()
    if len(comment) > 5000:
        raise QueueError("comment is longer than 5000 characters.", field="comment")
    with transaction.atomic():
        locked = _locked_live_lease(lease, annotator, allow_expired=True)
        _end_lease(locked, Lease.ReleaseReason.FLAGGED, timezone.now())
        item_flag = ItemFlag.objects.create(
            item=locked.entry.item,
            annotator=annotator,
            comment=comment,
            guideline_version=current_version(locked.entry.project),
        )
    return item_flag


def renew_lease(lease: Lease | int, annotator) -> Lease:
    """Extend a live, unexpired lease by the project's lease length (the page does it on activity)."""
    with transaction.atomic():
        locked = _locked_live_lease(lease, annotator, check_pause=True)
        locked.expires_at = timezone.now() + timedelta(minutes=locked.entry.project.lease_minutes)
        locked.save(update_fields=["expires_at"])
    return locked


def undo_last_submit(
    annotator, project: Project, *, since: datetime | None = None
) -> tuple[Annotation, Lease]:
    """Retract the annotator's latest annotation in the project and lease the item back to them.

    ``since`` limits undo to annotations made from then on: the labeling page sends the time it
    was opened, so Z on a fresh page never takes back a label of an earlier session.

    The row stays (``retracted_at`` set) so nothing submitted is lost; the item's entry counts one
    annotation fewer, is re-opened when it had closed, and the annotator gets a fresh lease on it so
    the page can show it again with the old labels.
    """
    now = timezone.now()
    with transaction.atomic():
        paused_reason = (
            ProjectMembership.objects.filter(project=project, user=annotator, is_paused=True)
            .values_list("paused_reason", flat=True)
            .first()
        )
        if paused_reason is not None:
            raise AnnotatorPaused(paused_reason)
        mine = Annotation.objects.filter(
            item__project=project, annotator=annotator, retracted_at__isnull=True, source="human"
        )
        if since is not None:
            mine = mine.filter(created_at__gte=since)
        annotation = (
            mine.select_for_update(of=("self",))
            .select_related("lease__entry")
            .order_by("-created_at", "-pk")
            .first()
        )
        if annotation is None and since is not None:
            raise QueueError(
                "Nothing to undo on this page: labels from before you opened it stay as they are.",
                code="nothing_to_undo",
            )
        if annotation is None:
            raise QueueError(
                "Nothing to undo: you have no submitted annotation in this project.", code="nothing_to_undo"
            )
        annotation.retracted_at = now
        annotation.save(update_fields=["retracted_at"])
        counted = reactions.withdraw(annotation)
        entry = _reopen_entry_for(annotation, project)
        lease = Lease.objects.create(
            entry=entry, annotator=annotator, expires_at=now + timedelta(minutes=project.lease_minutes)
        )
        transaction.on_commit(
            lambda: annotation_retracted.send(
                Annotation, annotation=annotation, project=project, counted=counted
            )
        )
    return annotation, lease


def _reopen_entry_for(annotation: Annotation, project: Project) -> QueueEntry:
    """The open entry of the annotation's item with one slot taken by the returning annotator."""
    original = annotation.lease.entry if annotation.lease_id else None
    open_entry = (
        QueueEntry.objects.select_for_update()
        .filter(project=project, item_id=annotation.item_id, is_open=True)
        .first()
    )
    if original is not None:
        QueueEntry.objects.filter(pk=original.pk).update(completed_annotations=F("completed_annotations") - 1)
        if open_entry is None or open_entry.pk == original.pk:
            QueueEntry.objects.filter(pk=original.pk).update(is_open=True, leased_count=F("leased_count") + 1)
            original.refresh_from_db()
            return original
        # The item was queued again meanwhile: the old entry stays closed (its count corrected).
        QueueEntry.objects.filter(pk=original.pk).update(required_annotations=F("required_annotations") - 1)
    if open_entry is not None:
        QueueEntry.objects.filter(pk=open_entry.pk).update(
            required_annotations=F("required_annotations") + 1, leased_count=F("leased_count") + 1
        )
        open_entry.refresh_from_db()
        return open_entry
    return QueueEntry.objects.create(
        project=project, item_id=annotation.item_id, reason=QueueEntry.Reason.REQUEUE, leased_count=1
    )
