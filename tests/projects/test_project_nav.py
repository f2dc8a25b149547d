"""The project sub-navigation shows each role the pages it may open (``project_nav``)."""

from __future__ import annotations

import pytest

from labelhub.projects.templatetags.project_nav import nav_links
from tests import factories

pytestmark = pytest.mark.django_db


def page_ids(user, project) -> list[str]:
    return [link["id"] for link in nav_links(user, project)]


def test_a_manager_sees_every_project_page_but_the_console():
    project = factories.make_project()
    ids = page_ids(factories.make_member(project, "manager"), project)
    assert ids == [
        "label", "guidelines", "questions", "qa", "adjudication", "snapshots", "active", "data-quality",
        "production",
    ]  # fmt: skip


def test_a_reviewer_sees_qa_adjudication_and_production_but_not_data_quality():
    project = factories.make_project()
    ids = page_ids(factories.make_member(project, "reviewer"), project)
    assert ids == ["label", "guidelines", "qa", "adjudication", "production"]


def test_an_annotator_sees_only_labelling_and_guidelines():
    project = factories.make_project()
    assert page_ids(factories.make_member(project, "annotator"), project) == ["label", "guidelines"]


def test_an_outsider_sees_nothing():
    project = factories.make_project()
    assert page_ids(factories.make_user("outsider"), project) == []
