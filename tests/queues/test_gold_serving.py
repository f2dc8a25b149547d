"""Gold is served like any other item: ids, order and cost of a "next" say nothing about it, and
concurrent calls that pick the same gold item both get it."""

from __future__ import annotations

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from annotators.qa.models import GoldItem
from labelhub.projects.models import Annotation
from labelhub.queues import services
from labelhub.queues.models import Lease, QueueEntry
from tests import factories
from tests.queues.test_concurrency import run_at_once

pytestmark = pytest.mark.django_db

postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the one-statement lease and its row locks are PostgreSQL's"
)


def gold_project(*, gold_rate=1.0, gold=3, regular=40):
    project = factories.make_project(gold_rate=gold_rate, overlap_fraction=0)
    items = factories.make_items(project, gold + regular)
    for item in items[:gold]:
        GoldItem.objects.create(item=item, labels=["cat"])
    services.enqueue_items(project, [(item.pk, 1.0) for item in items[gold:]], reason="random")
    return project, {item.pk for item in items[:gold]}


def test_a_batchs_lease_ids_follow_its_order_and_gold_is_not_first():
    project, gold_items = gold_project()
    gold_ranks = []
    for _ in range(8):
        user = factories.make_member(project)
        batch = services.lease_next_items(user, project, 10)
        ids = [lease.pk for lease in batch]
        # Created in their final order: nothing to learn from comparing ids within the answer.
        assert ids == sorted(ids)
        gold_ranks += [rank for rank, lease in enumerate(batch) if lease.entry.item_id in gold_items]
    assert len(gold_ranks) == 8 * 3
    # Gold sits anywhere in the batch, not always in the lowest ids.
    assert max(gold_ranks) >= 3


def test_a_gold_copy_still_never_takes_a_regular_slot():
    project, gold_items = gold_project(regular=5)
    first, second = factories.make_member(project), factories.make_member(project)
    mine = services.lease_next_items(first, project, 10)
    theirs = services.lease_next_items(second, project, 10)
    # Each gets every gold item (their own copy) and the regular items are shared out once.
    assert gold_items <= {lease.entry.item_id for lease in mine}
    assert gold_items <= {lease.entry.item_id for lease in theirs}
    regular = [lease.entry_id for lease in mine + theirs if lease.entry.item_id not in gold_items]
    assert len(regular) == len(set(regular)) == 5
    for entry in QueueEntry.objects.filter(item_id__in=gold_items):
        assert entry.leased_count == entry.required_annotations == 2


@postgresql_only
@pytest.mark.parametrize("gold_entry_open", [False, True])
def test_a_gold_serving_next_costs_what_a_regular_next_costs(gold_entry_open):
    regular_project, _ = gold_project(gold_rate=0, gold=0)
    project, gold_items = gold_project()
    if gold_entry_open:
        services.enqueue_items(project, [(item_id, 0.5) for item_id in gold_items], reason="random")
    regular_user, gold_user = factories.make_member(regular_project), factories.make_member(project)
    with CaptureQueriesContext(connection) as regular:
        assert len(services.lease_next_items(regular_user, regular_project, 5)) == 5
    with CaptureQueriesContext(connection) as gold:
        served = services.lease_next_items(gold_user, project, 5)
    assert gold_items <= {lease.entry.item_id for lease in served}
    assert len(gold.captured_queries) <= len(regular.captured_queries) + 1, [
        q["sql"][:120] for q in gold.captured_queries
    ]


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_nexts_picking_the_same_gold_item_both_succeed():
    project, gold_items = gold_project(gold_rate=0.5, gold=2, regular=200)
    same_user = factories.make_member(project)
    others = [factories.make_member(project) for _ in range(6)]
    served: list[list[Lease]] = []

    def next_ten(user):
        def work():
            served.append(services.lease_next_items(user, project, 10))

        return work

    # 8 concurrent next?count=10 by one annotator (the reproduction), and others at once.
    errors = run_at_once([next_ten(same_user) for _ in range(8)] + [next_ten(user) for user in others])
    assert errors == []
    assert all(batch for batch in served)
    live = Lease.objects.filter(released_at__isnull=True, completed_at__isnull=True)
    pairs = list(live.values_list("entry__item_id", "annotator_id"))
    assert len(pairs) == len(set(pairs)), "an annotator holds one item twice"
    for entry in QueueEntry.objects.filter(project=project, is_open=True):
        assert entry.leased_count == live.filter(entry=entry).count()
        assert entry.completed_annotations + entry.leased_count <= entry.required_annotations


def test_gold_is_mixed_in_at_the_project_rate():
    project, gold_items = gold_project(gold_rate=0.25, gold=10, regular=400)
    served = []
    for _ in range(30):
        served += services.lease_next_items(factories.make_member(project), project, 10)
    share = sum(lease.entry.item_id in gold_items for lease in served) / len(served)
    assert share == pytest.approx(0.25, abs=0.07)


def test_gold_the_annotator_already_labelled_is_not_served_again():
    project, gold_items = gold_project(gold=1, regular=5)
    user = factories.make_member(project)
    Annotation.objects.create(item_id=next(iter(gold_items)), annotator=user, labels=["cat"])
    served = services.lease_next_items(user, project, 5)
    assert served and not {lease.entry.item_id for lease in served} & gold_items
