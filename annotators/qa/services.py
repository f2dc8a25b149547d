"""QA reactions to the annotation flow: what happens after every submitted label."""

from __future__ import annotations

from django.db import transaction

from annotators.qa.adjudication import close_as_ambiguous, resolve_task
from annotators.qa.consensus import refresh_item_consensus
from annotators.qa.gold import forget_submission, record_submission
from annotators.qa.models import AdjudicationTask
from annotators.qa.policies import evaluate_annotator
from labelhub.projects.models import Annotation, Project


def handle_submission(annotation: Annotation, project: Project) -> None:
    """Score the label against gold, refresh the item's consensus, then re-check the policy.

    Runs after the submit transaction committed (the queue's outbox delivers the signal), so a
    failure here never loses the annotator's label: it is rolled back whole and tried again.
    The policy only looks at gold accuracy and agreement with multi-annotator consensus, so it is
    re-checked only when this label moved one of them (a gold item, or an item with 2+ labels);
    a plain single-annotator label changes neither and costs no recount.
    """
    if annotation.annotator_id is None or annotation.retracted_at is not None:
        return
    gold_checked = record_submission(annotation, project)
    consensus = refresh_item_consensus(annotation.item)
    if gold_checked or (consensus is not None and consensus.annotator_count >= 2):
        evaluate_annotator(project, annotation.annotator_id)


def on_annotation_submitted(sender, *, annotation: Annotation, project: Project, **kwargs) -> None:
    """Receiver of ``labelhub.projects.signals.annotation_submitted`` (connected in apps.ready)."""
    handle_submission(annotation, project)


def handle_retraction(annotation: Annotation, *, counted: bool = True) -> None:
    """An annotator undid a label: it leaves their counters (when it was ever counted) and the
    item's consensus."""
    if annotation.annotator_id is None:
        return
    if counted:
        forget_submission(annotation, annotation.item.project)
    refresh_item_consensus(annotation.item)


def on_annotation_retracted(sender, *, annotation: Annotation, counted: bool = True, **kwargs) -> None:
    """Receiver of ``labelhub.projects.signals.annotation_retracted`` (sent after an undo commits)."""
    handle_retraction(annotation, counted=counted)


@transaction.atomic
def resolve_adjudication(
    task: AdjudicationTask,
    reviewer,
    labels=None,
    *,
    ambiguous: bool = False,
    promote_to_gold: bool = False,
    note: str = "",
) -> AdjudicationTask:
    """A reviewer's decision on a task: a final label, or (``ambiguous``) none.

    After a suspected label error is decided, the policy re-checks the item's annotators: labels
    found wrong in review count against them (:func:`~annotators.qa.policies.review_error_counts`).
    """
    if ambiguous:
        task = close_as_ambiguous(task, reviewer, note=note)
    else:
        task = resolve_task(task, reviewer, labels, promote_to_gold=promote_to_gold, note=note)
    if task.reason == AdjudicationTask.Reason.LABEL_ERROR and not ambiguous:
        annotators = (
            Annotation.objects.filter(
                item_id=task.item_id, retracted_at__isnull=True, annotator__isnull=False
            )
            .values_list("annotator_id", flat=True)
            .distinct()
        )
        for annotator_id in sorted(set(annotators)):
            evaluate_annotator(task.project, annotator_id)
    return task
