"""Changes to the queues: filling them, leasing entries to annotators, and the annotation flow.

The invariants every function here keeps, in the database where it can:
- an entry never has more live leases + completed annotations than ``required_annotations``
  (``QueueEntry.leased_count`` + a check constraint);
- nobody is served an item they already labelled (non-retracted), hold, skipped or flagged;
- a lease is live until it is completed, released, skipped, flagged or expired — exactly once.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Case, Exists, F, OuterRef, Q, Subquery, Value, When
from django.utils import timezone

from annotators.qa.gold import pick_gold_item
from annotators.qa.models import GoldItem
from labelhub.guidelines.models import GuidelineVersion
from labelhub.guidelines.selectors import current_version, current_version_id, with_acknowledgement
from labelhub.projects.models import Annotation, Item, Project, ProjectMembership
from labelhub.projects.push import announce_queue_update
from labelhub.projects.signals import annotation_retracted
from labelhub.queues import reactions, sampling
from labelhub.queues.models import HAS_FREE_SLOT, ItemFlag, Lease, QueueEntry

logger = logging.getLogger(__name__)

#: Entries added when an annotator finds nothing left to serve.
DEFAULT_FILL_SIZE = 200
#: Most leases one "next" call hands out (the page prefetches a few).
MAX_PREFETCH = 10
#: Tries of one "next" call: rows locked by concurrent callers are looked at again.
LEASE_ATTEMPTS = 8
#: First key of the PostgreSQL advisory locks that serialise fills (the second is the project id).
FILL_LOCK_CLASS = 0x4C48


class QueueError(Exception):
    """A request the annotator or client caused; the API turns it into a 4xx naming ``field``."""

    status_code = 400

    def __init__(self, message: str, *, field: str = "non_field_errors", code: str = "invalid"):
        super().__init__(message)
        self.message = message
        self.field = field
        self.code = code


class AnnotatorPaused(QueueError):
    status_code = 403

    def __init__(self, reason: str = ""):
        detail = "You are paused on this project by a QA policy"
        super().__init__(f"{detail}: {reason}" if reason else detail + ".", code="annotator_paused")


class GuidelineAckRequired(QueueError):
    """The current guideline version must be acknowledged before anything else is served."""

    status_code = 409

    def __init__(self, version):
        super().__init__(
            f"Guidelines version {version.number} was published; read its changes and acknowledge them.",
            code="guideline_ack_required",
        )
        self.version = version


@dataclass(frozen=True)
class ExpiredLease:
    lease_id: int
    entry_id: int
    item_id: int
    annotator_id: int
    project_id: int


# --------------------------------------------------------------------------- enqueueing and filling


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
    return len(pairs)


def _unqueued_unlabelled(project: Project):
    """Items of the project with no open entry and no counting (non-retracted) annotation."""
    return Item.objects.filter(project=project).filter(
        ~Exists(QueueEntry.objects.filter(item=OuterRef("pk"), is_open=True)),
        ~Exists(Annotation.objects.filter(item=OuterRef("pk"), retracted_at__isnull=True)),
    )


def _random_candidates(project: Project, n: int, rng: random.Random) -> list[Item]:
    """About ``n`` random unqueued, unlabelled items without ``ORDER BY random()`` over the pool.

    Random primary keys in the project's id range are probed first (cheap on a million items);
    when the pool is sparse (mostly labelled or queued) a walk in id order from a random pivot
    fills the rest, wrapping around once.
    """
    base = _unqueued_unlabelled(project).only("pk", "suggestion")
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
    candidate pool is scored by how much each item is expected to help the under-represented
    classes (model probabilities from ``Item.suggestion`` when present, see
    :func:`sampling.balance_scores`) and the best are queued (reason ``balance``). A share
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
        if unless_servable_for is not None and _servable_entries(unless_servable_for, project).exists():
            return 0
        if only_below is not None and free_slots(project, up_to=only_below) >= only_below:
            return 0
        class_names = list(project.classes.values_list("name", flat=True))
        deficit = sampling.class_deficit(project, class_names) if class_names else None
        pool_size = n if deficit is None else max(n * sampling.BALANCE_POOL_FACTOR, sampling.BALANCE_MIN_POOL)
        candidates = _random_candidates(project, pool_size, rng)
        if deficit is None:
            picked = [(item, rng.random(), QueueEntry.Reason.RANDOM) for item in candidates[:n]]
        else:
            scores = sampling.balance_scores(candidates, class_names, deficit)
            ranked = sorted(candidates, key=lambda item: (scores[item.pk], rng.random()), reverse=True)
            picked = [(item, scores[item.pk], QueueEntry.Reason.BALANCE) for item in ranked[:n]]
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
        if announce and entries:
            transaction.on_commit(
                lambda: announce_queue_update(project.pk, reason="filled", added=len(entries))
            )
    return len(entries)


def top_up_queue(project: Project, *, low_water: int | None = None) -> int:
    """Refill ahead of need: when fewer than ``low_water`` entries have a free slot, add enough
    for twice that. ``keep_queues`` calls it for projects with annotators at work, so "next"
    finds a full queue instead of filling it while an annotator waits. Skips when a fill of the
    project is already running."""
    low_water = settings.LABELHUB_QUEUE_LOW_WATER if low_water is None else low_water
    if low_water <= 0:
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


# --------------------------------------------------------------------------- leasing


def _servable_entries(annotator, project: Project):
    """Open entries with a free slot that this annotator has not labelled, does not hold, and did
    not skip or flag — in serving order."""
    mine_blocking = Lease.objects.filter(
        entry=OuterRef("pk"), annotator=annotator, completed_at__isnull=True
    ).filter(
        Q(released_at__isnull=True)
        | Q(release_reason__in=[Lease.ReleaseReason.SKIPPED, Lease.ReleaseReason.FLAGGED])
    )
    labelled_by_me = Annotation.objects.filter(
        item=OuterRef("item_id"), annotator=annotator, retracted_at__isnull=True
    )
    return (
        QueueEntry.objects.filter(project=project, is_open=True)
        .filter(HAS_FREE_SLOT)
        .filter(~Exists(mine_blocking), ~Exists(labelled_by_me))
        .order_by("-priority", "id")
    )


def _lock_servable(annotator, project: Project, count: int, exclude_items: set[int]) -> list[QueueEntry]:
    qs = _servable_entries(annotator, project).select_related("item")
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
    empty list means the project has nothing left for this annotator.
    """
    count = max(1, min(count, MAX_PREFETCH))
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
        if _servable_entries(annotator, project).exclude(item_id__in=taken).exists():
            # SKIP LOCKED passed over rows that other "next" calls held for a moment; they may
            # still have a free slot once those commit, so look again rather than answer "empty".
            time.sleep(0.002 * (attempt + 1))
            continue
        if filled:
            break
        # Even a fill that adds nothing is worth one more look: a concurrent fill may just have
        # queued the rest of the pool.
        fill_queue(project, fill_size or max(DEFAULT_FILL_SIZE, count), unless_servable_for=annotator)
        filled = True
    return leases


