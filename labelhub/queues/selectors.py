"""Reads of the queues: progress figures for the labeling page, the home page and the admin."""

from __future__ import annotations

from datetime import datetime, time

from django.db.models import Count, Exists, OuterRef, QuerySet
from django.utils import timezone

from labelhub.projects.models import Annotation, Item, Project
from labelhub.projects.selectors import correlated_count
from labelhub.queues.models import HAS_FREE_SLOT, Lease, QueueEntry


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
    """What the labeling page shows: labelled today / in total by this annotator, and queue left."""
    mine = Annotation.objects.filter(item__project=project, annotator=annotator, retracted_at__isnull=True)
    counts = queue_counts(project)
    return {
        "done_today": mine.filter(created_at__gte=start_of_today()).count(),
        "done_total": mine.count(),
        "queue_left": counts["waiting"],
        "unlabelled": unlabelled_count(project),
    }


def unlabelled_count(project: Project) -> int:
    return (
        Item.objects.filter(project=project)
        .exclude(Exists(Annotation.objects.filter(item=OuterRef("pk"), retracted_at__isnull=True)))
        .count()
    )


def projects_with_progress(projects: QuerySet[Project], user) -> list[Project]:
    """Projects annotated with ``item_count``, ``labelled_count``, ``queue_left``, ``my_today``."""
    today = start_of_today()
    labelled = Item.objects.filter(project=OuterRef("pk")).filter(
        Exists(Annotation.objects.filter(item=OuterRef("pk"), retracted_at__isnull=True))
    )

    annotated = projects.annotate(
        item_count=correlated_count(Item.objects.filter(project=OuterRef("pk"))),
        labelled_count=correlated_count(labelled),
        queue_left=correlated_count(
            QueueEntry.objects.filter(HAS_FREE_SLOT, project=OuterRef("pk"), is_open=True)
        ),
        my_today=correlated_count(
            Annotation.objects.filter(
                item__project=OuterRef("pk"), annotator=user, retracted_at__isnull=True, created_at__gte=today
            ),
            group="item__project",
        ),
    )
    return list(annotated)
