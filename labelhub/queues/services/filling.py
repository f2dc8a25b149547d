"""Filling the queues: entries written by a caller (active learning, a manager, a requeue), fills
from the unlabelled pool (random or class-balanced, with overlap copies), and top-ups ahead of need.

Fills of one project are serialised by a PostgreSQL advisory lock; an item never has two open
entries (a partial unique constraint). A fill that finds nothing left marks the project exhausted
(:class:`~labelhub.queues.models.QueueState`), so "next" on it neither searches nor waits again.
"""

from __future__ import annotations

import random
import time
from collections.abc import Iterable
from datetime import timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from labelhub.projects.models import Item, Project
from labelhub.projects.push import announce_queue_update
from labelhub.projects.selectors import label_schema
from labelhub.queues import sampling
from labelhub.queues.models import HAS_FREE_SLOT, Lease, QueueEntry, QueueState
from labelhub.queues.selectors import servable_entries, unqueued_unlabelled
from labelhub.queues.services.errors import QueueError

#: Entries added when an annotator finds nothing left to serve.
DEFAULT_FILL_SIZE = 200
#: First key of the PostgreSQL advisory locks that serialise fills (the second is the project id).
FILL_LOCK_CLASS = 0x4C48
#: How long "nothing left to fill from" is trusted without a signal clearing it: a writer that
#: sends none (the admin, a shell) costs at most one fill per project this often.
EXHAUSTED_RECHECK = timedelta(minutes=1)


def is_exhausted(exhausted_at) -> bool:
    """Whether a project marked exhausted at ``exhausted_at`` (None: never) is still trusted to be."""
    return exhausted_at is not None and timezone.now() - exhausted_at < EXHAUSTED_RECHECK


def project_exhausted(project: Project) -> bool:
    """Whether the project's last fill found nothing left (and nothing has been added since)."""
    exhausted_at = QueueState.objects.filter(project=project).values_list("exhausted_at", flat=True).first()
    return is_exhausted(exhausted_at)


#: project id → annotator id → when this process last told them the finished project had nothing
#: for them (:func:`time.monotonic`). See :func:`nothing_left_recently`.
_nothing_left: dict[int, dict[int, float]] = {}
_NOTHING_LEFT_MAX = 100_000  # annotators remembered per project


def nothing_left_recently(annotator_id: int, project_id: int) -> bool:
    """Whether this process answered "nothing left" to this annotator on this finished project
    less than ``LABELHUB_EXHAUSTED_ANSWER_SECONDS`` ago: their next calls in that window get the
    same answer from memory, without reading the serve gate or looking for anything to serve.

    Members' pages polling a finished project are the only callers that repeat it this fast; the
    answer can be that much late when items come back (another process imported or released
    them), a pause or a new guideline can be told that much later. In this process
    :func:`forget_exhausted` forgets it at once.
    """
    told = _nothing_left.get(project_id, {}).get(annotator_id)
    window = settings.LABELHUB_EXHAUSTED_ANSWER_SECONDS
    return told is not None and time.monotonic() - told < window


def remember_nothing_left(annotator_id: int, project_id: int) -> None:
    if settings.LABELHUB_EXHAUSTED_ANSWER_SECONDS <= 0:
        return
    told = _nothing_left.setdefault(project_id, {})
    if len(told) >= _NOTHING_LEFT_MAX:
        told.clear()  # a bound, not a policy: the next calls read the database again
    told[annotator_id] = time.monotonic()


def mark_exhausted(project: Project) -> None:
    QueueState.objects.bulk_create(
        [QueueState(project=project, exhausted_at=timezone.now())],
        update_conflicts=True,
        unique_fields=["project"],
        update_fields=["exhausted_at"],
    )


def forget_exhausted(project_id: int) -> None:
    """The project may have something to fill from again (items imported, re-queued)."""
    _nothing_left.pop(project_id, None)
    QueueState.objects.filter(project_id=project_id, exhausted_at__isnull=False).update(exhausted_at=None)