def _lease_batch(annotator, project: Project, count: int, taken_items: set[int]) -> list[Lease]:
    """One leasing transaction: expire this project's overdue leases (so expiry needs no
    background process), mix in gold, then lock and lease the next servable entries."""
    now = timezone.now()
    expires_at = now + timedelta(minutes=project.lease_minutes)
    _expire_overdue(project, now, announce=True)
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
    portable path (the SQLite one, and the definition this mirrors: :func:`_servable_entries`),
    without building three ORM queries per "next". Data-modifying CTEs run once, in order, in
    the caller's transaction; ``FOR UPDATE … SKIP LOCKED`` re-checks a row that a concurrent
    "next" leased meanwhile against its new ``leased_count``, and the table's check constraint
    still stands behind it.
    """
    if count <= 0:
        return []
    entries, leases = QueueEntry._meta.db_table, Lease._meta.db_table
    annotations = Annotation._meta.db_table
    sql = f"""
        WITH picked AS (
            SELECT e.id FROM {entries} e
            WHERE e.project_id = %(project)s AND e.is_open
              AND e.completed_annotations < e.required_annotations - e.leased_count
              AND NOT (e.item_id = ANY(%(taken)s))
              AND NOT EXISTS (
                  SELECT 1 FROM {leases} l
                  WHERE l.entry_id = e.id AND l.annotator_id = %(annotator)s AND l.completed_at IS NULL
                    AND (l.released_at IS NULL OR l.release_reason IN (%(skipped)s, %(flagged)s)))
              AND NOT EXISTS (
                  SELECT 1 FROM {annotations} a
                  WHERE a.item_id = e.item_id AND a.annotator_id = %(annotator)s AND a.retracted_at IS NULL)
            ORDER BY e.priority DESC, e.id
            LIMIT %(count)s
            FOR UPDATE OF e SKIP LOCKED
        ), bumped AS (
            UPDATE {entries} e SET leased_count = e.leased_count + 1 FROM picked
            WHERE e.id = picked.id RETURNING e.id
        )
        INSERT INTO {leases} (entry_id, annotator_id, leased_at, expires_at, released_at, completed_at, release_reason)
        SELECT id, %(annotator)s, %(now)s, %(expires)s, NULL, NULL, '' FROM bumped
        RETURNING id
    """  # noqa: S608 - table names from the models' metadata; every value is a parameter
    params = {
        "project": project.pk,
        "annotator": annotator.pk,
        "taken": sorted(taken_items),
        "skipped": Lease.ReleaseReason.SKIPPED,
        "flagged": Lease.ReleaseReason.FLAGGED,
        "count": count,
        "now": now,
        "expires": expires_at,
    }
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


# --------------------------------------------------------------------------- ending a lease


class LeaseNotVisible(QueueError):
    """The lease is in no project the user may see: answered like any unknown URL."""

    status_code = 404

    def __init__(self):
        super().__init__("Not found.", field="lease", code="not_found")


def _locked_live_lease(
    lease: Lease | int,
    annotator,
    *,
    allow_expired: bool = False,
    visible_projects=None,
    for_submit: bool = False,
) -> Lease:
    """Re-read and lock the lease; refuse (400, naming the lease) anything not live and ours.

    ``visible_projects`` (a project queryset) answers 404 for a lease outside them, in the same
    query. ``for_submit`` also reads, in that query, what the annotation records: the project's
    current guideline version (``current_version_id``) and whether the item is gold (``is_gold``).
    """
    lease_id = lease if isinstance(lease, int) else lease.pk
    rows = Lease.objects.select_for_update(of=("self",)).select_related(
        "entry", "entry__item", "entry__project"
    )
    if visible_projects is not None:
        rows = rows.filter(entry__project__in=visible_projects)
    if for_submit:
        rows = rows.annotate(
            current_version_id=current_version_id("entry__project_id"),
            is_gold=Exists(GoldItem.objects.filter(item_id=OuterRef("entry__item_id"))),
        )
    locked = rows.filter(pk=lease_id).first()
    if locked is None:
        if visible_projects is not None:
            raise LeaseNotVisible
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
    return locked


def _end_lease(lease: Lease, reason: str, now: datetime) -> None:
    lease.released_at = now
    lease.release_reason = reason
    lease.save(update_fields=["released_at", "release_reason"])
    QueueEntry.objects.filter(pk=lease.entry_id).update(leased_count=F("leased_count") - 1)


def validate_labels(project: Project, labels) -> list[str]:
    """The labels as a clean list of class names, or a :class:`QueueError` naming the bad value."""
    if not isinstance(labels, list) or not all(isinstance(name, str) for name in labels):
        raise QueueError("labels must be a list of class names.", field="labels")
    known = list(project.classes.values_list("name", flat=True))
    unknown = [name for name in labels if name not in known]
    if unknown:
        raise QueueError(
            f"Label {unknown[0]!r} is not in the schema of project {project.name!r} "
            f"(classes: {', '.join(known)}).",
            field="labels",
            code="unknown_label",
        )
    if len(set(labels)) != len(labels):
        raise QueueError("labels lists a class twice.", field="labels", code="duplicate_label")
    if not project.multi_label and len(labels) != 1:
        raise QueueError(
            f"Project {project.name!r} is single-label: give exactly one label, got {len(labels)}.",
            field="labels",
            code="wrong_label_count",
        )
    if project.multi_label and not labels:
        raise QueueError("Give at least one label.", field="labels", code="wrong_label_count")
    return labels


def submit_annotation(
    lease: Lease | int,
    labels: Sequence[str],
    time_spent: float = 0,
    *,
    annotator=None,
    visible_projects=None,
) -> Annotation:
    """Store the annotator's labels for a leased item and complete the lease.

    ``annotator`` defaults to the lease holder (pass the requesting user from views: a lease of
    someone else is refused; ``visible_projects`` makes a lease outside them a 404). The entry
    closes once it has all its annotations; QA and active learning hear about it through
    ``annotation_submitted``, delivered from the outbox row written here
    (:mod:`labelhub.queues.reactions`).
    """
    if annotator is None:
        annotator = lease.annotator if isinstance(lease, Lease) else Lease.objects.get(pk=lease).annotator
    try:
        time_spent = float(time_spent or 0)
    except (TypeError, ValueError):
        raise QueueError(
            f"time_spent must be a number of seconds, got {time_spent!r}.", field="time_spent"
        ) from None
    if time_spent < 0:
        raise QueueError("time_spent cannot be negative.", field="time_spent")
    with transaction.atomic():
        locked = _locked_live_lease(lease, annotator, visible_projects=visible_projects, for_submit=True)
        entry = locked.entry
        clean = validate_labels(entry.project, list(labels))
        annotation = Annotation.objects.create(
            item=entry.item,
            annotator=annotator,
            labels=clean,
            time_spent=time_spent,
            source=Annotation.Source.HUMAN,
            guideline_version_id=locked.current_version_id,
            lease=locked,
            suggestion_shown=entry.item.suggestion,
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
        locked = _locked_live_lease(lease, annotator)
        locked.expires_at = timezone.now() + timedelta(minutes=locked.entry.project.lease_minutes)
        locked.save(update_fields=["expires_at"])
    return locked


def undo_last_submit(annotator, project: Project) -> tuple[Annotation, Lease]:
    """Retract the annotator's latest annotation in the project and lease the item back to them.

    The row stays (``retracted_at`` set) so nothing submitted is lost; the item's entry counts one
    annotation fewer, is re-opened when it had closed, and the annotator gets a fresh lease on it so
    the page can show it again with the old labels.
    """
    now = timezone.now()
    with transaction.atomic():
        annotation = (
            Annotation.objects.select_for_update(of=("self",))
            .select_related("lease__entry")
            .filter(item__project=project, annotator=annotator, retracted_at__isnull=True, source="human")
            .order_by("-created_at", "-pk")
            .first()
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


# --------------------------------------------------------------------------- expiry


def expire_leases(
    *, project: Project | None = None, now: datetime | None = None, announce: bool = True
) -> list[ExpiredLease]:
    """Mark live leases past their deadline as expired, freeing their entries' slots.

    Called by "next" for its project (so expiry needs no background process) and by the
    ``expire_leases`` command for every project. Rows being expired by a concurrent caller are
    skipped (SKIP LOCKED), and entries are updated in id order so two sweepers never deadlock.
    Each project with expirations is told over the channel layer, so open pages holding one of
    these leases can say so.
    """
    now = now or timezone.now()
    with transaction.atomic():
        expired = _expire_overdue(project, now, announce=announce)
    if expired:
        logger.info("expired %d leases", len(expired))
    return expired


def _expire_overdue(project: Project | None, now: datetime, *, announce: bool) -> list[ExpiredLease]:
    """The body of :func:`expire_leases`; call inside a transaction (``next`` uses its own)."""
    qs = Lease.objects.filter(released_at__isnull=True, completed_at__isnull=True, expires_at__lte=now)
    if project is not None:
        qs = qs.filter(entry__project=project)
    if connection.features.has_select_for_update_skip_locked:
        qs = qs.select_for_update(skip_locked=True, of=("self",))
    rows = list(
        qs.order_by("entry_id").values_list(
            "pk", "entry_id", "entry__item_id", "annotator_id", "entry__project_id"
        )
    )
    if not rows:
        return []
    Lease.objects.filter(pk__in=[r[0] for r in rows]).update(
        released_at=now, release_reason=Lease.ReleaseReason.EXPIRED
    )
    per_entry: dict[int, int] = {}
    for row in rows:
        per_entry[row[1]] = per_entry.get(row[1], 0) + 1
    for entry_id in sorted(per_entry):
        QueueEntry.objects.filter(pk=entry_id).update(leased_count=F("leased_count") - per_entry[entry_id])
    expired = [ExpiredLease(*row) for row in rows]
    if announce:
        transaction.on_commit(lambda: _announce_expired(expired))
    return expired


def _announce_expired(expired: list[ExpiredLease]) -> None:
    by_project: dict[int, list[ExpiredLease]] = {}
    for lease in expired:
        by_project.setdefault(lease.project_id, []).append(lease)
    for project_id, leases in by_project.items():
        announce_queue_update(
            project_id,
            reason="leases_expired",
            expired_leases=[lease.lease_id for lease in leases],
            returned=len(leases),
        )


def reprioritise(project: Project, prioritised: Iterable[tuple[int, float]], *, created_by=None) -> int:
    """A manager's new priorities for items (queued or not), announced to open pages."""
    changed = enqueue_items(project, prioritised, reason=QueueEntry.Reason.ACTIVE, created_by=created_by)
    transaction.on_commit(lambda: announce_queue_update(project.pk, reason="reprioritised", changed=changed))
    return changed
