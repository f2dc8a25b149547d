"""Guideline questions: annotators' flags of ambiguous items, and managers answering them with a
published guideline version, which puts the items back at the front of the queue.

The feature joins the two apps below it (flags and entries are the queue's, versions the
guidelines'), so it lives here, above both: the guidelines app never reads a flag.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from django.db import transaction
from django.db.models import Count, QuerySet
from django.utils import timezone

from labelhub.guidelines.errors import GuidelineError
from labelhub.guidelines.models import GuidelineVersion
from labelhub.projects.models import Project
from labelhub.queues.models import ItemFlag
from labelhub.queues.services import enqueue_items

# Answered questions go back to the front of the queue: above ordinary random entries (0) and the
# active-learning scores (probabilities in [0, 1]), so the annotator who asked sees the answer soon.
ANSWERED_QUESTION_PRIORITY = 2.0


def questions_for(project: Project | int, *, answered: bool | None = None) -> QuerySet[ItemFlag]:
    """Items flagged as ambiguous in a project, newest first; ``answered`` filters either way."""
    flags = ItemFlag.objects.filter(item__project=project).select_related(
        "item", "annotator", "answered_in", "answered_by", "guideline_version"
    )
    if answered is not None:
        flags = flags.filter(answered_at__isnull=not answered)
    return flags.order_by("-created_at", "-pk")


def open_question_count(project: Project | int) -> int:
    return ItemFlag.objects.filter(item__project=project, answered_at__isnull=True).count()


def answered_per_version(project: Project | int) -> dict[int, int]:
    """``{version id: questions it answered}`` for the guideline impact figures."""
    return dict(
        ItemFlag.objects.filter(item__project=project, answered_in__isnull=False)
        .values_list("answered_in")
        .annotate(n=Count("id"))
        .order_by()
    )


def answer_questions(
    project: Project,
    flag_ids: Sequence[int],
    *,
    version: GuidelineVersion,
    answer: str,
    user=None,
) -> int:
    """Answer flagged items with a published version and a short answer, then re-queue the items.

    Flags and queue entries change in one transaction: an answered question is always back in
    the queue, and a failed re-queue leaves the question unanswered. Returns the flags answered.
    """
    if not flag_ids:
        raise GuidelineError("Choose at least one question to answer.", field="flags", code="required")
    if version.project_id != project.pk:
        raise GuidelineError(
            f"Guideline {version.label} belongs to another project.", field="version", code="not_in_project"
        )
    if not version.is_published:
        raise GuidelineError(
            f"Guideline {version.label} is a draft; answer with a published version.",
            field="version",
            code="version_draft",
        )
    if not answer.strip():
        raise GuidelineError("Write a short answer for the annotators.", field="answer", code="required")
    wanted = sorted(set(flag_ids))
    with transaction.atomic():
        flags = list(
            ItemFlag.objects.select_for_update()
            .filter(pk__in=wanted, item__project=project, answered_at__isnull=True)
            .only("pk", "item_id")
        )
        missing = sorted(set(wanted) - {f.pk for f in flags})
        if missing:
            raise GuidelineError(
                f"Questions {', '.join(map(str, missing))} are not open questions of this project.",
                field="flags",
                code="not_open",
            )
        ItemFlag.objects.filter(pk__in=wanted).update(
            answered_in=version, answer=answer.strip(), answered_by=user, answered_at=timezone.now()
        )
        digest = hashlib.sha1(",".join(map(str, wanted)).encode(), usedforsecurity=False).hexdigest()[:16]
        enqueue_items(
            project,
            [(item_id, ANSWERED_QUESTION_PRIORITY) for item_id in sorted({f.item_id for f in flags})],
            reason="requeue",
            batch_key=f"guideline-answer-{version.pk}-{digest}",
            created_by=user,
        )
    return len(flags)
