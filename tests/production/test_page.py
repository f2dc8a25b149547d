"""The production page: figures, charts and the rules form, for managers; nothing for annotators."""

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from django.test import Client

from labelhub.production import monitoring, scoring, selection, services
from labelhub.production.models import SamplingRules
from tests import factories
from tests.production.builders import clustered_project, embedded_record, unit_vectors

pytestmark = pytest.mark.django_db
START = datetime(2026, 12, 1, 10, 0, tzinfo=UTC)


def page_client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def drifted_project():
    project, deployment, _, _, _, C = clustered_project()
    rng = np.random.default_rng(3)
    vectors = np.vstack([unit_vectors(rng, C[3 if i % 2 else 0], 1) for i in range(60)])
    records = [
        embedded_record(
            f"r{i}", v, "cat", [0.5, 0.3, 0.2], timestamp=(START + timedelta(seconds=i)).isoformat()
        )
        for i, v in enumerate(vectors)
    ]
    records[0]["input"] = {"text": "<script>alert(1)</script> odd input"}
    services.capture_batch(deployment, records, enqueue_scoring=lambda d: None)
    scoring.score_pending(deployment)
    selection.triage(deployment)
    monitoring.check_windows(deployment, since=START)
    return project, deployment


def test_the_page_shows_drift_the_mix_novelty_and_what_was_sent():
    project, deployment = drifted_project()
    manager = project.memberships.get(role="manager").user
    response = page_client(manager).get(f"/production/projects/{project.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert 'id="drift-alarm"' in html and "embeddings" in html
    assert html.count("<svg") >= 4  # domain AUC, class-mix distance, class-mix bars, novelty histogram
    assert "Uncertain prediction" in html  # the rules sent the unsure captures
    assert 'id="rules-form"' in html
    assert "<script>alert(1)</script>" not in html  # captured text is escaped
    assert f"/ws/projects/{project.pk}/production/" in html


def test_a_manager_saves_the_rules_from_the_page_and_bad_values_are_named():
    project, _ = drifted_project()
    manager = project.memberships.get(role="manager").user
    client = page_client(manager)
    form = {
        "enabled": "on",
        "uncertainty_margin": "0.1",
        "novelty_percentile": "0.9",
        "class_quota": "7",
        "control_share": "0.05",
        "daily_budget": "70",
        "near_duplicate_distance": "0.02",
    }
    assert client.post(f"/production/projects/{project.pk}/", form).status_code == 302
    rules = SamplingRules.objects.get(project=project)
    assert (rules.class_quota, rules.daily_budget, rules.control_share, rules.select_disagreements) == (
        7,
        70,
        0.05,
        False,
    )
    response = client.post(f"/production/projects/{project.pk}/", {**form, "control_share": "3"}, follow=True)
    assert "control_share" in response.content.decode()
    assert SamplingRules.objects.get(project=project).control_share == 0.05


def test_annotators_do_not_see_the_page():
    project, _ = drifted_project()
    annotator = factories.make_member(project)
    assert page_client(annotator).get(f"/production/projects/{project.pk}/").status_code == 404


def test_an_empty_project_page_says_how_to_start():
    project = factories.make_project()
    manager = factories.make_member(project, "manager")
    html = page_client(manager).get(f"/production/projects/{project.pk}/").content.decode()
    assert "No deployment yet" in html and "No window checked yet" in html
