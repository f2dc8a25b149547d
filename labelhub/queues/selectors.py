"""Reads of the queues: what an annotator may be served, and progress figures for the labeling
page, the home page and the admin."""

from __future__ import annotations

from datetime import datetime, time

from django.db import connection
from django.db.models import Count, Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from annotators.qa.models import GoldItem
from labelhub.projects.models import Annotation, Item, Project
from labelhub.projects.selectors import correlated_count
from labelhub.queues.models import HAS_FREE_SLOT, Lease, QueueEntry


def servable_entries(annotator, project: Project | OuterRef) -> QuerySet[QueueEntry]:
    """Open entries with a free slot that this annotator has not labelled, does not hold, and did
    not skip or flag — in serving order.

    The one definition of "servable"; :func:`servable_entries_sql` is the same rows in SQL for
    PostgreSQL's one-statement lease, and must change with it. ``project`` may be an
    ``OuterRef`` to count them per project of an outer query (:func:`projects_with_progress`).
    """
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


def gold_candidates(annotator, project: Project, taken_items: set[int]) -> QuerySet[Item]:
    """Gold items this annotator never labelled, does not hold, and did not skip or flag (the
    gold CTE of :func:`labelhub.queues.services.leasing._lease_in_one_statement` is its SQL twin)."""
    mine = Lease.objects.filter(
        entry__item=OuterRef("pk"), entry__is_open=True, annotator=annotator, completed_at__isnull=True
    ).filter(
        Q(released_at__isnull=True)
        | Q(release_reason__in=[Lease.ReleaseReason.SKIPPED, Lease.ReleaseReason.FLAGGED])
    )
    return (
        Item.objects.filter(project=project, gold__isnull=False)
        .exclude(pk__in=taken_items)
        .filter(~Exists(Annotation.objects.filter(item=OuterRef("pk"), annotator=annotator)), ~Exists(mine))
    )


def anything_to_serve(annotator, project: Project) -> bool:
    """Whether "next" could lease anything to ``annotator`` now, in one query: a servable entry, a
    live lease past its deadline (expiring it frees a slot), or — when the project mixes in gold —
    a gold item this annotator may still be given.

    "next" asks this first on a project marked exhausted, where the answer is almost always no:
    that answer then costs one read instead of a locking transaction, so callers polling a finished
    project do not slow the others down. On PostgreSQL the read is the serve statement's own SQL
    (:func:`servable_entries_sql`, :func:`gold_candidates_sql`), so no ORM query is compiled on a
    path that finished projects' pages may call many times a second.
    """
    now = timezone.now()
    if connection.vendor == "postgresql":
        servable, params = servable_entries_sql(annotator, project, 1, set())
        checks = [f"EXISTS ({servable})", f"EXISTS ({OVERDUE_LEASES_SQL})"]
        if project.gold_rate > 0:
            checks.append(f"EXISTS ({gold_candidates_sql()})")
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT {' OR '.join(checks)}", {**params, "now": now})
            return bool(cursor.fetchone()[0])
    overdue = Lease.objects.filter(
        entry__project=project, released_at__isnull=True, completed_at__isnull=True, expires_at__lte=now
    )
    checks = {"servable": Exists(servable_entries(annotator, project)), "overdue": Exists(overdue)}
    if project.gold_rate > 0:
        checks["gold"] = Exists(gold_candidates(annotator, project, set()))
    found = Project.objects.filter(pk=project.pk).annotate(**checks).values_list(*checks).first()
    return bool(found) and any(found)


#: Live leases of ``%(project)s`` past their deadline at ``%(now)s`` (the overdue check of
#: :func:`anything_to_serve`, in SQL).
OVERDUE_LEASES_SQL = f"""
    SELECT 1 FROM {Lease._meta.db_table} ol JOIN {QueueEntry._meta.db_table} oe ON oe.id = ol.entry_id
    WHERE oe.project_id = %(project)s AND ol.released_at IS NULL AND ol.completed_at IS NULL
      AND ol.expires_at <= %(now)s"""  # noqa: S608 - table names from the models' metadata


def gold_candidates_sql() -> str:
    """:func:`gold_candidates` as one PostgreSQL ``SELECT i.id AS item_id`` (unordered, unlimited),
    over the named parameters of :func:`servable_entries_sql` (``project``, ``annotator``,
    ``taken``, ``skipped``, ``flagged``); it must change with :func:`gold_candidates`."""
    items, golds = Item._meta.db_table, GoldItem._meta.db_table
    annotations, entries, leases = Annotation._meta.db_table, QueueEntry._meta.db_table, Lease._meta.db_table
    return f"""
                SELECT i.id AS item_id FROM {items} i
                WHERE i.project_id = %(project)s
                  AND EXISTS (SELECT 1 FROM {golds} g WHERE g.item_id = i.id)
                  AND NOT (i.id = ANY(%(taken)s))
                  AND NOT EXISTS (
                      SELECT 1 FROM {annotations} a WHERE a.item_id = i.id AND a.annotator_id = %(annotator)s)
                  AND NOT EXISTS (
                      SELECT 1 FROM {leases} l JOIN {entries} oe ON oe.id = l.entry_id
                      WHERE oe.item_id = i.id AND oe.is_open AND l.annotator_id = %(annotator)s
                        AND l.completed_at IS NULL
                        AND (l.released_at IS NULL OR l.release_reason IN (%(skipped)s, %(flagged)s)))"""  # noqa: S608 - table names from the models' metadata; every value is a parameter


