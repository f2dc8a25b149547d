"""REST API of rounds: members read, managers start, outsiders see nothing."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from active import services
from active.models import ModelRound
from tests import factories
from tests.active.builders import make_digits_project, run_queued_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def project():
    project, _, _ = make_digits_project(40, al_batch_size=5, al_trigger_labels=0)
    return project


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_manager_starts_a_round_and_a_second_post_returns_the_same_one(project):
    manager = factories.make_member(project, "manager")
    url = f"/api/projects/{project.pk}/active/rounds/"
    first = client_for(manager).post(url, {}, format="json")
    assert first.status_code == 202 and first.json()["created"] is True
    assert first.json()["state"] == "pending" and first.json()["strategy"] == "auto"
    second = client_for(manager).post(url, {}, format="json")
    assert second.status_code == 200 and second.json()["id"] == first.json()["id"]
    assert ModelRound.objects.get().requested_by == manager


def test_annotator_reads_rounds_but_cannot_start_one(project):
    annotator = factories.make_member(project, "annotator")
    services.request_round(project)
    run_queued_tasks()
    listing = client_for(annotator).get(f"/api/projects/{project.pk}/active/rounds/")
    assert listing.status_code == 200
    [row] = listing.json()["results"]
    assert row["state"] == "done" and row["selected_count"] == 5 and "timings" in row
    detail = client_for(annotator).get(f"/api/projects/{project.pk}/active/rounds/{row['id']}/")
    assert detail.status_code == 200
    assert client_for(annotator).post(f"/api/projects/{project.pk}/active/rounds/", {}).status_code == 403


def test_outsider_gets_404(project):
    outsider = factories.make_user()
    assert client_for(outsider).get(f"/api/projects/{project.pk}/active/rounds/").status_code == 404
    assert client_for(outsider).post(f"/api/projects/{project.pk}/active/rounds/", {}).status_code == 404


def test_bad_device_is_refused_naming_the_field(project):
    manager = factories.make_member(project, "manager")
    response = client_for(manager).post(
        f"/api/projects/{project.pk}/active/rounds/", {"device": "tpu"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "device" and response.json()["code"] == "invalid_choice"


def test_unknown_project_strategy_is_refused_in_the_one_error_shape(project):
    project.al_strategy = "clairvoyant"
    project.save(update_fields=["al_strategy"])
    manager = factories.make_member(project, "manager")
    response = client_for(manager).post(f"/api/projects/{project.pk}/active/rounds/", {}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "unknown_strategy" and body["field"] == "al_strategy"
    assert "clairvoyant" in body["detail"] and body["errors"][0]["field"] == "al_strategy"
    assert not ModelRound.objects.exists()
