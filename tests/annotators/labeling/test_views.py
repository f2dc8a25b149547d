"""The project picker and the labeling page (server side; the browser test drives the JS)."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from django.contrib.staticfiles import finders
from django.core.management import call_command
from django.templatetags.static import static
from django.urls import resolve, reverse

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
        3,  # the two queued items and the unqueued one "next" would queue
        1,
    )
    assert b"Not mine" not in response.content
    assert f'href="/projects/{project.pk}/label/"'.encode() in response.content


def page_config(response) -> dict:
    html = response.content.decode()
    script = html.split('<script id="label-config" type="application/json">', 1)[1].split("</script>", 1)[0]
    return json.loads(script)


def test_labeling_page_carries_classes_keys_and_urls(client):
    project = factories.make_project(classes=("cat", "dog"), multi_label=True)
    user = factories.make_member(project)
    client.force_login(user)
    response = client.get(f"/projects/{project.pk}/label/")
    assert response.status_code == 200
    html = response.content.decode()
    config = page_config(response)
    assert config["multiLabel"] is True
    assert [(c["name"], c["key"]) for c in config["classes"]] == [("cat", "1"), ("dog", "2")]
    assert config["urls"]["socket"] == f"/ws/projects/{project.pk}/queue/"
    assert config["urls"]["panel"] == f"/guidelines/projects/{project.pk}/panel/"
    assert 'id="guideline-ack"' in html and 'id="guideline-ack-confirm"' in html
    assert "csrftoken" in response.cookies


def test_labeling_page_config_urls_are_the_routed_ones(client):
    project = factories.make_project()
    client.force_login(factories.make_member(project))
    urls = page_config(client.get(f"/projects/{project.pk}/label/"))["urls"]
    assert urls["next"] == reverse("queue-next", args=[project.pk])
    assert urls["status"] == reverse("queue-status", args=[project.pk])
    assert urls["undo"] == reverse("queue-undo", args=[project.pk])
    assert urls["releaseMany"] == reverse("queue-release", args=[project.pk])
    # Per-lease and per-version URLs are templates; filling the placeholder gives the routed URL.
    for key, name in [
        ("submit", "lease-submit"),
        ("skip", "lease-skip"),
        ("flag", "lease-flag"),
        ("renew", "lease-renew"),
    ]:
        assert urls[key].replace("{lease}", "42") == reverse(name, args=[42])
    assert urls["acknowledge"].replace("{version}", "7") == reverse("api-guideline-acknowledge", args=[7])
    resolve(urls["submit"].replace("{lease}", "42"))  # a real route, not a guess


def test_labeling_page_loads_its_script_as_a_static_module_and_inlines_only_the_config(client):
    project = factories.make_project()
    client.force_login(factories.make_member(project))
    html = client.get(f"/projects/{project.pk}/label/").content.decode()
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", html, flags=re.S)
    inline = [attrs for attrs, body in scripts if body.strip()]
    assert inline == [' id="label-config" type="application/json"']
    assert f'<script type="module" src="{static("labeling/label.js")}"></script>' in html
    assert not re.search(r'(src|href)="(https?:)?//', html)  # nothing from a CDN


def test_labeling_scripts_are_found_by_staticfiles_and_build_no_api_paths():
    names = [
        "api.js",
        "fields.js",
        "guidelines.js",
        "keys.js",
        "label.js",
        "picker.js",
        "queue.js",
        "socket.js",
        "ui.js",
        "view.js",
    ]
    for name in names:
        path = finders.find(f"labeling/{name}")
        assert path is not None, name
        source = Path(path).read_text()
        assert "/api/" not in source and "/ws/" not in source and "/guidelines/" not in source, name
        assert "https://" not in source and "http://" not in source, name
        # Every module they import is one of them (relative), never a CDN or a bare package.
        for imported in re.findall(r'from "([^"]+)"', source):
            assert imported.startswith("./") and imported[2:] in names, (name, imported)


def test_collectstatic_finds_the_labeling_scripts(tmp_path, settings):
    settings.STATIC_ROOT = tmp_path
    out = io.StringIO()
    call_command("collectstatic", "--noinput", "--dry-run", verbosity=2, stdout=out)
    assert "labeling/label.js" in out.getvalue()


def test_labeling_page_tells_outsiders_they_are_not_members(client, project, outsider):
    client.force_login(outsider)
    response = client.get(f"/projects/{project.pk}/label/")
    assert response.status_code == 403
    assert "You are not a member of this project" in response.content.decode()
    assert client.get(f"/projects/{project.pk + 999}/label/").status_code == 404


def test_favicon_is_served_from_the_static_files(client):
    response = client.get("/favicon.ico")
    assert response.status_code == 301 and response["Location"].endswith("/labelhub/favicon.svg")
    assert finders.find("labelhub/favicon.svg") is not None


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


def test_a_config_with_several_fields_lays_them_out_in_order_with_the_labelled_one_marked(client):
    from labelhub.projects.services import create_project_from_label_config

    config = (
        '<View><Header value="$title"/><Header value="Read &lt;both&gt;"/>'
        '<Text name="summary" value="$summary"/><Text name="story" value="$body"/>'
        '<Choices name="topic" toName="story"><Choice value="sport"/><Choice value="politics"/></Choices></View>'
    )
    project = create_project_from_label_config("News", config)
    client.force_login(factories.make_member(project))
    html = client.get(f"/projects/{project.pk}/label/").content.decode()
    layout = html[html.index('id="item-fields"') : html.index('id="suggestion"')]
    order = [
        layout.index('<h2 class="item-header" data-payload-key="title">'),
        layout.index('<h2 class="item-header">Read &lt;both&gt;</h2>'),  # staff's text, escaped too
        layout.index('data-payload-key="summary"'),
        layout.index('aria-label="story (labelled)"'),
    ]
    assert order == sorted(order)
    assert layout.count('id="item-text"') == 1 and layout.count('class="labelled-mark"') == 1


def test_a_config_with_one_field_keeps_the_plain_item_view(client):
    from labelhub.projects.services import create_project_from_label_config

    config = '<View><Text name="t" value="$review"/><Choices name="c" toName="t"><Choice value="a"/></Choices></View>'
    project = create_project_from_label_config("Reviews", config)
    client.force_login(factories.make_member(project))
    html = client.get(f"/projects/{project.pk}/label/").content.decode()
    assert 'id="item-text"' in html and 'id="item-fields"' not in html
