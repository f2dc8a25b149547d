"""Leasing: the serve gate (QA pause, guideline acknowledgement) and "next", which leases the
next servable entries (gold mixed in) to an annotator.

An entry never has more live leases + completed annotations than it asks for (``leased_count``
and a check constraint); nobody is served an item they labelled, hold, skipped or flagged
(:func:`labelhub.queues.selectors.servable_entries`).
"""

from __future__ import annotations

import random
import time
from datetime import datetime, timedelta

from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Q, Subquery
from django.utils import timezone

from annotators.qa.gold import pick_gold_item
from labelhub.guidelines.errors import GuidelineAckRequired
from labelhub.guidelines.models import GuidelineVersion
from labelhub.guidelines.selectors import with_acknowledgement
from labelhub.projects.models import Project, ProjectMembership
from labelhub.queues.models import Lease, QueueEntry, QueueState
from labelhub.queues.selectors import servable_entries, servable_entries_sql
from labelhub.queues.services.errors import AnnotatorPaused
from labelhub.queues.services.expiry import expire_overdue
from labelhub.queues.services.filling import DEFAULT_FILL_SIZE, fill_queue, is_exhausted

#: Most leases one "next" call hands out (the page prefetches a few).
MAX_PREFETCH = 10
#: Tries of one "next" call: rows locked by concurrent callers are looked at again.
LEASE_ATTEMPTS = 8


def _lock_servable(annotator, project: Project, count: int, exclude_items: set[int]) -> list[QueueEntry]:
    qs = servable_entries(annotator, project).select_related("item")
    if exclude_items:
        qs = qs.exclude(item_id__in=exclude_items)
    if connection.features.has_select_for_update_skip_locked:
        # Concurrent "next" calls lock different rows instead of queueing behind each other;
        # a row leased meanwhile is re-checked by PostgreSQL on the updated leased_count.
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    # SQLite: transactions start IMMEDIATE (settings), so the whole call runs serialised.
    return list(qs[:count])


def with_serve_gate(projects, user):
    """Annotate a project queryset with what stops "next" before it serves anything (the user's QA
    pause, an unacknowledged current guideline), so the project and its gate come back in one
    query ("next" runs this on every call)."""
    membership = ProjectMembership.objects.filter(project=OuterRef("pk"), user=user)
    return with_acknowledgement(projects, user).annotate(
        gate_paused=Exists(membership.filter(is_paused=True)),
        gate_paused_reason=Subquery(membership.values("paused_reason")[:1]),
        # Not a gate, but read in the same query: whether an empty queue is worth a fill.
        queue_exhausted_at=Subquery(
            QueueState.objects.filter(project=OuterRef("pk")).values("exhausted_at")[:1]
        ),
    )


def _check_may_be_served(annotator, project: Project) -> None:
    """Raise when the gate is closed; reads it now unless ``project`` came through
    :func:`with_serve_gate`."""
    if not hasattr(project, "gate_paused"):
        project = with_serve_gate(Project.objects.filter(pk=project.pk), annotator).get()
    if project.gate_paused:
        raise AnnotatorPaused(project.gate_paused_reason or "")
    if project.current_guideline_id is not None and not project.current_guideline_acknowledged:
        raise GuidelineAckRequired(GuidelineVersion.objects.get(pk=project.current_guideline_id))


def _gold_lease(annotator, project: Project, expires_at: datetime, taken_items: set[int]) -> Lease | None:
    """Lease a gold item picked by ``annotators.qa.gold`` (call inside the leasing transaction).

    The gold copy never takes a slot from the regular queue: an open entry of the item gets one
    more required annotation, otherwise a fresh ``gold`` entry is created. The annotator sees it
    exactly like any other item.
    """
    gold_item = pick_gold_item(annotator, project)
    if gold_item is None or gold_item.pk in taken_items:
        return None
    if Lease.objects.filter(
        annotator=annotator, entry__item=gold_item, released_at__isnull=True, completed_at__isnull=True
    ).exists():
        return None  # already on this annotator's page (prefetched)
    entry = (
        QueueEntry.objects.select_for_update().filter(project=project, item=gold_item, is_open=True).first()
    )
    if entry is not None:
        if (
            Lease.objects.filter(entry=entry, annotator=annotator)
            .filter(
                Q(released_at__isnull=True, completed_at__isnull=True)
                | Q(release_reason__in=[Lease.ReleaseReason.SKIPPED, Lease.ReleaseReason.FLAGGED])
            )
            .exists()
        ):
            return None
        QueueEntry.objects.filter(pk=entry.pk).update(
            required_annotations=F("required_annotations") + 1, leased_count=F("leased_count") + 1
        )
    else:
        entry = QueueEntry.objects.create(
            project=project, item=gold_item, reason=QueueEntry.Reason.GOLD, leased_count=1
        )
    return Lease.objects.create(entry=entry, annotator=annotator, expires_at=expires_at)


