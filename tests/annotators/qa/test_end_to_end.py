"""QA through the real queue: gold served, scored on submit, policy pauses, manager unpauses."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotators.qa import gold
from annotators.qa.models import AnnotatorFlag, AnnotatorStats, ConsensusLabel
from tests import factories

pytestmark = pytest.mark.django_db


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def serve_and_answer(client, project, labels, capture):
    served = client.post(f"/api/projects/{project.pk}/queue/next/")
    if served.status_code != 200:
        return served
    with capture(execute=True):
        submitted = client.post(
            f"/api/leases/{served.json()['lease']['id']}/submit/",
            {"labels": labels, "time_spent": 3},
            format="json",
        )
    assert submitted.status_code == 201, submitted.content
    return served


def test_wrong_gold_answers_pause_the_annotator_until_a_manager_resolves(django_capture_on_commit_callbacks):
    project = factories.make_project(
        gold_rate=1.0, qa_min_count=3, qa_min_gold_accuracy=0.7, qa_pause_on_fail=True
    )
    items = factories.make_items(project, 6)
    gold.mark_gold(project, [(item.pk, ["cat"]) for item in items])
    annotator = factories.make_member(project, "annotator")
    manager = factories.make_member(project, "manager")
    client = api(annotator)
    for _ in range(3):
        response = serve_and_answer(client, project, ["dog"], django_capture_on_commit_callbacks)
        assert response.status_code == 200
    stats = AnnotatorStats.objects.get(project=project, annotator=annotator)
    assert (stats.gold_seen, stats.gold_correct) == (3, 0)
    assert client.post(f"/api/projects/{project.pk}/queue/next/").status_code == 403
    (flag,) = api(manager).get(f"/api/projects/{project.pk}/qa/flags/").json()
    assert flag["paused"] and "gold accuracy 0% (0/3" in flag["reason"]
    api(manager).post(f"/api/qa/flags/{flag['id']}/resolve/", {"unpause": True}, format="json")
    assert client.post(f"/api/projects/{project.pk}/queue/next/").status_code == 200
    assert AnnotatorFlag.objects.get().resolved_at is not None


def test_submits_keep_each_items_consensus_current(django_capture_on_commit_callbacks):
    project = factories.make_project(gold_rate=0.0, overlap_fraction=0.0)
    items = factories.make_items(project, 2)
    annotator = factories.make_member(project, "annotator")
    client = api(annotator)
    served = [serve_and_answer(client, project, ["wolf"], django_capture_on_commit_callbacks) for _ in items]
    assert all(r.status_code == 200 for r in served)
    consensus = ConsensusLabel.objects.filter(item__project=project)
    assert consensus.count() == 2
    assert {(c.method, tuple(c.labels)) for c in consensus} == {("single", ("wolf",))}


def test_undo_takes_the_label_out_of_gold_counts_and_consensus(django_capture_on_commit_callbacks):
    project = factories.make_project(gold_rate=1.0, overlap_fraction=0.0)
    (item,) = factories.make_items(project, 1)
    gold.mark_gold(project, [(item.pk, ["cat"])])
    annotator = factories.make_member(project, "annotator")
    client = api(annotator)
    assert serve_and_answer(client, project, ["dog"], django_capture_on_commit_callbacks).status_code == 200
    assert AnnotatorStats.objects.get(annotator=annotator).gold_seen == 1
    with django_capture_on_commit_callbacks(execute=True):
        undone = client.post(f"/api/projects/{project.pk}/queue/undo/")
    assert undone.status_code in (200, 201), undone.content
    stats = AnnotatorStats.objects.get(annotator=annotator)
    assert (stats.gold_seen, stats.annotations) == (0, 0)
    assert not ConsensusLabel.objects.filter(item=item).exists()
