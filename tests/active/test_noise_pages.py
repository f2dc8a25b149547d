"""The data-quality page, the label-noise API, the admin action and the command."""

from __future__ import annotations

import json

import pytest
from django.core.management import call_command
from django.test import Client
from rest_framework.test import APIClient

from active import noise
from active.models import NoiseCheck, NoiseReview
from annotators.qa import services as qa_services
from annotators.qa.models import AdjudicationTask
from tests import factories
from tests.active.builders import label_items, make_digits_project, run_queued_tasks

pytestmark = pytest.mark.django_db


@pytest.fixture
def checked(settings):
    """A digits project with 5 % flipped labels, one finished check and one suspect fixed in review."""
    settings.LABELHUB_NOISE_REVIEW_BUDGET = 6
    project, items, y = make_digits_project(300, al_trigger_labels=0)
    annotator = factories.make_member(project, "annotator")
    noisy, _ = noise.flip_labels(y, 10, 0.05, seed=3)
    label_items(items, noisy, annotator)
    manager = factories.make_member(project, "manager")
    call_command("label_noise", "--project", str(project.pk), "--now", stdout=open("/dev/null", "w"))  # noqa: SIM115
    task = AdjudicationTask.objects.filter(reason=AdjudicationTask.Reason.LABEL_ERROR).first()
    review = NoiseReview.objects.get(task=task)
    qa_services.resolve_adjudication(task, manager, [review.suggested])
    return project, manager, annotator


def test_the_command_runs_a_check_here(checked):
    project, *_ = checked
    check = NoiseCheck.objects.get(project=project)
    assert check.state == NoiseCheck.State.DONE and check.trigger == NoiseCheck.Trigger.COMMAND
    assert check.sent_to_review == 6


def test_the_data_quality_page_shows_suspects_review_and_plots(checked):
    project, manager, annotator = checked
    client = Client()
    client.force_login(manager)
    page = client.get(f"/active/projects/{project.pk}/data-quality/")
    assert page.status_code == 200
    html = page.content.decode()
    for section in ('id="history"', 'id="by-annotator"', 'id="suspects"', 'id="near-duplicates"', "<svg"):
        assert section in html
    assert annotator.username in html
    assert "100%" in html  # one suspect reviewed and it was an error: the confirmed-error rate
    qa = client.get(f"/qa/projects/{project.pk}/")
    assert f"/active/projects/{project.pk}/data-quality/" in qa.content.decode()


def test_only_managers_see_the_data_quality_page(checked):
    project, _, annotator = checked
    client = Client()
    client.force_login(annotator)
    assert client.get(f"/active/projects/{project.pk}/data-quality/").status_code == 403
    api = APIClient()
    api.force_authenticate(annotator)
    assert api.get(f"/api/projects/{project.pk}/active/data-quality/").status_code == 403


def test_the_api_lists_checks_and_suspects_and_starts_one(checked):
    project, manager, _ = checked
    api = APIClient()
    api.force_authenticate(manager)
    body = api.get(f"/api/projects/{project.pk}/active/data-quality/").json()
    assert body["history"][0]["fixed"] == 1 and body["history"][0]["confirmed_error_rate"] == 1.0
    assert body["by_class"] and body["by_annotator"][0]["found_wrong"] == 1
    check_id = body["latest"]["id"]
    suspects = api.get(f"/api/projects/{project.pk}/active/noise-checks/{check_id}/suspects/").json()
    ranks = [row["rank"] for row in suspects["results"]]
    assert ranks == sorted(ranks) and ranks[0] == 1
    started = api.post(f"/api/projects/{project.pk}/active/noise-checks/", {}, format="json")
    assert started.status_code == 202 and started.json()["created"] is True
    again = api.post(f"/api/projects/{project.pk}/active/noise-checks/", {}, format="json")
    assert again.status_code == 200 and again.json()["id"] == started.json()["id"]
    run_queued_tasks()
    assert NoiseCheck.objects.filter(project=project, state=NoiseCheck.State.DONE).count() == 2


def test_the_adjudication_page_offers_ambiguous_for_suspected_errors(checked):
    project, manager, _ = checked
    client = Client()
    client.force_login(manager)
    task = AdjudicationTask.objects.filter(
        reason=AdjudicationTask.Reason.LABEL_ERROR, status=AdjudicationTask.Status.OPEN
    ).first()
    html = client.get(f"/qa/projects/{project.pk}/adjudication/?task={task.pk}").content.decode()
    assert 'value="ambiguous"' in html and "The model suggests" in html
    client.post(f"/qa/projects/{project.pk}/adjudication/{task.pk}/resolve/", {"outcome": "ambiguous"})
    assert NoiseReview.objects.get(task=task).outcome == NoiseReview.Outcome.AMBIGUOUS


def test_the_api_resolves_a_suspect_as_ambiguous(checked):
    project, manager, _ = checked
    task = AdjudicationTask.objects.filter(
        reason=AdjudicationTask.Reason.LABEL_ERROR, status=AdjudicationTask.Status.OPEN
    ).first()
    api = APIClient()
    api.force_authenticate(manager)
    missing = api.post(f"/api/adjudication/{task.pk}/resolve/", {}, format="json")
    assert missing.status_code == 400 and json.dumps(missing.json()).find("labels") >= 0
    done = api.post(f"/api/adjudication/{task.pk}/resolve/", {"ambiguous": True}, format="json")
    assert done.status_code == 200 and done.json()["resolved_labels"] is None


def test_the_admin_action_starts_a_check(checked):
    project, *_ = checked
    staff = factories.make_user(is_staff=True)
    staff.is_superuser = True
    staff.save()
    client = Client()
    client.force_login(staff)
    check = NoiseCheck.objects.get(project=project)
    response = client.post(
        "/admin/active/noisecheck/",
        {"action": "start_new_check", "_selected_action": [check.pk]},
        follow=True,
    )
    assert response.status_code == 200
    assert NoiseCheck.objects.filter(project=project, state=NoiseCheck.State.PENDING).count() == 1
