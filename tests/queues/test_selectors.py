"""What is left for an annotator (``left_for``): the home page and the labeling page say what "next"
really serves, before and after the queue is filled on demand."""

from __future__ import annotations

import pytest

from labelhub.projects.models import Annotation, Project
from labelhub.queues import selectors, services
from tests import factories

pytestmark = pytest.mark.django_db


def home_count(user, project) -> int:
    (row,) = selectors.projects_with_progress(Project.objects.filter(pk=project.pk), user)
    return row.queue_left


def served_until_empty(user, project) -> int:
    served = 0
    while leases := services.lease_next_items(user, project, count=5):
        for lease in leases:
            services.submit_annotation(lease, ["cat"], annotator=user)
        served += len(leases)
    return served


def test_an_unfilled_queue_counts_what_next_will_serve():
    project = factories.make_project(gold_rate=0, overlap_fraction=0)
    user = factories.make_member(project)
    factories.make_items(project, 7)
    assert home_count(user, project) == selectors.left_for(user, project) == 7
    assert served_until_empty(user, project) == 7
    assert home_count(user, project) == selectors.left_for(user, project) == 0


def test_held_items_still_count_and_others_labels_do_not():
    project = factories.make_project(gold_rate=0, overlap_fraction=0)
    user, other = factories.make_member(project), factories.make_member(project)
    items = factories.make_items(project, 6)
    Annotation.objects.create(item=items[0], annotator=other, labels=["dog"])
    held = services.lease_next_items(user, project, count=2)
    # Held by this annotator (the page's item and prefetch) + the queued rest + the unqueued rest.
    assert len(held) == 2
    assert home_count(user, project) == selectors.left_for(user, project) == 5
    assert selectors.annotator_progress(user, project)["queue_left"] == 5
    # Someone else's held item is not theirs to be served.
    assert home_count(other, project) == selectors.left_for(other, project) == 3
