"""The one resolved-label selector: consensus first, else the latest annotation, schema classes only."""

from __future__ import annotations

from collections import Counter

from django.utils import timezone

from annotators.qa.models import ConsensusLabel
from annotators.qa.resolved import iter_resolved_chunks, resolved_label_counts, resolved_labels
from labelhub.projects.models import Annotation, LabelClass
from tests import factories


def _label(item, annotator, labels, **fields):
    return Annotation.objects.create(item=item, annotator=annotator, labels=labels, **fields)


def test_consensus_wins_over_annotations_and_the_latest_annotation_over_older_ones(db):
    project = factories.make_project()
    first, second = factories.make_member(project), factories.make_member(project)
    voted, single, relabelled, untouched = factories.make_items(project, 4)
    _label(voted, first, ["cat"])
    _label(voted, second, ["dog"])
    ConsensusLabel.objects.create(item=voted, labels=["dog"], method=ConsensusLabel.Method.MAJORITY)
    _label(single, first, ["wolf"])
    _label(relabelled, first, ["cat"])
    _label(relabelled, second, ["wolf"])
    assert dict(resolved_labels(project)) == {voted.pk: ["dog"], single.pk: ["wolf"], relabelled.pk: ["wolf"]}
    assert untouched.pk not in dict(resolved_labels(project))


def test_retracted_annotations_do_not_count(db):
    project = factories.make_project()
    annotator = factories.make_member(project)
    (item,) = factories.make_items(project, 1)
    _label(item, annotator, ["cat"], retracted_at=timezone.now())
    assert list(resolved_labels(project)) == []


def test_classes_that_left_the_schema_are_dropped(db):
    project = factories.make_project(classes=("cat", "dog", "wolf"), multi_label=True)
    annotator = factories.make_member(project)
    both, gone = factories.make_items(project, 2)
    _label(both, annotator, ["cat", "wolf"])
    _label(gone, annotator, ["wolf"])
    LabelClass.objects.filter(project=project, name="wolf").delete()
    assert dict(resolved_labels(project)) == {both.pk: ["cat"]}
    rows = [row for chunk in iter_resolved_chunks(project) for row in chunk]
    assert [(row[0], row[3], row[8]) for row in rows] == [(both.pk, ["cat"], '["cat"]')]


def test_counts_are_one_per_item_by_resolved_label(db):
    project = factories.make_project()
    first, second, third = (factories.make_member(project) for _ in range(3))
    agreed, single = factories.make_items(project, 2)
    for annotator in (first, second, third):
        _label(agreed, annotator, ["cat"])
    ConsensusLabel.objects.create(
        item=agreed, labels=["cat"], method=ConsensusLabel.Method.MAJORITY, annotator_count=3
    )
    _label(single, first, ["dog"])
    assert resolved_label_counts(project) == Counter({"cat": 1, "dog": 1})