def enqueue_items(
    project,
    prioritised: Iterable[tuple[int, float]],
    *,
    reason: str,
    batch_key: str = "",
    created_by=None,
    required_annotations: int = 1,
) -> int:
    """Put ``(item_id, priority)`` pairs at the front of the project's queue, in one transaction.

    Items with an open entry get the new priority and reason; others get a new entry. With a
    ``batch_key`` the call is idempotent: a writer retried after a crash writes nothing twice.
    Returns the number of entries created or re-prioritised.
    """
    pairs = dict(prioritised)
    with transaction.atomic():
        if batch_key and QueueEntry.objects.filter(project=project, batch_key=batch_key).exists():
            return 0
        open_entries = {
            e.item_id: e
            for e in QueueEntry.objects.select_for_update().filter(
                project=project, is_open=True, item_id__in=list(pairs)
            )
        }
        to_update = []
        for item_id, entry in open_entries.items():
            entry.priority = pairs[item_id]
            entry.reason = reason
            entry.batch_key = batch_key
            to_update.append(entry)
        QueueEntry.objects.bulk_update(to_update, ["priority", "reason", "batch_key"], batch_size=1000)
        QueueEntry.objects.bulk_create(
            [
                QueueEntry(
                    project=project,
                    item_id=item_id,
                    priority=priority,
                    reason=reason,
                    batch_key=batch_key,
                    created_by=created_by,
                    required_annotations=required_annotations,
                )
                for item_id, priority in pairs.items()
                if item_id not in open_entries
            ],
            batch_size=1000,
        )
        if pairs:
            forget_exhausted(project.pk)
    return len(pairs)


def _random_candidates(project: Project, n: int, rng: random.Random) -> list[Item]:
    """About ``n`` random unqueued, unlabelled items without ``ORDER BY random()`` over the pool.

    Random primary keys in the project's id range are probed first (cheap on a million items);
    when the pool is sparse (mostly labelled or queued) a walk in id order from a random pivot
    fills the rest, wrapping around once.
    """
    base = unqueued_unlabelled(project).only("pk", "suggestion")
    lowest = Item.objects.filter(project=project).order_by("pk").values_list("pk", flat=True).first()
    if lowest is None:
        return []
    highest = Item.objects.filter(project=project).order_by("-pk").values_list("pk", flat=True).first()
    found: dict[int, Item] = {}
    for _ in range(3):
        need = n - len(found)
        if need <= 0:
            break
        probes = {rng.randint(lowest, highest) for _ in range(min(need * 3, 20000))} - set(found)
        for item in base.filter(pk__in=probes):
            found[item.pk] = item
    if len(found) < n:
        pivot = rng.randint(lowest, highest)
        for window in (Q(pk__gte=pivot), Q(pk__lt=pivot)):
            need = n - len(found)
            if need <= 0:
                break
            for item in base.filter(window).exclude(pk__in=list(found)).order_by("pk")[:need]:
                found[item.pk] = item
    chosen = list(found.values())
    rng.shuffle(chosen)
    return chosen[:n]


def _serialise_fills(project: Project, *, wait: bool = True) -> bool:
    """Take the project's fill lock for the rest of the transaction; False when ``wait`` is off
    and another fill holds it.

    A PostgreSQL advisory lock, not ``SELECT … FOR UPDATE`` on the project row: that row lock
    would also block every insert that references the project (foreign-key checks take KEY SHARE
    locks) and pile concurrent "next" calls up behind one fill. SQLite runs its transactions
    IMMEDIATE (settings), so writers are serialised already.
    """
    if connection.vendor != "postgresql":
        return True
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT {function}(%s, %s)", [FILL_LOCK_CLASS, project.pk])
        row = cursor.fetchone()
    return wait or bool(row[0])


def free_slots(project: Project, *, up_to: int) -> int:
    """Open entries of the project with a free slot, counted up to ``up_to`` (a bounded count)."""
    return (
        QueueEntry.objects.filter(project=project, is_open=True)
        .filter(HAS_FREE_SLOT)
        .values("pk")[:up_to]
        .count()
    )


