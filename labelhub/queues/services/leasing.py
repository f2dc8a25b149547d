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

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Exists, F, OuterRef, Subquery
from django.db.models.functions import Now
from django.utils import timezone

from labelhub.compiled import CompiledQuery
from labelhub.guidelines.errors import GuidelineAckRequired
from labelhub.guidelines.models import GuidelineVersion
from labelhub.guidelines.selectors import with_acknowledgement
from labelhub.projects.models import Item, Project, ProjectMembership
from labelhub.projects.selectors import projects_for_user
from labelhub.queues.models import Lease, QueueEntry, QueueState
from labelhub.queues.selectors import (
    anything_to_serve,
    gold_candidates,
    gold_candidates_sql,
    servable_entries,
    servable_entries_sql,
)
from labelhub.queues.services.errors import AnnotatorPaused
from labelhub.queues.services.expiry import expire_overdue
from labelhub.queues.services.filling import DEFAULT_FILL_SIZE, fill_queue, is_exhausted
from labelhub.weak.selectors import WEAK_LABEL_PATH

#: Most leases one "next" call hands out (the page prefetches a few).
MAX_PREFETCH = 10
#: Tries of one "next" call: rows locked by concurrent callers are looked at again.
LEASE_ATTEMPTS = 8
#: First key of the advisory lock that serialises one annotator's "next" calls (the second is
#: the user id); distinct from the fills' lock class.
ANNOTATOR_LOCK_CLASS = 0x4C4E


def _lock_servable(annotator, project: Project, count: int, exclude_items: set[int]) -> list[QueueEntry]:
    qs = servable_entries(annotator, project).select_related(f"item__{WEAK_LABEL_PATH}")
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
        # And whether any lease of the project is overdue: only then does leasing expire them
        # (a locking read and its round trip that nearly every "next" would spend on nothing).
        gate_overdue=Exists(
            Lease.objects.filter(
                entry__project=OuterRef("pk"),
                released_at__isnull=True,
                completed_at__isnull=True,
                expires_at__lte=Now(),
            )
        ),
    )


def _visible_gated_project(is_staff: bool, user_id: int, project_id: int):
    user = get_user_model()(pk=user_id, is_staff=is_staff)
    return with_serve_gate(projects_for_user(user), user).filter(pk=project_id)


_SERVING_PROJECT = CompiledQuery(_visible_gated_project, user_id=int, project_id=int)


def serving_project(user, project_id: int) -> Project | None:
    """The project as "next" needs it — among those ``user`` may see, with its serve gate
    (:func:`with_serve_gate`) — or None when the user may not see it.

    The same read as ``with_serve_gate(projects_for_user(user), user).get(pk=project_id)``, compiled
    to SQL once (:class:`~labelhub.compiled.CompiledQuery`): compiling it cost five times running it.
    """
    if not user.is_authenticated:
        return None
    return _SERVING_PROJECT.first(bool(user.is_staff), user_id=user.pk, project_id=int(project_id))


def _check_may_be_served(annotator, project: Project) -> None:
    """Raise when the gate is closed; reads it now unless ``project`` came through
    :func:`with_serve_gate`."""
    if not hasattr(project, "gate_paused"):
        project = with_serve_gate(Project.objects.filter(pk=project.pk), annotator).get()
    if project.gate_paused:
        raise AnnotatorPaused(project.gate_paused_reason or "")
    if project.current_guideline_id is not None and not project.current_guideline_acknowledged:
        raise GuidelineAckRequired(GuidelineVersion.objects.get(pk=project.current_guideline_id))


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
    if is_exhausted(project.queue_exhausted_at) and not anything_to_serve(annotator, project):
        # The common answer on a finished project, in one read: no lock, no transaction, no fill.
        return []
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


def _gold_slots(project: Project, count: int, rng: random.Random) -> int:
    """How many of ``count`` places are gold checks: each one with probability ``gold_rate``."""
    if project.gold_rate <= 0:
        return 0
    return sum(rng.random() < project.gold_rate for _ in range(count))


