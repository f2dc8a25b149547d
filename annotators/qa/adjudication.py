"""Adjudication: disputed items wait in a reviewer queue until a reviewer sets the final label.

An item enters the queue when its overlapping labels disagree (or the vote ties), or when a QA
policy sends a flagged annotator's recent labels for review. Resolving writes the item's
ConsensusLabel with method ``adjudicated`` (never overwritten by a recomputation) and can promote
the answer to gold.
"""

from __future__ import annotations

import string
from collections.abc import Iterable

from django.db import connection, transaction
from django.utils import timezone

from annotators.qa.errors import AlreadyResolved, NotReviewer
from annotators.qa.gold import mark_gold
from annotators.qa.models import AdjudicationTask, ConsensusLabel, GoldItem
from annotators.qa.resolution import Resolution
from annotators.qa.signals import adjudication_resolved
from labelhub.projects.labels import clean_labels
from labelhub.projects.models import Annotation, Project, ProjectMembership
from labelhub.projects.selectors import has_role, label_schema

REVIEW_ROLES = (ProjectMembership.Role.REVIEWER, ProjectMembership.Role.MANAGER)


def can_adjudicate(user, project: Project | int) -> bool:
    return has_role(user, project, *REVIEW_ROLES)


def open_adjudications(project: Project, resolution: Resolution) -> int:
    """Open a task for each disputed item that has none open and was not adjudicated already."""
    disputed = resolution.disagreement | resolution.tie
    if not disputed.any():
        return 0
    candidates = {
        int(item_id): (bool(tie), float(confidence))
        for item_id, tie, confidence, flag in zip(
            resolution.item_ids, resolution.tie, resolution.confidence, disputed, strict=True
        )
        if flag
    }
    return _create_tasks(
        project,
        {
            item_id: (
                AdjudicationTask.Reason.TIE if tie else AdjudicationTask.Reason.DISAGREEMENT,
                confidence,
                "",
            )
            for item_id, (tie, confidence) in candidates.items()
        },
    )


def send_for_review(project: Project, item_ids: Iterable[int], *, reason: str, detail: str = "") -> int:
    """Queue items for review (policy or manager); items already waiting keep their task."""
    return _create_tasks(project, {int(i): (reason, 0.0, detail) for i in item_ids})


def send_suspected_errors(project: Project, suspects: dict[int, tuple[float, str]]) -> dict[int, int]:
    """Open ``label_error`` tasks for ``{item_id: (label quality, detail)}``; ``{item_id: task id}``
    of the tasks opened. Items already waiting, or settled by an adjudication, are left alone."""
    _create_tasks(
        project,
        {
            item_id: (AdjudicationTask.Reason.LABEL_ERROR, quality, detail)
            for item_id, (quality, detail) in suspects.items()
        },
    )
    return dict(
        AdjudicationTask.objects.filter(
            project=project,
            item_id__in=list(suspects),
            reason=AdjudicationTask.Reason.LABEL_ERROR,
            status=AdjudicationTask.Status.OPEN,
        ).values_list("item_id", "id")
    )


def _create_tasks(project: Project, wanted: dict[int, tuple[str, float, str]]) -> int:
    # A submit asks about one item: filter by it. A full recompute may dispute 100,000+ items,
    # where an IN list that long costs more than reading the project's rows.
    tasks = AdjudicationTask.objects.filter(project=project, status=AdjudicationTask.Status.OPEN)
    adjudicated = ConsensusLabel.objects.filter(
        item__project=project, method=ConsensusLabel.Method.ADJUDICATED
    )
    if len(wanted) <= 1000:
        tasks, adjudicated = (
            tasks.filter(item_id__in=list(wanted)),
            adjudicated.filter(item_id__in=list(wanted)),
        )
    with transaction.atomic():
        already = set(tasks.values_list("item_id", flat=True))
        settled = set(adjudicated.values_list("item_id", flat=True))
        new = [
            AdjudicationTask(
                project=project, item_id=item_id, reason=reason, confidence=confidence, detail=detail
            )
            for item_id, (reason, confidence, detail) in wanted.items()
            if item_id not in already and (item_id not in settled or reason == AdjudicationTask.Reason.POLICY)
        ]
        # Conflicts are ignored: a concurrent submit may open the same item's task meanwhile.
        if connection.vendor == "postgresql" and len(new) > COPY_THRESHOLD:
            _copy_insert(new)
        else:
            AdjudicationTask.objects.bulk_create(new, batch_size=5000, ignore_conflicts=True)
    return len(new)


COPY_THRESHOLD = 5000  # below this, bulk_create is as fast and simpler


def _copy_insert(tasks: list[AdjudicationTask]) -> None:
    """PostgreSQL: COPY new open tasks into a temporary table, then INSERT … ON CONFLICT DO NOTHING.

    A recompute can open 100,000+ tasks; bulk_create's generated INSERTs took ~18 s for 180,000.
    """
    table = AdjudicationTask._meta.db_table
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS qa_adjudication_in (project_id bigint, item_id bigint, "
            "reason varchar(15), detail text, confidence double precision) ON COMMIT DROP"
        )
        cursor.execute("TRUNCATE qa_adjudication_in")
        with cursor.cursor.copy("COPY qa_adjudication_in FROM STDIN") as copy:
            for task in tasks:
                copy.write_row((task.project_id, task.item_id, task.reason, task.detail, task.confidence))
        cursor.execute(
            f"INSERT INTO {table} (project_id, item_id, reason, detail, confidence, status, created_at, note) "  # noqa: S608
            "SELECT project_id, item_id, reason, detail, confidence, %s, %s, '' FROM qa_adjudication_in "
            "ON CONFLICT DO NOTHING",
            [AdjudicationTask.Status.OPEN.value, now],
        )


