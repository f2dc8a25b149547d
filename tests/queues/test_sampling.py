"""Class balance: target shares, the deficit the sampler favours, and the balance report, which
counts the labelled set by resolved label (one count per item per class)."""

import pytest
from django.utils import timezone

from annotators.qa.models import ConsensusLabel
from labelhub.projects.models import Annotation
from labelhub.projects.selectors import label_schema
from labelhub.queues.sampling import balance_report, class_deficit, class_probabilities, target_distribution
from tests import factories


@pytest.mark.django_db
def test_target_distribution_normalises_relative_weights():
    project = factories.make_project(classes=("wolf", "dog"), balance_target={"wolf": 1, "dog": 9})
    assert target_distribution(project, ["wolf", "dog"]) == pytest.approx({"wolf": 0.1, "dog": 0.9})


@pytest.mark.django_db
def test_no_target_means_no_deficit():
    project = factories.make_project(classes=("wolf", "dog"))
    assert class_deficit(project) is None


@pytest.mark.django_db
def test_deficit_points_at_the_under_represented_class():
    project = factories.make_project(classes=("wolf", "dog"), balance_target={"uniform": True})
    user = factories.make_member(project)
    items = factories.make_items(project, 4)
    Annotation.objects.bulk_create(
        Annotation(item=item, annotator=user, labels=["dog"]) for item in items[:3]
    )
    Annotation.objects.create(item=items[3], annotator=user, labels=["wolf"])
    deficit = class_deficit(project, label_schema(project))
    assert deficit == pytest.approx({"wolf": 1.0, "dog": 0.0})
    assert class_deficit(project) == pytest.approx(deficit)


@pytest.mark.django_db
def test_balance_counts_an_item_labelled_by_several_annotators_once():
    project = factories.make_project(classes=("wolf", "dog"), balance_target={"uniform": True})
    first, second = factories.make_member(project), factories.make_member(project)
    overlap, single = factories.make_items(project, 2)
    Annotation.objects.create(item=overlap, annotator=first, labels=["dog"])
    Annotation.objects.create(item=overlap, annotator=second, labels=["dog"])
    Annotation.objects.create(item=single, annotator=first, labels=["wolf"])
    report = balance_report(project)
    assert report["labelled"] == 2
    assert {row["name"]: row["count"] for row in report["classes"]} == {"wolf": 1, "dog": 1}
    assert class_deficit(project) == pytest.approx({"wolf": 0.5, "dog": 0.5})


@pytest.mark.django_db
def test_balance_counts_the_consensus_label_over_the_annotations():
    project = factories.make_project(classes=("wolf", "dog"), balance_target={"wolf": 1, "dog": 1})
    annotator = factories.make_member(project)
    item, retracted = factories.make_items(project, 2)
    Annotation.objects.create(item=item, annotator=annotator, labels=["dog"])
    ConsensusLabel.objects.create(item=item, labels=["wolf"], method="adjudicated", annotator_count=2)
    Annotation.objects.create(
        item=retracted, annotator=annotator, labels=["dog"], retracted_at=timezone.now()
    )
    report = balance_report(project)
    assert [(row["name"], row["count"]) for row in report["classes"]] == [("wolf", 1), ("dog", 0)]
    assert report["labelled"] == 1


def test_class_probabilities_prefer_the_explicit_distribution():
    suggestion = {"labels": ["dog"], "confidence": 0.9, "probabilities": {"wolf": 0.3, "dog": 0.7}}
    assert class_probabilities(suggestion, ["wolf", "dog"]) == pytest.approx({"wolf": 0.3, "dog": 0.7})


def test_class_probabilities_spread_confidence_over_the_other_classes():
    suggestion = {"labels": ["cat"], "confidence": 0.6, "model_version": 3}
    assert class_probabilities(suggestion, ["cat", "dog", "wolf"]) == pytest.approx(
        {"cat": 0.6, "dog": 0.2, "wolf": 0.2}
    )
    assert class_probabilities(None, ["cat", "dog"]) is None
