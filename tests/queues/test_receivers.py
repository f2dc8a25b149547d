"""The queues answer QA: a dispute waits for the overlap copies still queued."""

from __future__ import annotations

from annotators.qa.consensus import refresh_item_consensus
from annotators.qa.models import AdjudicationTask
from labelhub.projects.models import Annotation
from labelhub.queues.models import QueueEntry
from tests import factories


def test_a_dispute_waits_while_the_item_is_still_queued_and_opens_once_it_is_not(db):
    project = factories.make_project()
    first, second = factories.make_member(project), factories.make_member(project)
    (item,) = factories.make_items(project, 1)
    entry = QueueEntry.objects.create(
        project=project, item=item, required_annotations=3, completed_annotations=2
    )
    Annotation.objects.create(item=item, annotator=first, labels=["cat"])
    Annotation.objects.create(item=item, annotator=second, labels=["dog"])

    refresh_item_consensus(item)
    assert not AdjudicationTask.objects.filter(item=item).exists()

    QueueEntry.objects.filter(pk=entry.pk).update(is_open=False)
    refresh_item_consensus(item)
    assert AdjudicationTask.objects.filter(item=item, status=AdjudicationTask.Status.OPEN).exists()
