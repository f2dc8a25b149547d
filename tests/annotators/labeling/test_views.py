"""The project picker and the labeling page (server side; the browser test drives the JS)."""

from __future__ import annotations

import json

import pytest

from labelhub.projects.models import Annotation
from labelhub.queues import services
from tests import factories

pytestmark = pytest.mark.django_db


def test_home_lists_projects_with_progress(client):
    project = factories.make_project(name="Wolves")
    user = factories.make_member(project)
    items = factories.make_items(project, 4)
    Annotation.objects.create(item=items[0], annotator=user, labels=["dog"])
    services.enqueue_items(project, [(items[1].pk, 1.0), (items[2].pk, 0.5)], reason="random")
    factories.make_project(name="Not mine")
    client.force_login(user)
    response = client.get("/")
    assert response.status_code == 200
    (row,) = response.context["projects"]
    assert (row.name, row.item_count, row.labelled_count, row.queue_left, row.my_today) == (
        "Wolves",
        4,
        1,
        2,
        1,
    )
    assert b"Not mine" not in response.content
    assert f'href="/projects/{project.pk}/label/"'.encode() in response.content


def test_labeling_page_carries_classes_keys_and_urls(client):
    project = factories.make_project(classes=("cat", "dog"), multi_label=True)
    user = factories.make_member(project)
    client.force_login(user)
    response = client.get(f"/projects/{project.pk}/label/")
    assert response.status_code == 200
    html = response.content.decode()
    script = html.split('<script id="label-config" type="application/json">', 1)[1].split("</script>", 1)[0]
    config = json.loads(script)
    assert config["multiLabel"] is True
    assert [(c["name"], c["key"]) for c in config["classes"]] == [("cat", "1"), ("dog", "2")]
    assert config["urls"]["socket"] == f"/ws/projects/{project.pk}/queue/"
    assert config["urls"]["panel"] == f"/guidelines/projects/{project.pk}/panel/"
    assert 'id="guideline-ack"' in html and 'id="guideline-ack-confirm"' in html
    assert "csrftoken" in response.cookies


def test_labeling_page_is_404_for_outsiders(client, project, outsider):
    client.force_login(outsider)
    assert client.get(f"/projects/{project.pk}/label/").status_code == 404


def test_labeling_page_needs_login(client, project):
    response = client.get(f"/projects/{project.pk}/label/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]


def test_home_links_managers_to_the_console_pages_and_annotators_only_to_guidelines(client):
    project = factories.make_project(name="Wolves")
    manager = factories.make_member(project, "manager")
    annotator = factories.make_member(project, "annotator")
    qa_link = f'href="/qa/projects/{project.pk}/"'.encode()
    guidelines_link = f'href="/guidelines/projects/{project.pk}/"'.encode()

    client.force_login(manager)
    page = client.get("/").content
    assert qa_link in page and f'href="/snapshots/projects/{project.pk}/"'.encode() in page

    client.force_login(annotator)
    page = client.get("/").content
    assert guidelines_link in page and qa_link not in page
