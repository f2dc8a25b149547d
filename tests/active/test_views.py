"""The project's active-learning page: rounds, the simulation's verdict and table, the forecast and its settings."""

from __future__ import annotations

import pytest
from django.utils import timezone

from active import services
from active.control import wilson_interval
from active.models import ActiveSettings, ModelRound, SimulationRun
from active.simulation import simulate
from labelhub.projects.models import Annotation
from tests import factories
from tests.active.builders import label_items, make_digits_project, run_queued_tasks

pytestmark = pytest.mark.django_db

# Held-out accuracy of rounds on the curve 0.95 − 2 · labels^(−0.5): 0.90 takes 1,600 labels.
CURVE_POINTS = [(100, 0.75), (200, 0.8086), (400, 0.85), (800, 0.8793), (1200, 0.8923)]


def make_done_rounds(project, points=CURVE_POINTS, eval_size=None):
    """Finished rounds with the given (labels, held-out accuracy), as a worker would have left them."""
    return [
        ModelRound.objects.create(
            project=project,
            number=number,
            state=ModelRound.State.DONE,
            strategy="auto",
            batch_size=10,
            labels_used=labels,
            metrics={"accuracy": accuracy, "eval_size": eval_size or labels // 4, "head": "logistic"},
            finished_at=timezone.now(),
        )
        for number, (labels, accuracy) in enumerate(points, start=1)
    ]


def add_control_slice(rounds, verdict="better"):
    """Control-slice figures, as a worker records them, on the given done rounds (the last compares)."""
    for i, model_round in enumerate(rounds):
        labelled = 10 * (i + 1)
        correct = int(labelled * 0.8)
        low, high = wilson_interval(correct, labelled)
        model_round.metrics["control"] = {
            "share": 0.05,
            "labelled": labelled,
            "correct": correct,
            "accuracy": correct / labelled,
            "interval": [round(low, 4), round(high, 4)],
            "queued": 3,
            "vs_random": None,
        }
        model_round.save(update_fields=["metrics"])
    last = rounds[-1]
    last.metrics["control"]["vs_random"] = {
        "labels": 40.0,
        "items": 50,
        "al_accuracy": 0.86,
        "random_accuracy": 0.74,
        "difference": 0.12,
        "interval": [0.04, 0.2] if verdict == "better" else [-0.04, 0.2],
        "verdict": verdict,
    }
    last.save(update_fields=["metrics"])
    return rounds


def make_simulation(project) -> SimulationRun:
    """A finished simulation whose summary has the honest figures (5 seeds, budget 500)."""

    def at(accuracy, recall):
        return {"accuracy": {"mean": accuracy, "sd": 0.01}, "macro_recall": {"mean": recall, "sd": 0.02}}

    summary = {
        "seeds": [0, 1, 2, 3, 4],
        "budget": 500,
        "target_accuracy": 0.861,
        "random_final_labels": 500,
        "random_final_accuracy": 0.861,
        "labels_to_reach": {
            "auto": {"per_seed": [275, 300, 250, 300, 275], "reached": 5, "mean": 280.0, "sd": 18.7},
            "margin": {"per_seed": [450, None, 475, None, None], "reached": 2, "mean": 462.5, "sd": 12.5},
            "random": {"per_seed": [500, 475, 500, 500, 500], "reached": 5, "mean": 495.0, "sd": 10.0},
        },
        "at_budget": {"auto": at(0.89, 0.812), "margin": at(0.86, 0.701), "random": at(0.861, 0.745)},
        "labels_to_match_random": {"auto": 280.0, "margin": None, "random": 495.0},
        "label_ratio": {"auto": 0.56, "margin": None, "random": 0.99},
        "verdict": "On this project, auto reaches random's accuracy at 500 labels (0.861) with 280 ± 19 "
        "labels over 5 seeds; rare-class recall (noun.plant) at 500 labels is better (0.71 vs 0.40).",
    }
    return SimulationRun.objects.create(
        project=project,
        strategies=["auto", "margin", "random"],
        rounds=18,
        batch_size=25,
        initial_labels=50,
        summary=summary,
        csv_path="",
        png_path="",
    )


def time_labels(project, seconds):
    """Submitted labels with the given seconds spent, on the project's first items."""
    items = list(project.items.order_by("id")[: len(seconds)])
    annotator = factories.make_member(project, "annotator")
    Annotation.objects.bulk_create(
        Annotation(item=item, annotator=annotator, labels=["1"], time_spent=t)
        for item, t in zip(items, seconds, strict=True)
    )


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
    assert "Rounds (model versions)" in html
    chart = html[html.index('id="accuracy-by-labels"') :]
    assert "<circle" in chart and "labels trained on" in chart and "held-out accuracy" in chart
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


def test_outsider_is_told_they_are_not_a_member_and_a_missing_project_is_404(client):
    project, _, _ = make_digits_project(5)
    client.force_login(factories.make_user())
    response = client.get(f"/active/projects/{project.pk}/")
    assert response.status_code == 403 and "not a member of this project" in response.content.decode()
    assert client.get(f"/active/projects/{project.pk + 999}/").status_code == 404


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


def test_page_shows_the_verdict_and_a_table_per_strategy(client):
    project, _, _ = make_digits_project(5)
    make_simulation(project)
    client.force_login(factories.make_member(project, "annotator"))
    html = client.get(f"/active/projects/{project.pk}/").content.decode()
    assert "auto reaches random&#x27;s accuracy at 500 labels (0.861) with 280 ± 19 labels" in html
    assert "Labels to reach random's accuracy at 500 (mean ± sd)" in html
    auto = html[html.index('data-strategy="auto"') :].split("</tr>")[0]
    assert "280 ± 19" in auto and "5/5" in auto and "0.812" in auto and "0.745" in auto and "better" in auto
    margin = html[html.index('data-strategy="margin"') :].split("</tr>")[0]
    assert "463 ± 13" in margin and "2/5" in margin and "worse" in margin


def test_a_real_simulation_puts_its_verdict_on_the_page(client):
    project, _, _ = make_digits_project(200)
    simulation = simulate(project, ["margin"], rounds=1, batch=10, seed=0, seeds=2)
    client.force_login(factories.make_member(project, "annotator"))
    html = client.get(f"/active/projects/{project.pk}/").content.decode()
    assert simulation.summary["verdict"].split(":")[0].replace("'", "&#x27;") in html
    assert 'data-strategy="margin"' in html and 'data-strategy="random"' in html


def test_forecast_says_labels_hours_and_cost_from_the_rounds_and_the_median_time(client):
    project, _, _ = make_digits_project(20)
    make_done_rounds(project, eval_size=2000)
    time_labels(project, [3.0, 12.0, 9.0, 600.0, 12.0])  # median 12 s: one long pause does not count
    ActiveSettings.objects.create(project=project, target_accuracy=0.9, cost_per_hour=40)
    client.force_login(factories.make_member(project, "annotator"))
    response = client.get(f"/active/projects/{project.pk}/")
    forecast = response.context["forecast"]
    assert forecast.status == "forecast" and forecast.seconds_per_label == 12.0
    assert 1450 <= forecast.labels_needed <= 1750  # the curve's truth: 1,600
    assert forecast.more_labels == forecast.labels_needed - 1200
    assert forecast.hours == pytest.approx(forecast.more_labels * 12 / 3600, abs=0.01)
    assert forecast.cost == pytest.approx(forecast.hours * 40, abs=0.01)
    low, high = forecast.interval  # five rounds cannot rule out a plateau below 0.9: high may be unbounded
    assert 1200 < low <= forecast.labels_needed and (high is None or forecast.labels_needed <= high)
    html = response.content.decode()
    assert f"<b>{forecast.labels_needed} labels</b>" in html and "annotator-hours" in html
    assert f"{forecast.cost:.2f}" in html


def test_forecast_needs_three_evaluated_rounds(client):
    project, _, _ = make_digits_project(5)
    make_done_rounds(project, CURVE_POINTS[:2])
    client.force_login(factories.make_member(project, "annotator"))
    html = client.get(f"/active/projects/{project.pk}/").content.decode()
    assert "Not enough rounds to forecast" in html


def test_manager_sets_the_target_and_the_cost_per_hour(client):
    project, _, _ = make_digits_project(5)
    client.force_login(factories.make_member(project, "manager"))
    response = client.post(
        f"/active/projects/{project.pk}/", {"target_accuracy": "0.85", "cost_per_hour": "31.5"}
    )
    assert response.status_code == 302
    saved = ActiveSettings.objects.get(project=project)
    assert (saved.target_accuracy, saved.cost_per_hour) == (0.85, 31.5)


@pytest.mark.parametrize(
    ("target", "cost", "field"),
    [("1.2", "10", "target_accuracy"), ("0.9", "-1", "cost_per_hour"), ("abc", "1", "target_accuracy")],
)
def test_forecast_settings_are_validated_naming_the_field(client, target, cost, field):
    project, _, _ = make_digits_project(5)
    client.force_login(factories.make_member(project, "manager"))
    response = client.post(
        f"/active/projects/{project.pk}/", {"target_accuracy": target, "cost_per_hour": cost}, follow=True
    )
    assert f"Forecast settings: {field}" in response.content.decode()
    assert not ActiveSettings.objects.exists()


def test_annotator_cannot_change_the_forecast_settings(client):
    project, _, _ = make_digits_project(5)
    client.force_login(factories.make_member(project, "annotator"))
    client.post(f"/active/projects/{project.pk}/", {"target_accuracy": "0.5", "cost_per_hour": "1"})
    assert not ActiveSettings.objects.exists()


def test_page_shows_the_control_slice_accuracy_per_model_version_and_the_verdict(client):
    project, _, _ = make_digits_project(5)
    rounds = add_control_slice(make_done_rounds(project))
    client.force_login(factories.make_member(project, "annotator"))
    html = client.get(f"/active/projects/{project.pk}/").content.decode()
    latest = rounds[-1]
    assert f"Model version #{latest.pk} (round 5, 1200 training labels)" in html
    assert "0.800</b> accuracy on 50 control items (95 % interval 0.670–0.888)" in html
    assert 'data-verdict="better"' in html and "active learning is beating random here." in html
    assert html.count('<tr data-round="') == 5
    assert 'id="control-settings"' not in html  # annotators do not change the share


def test_page_says_when_there_is_no_clear_difference_from_random(client):
    project, _, _ = make_digits_project(5)
    add_control_slice(make_done_rounds(project), verdict="no clear difference")
    client.force_login(factories.make_member(project, "annotator"))
    html = client.get(f"/active/projects/{project.pk}/").content.decode()
    assert "no clear difference from random yet." in html and "beating random" not in html


def test_a_real_round_puts_its_control_estimate_on_the_page(client):
    project, items, y = make_digits_project(200, al_batch_size=10, al_trigger_labels=0)
    ActiveSettings.objects.create(project=project, control_share=0.25)
    label_items(items[:60], y[:60])
    services.request_round(project)
    run_queued_tasks()
    model_round = ModelRound.objects.get(project=project)
    estimate = model_round.metrics["control"]
    assert estimate["labelled"] > 0 and 0 <= estimate["interval"][0] <= estimate["accuracy"]
    client.force_login(factories.make_member(project, "manager"))
    html = client.get(f"/active/projects/{project.pk}/").content.decode()
    assert f"accuracy on {estimate['labelled']} control items" in html
    assert 'name="control_share"' in html and 'value="25"' in html


def test_manager_sets_the_control_share_in_percent(client):
    project, _, _ = make_digits_project(5)
    client.force_login(factories.make_member(project, "manager"))
    response = client.post(f"/active/projects/{project.pk}/", {"control_share": "10"}, follow=True)
    assert "Control slice saved." in response.content.decode()
    saved = ActiveSettings.objects.get(project=project)
    assert (saved.control_share, saved.target_accuracy) == (0.1, 0.9)


@pytest.mark.parametrize("share", ["60", "-1", "abc"])
def test_control_share_is_validated_naming_the_field(client, share):
    project, _, _ = make_digits_project(5)
    client.force_login(factories.make_member(project, "manager"))
    response = client.post(f"/active/projects/{project.pk}/", {"control_share": share}, follow=True)
    assert "Control slice: control_share" in response.content.decode()
    assert not ActiveSettings.objects.exists()
