"""The project's active-learning page and its start button."""

from __future__ import annotations

import pytest

from active import services
from active.models import ModelRound
from active.simulation import simulate
from tests import factories
from tests.active.builders import label_items, make_digits_project, run_queued_tasks

pytestmark = pytest.mark.django_db


def test_page_shows_rounds_metrics_and_the_simulation_curve(client):
    project, items, y = make_digits_project(200, al_batch_size=10, al_trigger_labels=0)
    label_items(items[:40], y[:40])
    services.request_round(project)
    run_queued_tasks()
    simulation = simulate(project, ["margin"], rounds=1, batch=10, seed=0)
    member = factories.make_member(project, "annotator")
    client.force_login(member)
    page = client.get(f"/active/projects/{project.pk}/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Rounds (model versions)" in html and "<polyline" in html
    assert f"/active/projects/{project.pk}/simulations/{simulation.pk}/curve.png" in html
    assert "Start a round" not in html  # annotators do not get the button
    image = client.get(f"/active/projects/{project.pk}/simulations/{simulation.pk}/curve.png")
    assert image.status_code == 200 and image["Content-Type"] == "image/png"
    table = client.get(f"/active/projects/{project.pk}/simulations/{simulation.pk}/curve.csv")
    assert b"".join(table.streaming_content).startswith(b"strategy,seed,round,labels,head,accuracy,")


def test_manager_starts_a_round_from_the_page(client):
    project, _, _ = make_digits_project(20)
    client.force_login(factories.make_member(project, "manager"))
    response = client.post(f"/active/projects/{project.pk}/rounds/")
    assert response.status_code == 302
    assert ModelRound.objects.get(project=project).trigger == ModelRound.Trigger.MANAGER


def test_annotator_cannot_start_a_round_from_the_page(client):
    project, _, _ = make_digits_project(20)
    client.force_login(factories.make_member(project, "annotator"))
    client.post(f"/active/projects/{project.pk}/rounds/")
    assert not ModelRound.objects.exists()


def test_outsider_gets_404(client):
    project, _, _ = make_digits_project(5)
    client.force_login(factories.make_user())
    assert client.get(f"/active/projects/{project.pk}/").status_code == 404


def test_manager_runs_a_simulation_from_the_page(client):
    from active.models import SimulationRun

    project, _, _ = make_digits_project(300)
    client.force_login(factories.make_member(project, "manager"))
    page = client.get(f"/active/projects/{project.pk}/")
    assert "Simulate against the ground truth" in page.content.decode()
    response = client.post(
        f"/active/projects/{project.pk}/simulations/", {"strategy": "margin", "rounds": 2, "batch": 10}
    )
    assert response.status_code == 302
    assert run_queued_tasks() == 1
    run = SimulationRun.objects.get(project=project)
    assert run.strategies == ["margin", "random"] and run.rounds == 2


def test_simulation_settings_are_validated_naming_the_field(client):
    project, _, _ = make_digits_project(30)
    client.force_login(factories.make_member(project, "manager"))
    response = client.post(
        f"/active/projects/{project.pk}/simulations/", {"strategy": "psychic"}, follow=True
    )
    assert "Simulation settings" in response.content.decode() and "psychic" in response.content.decode()
