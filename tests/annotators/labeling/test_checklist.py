"""The first-run checklist ticks from the project's state (``annotators.labeling.checklist``)."""

from __future__ import annotations

import pytest

from annotators.labeling.checklist import project_checklist
from annotators.qa.models import GoldItem
from tests import factories

pytestmark = pytest.mark.django_db


def done(project) -> dict[str, bool]:
    return {step.key: step.done for step in project_checklist(project)}


def test_a_manager_alone_is_not_a_team():
    project = factories.make_project()
    factories.make_member(project, "manager")
    assert done(project)["members"] is False
    factories.make_member(project, "reviewer")
    assert done(project)["members"] is True


def test_qa_needs_a_balance_target_and_gold_items_when_gold_is_mixed_in():
    project = factories.make_project(gold_rate=0.1, balance_target={"uniform": True})
    (qa,) = [s for s in project_checklist(project) if s.key == "qa"]
    assert (qa.done, qa.detail) == (False, "gold rate 10% but no gold items")
    item = factories.make_items(project, 1)[0]
    GoldItem.objects.create(item=item, labels=["cat"])
    (qa,) = [s for s in project_checklist(project) if s.key == "qa"]
    assert (qa.done, qa.detail) == (True, "balance target set; 1 gold item")
    project.balance_target = {}
    assert done(project)["qa"] is False


def test_imported_labels_do_not_count_as_labelling_started():
    from labelhub.projects.models import Annotation

    project = factories.make_project()
    item = factories.make_items(project, 1)[0]
    Annotation.objects.create(item=item, labels=["cat"], source=Annotation.Source.IMPORT)
    assert done(project) == {**done(project), "items": True, "labelling": False}
