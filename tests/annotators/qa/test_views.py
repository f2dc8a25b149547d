"""QA pages: the dashboard draws its plots server-side and only managers see it."""

from __future__ import annotations

import pytest

from annotators.qa import gold, policies
from annotators.qa.models import AnnotatorFlag, ConsensusLabel
from tests import factories
from tests.annotators.qa.builders import (
    label,
)


@pytest.fixture
def busy_project(project, manager):
    project.qa_min_count = 2
    project.save()
    items = factories.make_items(project, 8)
    people = [factories.make_member(project) for _ in range(3)]
    for i, item in enumerate(items):
        for j, who in enumerate(people):
            label(item, who, ["wolf" if j == 2 else ("cat" if i % 2 else "dog")], time_spent=3 + i)
    gold.mark_gold(project, [(items[0].pk, ["dog"]), (items[1].pk, ["cat"])])
    policies.evaluate_project(project)
    return project, people


def test_dashboard_renders_every_plot_as_inline_svg(client, manager, busy_project):
    project, _ = busy_project
    client.force_login(manager)
    response = client.get(f"/qa/projects/{project.pk}/")
    assert response.status_code == 200
    html = response.content.decode()
    assert html.count("<svg") >= 18  # nine plots, each at a wide and a narrow width
    for heading in ("Annotator vs annotator", "Annotator vs gold", "Model vs consensus", "Gold accuracy"):
        assert heading in html


def test_dashboard_shows_why_an_annotator_is_flagged(client, manager, busy_project):
    project, people = busy_project
    client.force_login(manager)
    flag = AnnotatorFlag.objects.get(annotator=people[2], kind="gold_accuracy")
    html = client.get(f"/qa/projects/{project.pk}/").content.decode()
    assert "Flagged annotators" in html and flag.reason.split(" (")[0] in html


def test_dashboard_of_an_empty_project_still_renders(client, project, manager):
    client.force_login(manager)
    html = client.get(f"/qa/projects/{project.pk}/").content.decode()
    assert "No item has two labels yet" in html and "No labels yet" in html


def test_annotators_are_refused_and_outsiders_are_told_they_are_not_members(
    client, project, annotator, outsider
):
    client.force_login(annotator)
    assert client.get(f"/qa/projects/{project.pk}/").status_code == 403
    client.force_login(outsider)
    response = client.get(f"/qa/projects/{project.pk}/")
    assert response.status_code == 403 and "not a member of this project" in response.content.decode()


def test_recompute_button_writes_consensus(client, manager, busy_project):
    project, _ = busy_project
    client.force_login(manager)
    response = client.post(f"/qa/projects/{project.pk}/consensus/", follow=True)
    assert "Consensus (majority) written for 8 items" in response.content.decode()
    assert ConsensusLabel.objects.filter(item__project=project).count() == 8


def test_resolve_flag_button_unpauses(client, manager, busy_project):
    project, people = busy_project
    client.force_login(manager)
    flag = AnnotatorFlag.objects.filter(annotator=people[2]).first()
    response = client.post(f"/qa/projects/{project.pk}/flags/{flag.pk}/resolve/", {"unpause": "1"})
    assert response.status_code == 302
    flag.refresh_from_db()
    assert flag.resolved_by == manager


def test_annotator_pairs_are_named_by_username(client, manager, busy_project):
    project, people = busy_project
    client.force_login(manager)
    html = client.get(f"/qa/projects/{project.pk}/").content.decode()
    pairs = html[html.index("Annotator pairs") :]
    assert f"{people[0].username} · {people[1].username}" in pairs


def test_without_overlap_the_page_says_so_and_still_counts_labels(client, project, manager):
    items = factories.make_items(project, 2)
    who = factories.make_member(project)
    for item in items:
        label(item, who, ["cat"])
    client.force_login(manager)
    html = client.get(f"/qa/projects/{project.pk}/").content.decode()
    assert "No item has two labels yet, so there is no agreement to show" in html
    assert "cat · labels so far: 2" in html