def lease_next_items(
    annotator, project: Project, count: int = 1, *, fill_size: int | None = None
) -> list[Lease]:
    """Lease up to ``count`` entries to ``annotator``, in serving order (gold mixed in).

    Raises :class:`AnnotatorPaused` or :class:`GuidelineAckRequired` before serving anything.
    When nothing is servable the queue is filled once (:func:`fill_queue`) and tried again; an
    empty list means the project has nothing left for this annotator, for now.

    A request never waits on another's fill, and never searches a pool known to be exhausted:
    the fill here is skipped when the project was found exhausted
    (:class:`~labelhub.queues.models.QueueState`) and when another fill holds the project's
    lock (that fill is the one that will serve everybody; the caller answers with what is
    servable now). Filling ahead of need is ``keep_queues``' job (:func:`top_up_queue`).
    """
    count = max(1, min(count, MAX_PREFETCH))
    if not hasattr(project, "gate_paused"):
        project = with_serve_gate(Project.objects.filter(pk=project.pk), annotator).get()
    _check_may_be_served(annotator, project)
    leases: list[Lease] = []
    filled = False
    for attempt in range(LEASE_ATTEMPTS):
        taken = {lease.entry.item_id for lease in leases}
        with transaction.atomic():
            leases += _lease_batch(annotator, project, count - len(leases), taken)
        if len(leases) >= count:
            break
        taken = {lease.entry.item_id for lease in leases}
        if servable_entries(annotator, project).exclude(item_id__in=taken).exists():
            # SKIP LOCKED passed over rows that other "next" calls held for a moment; they may
            # still have a free slot once those commit, so look again rather than answer "empty".
            time.sleep(0.002 * (attempt + 1))
            continue
        if filled or is_exhausted(project.queue_exhausted_at):
            break
        # Even a fill that adds nothing is worth one more look: a concurrent fill may just have
        # queued the rest of the pool.
        fill_queue(
            project, fill_size or max(DEFAULT_FILL_SIZE, count), unless_servable_for=annotator, wait=False
        )
        filled = True
    return leases


def _lease_batch(annotator, project: Project, count: int, taken_items: set[int]) -> list[Lease]:
    """One leasing transaction: expire this project's overdue leases (so expiry needs no
    background process), mix in gold, then lock and lease the next servable entries."""
    now = timezone.now()
    expires_at = now + timedelta(minutes=project.lease_minutes)
    expire_overdue(project, now, announce=True)
    taken = set(taken_items)
    gold: list[Lease] = []
    for _ in range(count):
        lease = _gold_lease(annotator, project, expires_at, taken)
        if lease is not None:
            taken.add(lease.entry.item_id)
            gold.append(lease)
    if connection.vendor == "postgresql":
        regular = _lease_servable_in_one_statement(
            annotator, project, count - len(gold), taken, now, expires_at
        )
    else:
        entries = _lock_servable(annotator, project, count - len(gold), taken)
        if entries:
            QueueEntry.objects.filter(pk__in=[e.pk for e in entries]).update(
                leased_count=F("leased_count") + 1
            )
        regular = Lease.objects.bulk_create(
            [Lease(entry=entry, annotator=annotator, expires_at=expires_at) for entry in entries]
        )
        for lease, entry in zip(regular, entries, strict=True):
            lease.entry = entry
    # Gold at random positions among the regular ones: its place must not give it away.
    batch = list(regular)
    for lease in gold:
        batch.insert(random.randrange(len(batch) + 1), lease)
    return batch


def _lease_servable_in_one_statement(
    annotator, project: Project, count: int, taken_items: set[int], now: datetime, expires_at: datetime
) -> list[Lease]:
    """PostgreSQL: lock, count and lease the next servable entries in one statement.

    The same rows as ``_lock_servable`` + the ``leased_count`` update + the lease inserts of the
    portable path (the SQLite one; the rows are :func:`~labelhub.queues.selectors.servable_entries_sql`,
    the SQL twin of :func:`~labelhub.queues.selectors.servable_entries`),
    without building three ORM queries per "next". Data-modifying CTEs run once, in order, in
    the caller's transaction; ``FOR UPDATE … SKIP LOCKED`` re-checks a row that a concurrent
    "next" leased meanwhile against its new ``leased_count``, and the table's check constraint
    still stands behind it.
    """
    if count <= 0:
        return []
    picked, params = servable_entries_sql(annotator, project, count, taken_items)
    entries, leases = QueueEntry._meta.db_table, Lease._meta.db_table
    sql = f"""
        WITH picked AS ({picked}
            FOR UPDATE OF e SKIP LOCKED
        ), bumped AS (
            UPDATE {entries} e SET leased_count = e.leased_count + 1 FROM picked
            WHERE e.id = picked.id RETURNING e.id
        )
        INSERT INTO {leases} (entry_id, annotator_id, leased_at, expires_at, released_at, completed_at, release_reason)
        SELECT id, %(annotator)s, %(now)s, %(expires)s, NULL, NULL, '' FROM bumped
        RETURNING id
    """  # noqa: S608 - table names from the models' metadata; every value is a parameter
    params = {**params, "now": now, "expires": expires_at}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    if not ids:
        return []
    leased = list(Lease.objects.select_related("entry__item").filter(pk__in=ids))
    return sorted(leased, key=lambda lease: (-lease.entry.priority, lease.entry_id))


def lease_next_item(annotator, project: Project) -> Lease | None:
    """Lease the one next entry for ``annotator`` (see :func:`lease_next_items`)."""
    leases = lease_next_items(annotator, project, 1)
    return leases[0] if leases else None
