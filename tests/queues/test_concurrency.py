"""Many annotators asking for "next" at the same moment, each thread on its own connection."""

from __future__ import annotations

import threading
from collections import Counter

import pytest
from django.db import connection, connections

from labelhub.queues import services
from labelhub.queues.models import Lease, QueueEntry
from tests import factories

pytestmark = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="row locks with SKIP LOCKED are PostgreSQL's; SQLite serialises writers (IMMEDIATE transactions)",
)

THREADS = 12


def run_at_once(workers) -> list[BaseException]:
    """Start the workers behind a barrier so their first requests really overlap."""
    barrier = threading.Barrier(len(workers))
    errors: list[BaseException] = []

    def run(work):
        try:
            barrier.wait()
            work()
        except BaseException as error:  # noqa: BLE001 - reported by the test
            errors.append(error)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run, args=(work,)) for work in workers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return errors


@pytest.mark.django_db(transaction=True)
def test_concurrent_next_never_leases_beyond_overlap_and_loses_nothing():
    project = factories.make_project(gold_rate=0, overlap_fraction=0)
    users = [factories.make_member(project) for _ in range(THREADS)]
    items = factories.make_items(project, 60)
    # Every third item is an overlap copy for 3 annotators.
    services.enqueue_items(
        project, [(item.pk, 1.0) for item in items[::3]], reason="overlap", required_annotations=3
    )
    services.enqueue_items(
        project,
        [(item.pk, 0.5) for i, item in enumerate(items) if i % 3],
        reason="random",
        required_annotations=1,
    )
    required = dict(QueueEntry.objects.values_list("pk", "required_annotations"))
    served: dict[int, list[int]] = {user.pk: [] for user in users}

    def annotator_loop(user):
        def work():
            while True:
                leases = services.lease_next_items(user, project, 2, fill_size=1)
                if not leases:
                    return
                served[user.pk].extend(lease.entry_id for lease in leases)

        return work

    errors = run_at_once([annotator_loop(user) for user in users])
    assert errors == []
    per_entry = Counter(entry_id for entries in served.values() for entry_id in entries)
    # No entry leased beyond its overlap, none lost: every slot of every entry was handed out once.
    assert per_entry == Counter(required)
    for entries in served.values():
        assert len(entries) == len(set(entries)), "one annotator got the same entry twice"
    assert Lease.objects.filter(released_at__isnull=True, completed_at__isnull=True).count() == sum(
        required.values()
    )


@pytest.mark.django_db(transaction=True)
def test_concurrent_next_and_submit_label_every_item_exactly_as_required():
    project = factories.make_project(gold_rate=0, overlap_fraction=0.2, overlap_annotators=2)
    users = [factories.make_member(project) for _ in range(THREADS)]
    items = factories.make_items(project, 50)
    # The queue is filled ahead, as keep_queues does: "next" does not wait on a fill running in
    # another request (it answers "nothing now"), and an empty answer ends this loop.
    services.fill_queue(project)

    def annotator_loop(user):
        def work():
            while True:
                lease = services.lease_next_item(user, project)
                if lease is None:
                    return
                services.submit_annotation(lease, ["cat"], 1.0)

        return work

    errors = run_at_once([annotator_loop(user) for user in users])
    assert errors == []
    entries = list(QueueEntry.objects.all())
    assert {entry.item_id for entry in entries} == {item.pk for item in items}
    for entry in entries:
        assert (entry.is_open, entry.leased_count) == (False, 0)
        assert entry.completed_annotations == entry.required_annotations
        annotators = list(entry.item.annotations.values_list("annotator_id", flat=True))
        assert len(annotators) == entry.required_annotations == len(set(annotators))


@pytest.mark.django_db(transaction=True)
def test_annotators_finding_an_empty_queue_together_fill_it_once_and_nobody_waits_on_it():
    project = factories.make_project(gold_rate=0, overlap_fraction=0)
    users = [factories.make_member(project) for _ in range(THREADS)]
    factories.make_items(project, 500)
    got: dict[int, int | None] = {}

    def first_item(user):
        def work():
            lease = services.lease_next_item(user, project)
            got[user.pk] = lease.entry.item_id if lease else None

        return work

    errors = run_at_once([first_item(user) for user in users])
    assert errors == []
    # One fill of DEFAULT_FILL_SIZE, not one per annotator that found the queue empty: the
    # others answered with what was servable at that moment instead of queueing behind it.
    assert QueueEntry.objects.filter(project=project).count() == services.DEFAULT_FILL_SIZE
    served = [item for item in got.values() if item is not None]
    assert served and len(served) == len(set(served))
    # Those who got nothing are served from the filled queue on their next call.
    for user in users:
        if got[user.pk] is None:
            assert services.lease_next_item(user, project) is not None
