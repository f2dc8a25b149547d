"""Console pages of the queues: the per-project queue and class balance view."""

from __future__ import annotations

import pytest

from labelhub.projects.models import Annotation
from labelhub.queues import services
from labelhub.queues.models import PendingReaction, QueueEntry
from labelhub.queues.services import enqueue_items
from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def superuser_client(client):
    user = factories.make_user(is_staff=True)
    user.is_superuser = True
    user.save()
    client.force_login(user)
    client.user = user
    return client


def test_balance_page_shows_target_and_actual_share_per_class(superuser_client):
    client = superuser_client
    project = factories.make_project(classes=("wolf", "dog"), balance_target={"wolf": 1, "dog": 3})
    items = factories.make_items(project, 2)
    Annotation.objects.create(item=items[0], annotator=client.user, labels=["wolf"])
    enqueue_items(project, [(items[1].pk, 1.0)], reason="random")
    listing = client.get("/admin/queues/projectqueue/")
    assert listing.status_code == 200
    assert "wolf: 25% → 100%, dog: 75% → 0%" in listing.content.decode()
    page = client.get(f"/admin/queues/projectqueue/{project.pk}/change/").content.decode()
    assert "Target share" in page and "25.0%" in page and "100.0%" in page
    # The next fill's quotas: all 200 to dog, the class that falls short of its target.
    assert "Quota in the next fill of 200" in page and "<td>dog</td><td>0</td>" in page
    assert page.count("<td>200</td>") == 1
    assert "1 open entries, 1 waiting annotator slots, 0 live leases" in page


def test_fill_action_queues_items(superuser_client):
    client = superuser_client
    project = factories.make_project(overlap_fraction=0)
    factories.make_items(project, 5)
    response = client.post(
        "/admin/queues/projectqueue/", {"action": "fill", "_selected_action": [project.pk]}, follow=True
    )
    assert response.status_code == 200
    assert QueueEntry.objects.filter(project=project).count() == 5


@pytest.mark.parametrize("model", ["queueentry", "lease", "itemflag"])
def test_changelists_load(superuser_client, model):
    client = superuser_client
    assert client.get(f"/admin/queues/{model}/").status_code == 200


def test_pending_reactions_page_lists_failures_and_retries_them(superuser_client, settings):
    settings.LABELHUB_REACTIONS = "deferred"
    project = factories.make_project(gold_rate=0, overlap_fraction=0)
    annotator = factories.make_member(project)
    factories.make_items(project, 1)
    annotation = services.submit_annotation(services.lease_next_item(annotator, project), ["cat"])
    PendingReaction.objects.update(attempts=5, last_error="RuntimeError: database restarted")
    page = superuser_client.get("/admin/queues/pendingreaction/")
    assert page.status_code == 200 and b"database restarted" in page.content
    response = superuser_client.post(
        "/admin/queues/pendingreaction/",
        {"action": "retry", "_selected_action": [annotation.pk]},
        follow=True,
    )
    assert b"Delivered 1; 0 failed again." in response.content
    assert not PendingReaction.objects.exists()
