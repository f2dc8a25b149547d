"""Adjudication end to end: disputes enter the queue, a reviewer resolves them, gold follows."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotators.qa import adjudication
from annotators.qa.consensus import compute_consensus
from annotators.qa.errors import AlreadyResolved, NotReviewer
from annotators.qa.models import AdjudicationTask, ConsensusLabel, GoldItem
from tests import factories
from tests.annotators.qa.builders import (
    label,
)


@pytest.fixture
def disputed(db):
    project = factories.make_project(classes=("cat", "dog", "wolf"), qa_anonymous_adjudication=True)
    (item,) = factories.make_items(project, 1)
    people = [factories.make_member(project) for _ in range(2)]
    label(item, people[0], ["cat"], time_spent=3)
    label(item, people[1], ["dog"], time_spent=5)
    compute_consensus(project, method="majority")
    return project, item, people


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_disagreeing_item_enters_the_reviewer_queue_once(disputed):
    project, item, _ = disputed
    compute_consensus(project, method="majority")
    assert AdjudicationTask.objects.filter(item=item, status="open").count() == 1


def test_reviewer_sees_every_label_anonymised(disputed):
    project, item, people = disputed
    task = AdjudicationTask.objects.get(item=item)
    labels = adjudication.task_labels(task)
    assert [entry["annotator"] for entry in labels] == ["Annotator A", "Annotator B"]
    assert [entry["labels"] for entry in labels] == [["cat"], ["dog"]]
    assert all(p.username not in str(labels) for p in people)


def test_reviewer_sees_names_when_the_project_does_not_anonymise(disputed):
    project, item, people = disputed
    project.qa_anonymous_adjudication = False
    project.save()
    task = AdjudicationTask.objects.select_related("project").get(item=item)
    assert [e["annotator"] for e in adjudication.task_labels(task)] == [p.username for p in people]


def test_anonymous_names_continue_past_z():
    assert adjudication.anonymous_name(0) == "Annotator A"
    assert adjudication.anonymous_name(25) == "Annotator Z"
    assert adjudication.anonymous_name(26) == "Annotator AA"


def test_full_flow_through_the_api_sets_an_adjudicated_consensus_and_gold(disputed):
    project, item, _ = disputed
    reviewer = factories.make_member(project, "reviewer")
    manager = factories.make_member(project, "manager")
    queue = api(reviewer).get(f"/api/projects/{project.pk}/adjudication/")
    assert queue.status_code == 200
    (entry,) = queue.json()["results"]
    detail = api(reviewer).get(f"/api/adjudication/{entry['id']}/").json()
    assert {tuple(e["labels"]) for e in detail["labels"]} == {("cat",), ("dog",)}
    assert detail["classes"] == ["cat", "dog", "wolf"]
    resolved = api(reviewer).post(
        f"/api/adjudication/{entry['id']}/resolve/", {"labels": ["dog"]}, format="json"
    )
    assert resolved.status_code == 200, resolved.content
    consensus = ConsensusLabel.objects.get(item=item)
    assert (consensus.labels, consensus.method, consensus.confidence) == (["dog"], "adjudicated", 1.0)
    promoted = api(manager).post(
        f"/api/projects/{project.pk}/adjudication/promote/", {"task_ids": [entry["id"]]}, format="json"
    )
    assert promoted.json() == {"promoted": 1}
    assert GoldItem.objects.get(item=item).source == GoldItem.Source.ADJUDICATION
    assert api(reviewer).get(f"/api/projects/{project.pk}/adjudication/").json()["results"] == []


def test_resolve_with_promote_to_gold_needs_a_manager(disputed):
    project, item, _ = disputed
    reviewer = factories.make_member(project, "reviewer")
    task = AdjudicationTask.objects.get(item=item)
    response = api(reviewer).post(
        f"/api/adjudication/{task.pk}/resolve/", {"labels": ["cat"], "promote_to_gold": True}, format="json"
    )
    assert response.status_code == 403
    manager = factories.make_member(project, "manager")
    response = api(manager).post(
        f"/api/adjudication/{task.pk}/resolve/", {"labels": ["cat"], "promote_to_gold": True}, format="json"
    )
    assert response.status_code == 200
    assert GoldItem.objects.get(item=item).labels == ["cat"]


def test_resolve_names_an_unknown_class(disputed):
    project, item, _ = disputed
    reviewer = factories.make_member(project, "reviewer")
    task = AdjudicationTask.objects.get(item=item)
    response = api(reviewer).post(
        f"/api/adjudication/{task.pk}/resolve/", {"labels": ["tiger"]}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"]) == ("unknown_label", "labels")
    assert "Label 'tiger' is not in the schema" in body["detail"]
    assert body["errors"] == [{"field": "labels", "code": "unknown_label", "detail": body["detail"]}]
    assert not ConsensusLabel.objects.filter(item=item, method="adjudicated").exists()


def test_a_resolved_task_cannot_be_resolved_again(disputed):
    project, item, _ = disputed
    reviewer = factories.make_member(project, "reviewer")
    task = AdjudicationTask.objects.get(item=item)
    adjudication.resolve_task(task, reviewer, ["cat"])
    with pytest.raises(AlreadyResolved, match="already resolved"):
        adjudication.resolve_task(task, reviewer, ["dog"])


def test_annotators_cannot_adjudicate(disputed):
    project, item, people = disputed
    task = AdjudicationTask.objects.get(item=item)
    with pytest.raises(NotReviewer):
        adjudication.resolve_task(task, people[0], ["cat"])
    assert api(people[0]).get(f"/api/projects/{project.pk}/adjudication/").status_code == 403
    assert api(people[0]).get(f"/api/adjudication/{task.pk}/").status_code == 403
    assert (
        api(people[0]).post(f"/api/adjudication/{task.pk}/resolve/", {"labels": ["cat"]}).status_code == 403
    )


def test_outsiders_get_404_for_another_projects_tasks(disputed, outsider):
    project, item, _ = disputed
    task = AdjudicationTask.objects.get(item=item)
    assert api(outsider).get(f"/api/adjudication/{task.pk}/").status_code == 404
    assert api(outsider).get(f"/api/projects/{project.pk}/adjudication/").status_code == 404


def test_an_adjudicated_item_is_not_reopened_by_recomputation(disputed):
    project, item, _ = disputed
    reviewer = factories.make_member(project, "reviewer")
    adjudication.resolve_task(AdjudicationTask.objects.get(item=item), reviewer, ["cat"])
    compute_consensus(project, method="majority")
    assert not AdjudicationTask.objects.filter(item=item, status="open").exists()
    assert ConsensusLabel.objects.get(item=item).labels == ["cat"]


def test_adjudication_page_resolves_with_the_form_and_moves_to_the_next(disputed, client):
    project, item, _ = disputed
    reviewer = factories.make_member(project, "reviewer")
    client.force_login(reviewer)
    page = client.get(f"/qa/projects/{project.pk}/adjudication/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "Annotator A" in html and 'data-key="1"' in html and item.external_id in html
    task = AdjudicationTask.objects.get(item=item)
    response = client.post(f"/qa/projects/{project.pk}/adjudication/{task.pk}/resolve/", {"labels": ["wolf"]})
    assert response.status_code == 302
    assert ConsensusLabel.objects.get(item=item).labels == ["wolf"]
    assert "Nothing to adjudicate" in client.get(f"/qa/projects/{project.pk}/adjudication/").content.decode()


def test_a_large_recompute_opens_every_disputed_item_once(db, monkeypatch):
    """The bulk path (COPY on PostgreSQL) skips items already waiting, like the small path."""
    monkeypatch.setattr(adjudication, "COPY_THRESHOLD", 2)
    project = factories.make_project(classes=("cat", "dog"))
    items = factories.make_items(project, 6)
    people = [factories.make_member(project) for _ in range(2)]
    for item in items:
        label(item, people[0], ["cat"])
        label(item, people[1], ["dog"])
    AdjudicationTask.objects.create(project=project, item=items[0], reason="manual")
    compute_consensus(project, method="majority")
    open_tasks = AdjudicationTask.objects.filter(project=project, status="open")
    assert sorted(open_tasks.values_list("item_id", flat=True)) == sorted(i.pk for i in items)
    assert open_tasks.get(item=items[1]).reason == AdjudicationTask.Reason.TIE


def test_the_reviewer_queue_names_an_unknown_status_in_the_one_error_shape(disputed):
    project, _, _ = disputed
    reviewer = factories.make_member(project, "reviewer")
    response = api(reviewer).get(f"/api/projects/{project.pk}/adjudication/?status=lost")
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == ("status", "invalid_choice")


def test_the_adjudication_page_shows_a_refused_label_and_keeps_the_task_open(disputed, client):
    project, item, _ = disputed
    reviewer = factories.make_member(project, "reviewer")
    client.force_login(reviewer)
    task = AdjudicationTask.objects.get(item=item)
    response = client.post(
        f"/qa/projects/{project.pk}/adjudication/{task.pk}/resolve/", {"labels": ["tiger"]}, follow=True
    )
    assert "Label &#x27;tiger&#x27; is not in the schema" in response.content.decode()
    assert AdjudicationTask.objects.get(pk=task.pk).status == "open"


def test_promoting_an_item_resolved_twice_gives_gold_its_latest_answer(disputed):
    project, item, _ = disputed
    reviewer = factories.make_member(project, "reviewer")
    first = AdjudicationTask.objects.get(item=item)
    adjudication.resolve_task(first, reviewer, ["cat"])
    adjudication.send_for_review(project, [item.pk], reason=AdjudicationTask.Reason.POLICY)
    second = AdjudicationTask.objects.get(item=item, status="open")
    adjudication.resolve_task(second, reviewer, ["wolf"])
    assert adjudication.promote_resolutions_to_gold(project, [first.pk, second.pk]) == 1
    assert GoldItem.objects.get(item=item).labels == ["wolf"]
