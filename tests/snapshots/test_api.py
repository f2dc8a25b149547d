"""The snapshot API: who may do what, cutting, diffs and model-run lineage."""

from __future__ import annotations

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from labelhub.projects.models import Annotation
from labelhub.snapshots import services
from labelhub.snapshots.models import ModelRun, Snapshot
from tests import factories
from tests.snapshots.conftest import label

pytestmark = pytest.mark.django_db


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        token, _ = Token.objects.get_or_create(user=user)
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


@pytest.fixture
def snapshot(project, labelled):
    return services.cut_snapshot(project, name="v1")[0]


def test_manager_cuts_a_snapshot_with_a_token(project, labelled, manager):
    response = api(manager).post(
        f"/api/projects/{project.pk}/snapshots/",
        {"name": "first", "ratios": {"train": 0.6, "val": 0.2, "test": 0.2}},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["created"] is True and body["item_count"] == 11
    assert body["split_ratios"] == {"train": 0.6, "val": 0.2, "test": 0.2}
    assert Snapshot.objects.get().content_hash == body["id"]


def test_cutting_again_answers_200_with_the_same_id(project, labelled, manager):
    first = api(manager).post(f"/api/projects/{project.pk}/snapshots/", {}, format="json").json()
    again = api(manager).post(f"/api/projects/{project.pk}/snapshots/", {}, format="json")
    assert again.status_code == 200 and again.json()["id"] == first["id"] and again.json()["created"] is False


def test_annotator_cannot_cut(project, labelled, annotator):
    response = api(annotator).post(f"/api/projects/{project.pk}/snapshots/", {}, format="json")
    assert response.status_code == 404


def test_reviewer_reads_but_cannot_cut(project, labelled, reviewer):
    response = api(reviewer).post(f"/api/projects/{project.pk}/snapshots/", {}, format="json")
    assert response.status_code == 403


def test_bad_ratio_is_reported_on_its_field(project, labelled, manager):
    response = api(manager).post(
        f"/api/projects/{project.pk}/snapshots/", {"ratios": {"dev": 1}}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"]) == ("invalid_ratios", "ratios")
    assert "unknown split 'dev'" in body["detail"]
    assert body["errors"] == [{"field": "ratios", "code": "invalid_ratios", "detail": body["detail"]}]


def test_negative_ratio_names_its_split(project, labelled, manager):
    response = api(manager).post(
        f"/api/projects/{project.pk}/snapshots/", {"ratios": {"train": 1, "val": -1}}, format="json"
    )
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == ("ratios.val", "invalid_ratios")


def test_cutting_a_project_without_labels_is_refused(project, manager):
    factories.make_items(project, 2)
    response = api(manager).post(f"/api/projects/{project.pk}/snapshots/", {}, format="json")
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"]) == ("nothing_to_snapshot", "project")
    assert "no labelled items" in body["detail"]
    assert not Snapshot.objects.exists()


def test_reviewer_refusal_has_the_error_shape(project, labelled, reviewer):
    body = api(reviewer).post(f"/api/projects/{project.pk}/snapshots/", {}, format="json").json()
    assert body["code"] == "permission_denied" and "managers" in body["detail"] and body["field"] is None


def test_reviewers_list_and_read_snapshots(project, snapshot, reviewer):
    listing = api(reviewer).get(f"/api/projects/{project.pk}/snapshots/").json()
    assert [s["id"] for s in listing["results"]] == [snapshot.content_hash]
    detail = api(reviewer).get(f"/api/snapshots/{snapshot.content_hash}/").json()
    assert detail["statistics"]["splits"] == snapshot.stats["splits"]
    assert detail["exports"]["jsonl"].endswith("/export/jsonl/")


def test_annotators_never_read_snapshots_of_their_own_project(project, snapshot, annotator):
    """A snapshot holds everyone's resolved labels: annotators must not see them before they submit."""
    client = api(annotator)
    assert client.get(f"/api/projects/{project.pk}/snapshots/").status_code == 404
    for suffix in ("", "manifest/", "export/jsonl/", "export/labelstudio/", "model-runs/"):
        assert client.get(f"/api/snapshots/{snapshot.content_hash}/{suffix}").status_code == 404


def test_short_prefix_finds_the_snapshot(snapshot, reviewer):
    assert api(reviewer).get(f"/api/snapshots/{snapshot.content_hash[:10]}/").status_code == 200
    assert api(reviewer).get(f"/api/snapshots/{snapshot.content_hash[:5]}/").status_code == 404


@pytest.mark.parametrize(
    "path",
    [
        "/api/snapshots/{id}/",
        "/api/snapshots/{id}/manifest/",
        "/api/snapshots/{id}/export/jsonl/",
        "/api/snapshots/{id}/model-runs/",
        "/api/snapshots/{id}/diff/{id}/",
    ],
)
def test_outsiders_get_404(snapshot, outsider, path):
    assert api(outsider).get(path.format(id=snapshot.content_hash)).status_code == 404


def test_anonymous_is_refused(snapshot, project):
    assert api().get(f"/api/snapshots/{snapshot.content_hash}/export/jsonl/").status_code == 401
    assert api().get(f"/api/projects/{project.pk}/snapshots/").status_code == 401


def test_outsider_cannot_list_or_cut(project, labelled, outsider):
    assert api(outsider).get(f"/api/projects/{project.pk}/snapshots/").status_code == 404
    assert api(outsider).post(f"/api/projects/{project.pk}/snapshots/", {}, format="json").status_code == 404


def test_diff_reports_added_removed_relabelled(project, labelled, annotator, manager):
    first, _ = services.cut_snapshot(project)
    label(labelled[11], ["cat"], annotator)  # added
    label(labelled[0], ["wolf"], annotator)  # cat → wolf
    Annotation.objects.filter(item=labelled[1]).update(retracted_at="2026-01-01T00:00:00Z")  # removed (dog)
    second, _ = services.cut_snapshot(project)
    body = api(manager).get(f"/api/snapshots/{first.content_hash}/diff/{second.content_hash}/").json()
    assert body["counts"] == {
        "added": 1,
        "removed": 1,
        "relabelled": 1,
        "relabelled_in_review": 0,
        "unchanged": 9,
    }
    assert body["added"] == [
        {"external_id": "item-11", "labels": ["cat"], "split": body["added"][0]["split"]}
    ]
    assert [r["external_id"] for r in body["removed"]] == ["item-1"]
    assert body["relabelled"][0] | {"split": None} == {
        "external_id": "item-0",
        "before": ["cat"],
        "after": ["wolf"],
        "split": None,
        "method": "single",
        "review": None,
    }
    assert body["classes"]["cat"] == {"before": 3, "after": 3, "delta": 0}
    assert body["classes"]["dog"] == {"before": 3, "after": 2, "delta": -1}
    assert body["classes"]["wolf"] == {"before": 5, "after": 6, "delta": 1}


def test_diff_pages_through_long_lists(project, annotator, manager):
    items = factories.make_items(project, 30)
    label(items[0], ["cat"], annotator)
    first, _ = services.cut_snapshot(project)
    for item in items[1:]:
        label(item, ["dog"], annotator)
    second, _ = services.cut_snapshot(project)
    url = f"/api/snapshots/{first.content_hash}/diff/{second.content_hash}/"
    page1 = api(manager).get(url, {"limit": 10}).json()
    page3 = api(manager).get(url, {"limit": 10, "offset": 20}).json()
    assert page1["counts"]["added"] == 29
    assert len(page1["added"]) == 10 and len(page3["added"]) == 9
    assert not {r["external_id"] for r in page1["added"]} & {r["external_id"] for r in page3["added"]}


def test_diff_clamps_the_page_and_names_a_bad_one(snapshot, manager):
    url = f"/api/snapshots/{snapshot.content_hash}/diff/{snapshot.content_hash}/"
    clamped = api(manager).get(url, {"offset": -5, "limit": 10_000}).json()
    assert (clamped["offset"], clamped["limit"]) == (0, 500)
    for name in ("offset", "limit"):
        response = api(manager).get(url, {name: "ten"})
        assert response.status_code == 400
        assert (response.json()["field"], response.json()["code"]) == (name, "invalid")


def test_unknown_export_format_is_404(snapshot, manager):
    response = api(manager).get(f"/api/snapshots/{snapshot.content_hash}/export/xlsx/")
    assert response.status_code == 404 and "xlsx" in response.json()["detail"]


def test_model_run_lineage(snapshot, manager, reviewer):
    response = api(manager).post(
        f"/api/snapshots/{snapshot.content_hash}/model-runs/",
        {"name": "resnet-a", "metrics": {"accuracy": 0.91}, "artifact_uri": "s3://models/resnet-a.pt"},
        format="json",
    )
    assert response.status_code == 201, response.content
    run = response.json()
    assert run["snapshot_id"] == snapshot.content_hash and run["created_by"] == manager.username
    back = api(reviewer).get(f"/api/model-runs/{run['id']}/").json()
    assert back["manifest_url"] == f"/api/snapshots/{snapshot.content_hash}/manifest/"
    listed = api(reviewer).get(f"/api/snapshots/{snapshot.content_hash}/model-runs/").json()["results"]
    assert [r["name"] for r in listed] == ["resnet-a"]
    detail = api(reviewer).get(f"/api/snapshots/{snapshot.content_hash}/").json()
    assert detail["model_runs"][0]["metrics"] == {"accuracy": 0.91}


def test_reviewer_cannot_register_a_model_run(snapshot, reviewer):
    response = api(reviewer).post(
        f"/api/snapshots/{snapshot.content_hash}/model-runs/", {"name": "x"}, format="json"
    )
    assert response.status_code == 403
    assert not ModelRun.objects.exists()


def test_outsider_cannot_read_a_model_run(snapshot, manager, outsider):
    run = services.register_model_run(snapshot, name="m", user=manager)
    assert api(outsider).get(f"/api/model-runs/{run.pk}/").status_code == 404


@pytest.mark.parametrize("metrics", [[1, 2], "accuracy", 3])
def test_model_run_metrics_that_are_not_an_object_are_a_400_naming_the_field(snapshot, manager, metrics):
    response = api(manager).post(
        f"/api/snapshots/{snapshot.content_hash}/model-runs/",
        {"name": "m", "metrics": metrics},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["field"] == "metrics"
