"""Reads of the QA dashboard: speed aggregated in the database, the comparison tables, and the
label figures cached on a fingerprint that moves with every label."""

from __future__ import annotations

import pytest

from annotators.qa import gold, selectors
from annotators.qa.models import ConsensusLabel
from labelhub.projects.models import Annotation
from tests import factories
from tests.annotators.qa.builders import label


def test_speed_is_the_median_and_mean_of_counted_times(project):
    items = factories.make_items(project, 5)
    who = factories.make_member(project)
    for item, seconds in zip(items, [2.0, 4.0, 9.0, float("inf"), -3.0], strict=True):
        label(item, who, ["cat"], time_spent=seconds)
    count, median, mean = selectors.annotator_speed(project)[who.pk]
    # inf and a negative time count as 0 (annotators.qa.timing): [0, 0, 2, 4, 9]
    assert count == 5 and median == pytest.approx(2.0) and mean == pytest.approx(3.0)


def test_retracted_labels_do_not_count_towards_speed(project):
    from django.utils import timezone

    item = factories.make_items(project, 1)[0]
    who = factories.make_member(project)
    label(item, who, ["cat"], time_spent=5, retracted_at=timezone.now())
    assert who.pk not in selectors.annotator_speed(project)


def test_gold_confusion_rows_are_the_gold_answer(project):
    items = factories.make_items(project, 2)
    people = [factories.make_member(project) for _ in range(3)]
    for who, answer in zip(people, ["cat", "cat", "dog"], strict=True):
        label(items[0], who, [answer])
    label(items[1], people[0], ["wolf"])  # not gold: not in the table
    gold.mark_gold(project, [(items[0].pk, ["cat"])])
    table = selectors.gold_confusion(project, ["cat", "dog", "wolf"])
    assert table["classes"] == ["cat", "dog"]
    assert table["counts"] == [[2, 1], [0, 0]]
    assert table["row_share"][0] == pytest.approx([2 / 3, 1 / 3], abs=1e-4)


def test_consensus_summary_counts_methods_and_compares_the_model(project):
    items = factories.make_items(project, 3)
    for item, consensus, suggested in zip(items, ["cat", "cat", "dog"], ["cat", "dog", None], strict=True):
        ConsensusLabel.objects.create(item=item, labels=[consensus], method="majority", annotator_count=2)
        if suggested:
            item.suggestion = {"labels": [suggested], "confidence": 0.8, "model_version": 1}
            item.save()
    by_method, table = selectors.consensus_summary(project, ["cat", "dog", "wolf"])
    assert by_method == {"majority": 3}
    assert table["classes"] == ["cat", "dog"] and table["counts"] == [[1, 1], [0, 0]]


def test_a_new_label_moves_the_fingerprint_and_the_figures(project):
    items = factories.make_items(project, 2)
    a, b = factories.make_member(project), factories.make_member(project)
    label(items[0], a, ["cat"])
    label(items[0], b, ["cat"])
    first = selectors.dashboard(project)
    assert first["agreement"]["overall"]["items"] == 1
    assert selectors.dashboard(project)["agreement"] == first["agreement"]  # served from the cache
    before = selectors.annotation_fingerprint(project)
    label(items[1], a, ["dog"])
    label(items[1], b, ["cat"])
    assert selectors.annotation_fingerprint(project) != before
    again = selectors.dashboard(project)
    assert again["agreement"]["overall"]["items"] == 2 and again["ratings"] == 4


def test_an_undone_label_moves_the_fingerprint(project):
    from django.utils import timezone

    item = factories.make_items(project, 1)[0]
    annotation = label(item, factories.make_member(project), ["cat"])
    before = selectors.annotation_fingerprint(project)
    Annotation.objects.filter(pk=annotation.pk).update(retracted_at=timezone.now())
    assert selectors.annotation_fingerprint(project) != before
    assert selectors.dashboard(project)["ratings"] == 0


def test_a_changed_schema_is_not_answered_from_the_cache(project):
    from labelhub.projects.models import LabelClass

    items = factories.make_items(project, 1)
    label(items[0], factories.make_member(project), ["cat"])
    assert "fox" not in [r["class"] for r in selectors.dashboard(project)["agreement"]["by_class"]]
    LabelClass.objects.create(project=project, name="fox", order=9)
    assert "fox" in [r["class"] for r in selectors.dashboard(project)["agreement"]["by_class"]]


def _join_figure_refresh(project) -> None:
    import threading

    for thread in threading.enumerate():
        if thread.name == f"qa-figures-{project.pk}":
            thread.join(timeout=30)


@pytest.mark.django_db(transaction=True)  # the refresh thread reads through its own connection
def test_while_labels_arrive_the_last_figures_show_at_once_and_newer_ones_follow(settings):
    settings.LABELHUB_QA_STALE_SECONDS = 60
    project = factories.make_project()
    items = factories.make_items(project, 2)
    a, b = factories.make_member(project), factories.make_member(project)
    label(items[0], a, ["cat"])
    label(items[0], b, ["cat"])
    first = selectors.dashboard(project)  # nothing to show yet: computed in the request
    assert first["agreement"]["overall"]["items"] == 1 and not first["figures_refreshing"]
    label(items[1], a, ["dog"])
    label(items[1], b, ["cat"])
    shown = selectors.dashboard(project)  # the last figures, said to be refreshing
    assert shown["figures_refreshing"] and shown["ratings"] == 2
    assert shown["figures_as_of"] == first["figures_as_of"]
    _join_figure_refresh(project)
    fresh = selectors.dashboard(project)
    assert not fresh["figures_refreshing"]
    assert fresh["agreement"]["overall"]["items"] == 2 and fresh["ratings"] == 4


@pytest.mark.django_db(transaction=True)
def test_figures_older_than_the_setting_or_of_another_schema_are_recomputed_in_the_request(settings):
    from labelhub.projects.models import LabelClass

    settings.LABELHUB_QA_STALE_SECONDS = 60
    project = factories.make_project()
    item = factories.make_items(project, 1)[0]
    label(item, factories.make_member(project), ["cat"])
    selectors.dashboard(project)
    LabelClass.objects.create(project=project, name="fox", order=9)
    changed = selectors.dashboard(project)
    assert not changed["figures_refreshing"]
    assert "fox" in [r["class"] for r in changed["agreement"]["by_class"]]
    settings.LABELHUB_QA_STALE_SECONDS = 0
    label(item, factories.make_member(project), ["dog"])
    assert not selectors.dashboard(project)["figures_refreshing"]
