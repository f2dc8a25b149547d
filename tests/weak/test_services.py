"""Labeling functions' versioning and the apply job: incremental, compact, one LF re-applied."""

from __future__ import annotations

import numpy as np
import pytest

from labelhub.weak import services
from labelhub.weak.apply import apply_functions
from labelhub.weak.errors import InvalidLabelingFunction
from labelhub.weak.matrix import load_matrix, unpack
from labelhub.weak.models import FunctionVotes, LabelingFunctionVersion, WeakLabel
from tests.weak.builders import animal_project, text_items

pytestmark = pytest.mark.django_db


def test_a_new_definition_bumps_the_version_and_keeps_the_history():
    project = animal_project()
    function = services.create_function(
        project, name="dogs", kind="keyword", label="animal", config={"keywords": ["dog"]}
    )
    assert function.version == 1
    function = services.update_function(function, config={"keywords": ["dog", "cat"]})
    assert function.version == 2
    function = services.update_function(function, name="pets", is_active=False)
    assert function.version == 2  # renaming and pausing keep the definition
    history = list(LabelingFunctionVersion.objects.filter(function=function).order_by("version"))
    assert [(v.version, v.config["keywords"]) for v in history] == [(1, ["dog"]), (2, ["dog", "cat"])]


def test_an_invalid_update_changes_nothing():
    project = animal_project()
    function = services.create_function(
        project, name="dogs", kind="keyword", label="animal", config={"keywords": ["dog"]}
    )
    with pytest.raises(InvalidLabelingFunction):
        services.update_function(function, name="renamed", config={"keywords": []})
    function.refresh_from_db()
    assert (function.name, function.version) == ("dogs", 1)


def test_names_are_unique_per_project():
    project = animal_project()
    services.create_function(
        project, name="dogs", kind="keyword", label="animal", config={"keywords": ["dog"]}
    )
    with pytest.raises(InvalidLabelingFunction) as caught:
        services.create_function(
            project, name="dogs", kind="keyword", label="plant", config={"keywords": ["oak"]}
        )
    assert caught.value.field == "name"


def test_similar_examples_must_be_items_of_the_project():
    project = animal_project()
    (item,) = text_items(project, ["a dog"])
    with pytest.raises(InvalidLabelingFunction) as caught:
        services.create_function(
            project,
            name="like",
            kind="similar",
            label="animal",
            config={"examples": [item.pk, item.pk + 999]},
        )
    assert caught.value.field == "config.examples[1]"


def _functions(project):
    dogs = services.create_function(
        project, name="dogs", kind="keyword", label="animal", config={"keywords": ["dog"]}
    )
    trees = services.create_function(
        project, name="trees", kind="regex", label="plant", config={"pattern": r"\btrees?\b"}
    )
    return dogs, trees


def test_apply_stores_one_compact_row_per_function_with_only_the_votes():
    project = animal_project()
    items = text_items(project, ["a dog", "a tree", "a dog under a tree", "a hammer"])
    dogs, trees = _functions(project)
    seen = []
    apply_functions(project, batch_size=2, progress=lambda done, total: seen.append((done, total)))
    assert FunctionVotes.objects.count() == 2
    ids, codes = unpack(FunctionVotes.objects.get(function=dogs))
    assert ids.tolist() == [items[0].pk, items[2].pk] and codes.tolist() == [0, 0]
    assert seen == [(2, 4), (4, 4)]
    matrix = load_matrix(project)
    dense = matrix.dense()
    assert dense.tolist() == [[0, -1], [-1, 1], [0, 1], [-1, -1]]


def test_new_items_are_evaluated_incrementally():
    project = animal_project()
    text_items(project, ["a dog", "a tree"])
    _functions(project)
    apply_functions(project)
    text_items(project, ["another dog", "nothing"])
    summary = apply_functions(project)
    assert {name: f["evaluated"] for name, f in summary["functions"].items()} == {"dogs": 2, "trees": 2}
    assert summary["functions"]["dogs"]["incremental"] is True
    assert load_matrix(project).dense()[:, 0].tolist() == [0, -1, 0, -1]
    again = apply_functions(project)
    assert again["items_evaluated"] == 0
    assert all(f["up_to_date"] for f in again["functions"].values())


def test_a_version_bump_re_applies_only_that_function():
    project = animal_project()
    text_items(project, ["a dog", "a cat", "a tree"])
    dogs, trees = _functions(project)
    apply_functions(project)
    services.update_function(dogs, config={"keywords": ["dog", "cat"]})
    summary = apply_functions(project)
    assert (
        summary["functions"]["dogs"]["evaluated"] == 3
        and summary["functions"]["dogs"]["incremental"] is False
    )
    assert summary["functions"]["trees"] == {"version": 1, "up_to_date": True}
    assert load_matrix(project).dense()[:, 0].tolist() == [0, 0, -1]


def test_a_stale_column_is_left_out_until_applied():
    project = animal_project()
    text_items(project, ["a dog"])
    dogs, _ = _functions(project)
    apply_functions(project)
    services.update_function(dogs, config={"keywords": ["cat"]})
    assert load_matrix(project).function_names == ["trees"]


def test_pool_kinds_without_an_evaluator_are_skipped_and_with_one_use_it():
    project = animal_project()
    items = text_items(project, ["a", "b", "c"])
    services.create_function(project, name="head", kind="model", config={"min_confidence": 0.5})
    assert apply_functions(project)["skipped"] == ["head"]
    summary = apply_functions(
        project, pool_evaluators={"model": lambda f, ids: np.where(ids == items[1].pk, 2, -1)}
    )
    assert summary["functions"]["head"]["votes"] == 1
    assert load_matrix(project).dense()[:, 0].tolist() == [-1, 2, -1]


def test_a_run_writes_marked_weak_labels_with_versions_and_progress():
    project = animal_project()
    text_items(project, ["a dog", "a tree", "a dog under a tree", "a hammer"])
    _functions(project)
    run = services.execute_run(services.start_run(project), method="majority")
    assert run.status == "done" and run.items_done == run.items_total == 4
    assert run.function_versions == {"dogs": 1, "trees": 1}
    labels = {w.item.payload["text"]: w for w in WeakLabel.objects.select_related("item")}
    assert set(labels) == {"a dog", "a tree", "a dog under a tree"}  # no vote, no weak label
    assert labels["a dog"].labels == ["animal"] and labels["a dog"].confidence == 1.0
    assert labels["a dog under a tree"].conflict and labels["a dog under a tree"].confidence == 0.5
    assert run.summary["conflicts"] == 1 and run.summary["coverage"] == 0.75


def test_items_with_a_human_or_gold_label_get_no_weak_label():
    from annotators.qa.gold import mark_gold
    from labelhub.projects.models import Annotation
    from tests import factories

    project = animal_project()
    items = text_items(project, ["a dog", "the dog", "big dog"])
    Annotation.objects.create(item=items[0], annotator=factories.make_member(project), labels=["animal"])
    mark_gold(project, [(items[1].pk, ["animal"])])
    _functions(project)
    services.execute_run(services.start_run(project))
    assert list(WeakLabel.objects.values_list("item_id", flat=True)) == [items[2].pk]
