import pytest

from labelhub.projects.models import Annotation
from labelhub.queues.sampling import class_deficit, target_distribution
from tests import factories


@pytest.mark.django_db
def test_target_distribution_normalises_relative_weights():
    project = factories.make_project(classes=("wolf", "dog"), balance_target={"wolf": 1, "dog": 9})
    assert target_distribution(project, ["wolf", "dog"]) == pytest.approx({"wolf": 0.1, "dog": 0.9})


@pytest.mark.django_db
def test_no_target_means_no_deficit():
    project = factories.make_project(classes=("wolf", "dog"))
    assert class_deficit(project, ["wolf", "dog"]) is None


@pytest.mark.django_db
def test_deficit_points_at_the_under_represented_class():
    project = factories.make_project(classes=("wolf", "dog"), balance_target={"uniform": True})
    user = factories.make_member(project)
    items = factories.make_items(project, 4)
    Annotation.objects.bulk_create(
        Annotation(item=item, annotator=user, labels=["dog"]) for item in items[:3]
    )
    Annotation.objects.create(item=items[3], annotator=user, labels=["wolf"])
    deficit = class_deficit(project, ["wolf", "dog"])
    assert deficit == pytest.approx({"wolf": 1.0, "dog": 0.0})


def test_class_probabilities_prefer_the_explicit_distribution():
    from labelhub.queues.sampling import class_probabilities

    suggestion = {"labels": ["dog"], "confidence": 0.9, "probabilities": {"wolf": 0.3, "dog": 0.7}}
    assert class_probabilities(suggestion, ["wolf", "dog"]) == pytest.approx({"wolf": 0.3, "dog": 0.7})


def test_class_probabilities_spread_confidence_over_the_other_classes():
    from labelhub.queues.sampling import class_probabilities

    suggestion = {"labels": ["cat"], "confidence": 0.6, "model_version": 3}
    assert class_probabilities(suggestion, ["cat", "dog", "wolf"]) == pytest.approx(
        {"cat": 0.6, "dog": 0.2, "wolf": 0.2}
    )
    assert class_probabilities(None, ["cat", "dog"]) is None
