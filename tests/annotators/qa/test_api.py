"""QA API: who may call what, and what the dashboard, gold, consensus and policy endpoints return."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from annotators.qa import gold
from annotators.qa.models import AnnotatorFlag, ConsensusLabel, GoldItem
from labelhub.projects.models import ProjectMembership
from tests import factories
from tests.annotators.qa.builders import (
    label,
)

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*(inplace|copy) keyword"),
]

MANAGER_ONLY = [
    ("get", "/api/projects/{p}/qa/dashboard/"),
    ("get", "/api/projects/{p}/qa/agreement/"),
    ("get", "/api/projects/{p}/qa/agreement/by-version/"),
    ("get", "/api/projects/{p}/qa/annotators/"),
    ("get", "/api/projects/{p}/qa/flags/"),
    ("post", "/api/projects/{p}/qa/evaluate/"),
    ("get", "/api/projects/{p}/gold/"),
    ("post", "/api/projects/{p}/gold/"),
    ("post", "/api/projects/{p}/consensus/recompute/"),
    ("post", "/api/projects/{p}/adjudication/promote/"),
]


def api(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


@pytest.fixture
def labelled(project, manager):
    items = factories.make_items(project, 6)
    people = [factories.make_member(project) for _ in range(3)]
    for i, item in enumerate(items):
        for j, who in enumerate(people):
            label(item, who, ["dog" if (i + j) % 4 == 0 else "cat"], time_spent=2 + j)
    gold.mark_gold(project, [(items[0].pk, ["cat"])])
    return items, people


@pytest.mark.parametrize(("method", "url"), MANAGER_ONLY)
def test_annotators_get_403_on_manager_endpoints(project, annotator, method, url):
    response = getattr(api(annotator), method)(url.format(p=project.pk), {}, format="json")
    assert response.status_code == 403


@pytest.mark.parametrize(("method", "url"), MANAGER_ONLY)
def test_outsiders_get_404_on_manager_endpoints(project, outsider, method, url):
    response = getattr(api(outsider), method)(url.format(p=project.pk), {}, format="json")
    assert response.status_code == 404


def test_anonymous_requests_are_refused(project):
    assert APIClient().get(f"/api/projects/{project.pk}/qa/dashboard/").status_code in (401, 403)


def test_dashboard_json_holds_every_section(project, manager, labelled):
    response = api(manager).get(f"/api/projects/{project.pk}/qa/dashboard/")
    assert response.status_code == 200
    body = response.json()
    assert body["agreement"]["overall"]["items"] == 6
    assert {row["class"] for row in body["agreement"]["by_class"]} == {"cat", "dog", "wolf"}
    assert len(body["agreement"]["by_pair"]) == 3
    assert body["agreement"]["coincidence"]["classes"] == ["cat", "dog", "wolf"]
    assert sum(row["annotations"] for row in body["annotators"]) == 18
    assert body["counts"]["gold_items"] == 1
    assert body["volume_by_day"][0]["annotations"] == 18


def test_annotator_rows_report_speed(project, manager, labelled):
    _, people = labelled
    rows = {
        r["annotator_id"]: r for r in api(manager).get(f"/api/projects/{project.pk}/qa/annotators/").json()
    }
    assert rows[people[2].pk]["seconds_per_item_median"] == 4.0


def test_gold_api_marks_lists_and_unmarks(project, manager):
    items = factories.make_items(project, 2)
    client = api(manager)
    created = client.post(
        f"/api/projects/{project.pk}/gold/",
        {"items": [{"item_id": items[0].pk, "labels": ["dog"]}, {"item_id": items[1].pk, "labels": ["cat"]}]},
        format="json",
    )
    assert created.status_code == 201 and created.json() == {"marked": 2}
    listed = client.get(f"/api/projects/{project.pk}/gold/").json()
    assert [(g["item_id"], g["labels"]) for g in listed["results"]] == [
        (items[0].pk, ["dog"]),
        (items[1].pk, ["cat"]),
    ]
    assert client.delete(f"/api/projects/{project.pk}/gold/{items[0].pk}/").status_code == 204
    missing = client.delete(f"/api/projects/{project.pk}/gold/{items[0].pk}/")
    assert missing.status_code == 404
    assert (
        missing.json()["code"] == "not_gold" and f"item {items[0].pk} is not gold" in missing.json()["detail"]
    )
    assert list(GoldItem.objects.values_list("item_id", flat=True)) == [items[1].pk]


def test_gold_api_rejects_an_unknown_class_by_name(project, manager):
    (item,) = factories.make_items(project, 1)
    response = api(manager).post(
        f"/api/projects/{project.pk}/gold/",
        {"items": [{"item_id": item.pk, "labels": ["tiger"]}]},
        format="json",
    )
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"]) == ("unknown_label", "items[0].labels")
    assert "Label 'tiger' is not in the schema" in body["detail"]
    assert not GoldItem.objects.exists()


def test_gold_api_names_a_malformed_answer_in_the_one_error_shape(project, manager):
    response = api(manager).post(
        f"/api/projects/{project.pk}/gold/", {"items": [{"item_id": "x", "labels": []}]}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert {(e["field"], e["code"]) for e in body["errors"]} == {
        ("items[0].item_id", "invalid"),
        ("items[0].labels", "empty"),
    }
    assert (body["field"], body["code"]) == (body["errors"][0]["field"], body["errors"][0]["code"])


def test_recompute_writes_consensus_and_the_list_filters_by_method(project, manager, labelled):
    client = api(manager)
    figures = client.post(f"/api/projects/{project.pk}/consensus/recompute/").json()
    assert figures["written"] == 6 and figures["method"] == "majority"
    listed = client.get(f"/api/projects/{project.pk}/consensus/?method=majority").json()
    assert listed["count"] == ConsensusLabel.objects.filter(method="majority").count() == 6


def test_reviewers_may_read_consensus_but_not_recompute_it(project, labelled):
    reviewer = factories.make_member(project, "reviewer")
    assert api(reviewer).get(f"/api/projects/{project.pk}/consensus/").status_code == 200
    assert api(reviewer).post(f"/api/projects/{project.pk}/consensus/recompute/").status_code == 403


def test_evaluate_and_resolve_a_flag_through_the_api(project, manager):
    project.qa_min_count, project.qa_pause_on_fail = 2, True
    project.save()
    annotator = factories.make_member(project)
    items = factories.make_items(project, 2)
    gold.mark_gold(project, [(i.pk, ["cat"]) for i in items])
    for item in items:
        label(item, annotator, ["dog"])
    client = api(manager)
    evaluated = client.post(f"/api/projects/{project.pk}/qa/evaluate/").json()
    assert evaluated["failing"][0]["annotator_id"] == annotator.pk
    (flag,) = client.get(f"/api/projects/{project.pk}/qa/flags/").json()
    assert flag["paused"] is True and "gold accuracy 0%" in flag["reason"]
    assert (
        client.post(f"/api/qa/flags/{flag['id']}/resolve/", {"unpause": True}, format="json").status_code
        == 200
    )
    assert not ProjectMembership.objects.get(user=annotator, project=project).is_paused
    assert AnnotatorFlag.objects.get().resolved_by == manager
    again = client.post(f"/api/qa/flags/{flag['id']}/resolve/")
    assert again.status_code == 400
    assert (again.json()["code"], again.json()["field"]) == ("already_resolved", "flag")


def test_agreement_by_version_uses_string_keys_and_matches_the_reference(project, manager, labelled):
    import krippendorff
    import numpy as np

    wide = np.array([[1.0 if (i + j) % 4 == 0 else 0.0 for i in range(6)] for j in range(3)])
    body = api(manager).get(f"/api/projects/{project.pk}/qa/agreement/by-version/").json()
    assert list(body) == ["none"]
    assert body["none"]["items"] == 6
    assert body["none"]["percent_agreement"] == pytest.approx((4 / 3 + 2) / 6, abs=1e-6)
    assert body["none"]["krippendorff_alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=wide, level_of_measurement="nominal"), abs=1e-6
    )
