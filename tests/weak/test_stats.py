"""Labeling-function statistics on gold and human-labelled items, and the live preview."""

from __future__ import annotations

import pytest

from annotators.qa.gold import mark_gold
from labelhub.projects.models import Annotation
from labelhub.weak import selectors, services
from labelhub.weak.apply import apply_functions
from labelhub.weak.errors import InvalidLabelingFunction
from tests import factories
from tests.weak.builders import animal_project, text_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled():
    project = animal_project()
    items = text_items(project, ["a dog", "a dog tree", "a tree", "the dog", "an oak tree", "saw"])
    user = factories.make_member(project)
    for item, label in [(items[0], "animal"), (items[1], "plant"), (items[2], "plant")]:
        Annotation.objects.create(item=item, annotator=user, labels=[label])
    mark_gold(project, [(items[3].pk, ["tool"])])  # gold wins: this "dog" item is a tool
    return project, items


def test_statistics_count_coverage_overlap_conflicts_and_accuracy(labelled):
    project, items = labelled
    services.create_function(
        project, name="dogs", kind="keyword", label="animal", config={"keywords": ["dog"]}
    )
    services.create_function(
        project, name="trees", kind="keyword", label="plant", config={"keywords": ["tree"]}
    )
    apply_functions(project)
    stats = {s["name"]: s for s in selectors.project_stats(project)["functions"]}
    dogs = stats["dogs"]
    assert dogs["votes"] == 3 and dogs["coverage"] == 0.5
    assert dogs["overlap"] == dogs["conflicts"] == round(1 / 6, 4)
    assert dogs["judged"] == 3 and dogs["accuracy"] == round(1 / 3, 4)
    low, high = dogs["accuracy_interval"]
    assert 0 < low < 1 / 3 < high < 1
    assert [(w["item"], w["answer"]) for w in dogs["wrong"]] == [
        (items[1].pk, "plant"),
        (items[3].pk, "tool"),
    ]
    assert stats["trees"]["accuracy"] == 1.0 and stats["trees"]["judged"] == 2


def test_preview_evaluates_an_unsaved_definition_against_the_stored_votes(labelled):
    project, items = labelled
    services.create_function(
        project, name="trees", kind="keyword", label="plant", config={"keywords": ["tree"]}
    )
    apply_functions(project)
    preview = selectors.preview_function(
        project, kind="keyword", label="animal", config={"keywords": ["dog"]}
    )
    assert preview["sample"] == {"items": 6, "judged": 4}
    assert preview["function"]["votes"] == 3 and preview["function"]["conflicts"] == round(1 / 6, 4)
    assert preview["function"]["accuracy"] == round(1 / 3, 4)
    assert preview["seconds"] < 1
    # What the editor shows of each wrong vote: the item's text beside its id.
    assert [(w["item"], w["text"]) for w in preview["function"]["wrong"]] == [
        (items[1].pk, "a dog tree"),
        (items[3].pk, "the dog"),
    ]


def test_preview_of_an_invalid_definition_names_the_field(labelled):
    project, _ = labelled
    with pytest.raises(InvalidLabelingFunction) as caught:
        selectors.preview_function(project, kind="regex", label="animal", config={"pattern": "("})
    assert caught.value.field == "config.pattern"
