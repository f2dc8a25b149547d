"""Builders for snapshot tests: labelled projects, and an export cache per test."""

from __future__ import annotations

import pytest
from django.utils import timezone

from annotators.qa.models import ConsensusLabel
from labelhub.guidelines.models import GuidelineVersion
from labelhub.projects.models import Annotation
from tests import factories


@pytest.fixture(autouse=True)
def export_cache(settings, tmp_path):
    settings.LABELHUB_DATA_DIR = tmp_path / "data"
    return settings.LABELHUB_DATA_DIR / "exports"


def label(item, labels, annotator=None, *, version=None, retracted=False) -> Annotation:
    return Annotation.objects.create(
        item=item,
        annotator=annotator,
        labels=list(labels),
        guideline_version=version,
        retracted_at=timezone.now() if retracted else None,
    )


def consensus(item, labels, *, confidence=0.9, method="majority", annotator_count=3) -> ConsensusLabel:
    return ConsensusLabel.objects.create(
        item=item, labels=list(labels), confidence=confidence, method=method, annotator_count=annotator_count
    )


@pytest.fixture
def guideline(project, manager):
    return GuidelineVersion.objects.create(
        project=project, number=1, status="published", body="Label the animal.", published_at=timezone.now()
    )


@pytest.fixture
def labelled(project, annotator, guideline):
    """12 items: 9 labelled once (cat/dog/wolf in turn), 2 with a consensus label, 1 unlabelled."""
    items = factories.make_items(project, 12)
    classes = ["cat", "dog", "wolf"]
    for i, item in enumerate(items[:9]):
        label(item, [classes[i % 3]], annotator, version=guideline)
    for item in items[9:11]:
        label(item, ["dog"], annotator, version=guideline)
        consensus(item, ["wolf"])
    return items


@pytest.fixture
def reviewer(db, project):
    return factories.make_member(project, "reviewer")
