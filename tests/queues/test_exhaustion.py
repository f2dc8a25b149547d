"""A project with nothing left to serve answers "next" at once: the exhausted state is remembered,
and a request never waits on another request's fill."""

from __future__ import annotations

import threading
import time
from datetime import timedelta

import pytest
from django.db import connection, connections, transaction
from django.utils import timezone
from rest_framework.test import APIClient

from annotators.qa.models import GoldItem
from labelhub.projects.models import Annotation, ProjectMembership
from labelhub.projects.signals import items_imported
from labelhub.queues import services
from labelhub.queues.models import Lease, QueueEntry, QueueState
from labelhub.queues.services import filling
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def searches(monkeypatch):
    """Count the fills' candidate searches (the ~0.8 s query on a large labelled pool)."""
    calls = []
    search = filling._random_candidates

    def counted(*args, **kwargs):
        calls.append(args[0].pk)
        return search(*args, **kwargs)

    monkeypatch.setattr(filling, "_random_candidates", counted)
    return calls


def labelled_project(n=3):
    """A project whose every item is labelled: nothing left to fill from."""
    project = factories.make_project(gold_rate=0, overlap_fraction=0)
    labeller = factories.make_member(project)
    for item in factories.make_items(project, n):
        Annotation.objects.create(item=item, annotator=labeller, labels=["cat"])
    return project


def test_an_exhausted_project_answers_next_without_searching_again(searches):
    project = labelled_project()
    users = [factories.make_member(project) for _ in range(5)]
    assert services.lease_next_items(users[0], project, 3) == []
    assert len(searches) == 1  # the first "next" found out
    for user in users:
        assert services.lease_next_items(user, project, 3) == []
    assert len(searches) == 1
    assert QueueState.objects.get(project=project).exhausted_at is not None


def test_an_exhausted_project_answers_next_over_http_with_204_and_no_search(searches):
    project = labelled_project()
    client = APIClient()
    client.force_authenticate(factories.make_member(project))
    assert client.post(f"/api/projects/{project.pk}/queue/next/?count=10").status_code == 204
    second = client.post(f"/api/projects/{project.pk}/queue/next/?count=10")
    assert second.status_code == 204
    assert "Retry-After" not in second  # nothing left: the page says so and stops asking
    assert len(searches) == 1


def test_items_imported_ends_the_exhausted_state(searches):
    project = labelled_project()
    user = factories.make_member(project)
    assert services.lease_next_item(user, project) is None
    fresh = factories.make_items(project, 2, prefix="new")
    items_imported.send(sender=None, project_id=project.pk)
    assert services.lease_next_item(user, project).entry.item_id in {item.pk for item in fresh}


def test_requeued_items_end_the_exhausted_state_and_are_served(searches):
    project = labelled_project()
    user = factories.make_member(project)
    assert services.lease_next_item(user, project) is None
    item = factories.make_items(project, 1, prefix="late")[0]
    services.requeue_items(project, [item.pk])
    assert QueueState.objects.get(project=project).exhausted_at is None
    assert services.lease_next_item(user, project).entry.item_id == item.pk


def test_a_released_lease_is_served_again_on_an_exhausted_project(searches):
    project = factories.make_project(gold_rate=0, overlap_fraction=0)
    first, second = factories.make_member(project), factories.make_member(project)
    factories.make_items(project, 1)
    lease = services.lease_next_item(first, project)
    assert services.lease_next_item(second, project) is None  # the pool is exhausted now
    services.release_lease(lease, first)
    assert services.lease_next_item(second, project).entry_id == lease.entry_id


def test_next_on_an_exhausted_project_with_nothing_to_serve_is_one_read_and_takes_no_lock(
    searches, django_assert_num_queries
):
    project = labelled_project()
    user = factories.make_member(project)
    assert services.lease_next_items(user, project, 3) == []  # finds out, marks it exhausted
    with django_assert_num_queries(2) as captured:  # the serve gate, then "anything to serve?"
        assert services.lease_next_items(user, project, 3) == []
    assert not any("advisory" in query["sql"] for query in captured.captured_queries)


def test_an_exhausted_project_still_serves_a_gold_item_the_annotator_has_not_seen(searches):
    project = labelled_project()
    project.gold_rate = 1.0
    project.save(update_fields=["gold_rate"])
    user = factories.make_member(project)
    assert services.lease_next_items(user, project, 1) == []  # no gold yet: exhausted
    gold_item = factories.make_items(project, 1, prefix="gold")[0]
    labeller = project.memberships.exclude(user=user).first().user
    Annotation.objects.create(item=gold_item, annotator=labeller, labels=["cat"])
    GoldItem.objects.create(item=gold_item, labels=["cat"])
    assert filling.project_exhausted(project)
    [lease] = services.lease_next_items(user, project, 1)
    assert lease.entry.item_id == gold_item.pk