def _serialise_annotator(annotator) -> None:
    """PostgreSQL: one "next" of an annotator at a time (an advisory lock for the transaction).

    Two concurrent calls of one annotator would both pass the "does not hold it" test of the
    serve query on one snapshot and lease one entry twice (a unique violation, a 500): the lock
    makes the second call's statement see the first one's leases. Other annotators never wait.
    """
    if connection.vendor != "postgresql":
        return  # SQLite: IMMEDIATE transactions serialise every writer already
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ANNOTATOR_LOCK_CLASS, annotator.pk])


def _lease_batch(
    annotator, project: Project, count: int, taken_items: set[int], rng: random.Random | None = None
) -> list[Lease]:
    """One leasing transaction: expire this project's overdue leases (so expiry needs no
    background process; skipped when the serve gate saw none, ``gate_overdue``), then lock and
    lease the next servable entries with gold mixed in.

    Gold must not be told apart from the rest: it sits at random places of the batch, the
    batch's leases are created in that final order (lease ids say nothing), and on PostgreSQL
    gold and regular entries are leased by the same one statement (a gold "next" costs what any
    "next" costs).
    """
    rng = rng or random.Random()  # noqa: S311 - sampling, not security
    now = timezone.now()
    expires_at = now + timedelta(minutes=project.lease_minutes)
    _serialise_annotator(annotator)
    if getattr(project, "gate_overdue", True):
        expire_overdue(project, now, announce=True)
    gold = _gold_slots(project, count, rng)
    if connection.vendor == "postgresql":
        return _lease_in_one_statement(annotator, project, count, gold, taken_items, now, expires_at)
    return _lease_portably(annotator, project, count, gold, taken_items, expires_at, rng)


def _lease_portably(
    annotator,
    project: Project,
    count: int,
    gold: int,
    taken_items: set[int],
    expires_at: datetime,
    rng: random.Random,
) -> list[Lease]:
    """The ORM twin of :func:`_lease_in_one_statement` (SQLite, whose transactions run one at a
    time: no row is contended)."""
    gold_items = list(
        gold_candidates(annotator, project, taken_items).order_by("?").values_list("pk", flat=True)[:gold]
    )
    gold_entries = []
    if gold_items:
        # The gold copy never takes a slot from the regular queue: an open entry of the item gets
        # one more required annotation, otherwise a fresh ``gold`` entry holds the copy.
        open_entries = {
            entry.item_id: entry
            for entry in QueueEntry.objects.filter(project=project, is_open=True, item_id__in=gold_items)
        }
        QueueEntry.objects.filter(pk__in=[e.pk for e in open_entries.values()]).update(
            required_annotations=F("required_annotations") + 1, leased_count=F("leased_count") + 1
        )
        created = QueueEntry.objects.bulk_create(
            [
                QueueEntry(project=project, item_id=item_id, reason=QueueEntry.Reason.GOLD, leased_count=1)
                for item_id in gold_items
                if item_id not in open_entries
            ]
        )
        gold_entries = list(open_entries.values()) + created
    regular = _lock_servable(annotator, project, count - len(gold_entries), taken_items | set(gold_items))
    if regular:
        QueueEntry.objects.filter(pk__in=[e.pk for e in regular]).update(leased_count=F("leased_count") + 1)
    batch = list(regular)
    for entry in gold_entries:
        batch.insert(rng.randrange(len(batch) + 1), entry)
    items = Item.objects.filter(pk__in=[e.item_id for e in gold_entries]).select_related(WEAK_LABEL_PATH)
    items = {item.pk: item for item in items}
    for entry in gold_entries:
        entry.item = items[entry.item_id]
    # Created in their final order: the lease ids follow the page's order, gold included.
    leases = Lease.objects.bulk_create(
        [Lease(entry=entry, annotator=annotator, expires_at=expires_at) for entry in batch]
    )
    for lease, entry in zip(leases, batch, strict=True):
        lease.entry = entry
    return leases


