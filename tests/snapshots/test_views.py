"""Snapshot pages: cutting from the page, statistics with plots, lineage, diff, access."""

from __future__ import annotations

import pytest

from labelhub.snapshots import services
from labelhub.snapshots.models import Snapshot
from tests import factories
from tests.snapshots.conftest import label

pytestmark = pytest.mark.django_db


@pytest.fixture
def snapshot(project, labelled):
    return services.cut_snapshot(project, name="baseline")[0]


def test_manager_cuts_from_the_project_page(client, project, labelled, manager):
    client.force_login(manager)
    response = client.post(
        f"/snapshots/projects/{project.pk}/",
        {"name": "from page", "train": "0.7", "val": "0.15", "test": "0.15"},
    )
    snapshot = Snapshot.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/snapshots/{snapshot.content_hash}/"
    assert snapshot.name == "from page" and snapshot.split_ratios["train"] == 0.7


def test_bad_ratio_on_the_page_is_shown_as_a_message(client, project, labelled, manager):
    client.force_login(manager)
    response = client.post(
        f"/snapshots/projects/{project.pk}/", {"train": "lots", "val": "0.1", "test": "0.1"}, follow=True
    )
    assert not Snapshot.objects.exists()
    assert "the train ratio &#x27;lots&#x27; is not a number" in response.content.decode()


def test_reviewer_sees_history_but_no_cut_form(client, project, snapshot, reviewer):
    client.force_login(reviewer)
    page = client.get(f"/snapshots/projects/{project.pk}/").content.decode()
    assert snapshot.short_id in page and 'id="cut-form"' not in page
    assert client.post(f"/snapshots/projects/{project.pk}/", {"name": "x"}).status_code == 404


def test_annotator_gets_404_on_the_snapshot_pages(client, project, snapshot, annotator):
    client.force_login(annotator)
    assert client.get(f"/snapshots/projects/{project.pk}/").status_code == 404
    assert client.get(f"/snapshots/{snapshot.content_hash}/").status_code == 404


def test_snapshot_page_shows_statistics_plots_and_model_runs(client, project, snapshot, manager):
    project.balance_target = {"uniform": True}
    project.save()
    services.register_model_run(snapshot, name="bert-small", metrics={"f1": 0.8}, user=manager)
    client.force_login(manager)
    page = client.get(f"/snapshots/{snapshot.content_hash}/").content.decode()
    assert page.count("<svg") == 3
    assert "target 33.3%" in page  # the balance target drawn on the class chart
    assert "bert-small" in page and "f1=0.8" in page
    assert "majority" in page and "single" in page
    assert f"/api/snapshots/{snapshot.content_hash}/export/parquet/" in page


def test_snapshot_page_filters_rows_by_split(client, snapshot, manager):
    client.force_login(manager)
    page = client.get(f"/snapshots/{snapshot.content_hash}/", {"split": "train"}).content.decode()
    assert "<td>val</td>" not in page and "<td>test</td>" not in page


def test_snapshot_page_lists_its_guideline_versions_and_shows_item_text(client, snapshot, manager):
    client.force_login(manager)
    page = client.get(f"/snapshots/{snapshot.content_hash}/").content.decode()
    versions = page.split('<ul class="guideline-versions">', 1)[1].split("</ul>", 1)[0]
    assert versions.count("<li>") == 1 and "<b>v1</b>" in versions
    assert "#" not in versions
    assert '<td class="item-text">item number 0</td>' in page


def test_snapshot_rows_show_only_the_start_of_a_long_text(client, project, manager, annotator):
    from labelhub.projects.models import Item
    from labelhub.snapshots.selectors import ROW_TEXT_CHARS

    item = Item.objects.create(
        project=project, external_id="long", payload={"text": "word " * 400}, content_hash="9" * 64
    )
    label(item, ["cat"], annotator)
    snapshot, _ = services.cut_snapshot(project)
    client.force_login(manager)
    page = client.get(f"/snapshots/{snapshot.content_hash}/").content.decode()
    cell = page.split('<td class="item-text">', 1)[1].split("</td>", 1)[0]
    assert cell.endswith("…") and len(cell) == ROW_TEXT_CHARS


def test_diff_page_lists_changes(client, project, labelled, snapshot, annotator, manager):
    label(labelled[0], ["wolf"], annotator)
    after, _ = services.cut_snapshot(project, name="after")
    client.force_login(manager)
    response = client.get(f"/snapshots/compare/?before={snapshot.content_hash}&after={after.content_hash}")
    page = client.get(response["Location"]).content.decode()
    assert 'id="count-relabelled">1<' in page
    assert "item-0" in page


def test_snapshot_and_diff_pages_carry_the_project_navigation(client, project, labelled, snapshot, manager):
    after, _ = services.cut_snapshot(project, name="after")
    client.force_login(manager)
    compare = client.get(f"/snapshots/compare/?before={snapshot.content_hash}&after={after.content_hash}")
    for url in (f"/snapshots/{snapshot.content_hash}/", compare["Location"]):
        page = client.get(url).content.decode()
        assert 'class="project-nav"' in page and 'aria-current="page">Snapshots<' in page


def test_class_names_are_escaped_in_plots(client, manager, annotator):
    project = factories.make_project(classes=("<script>x</script>", "ok"))
    factories.make_member(project, "manager", user=manager)
    label(factories.make_items(project, 1)[0], ["<script>x</script>"], annotator)
    snapshot, _ = services.cut_snapshot(project)
    client.force_login(manager)
    page = client.get(f"/snapshots/{snapshot.content_hash}/").content.decode()
    assert "<script>x</script>" not in page


def test_outsider_gets_404_on_pages(client, project, snapshot, outsider):
    client.force_login(outsider)
    assert client.get(f"/snapshots/{snapshot.content_hash}/").status_code == 404
    assert client.get(f"/snapshots/projects/{project.pk}/").status_code == 404


def test_pages_need_a_login(client, snapshot):
    assert client.get(f"/snapshots/{snapshot.content_hash}/").status_code == 302