def fill_queue(
    project: Project,
    n: int = DEFAULT_FILL_SIZE,
    *,
    created_by=None,
    rng: random.Random | None = None,
    announce: bool = True,
    unless_servable_for=None,
    only_below: int | None = None,
    wait: bool = True,
) -> int:
    """Add up to ``n`` unlabelled items to the queue; returns how many entries were created.

    Without a balance target the items are random (reason ``random``). With one, a larger random
    candidate pool is split by the class the model predicts for each item (``Item.suggestion``)
    and the balance deficit becomes per-class quotas of the ``n`` slots, the rest going to the
    items expected to help the under-represented classes most (:func:`sampling.pick_by_quota`;
    reason ``balance``). A share
    ``project.overlap_fraction`` of the new entries asks for ``overlap_annotators`` annotators
    (reason ``overlap``) for the agreement checks.

    Fills of one project are serialised (:func:`_serialise_fills`); the conditions are checked
    after the lock, so callers that queued behind a fill do not fill again: nothing is added when
    ``unless_servable_for`` (an annotator) now has something to label, or when the queue already
    has ``only_below`` free slots. With ``wait`` off a fill already running means "skip".
    """
    rng = rng or random.Random()
    with transaction.atomic():
        if not _serialise_fills(project, wait=wait):
            return 0
        if unless_servable_for is not None and servable_entries(unless_servable_for, project).exists():
            return 0
        if only_below is not None and free_slots(project, up_to=only_below) >= only_below:
            return 0
        schema = label_schema(project)
        class_names = list(schema.class_names)
        deficit = sampling.class_deficit(project, schema) if class_names else None
        pool_size = n if deficit is None else max(n * sampling.BALANCE_POOL_FACTOR, sampling.BALANCE_MIN_POOL)
        candidates = _random_candidates(project, pool_size, rng)
        if not candidates:
            mark_exhausted(project)
            return 0
        if deficit is None:
            picked = [(item, rng.random(), QueueEntry.Reason.RANDOM) for item in candidates[:n]]
        else:
            picked = [
                (item, priority, QueueEntry.Reason.BALANCE)
                for item, priority in sampling.pick_by_quota(candidates, n, class_names, deficit, rng)
            ]
        overlap_count = _stochastic_round(len(picked) * project.overlap_fraction, rng)
        overlap_ids = {item.pk for item, _, _ in rng.sample(picked, overlap_count)}
        entries = [
            QueueEntry(
                project=project,
                item=item,
                priority=priority,
                reason=QueueEntry.Reason.OVERLAP if item.pk in overlap_ids else reason,
                required_annotations=project.overlap_annotators if item.pk in overlap_ids else 1,
                created_by=created_by,
            )
            for item, priority, reason in picked
        ]
        # ignore_conflicts: an item queued meanwhile by the active-learning worker keeps its entry.
        QueueEntry.objects.bulk_create(entries, batch_size=1000, ignore_conflicts=True)
        forget_exhausted(project.pk)
        if announce and entries:
            transaction.on_commit(
                lambda: announce_queue_update(
                    project.pk,
                    reason="filled",
                    added=len(entries),
                    # A fill that one annotator's "next" asked for: that page already holds what it
                    # needs and neither tells its annotator nor hands its prefetched items back.
                    requested_by=getattr(unless_servable_for, "pk", None),
                )
            )
    return len(entries)


def top_up_queue(project: Project, *, low_water: int | None = None) -> int:
    """Refill ahead of need: when fewer than ``low_water`` entries have a free slot, add enough
    for twice that. ``keep_queues`` calls it for projects with annotators at work, so "next"
    finds a full queue instead of filling it while an annotator waits. Skips when a fill of the
    project is already running, or when the project's pool was found exhausted."""
    low_water = settings.LABELHUB_QUEUE_LOW_WATER if low_water is None else low_water
    if low_water <= 0 or project_exhausted(project):
        return 0
    free = free_slots(project, up_to=low_water)
    if free >= low_water:
        return 0
    return fill_queue(project, 2 * low_water - free, only_below=low_water, wait=False)


def projects_at_work() -> list[Project]:
    """Projects where someone holds a live lease (the partial live-lease index answers it)."""
    ids = (
        Lease.objects.filter(released_at__isnull=True, completed_at__isnull=True)
        .values_list("entry__project_id", flat=True)
        .distinct()
    )
    return list(Project.objects.filter(pk__in=ids))


def _stochastic_round(value: float, rng: random.Random) -> int:
    whole = int(value)
    return whole + (1 if rng.random() < value - whole else 0)


def requeue_items(
    project: Project, item_ids: Iterable[int], *, required_annotations: int = 1, created_by=None
) -> int:
    """Queue items again (e.g. after an adjudication asks for more labels) at the top priority."""
    top = (
        QueueEntry.objects.filter(project=project, is_open=True)
        .order_by("-priority")
        .values_list("priority", flat=True)
        .first()
    )
    priority = (top or 0) + 1
    return enqueue_items(
        project,
        [(item_id, priority) for item_id in item_ids],
        reason=QueueEntry.Reason.REQUEUE,
        created_by=created_by,
        required_annotations=required_annotations,
    )


def reprioritise(project: Project, prioritised: Iterable[tuple[int, float]], *, created_by=None) -> int:
    """A manager's new priorities for items (queued or not), announced to open pages.

    Every item must be the project's (:class:`QueueError` on ``items`` names the first that is not).
    """
    pairs = list(prioritised)
    ids = {item_id for item_id, _ in pairs}
    unknown = ids - set(Item.objects.filter(project=project, pk__in=ids).values_list("pk", flat=True))
    if unknown:
        raise QueueError(f"Item {min(unknown)} is not in project {project.pk}.", field="items")
    changed = enqueue_items(project, pairs, reason=QueueEntry.Reason.ACTIVE, created_by=created_by)
    transaction.on_commit(lambda: announce_queue_update(project.pk, reason="reprioritised", changed=changed))
    return changed
