"""Gold answers: marking them, mixing them into queues, and scoring annotators on submit."""

from __future__ import annotations

import pytest
from django.utils import timezone
from statsmodels.stats.proportion import proportion_confint

from annotators.qa import gold
from annotators.qa.errors import ItemNotInProject, QAError
from annotators.qa.models import AnnotatorStats, GoldItem
from labelhub.projects.labels import InvalidLabels
from labelhub.projects.signals import annotation_submitted
from tests import factories
from tests.annotators.qa.builders import (
    label,
)


def submit(item, annotator, labels, **fields):
    """What the queue's submit does for QA: store the label, then send the signal."""
    annotation = label(item, annotator, labels, **fields)
    annotation_submitted.send(sender=None, annotation=annotation, project=item.project)
    return annotation


@pytest.mark.parametrize(("correct", "seen"), [(0, 1), (3, 4), (17, 20), (50, 50), (412, 1000)])
def test_wilson_interval_equals_statsmodels(correct, seen):
    low, high = gold.wilson_interval(correct, seen)
    ref_low, ref_high = proportion_confint(correct, seen, alpha=0.05, method="wilson")
    assert (low, high) == (pytest.approx(ref_low, abs=1e-6), pytest.approx(ref_high, abs=1e-6))


def test_wilson_interval_is_none_without_checks():
    assert gold.wilson_interval(0, 0) is None


def test_mark_gold_replaces_an_existing_answer(project, manager):
    (item,) = factories.make_items(project, 1)
    gold.mark_gold(project, [(item.pk, ["dog"])], user=manager)
    gold.mark_gold(project, [(item.pk, ["wolf"])], user=manager)
    assert GoldItem.objects.get(item=item).labels == ["wolf"]


def test_mark_gold_names_an_unknown_class(project):
    (item,) = factories.make_items(project, 1)
    with pytest.raises(InvalidLabels, match="Label 'tiger' is not in the schema") as raised:
        gold.mark_gold(project, [(item.pk, ["tiger"])])
    assert (raised.value.code, raised.value.field) == ("unknown_label", "items[0].labels")


def test_mark_gold_rejects_items_of_another_project_and_writes_nothing(project):
    other = factories.make_project()
    (mine,) = factories.make_items(project, 1)
    (theirs,) = factories.make_items(other, 1, prefix="other")
    with pytest.raises(ItemNotInProject, match=f"item {theirs.pk} is not in project") as raised:
        gold.mark_gold(project, [(mine.pk, ["cat"]), (theirs.pk, ["cat"])])
    assert raised.value.field == "items[1].item_id"
    assert not GoldItem.objects.exists()


def test_single_label_project_refuses_two_gold_classes(project):
    (item,) = factories.make_items(project, 1)
    with pytest.raises(InvalidLabels, match="single-label") as raised:
        gold.mark_gold(project, [(item.pk, ["cat", "dog"])])
    assert raised.value.code == "wrong_label_count"


def test_multi_label_gold_is_stored_in_schema_order_not_alphabetically(db):
    project = factories.make_project(classes=("wolf", "dog", "cat"), multi_label=True)
    (item,) = factories.make_items(project, 1)
    gold.mark_gold(project, [(item.pk, ["cat", "wolf"])])
    assert GoldItem.objects.get(item=item).labels == ["wolf", "cat"]


def test_gold_naming_a_class_twice_is_refused_not_merged(db):
    project = factories.make_project(classes=("cat", "dog", "wolf"), multi_label=True)
    (item,) = factories.make_items(project, 1)
    with pytest.raises(InvalidLabels) as raised:
        gold.mark_gold(project, [(item.pk, ["dog", "dog"])])
    assert raised.value.code == "duplicate_label"
    assert not GoldItem.objects.exists()


def test_an_item_given_twice_in_one_upload_is_refused(project):
    (item,) = factories.make_items(project, 1)
    with pytest.raises(QAError, match="given twice") as raised:
        gold.mark_gold(project, [(item.pk, ["cat"]), (item.pk, ["dog"])])
    assert (raised.value.code, raised.value.field) == ("duplicate_item", "items[1].item_id")


def test_mark_gold_reads_the_schema_once_per_upload(project, django_assert_max_num_queries):
    items = factories.make_items(project, 20)
    # items check, schema, and the upsert (SQLite may split it into a savepoint pair around it)
    with django_assert_max_num_queries(5):
        gold.mark_gold(project, [(i.pk, ["cat"]) for i in items])


def test_submit_on_a_gold_item_updates_gold_accuracy(project, annotator):
    items = factories.make_items(project, 3)
    gold.mark_gold(project, [(items[0].pk, ["cat"]), (items[1].pk, ["dog"])])
    submit(items[0], annotator, ["cat"], time_spent=4)
    submit(items[1], annotator, ["wolf"], time_spent=6)
    submit(items[2], annotator, ["wolf"], time_spent=2)
    stats = AnnotatorStats.objects.get(project=project, annotator=annotator)
    assert (stats.gold_seen, stats.gold_correct, stats.annotations) == (2, 1, 3)
    assert stats.seconds_spent == pytest.approx(12)
    assert stats.gold_accuracy == 0.5


def test_rebuild_stats_forgets_retracted_gold_answers(project, annotator):
    (item,) = factories.make_items(project, 1)
    gold.mark_gold(project, [(item.pk, ["cat"])])
    annotation = submit(item, annotator, ["dog"])
    annotation.retracted_at = timezone.now()
    annotation.save()
    (stats,) = gold.rebuild_stats(project)
    assert (stats.gold_seen, stats.gold_correct, stats.annotations) == (0, 0, 0)


def test_multi_label_gold_must_match_the_whole_set(db):
    project = factories.make_project(classes=("red", "green"), multi_label=True)
    (item,) = factories.make_items(project, 1)
    annotator = factories.make_member(project)
    gold.mark_gold(project, [(item.pk, ["red", "green"])])
    submit(item, annotator, ["green", "red"])
    assert AnnotatorStats.objects.get(annotator=annotator).gold_correct == 1
    assert not gold.is_correct(["red"], ["red", "green"])