def _lease_in_one_statement(
    annotator,
    project: Project,
    count: int,
    gold: int,
    taken_items: set[int],
    now: datetime,
    expires_at: datetime,
) -> list[Lease]:
    """PostgreSQL: pick, lock, count and lease the next servable entries, gold included, in one
    statement, and create the leases in their final order.

    The regular rows are :func:`~labelhub.queues.selectors.servable_entries_sql` (the SQL twin
    of :func:`~labelhub.queues.selectors.servable_entries`) under ``FOR UPDATE … SKIP LOCKED``: a
    row leased meanwhile by a concurrent "next" is re-checked against its new ``leased_count``,
    and the table's check constraint still stands behind it. The gold copies are one
    ``INSERT … ON CONFLICT`` on the open entry of each picked gold item: a new ``gold`` entry, or
    one more required annotation on the open one — two calls picking the same gold item meet in
    the unique index instead of failing on it. Data-modifying CTEs run once, in the caller's
    transaction; the leases are inserted ordered by their place in the batch (regular ones in
    serving order, gold ones at uniformly random places), so their ids follow that order.
    """
    if count <= 0:
        return []
    entries, leases = QueueEntry._meta.db_table, Lease._meta.db_table
    if gold:
        picked, params = servable_entries_sql(
            annotator, project, count, taken_items, leaving_out="gold_items"
        )
        gold_ctes = f"""
            gold_items AS ({gold_candidates_sql()}
                ORDER BY random()
                LIMIT %(gold)s
            ), gold AS (
                INSERT INTO {entries} AS e (project_id, item_id, priority, reason, required_annotations,
                    completed_annotations, leased_count, is_open, batch_key, created_by_id, created_at)
                SELECT %(project)s, item_id, 0, %(gold_reason)s, 1, 0, 1, TRUE, '', NULL, %(now)s
                FROM gold_items
                ORDER BY item_id  -- one lock order for every caller: concurrent upserts wait, never deadlock
                ON CONFLICT (project_id, item_id) WHERE is_open DO UPDATE
                SET required_annotations = e.required_annotations + 1, leased_count = e.leased_count + 1
                RETURNING e.id
            ),"""  # noqa: S608 - table names from the models' metadata; every value is a parameter
        gold_places = "UNION ALL SELECT id, random() * ((SELECT count(*) FROM bumped) + 1) FROM gold"
        params |= {"gold": gold, "gold_reason": QueueEntry.Reason.GOLD}
    else:
        picked, params = servable_entries_sql(annotator, project, count, taken_items)
        gold_ctes, gold_places = "", ""
    sql = f"""
        WITH {gold_ctes} picked AS ({picked}
            FOR UPDATE OF e SKIP LOCKED
        ), bumped AS (
            UPDATE {entries} e SET leased_count = e.leased_count + 1 FROM picked
            WHERE e.id = picked.id RETURNING e.id, e.priority
        ), batch AS (
            SELECT id, row_number() OVER (ORDER BY priority DESC, id)::float8 AS place FROM bumped
            {gold_places}
        )
        INSERT INTO {leases} (entry_id, annotator_id, leased_at, expires_at, released_at, completed_at, release_reason)
        SELECT id, %(annotator)s, %(now)s, %(expires)s, NULL, NULL, '' FROM batch ORDER BY place
        RETURNING id
    """  # noqa: S608 - table names from the models' metadata; every value is a parameter
    params = {**params, "now": now, "expires": expires_at}
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        ids = [row[0] for row in cursor.fetchall()]
    if not ids:
        return []
    # With each item's weak label: the page shows it beside the item, read here rather than after.
    leases = Lease.objects.select_related(f"entry__item__{WEAK_LABEL_PATH}").filter(pk__in=ids)
    return list(leases.order_by("pk"))


def lease_next_item(annotator, project: Project) -> Lease | None:
    """Lease the one next entry for ``annotator`` (see :func:`lease_next_items`)."""
    leases = lease_next_items(annotator, project, 1)
    return leases[0] if leases else None
