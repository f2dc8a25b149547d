"""The labeling-function API: managers only, 400 naming the field, versions, preview and stats."""

from __future__ import annotations

import pytest
from rest_framework.test import APIClient

from labelhub.weak.models import LabelingFunction
from tests import factories
from tests.weak.builders import animal_project, text_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def setup():
    project = animal_project()
    text_items(project, ["a dog", "a tree"])
    client = APIClient()
    client.force_authenticate(factories.make_member(project, "manager"))
    return project, client


def test_create_update_and_history(setup):
    project, client = setup
    url = f"/api/projects/{project.pk}/labeling-functions/"
    created = client.post(
        url,
        {"name": "dogs", "kind": "keyword", "label": "animal", "config": {"keywords": ["dog"]}},
        format="json",
    )
    assert created.status_code == 201 and created.json()["version"] == 1
    pk = created.json()["id"]
    changed = client.patch(
        f"/api/labeling-functions/{pk}/", {"config": {"keywords": ["dog", "puppy"]}}, format="json"
    )
    assert changed.status_code == 200 and changed.json()["version"] == 2
    history = client.get(f"/api/labeling-functions/{pk}/versions/").json()
    assert [v["version"] for v in history] == [2, 1]
    assert [f["name"] for f in client.get(url).json()] == ["dogs"]


def test_an_invalid_definition_is_a_400_naming_the_field_and_creates_nothing(setup):
    project, client = setup
    response = client.post(
        f"/api/projects/{project.pk}/labeling-functions/",
        {"name": "bad", "kind": "regex", "label": "animal", "config": {"pattern": "(a+)+$"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json()["field"] == "config.pattern" and response.json()["code"] == "regex_too_slow"
    assert not LabelingFunction.objects.exists()


def test_preview_and_stats(setup):
    project, client = setup
    preview = client.post(
        f"/api/projects/{project.pk}/labeling-functions/preview/",
        {"kind": "keyword", "label": "animal", "config": {"keywords": ["dog"]}},
        format="json",
    )
    assert preview.status_code == 200 and preview.json()["function"]["votes"] == 1
    stats = client.get(f"/api/projects/{project.pk}/labeling-functions/stats/")
    assert stats.status_code == 200 and stats.json()["matrix"]["items"] == 2


def test_annotators_get_403_and_outsiders_404(setup):
    project, _ = setup
    annotator = APIClient()
    annotator.force_authenticate(factories.make_member(project, "annotator"))
    assert annotator.get(f"/api/projects/{project.pk}/labeling-functions/").status_code == 403
    outsider = APIClient()
    outsider.force_authenticate(factories.make_user())
    assert outsider.get(f"/api/projects/{project.pk}/labeling-functions/").status_code == 404
