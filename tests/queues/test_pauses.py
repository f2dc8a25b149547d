"""A QA pause holds: it stops work on the leases already handed out, not only the next ones."""

from __future__ import annotations

import pytest

from annotators.qa.signals import annotator_paused
from labelhub.projects.models import Annotation, ProjectMembership
from labelhub.queues import services
from labelhub.queues.models import Lease, QueueEntry
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def held():
    """An annotator holding three prefetched leases, then paused by QA."""
    project, user, _, client = factories.queued_project(4)
    leases = [
        r["lease"]["id"]
        for r in client.post(f"/api/projects/{project.pk}/queue/next/?count=3").json()["results"]
    ]
    ProjectMembership.objects.filter(user=user).update(is_paused=True, paused_reason="gold accuracy 40%")
    return project, user, client, leases


def assert_paused(response):
    assert response.status_code == 403
    body = response.json()
    assert body["code"] == "annotator_paused"
    assert "gold accuracy 40%" in body["detail"]


def test_a_paused_annotator_cannot_submit_a_lease_they_hold(held):
    _, _, client, leases = held
    assert_paused(client.post(f"/api/leases/{leases[0]}/submit/", {"labels": ["cat"]}, format="json"))
    assert not Annotation.objects.exists()
    assert Lease.objects.get(pk=leases[0]).completed_at is None


def test_a_paused_annotator_cannot_renew_a_lease_they_hold(held):
    _, _, client, leases = held
    before = Lease.objects.get(pk=leases[0]).expires_at
    assert_paused(client.post(f"/api/leases/{leases[0]}/renew/"))
    assert Lease.objects.get(pk=leases[0]).expires_at == before


def test_a_paused_annotator_cannot_undo(held):
    project, user, client, leases = held
    ProjectMembership.objects.filter(user=user).update(is_paused=False)
    assert (
        client.post(f"/api/leases/{leases[0]}/submit/", {"labels": ["cat"]}, format="json").status_code == 201
    )
    ProjectMembership.objects.filter(user=user).update(is_paused=True)
    assert_paused(client.post(f"/api/projects/{project.pk}/queue/undo/"))
    assert Annotation.objects.get().retracted_at is None


def test_a_paused_annotator_may_still_release_what_they_hold(held):
    _, _, client, leases = held
    assert client.post(f"/api/leases/{leases[0]}/release/").json()["released"] == "released"


def test_the_pause_signal_releases_the_annotators_live_leases_in_that_project(held):
    project, user, _, leases = held
    other_project = factories.make_project(gold_rate=0, overlap_fraction=0)
    factories.make_member(other_project, user=user)
    factories.make_items(other_project, 1)
    elsewhere = services.lease_next_item(user, other_project)

    annotator_paused.send(sender=ProjectMembership, project_id=project.pk, user_id=user.pk)

    released = Lease.objects.filter(pk__in=leases)
    assert {lease.release_reason for lease in released} == {"released"}
    # The slots are free again for the others, and the lease elsewhere is untouched.
    assert set(QueueEntry.objects.filter(project=project).values_list("leased_count", flat=True)) == {0}
    assert Lease.objects.get(pk=elsewhere.pk).is_live
    # Idempotent: a second pause of the same member finds nothing live.
    annotator_paused.send(sender=ProjectMembership, project_id=project.pk, user_id=user.pk)