def servable_entries_sql(
    annotator,
    project: Project,
    count: int,
    taken_items: set[int],
    *,
    leaving_out: str | None = None,
) -> tuple[str, dict]:
    """:func:`servable_entries` as one PostgreSQL ``SELECT e.id`` (the first ``count``, leaving
    out ``taken_items``), and its named parameters.

    The lease statement wraps it (``FOR UPDATE … SKIP LOCKED``, then the updates) instead of
    building three ORM queries per "next". ``leaving_out`` names a relation of the enclosing
    statement with an ``item_id`` column (the gold items it leases): those items are left out,
    and each takes one of the ``count`` places.
    """
    entries, leases = QueueEntry._meta.db_table, Lease._meta.db_table
    annotations = Annotation._meta.db_table
    extra, limit = "", "%(count)s"
    if leaving_out is not None:
        extra = f"AND e.item_id NOT IN (SELECT item_id FROM {leaving_out})"  # noqa: S608 - a CTE name of ours
        limit = f"GREATEST(%(count)s - (SELECT count(*) FROM {leaving_out}), 0)"  # noqa: S608 - ditto
    sql = f"""
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
              {extra}
            ORDER BY e.priority DESC, e.id
            LIMIT {limit}"""  # noqa: S608 - table names from the models' metadata; every value is a parameter
    params = {
        "project": project.pk,
        "annotator": annotator.pk,
        "taken": sorted(taken_items),
        "skipped": Lease.ReleaseReason.SKIPPED,
        "flagged": Lease.ReleaseReason.FLAGGED,
        "count": count,
    }
    return sql, params


def unqueued_unlabelled(project: Project | OuterRef) -> QuerySet[Item]:
    """Items of the project with no open entry and no counting (non-retracted) annotation: the pool
    a fill draws from, so what "next" will queue when nothing is servable."""
    return Item.objects.filter(project=project).filter(
        ~Exists(QueueEntry.objects.filter(item=OuterRef("pk"), is_open=True)),
        ~Exists(Annotation.objects.filter(item=OuterRef("pk"), retracted_at__isnull=True)),
    )


def held_leases(annotator, project: Project | OuterRef) -> QuerySet[Lease]:
    """The annotator's live leases in the project (the item on their page and its prefetch); one
    past its deadline still counts, as its item comes back to them or to the queue."""
    return Lease.objects.filter(
        entry__project=project, annotator=annotator, released_at__isnull=True, completed_at__isnull=True
    )


def left_for(annotator, project: Project) -> int:
    """Items labelling can still serve this annotator: what they hold now, the entries servable to
    them, and the unqueued unlabelled items the next fill queues (gold checks come on top).

    The one figure behind "Queue left" on the labeling page, its status poll and the home page
    (:func:`projects_with_progress` counts the same three per project), so the home page does not
    say 0 for a queue that "next" fills on demand.
    """
    return (
        held_leases(annotator, project).count()
        + servable_entries(annotator, project).count()
        + unqueued_unlabelled(project).count()
    )


def start_of_today() -> datetime:
    now = timezone.localtime()
    return timezone.make_aware(datetime.combine(now.date(), time.min), now.tzinfo)


def queue_counts(project: Project) -> dict[str, int]:
    """Open entries, their free slots, and live leases of a project's queue."""
    figures = QueueEntry.objects.filter(project=project, is_open=True).aggregate(
        open_entries=Count("pk"),
        waiting=Count("pk", filter=HAS_FREE_SLOT),
    )
    figures["live_leases"] = Lease.objects.filter(
        entry__project=project, released_at__isnull=True, completed_at__isnull=True
    ).count()
    return figures


def annotator_progress(annotator, project: Project) -> dict[str, int]:
    """What the labeling page shows: labelled today / in total by this annotator, and what is left
    for them (:func:`left_for`)."""
    mine = Annotation.objects.filter(item__project=project, annotator=annotator, retracted_at__isnull=True)
    return {
        "done_today": mine.filter(created_at__gte=start_of_today()).count(),
        "done_total": mine.count(),
        "queue_left": left_for(annotator, project),
        "unlabelled": unlabelled_count(project),
    }


def unlabelled_count(project: Project) -> int:
    return (
        Item.objects.filter(project=project)
        .exclude(Exists(Annotation.objects.filter(item=OuterRef("pk"), retracted_at__isnull=True)))
        .count()
    )


def projects_with_progress(projects: QuerySet[Project], user) -> list[Project]:
    """Projects annotated with ``item_count``, ``labelled_count``, ``queue_left`` (what is left for
    ``user``, as :func:`left_for` counts it), ``my_today``."""
    today = start_of_today()
    labelled = Item.objects.filter(project=OuterRef("pk")).filter(
        Exists(Annotation.objects.filter(item=OuterRef("pk"), retracted_at__isnull=True))
    )

    annotated = projects.annotate(
        item_count=correlated_count(Item.objects.filter(project=OuterRef("pk"))),
        labelled_count=correlated_count(labelled),
        left_held=correlated_count(held_leases(user, OuterRef("pk")), group="entry__project"),
        left_servable=correlated_count(servable_entries(user, OuterRef("pk"))),
        left_unqueued=correlated_count(unqueued_unlabelled(OuterRef("pk"))),
        my_today=correlated_count(
            Annotation.objects.filter(
                item__project=OuterRef("pk"), annotator=user, retracted_at__isnull=True, created_at__gte=today
            ),
            group="item__project",
        ),
    )
    projects = list(annotated)
    for project in projects:
        project.queue_left = project.left_held + project.left_servable + project.left_unqueued
    return projects