def test_an_overdue_lease_on_an_exhausted_project_is_expired_and_served_again(searches):
    project = factories.make_project(gold_rate=0, overlap_fraction=0)
    first, second = factories.make_member(project), factories.make_member(project)
    factories.make_items(project, 1)
    lease = services.lease_next_item(first, project)
    assert services.lease_next_item(second, project) is None  # exhausted now
    Lease.objects.filter(pk=lease.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert services.lease_next_item(second, project).entry_id == lease.entry_id


def test_keep_queues_top_up_skips_an_exhausted_project(searches, settings):
    settings.LABELHUB_QUEUE_LOW_WATER = 5
    project = labelled_project()
    assert services.top_up_queue(project) == 0
    assert services.top_up_queue(project) == 0
    assert len(searches) == 1


def test_the_exhausted_state_is_trusted_only_for_a_while(searches):
    project = labelled_project()
    user = factories.make_member(project)
    services.lease_next_item(user, project)
    QueueState.objects.filter(project=project).update(
        exhausted_at=QueueState.objects.get(project=project).exhausted_at - filling.EXHAUSTED_RECHECK
    )
    services.lease_next_item(user, project)
    assert len(searches) == 2


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the fill lock is a PostgreSQL advisory lock")
@pytest.mark.django_db(transaction=True)
def test_next_does_not_wait_while_another_transaction_holds_the_fill_lock():
    project = factories.make_project(gold_rate=0, overlap_fraction=0)
    user = factories.make_member(project)
    factories.make_items(project, 5)
    locked, release = threading.Event(), threading.Event()

    def hold_fill_lock():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [filling.FILL_LOCK_CLASS, project.pk])
                locked.set()
                release.wait(timeout=10)
        finally:
            connections.close_all()

    holder = threading.Thread(target=hold_fill_lock)
    holder.start()
    try:
        assert locked.wait(timeout=10)
        started = time.monotonic()
        leases = services.lease_next_items(user, project, 3)
        elapsed = time.monotonic() - started
        client = APIClient()
        client.force_authenticate(user)
        answer = client.post(f"/api/projects/{project.pk}/queue/next/?count=3")
    finally:
        release.set()
        holder.join(timeout=20)
    # Answered with what was servable (nothing yet: the other fill will serve the next call).
    assert leases == []
    assert elapsed < 2, f"next waited {elapsed:.1f} s on another transaction's fill"
    # Over HTTP that is "nothing yet, ask again shortly", not "all done".
    assert answer.status_code == 204
    assert answer["Retry-After"] == "2"
    assert not QueueEntry.objects.exists()
    # Once that fill is gone, next fills and serves as before.
    assert len(services.lease_next_items(user, project, 3)) == 3
    assert ProjectMembership.objects.filter(project=project, user=user).exists()


def test_a_finished_projects_nothing_left_is_repeated_from_memory_for_a_moment(
    settings, django_assert_num_queries
):
    settings.LABELHUB_EXHAUSTED_ANSWER_SECONDS = 60
    project = labelled_project()
    member, other = factories.make_member(project), factories.make_member(project)
    client = APIClient()
    client.force_authenticate(member)
    url = f"/api/projects/{project.pk}/queue/next/?count=5"
    assert client.post(url).status_code == 204  # finds out, remembers
    with django_assert_num_queries(0):  # no gate, no "anything to serve?": the same answer
        repeated = client.post(url)
    assert repeated.status_code == 204 and "Retry-After" not in repeated
    # Per annotator: someone else reads the database on their first call.
    client.force_authenticate(other)
    with django_assert_num_queries(2):  # the gate (with the exhausted mark), "anything to serve?"
        assert client.post(url).status_code == 204


def test_items_coming_back_end_the_remembered_answer_at_once(settings):
    settings.LABELHUB_EXHAUSTED_ANSWER_SECONDS = 60
    project = labelled_project()
    client = APIClient()
    client.force_authenticate(factories.make_member(project))
    url = f"/api/projects/{project.pk}/queue/next/"
    assert client.post(url).status_code == 204
    assert client.post(url).status_code == 204
    fresh = factories.make_items(project, 1, prefix="new")
    items_imported.send(sender=None, project_id=project.pk)  # clears the exhausted mark, and this
    served = client.post(url)
    assert served.status_code == 200 and served.json()["item"]["id"] == fresh[0].pk


def test_without_the_window_every_call_reads_the_database(settings):
    settings.LABELHUB_EXHAUSTED_ANSWER_SECONDS = 0
    project = labelled_project()
    member = factories.make_member(project)
    client = APIClient()
    client.force_authenticate(member)
    url = f"/api/projects/{project.pk}/queue/next/"
    assert client.post(url).status_code == 204
    ProjectMembership.objects.filter(project=project, user=member).update(is_paused=True)
    assert client.post(url).status_code == 403  # the pause is seen on the very next call