def anonymous_name(index: int) -> str:
    """'Annotator A', 'Annotator B', … 'Annotator AA' for the index-th annotator of an item."""
    letters = ""
    index += 1
    while index:
        index, rest = divmod(index - 1, 26)
        letters = string.ascii_uppercase[rest] + letters
    return f"Annotator {letters}"


def task_labels(task: AdjudicationTask) -> list[dict]:
    """Every countable label of the task's item, anonymised when the project says so."""
    annotations = (
        Annotation.objects.filter(item_id=task.item_id, retracted_at__isnull=True)
        .select_related("annotator", "guideline_version")
        .order_by("created_at", "id")
    )
    anonymous = task.project.qa_anonymous_adjudication
    names: dict = {}
    result = []
    for annotation in annotations:
        key = annotation.annotator_id
        if key not in names:
            names[key] = (
                anonymous_name(len(names))
                if anonymous or annotation.annotator is None
                else annotation.annotator.get_username()
            )
        result.append(
            {
                "annotator": names[key],
                "labels": annotation.labels,
                "time_spent": annotation.time_spent,
                "guideline_version": annotation.guideline_version.number
                if annotation.guideline_version
                else None,
                "created_at": annotation.created_at.isoformat(),
            }
        )
    return result


@transaction.atomic
def resolve_task(
    task: AdjudicationTask, reviewer, labels, *, promote_to_gold: bool = False, note: str = ""
) -> AdjudicationTask:
    """Set the item's final label; optionally make it a gold answer for future checks.

    Raises :class:`NotReviewer` for anyone but reviewers and managers, :class:`AlreadyResolved`
    for a closed task and :class:`~labelhub.projects.labels.InvalidLabels` (field ``labels``).
    """
    task = AdjudicationTask.objects.select_for_update().select_related("project").get(pk=task.pk)
    if not can_adjudicate(reviewer, task.project):
        raise NotReviewer("Only reviewers and managers adjudicate.")
    if task.status != AdjudicationTask.Status.OPEN:
        raise AlreadyResolved(f"task {task.pk} is already {task.status}.", field="status")
    labels = clean_labels(label_schema(task.project), labels, field="labels")
    count = Annotation.objects.filter(item_id=task.item_id, retracted_at__isnull=True).count()
    ConsensusLabel.objects.update_or_create(
        item_id=task.item_id,
        defaults={
            "labels": labels,
            "confidence": 1.0,
            "method": ConsensusLabel.Method.ADJUDICATED,
            "annotator_count": count,
        },
    )
    task.status = AdjudicationTask.Status.RESOLVED
    task.resolved_labels = labels
    task.resolved_by = reviewer
    task.resolved_at = timezone.now()
    task.note = note
    task.save(update_fields=["status", "resolved_labels", "resolved_by", "resolved_at", "note"])
    if promote_to_gold:
        mark_gold(task.project, [(task.item_id, labels)], user=reviewer, source=GoldItem.Source.ADJUDICATION)
    adjudication_resolved.send(sender=AdjudicationTask, task=task, outcome="labelled")
    return task


@transaction.atomic
def close_as_ambiguous(task: AdjudicationTask, reviewer, *, note: str = "") -> AdjudicationTask:
    """A reviewer finds the item ambiguous: the task closes with no final label (the item's
    resolved label stays as it was) and receivers of ``adjudication_resolved`` take it further
    (the label-noise review makes it a guideline question).

    Raises what :func:`resolve_task` raises for a non-reviewer or a closed task.
    """
    task = AdjudicationTask.objects.select_for_update().select_related("project").get(pk=task.pk)
    if not can_adjudicate(reviewer, task.project):
        raise NotReviewer("Only reviewers and managers adjudicate.")
    if task.status != AdjudicationTask.Status.OPEN:
        raise AlreadyResolved(f"task {task.pk} is already {task.status}.", field="status")
    task.status = AdjudicationTask.Status.RESOLVED
    task.resolved_labels = None
    task.resolved_by = reviewer
    task.resolved_at = timezone.now()
    task.note = note
    task.save(update_fields=["status", "resolved_labels", "resolved_by", "resolved_at", "note"])
    adjudication_resolved.send(sender=AdjudicationTask, task=task, outcome="ambiguous")
    return task


def promote_resolutions_to_gold(project: Project, task_ids: Iterable[int], *, user=None) -> int:
    """Make resolved tasks' answers gold (admin action and API); open tasks are skipped.

    An item resolved more than once (a policy review after an adjudication) gets its latest answer.
    """
    resolved = (
        AdjudicationTask.objects.filter(
            project=project, pk__in=list(task_ids), status=AdjudicationTask.Status.RESOLVED
        )
        .order_by("resolved_at", "pk")
        .values_list("item_id", "resolved_labels")
    )
    answers = dict(resolved)  # later rows win: the latest resolution per item
    mark_gold(project, answers.items(), user=user, source=GoldItem.Source.ADJUDICATION)
    return len(answers)
