"""QA reactions to the annotation flow: what happens after every submitted label."""

from __future__ import annotations

from django.db import transaction

from annotators.consensus import refresh_item_consensus
from annotators.gold import forget_submission, record_submission
from annotators.policies import evaluate_annotator
from labelhub.projects.models import Annotation, Project


def handle_submission(annotation: Annotation, project: Project) -> None:
    """Score the label against gold, refresh the item's consensus, then re-check the policy.

    Runs after the submit transaction committed (the signal is sent from ``on_commit``), so a
    failure here never loses the annotator's label; it surfaces in the logs instead.
    """
    if annotation.annotator_id is None or annotation.retracted_at is not None:
        return
    record_submission(annotation, project)
    refresh_item_consensus(annotation.item)
    evaluate_annotator(project, annotation.annotator_id)


def on_annotation_submitted(sender, *, annotation: Annotation, project: Project, **kwargs) -> None:
    """Receiver of ``labelhub.queues.signals.annotation_submitted`` (connected in apps.ready)."""
    handle_submission(annotation, project)


def handle_retraction(annotation: Annotation) -> None:
    """An annotator undid a label: it leaves their counters and the item's consensus."""
    if annotation.annotator_id is None:
        return
    forget_submission(annotation, annotation.item.project)
    refresh_item_consensus(annotation.item)


def on_annotation_saved(sender, *, instance: Annotation, created: bool, update_fields=None, **kwargs) -> None:
    """post_save receiver: the queue's undo saves ``retracted_at`` alone (there is no undo signal).

    Reacting after the commit keeps QA out of the undo transaction, as for submits.
    """
    if created or instance.retracted_at is None or not update_fields or "retracted_at" not in update_fields:
        return
    transaction.on_commit(lambda: handle_retraction(instance))
