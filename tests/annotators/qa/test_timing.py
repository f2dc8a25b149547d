"""Stored times QA cannot trust (1e308, NaN, negative) never break a counter or the dashboard."""

from __future__ import annotations

import math

import pytest
from django.db import connection
from rest_framework.test import APIClient

from annotators.qa import gold
from annotators.qa.models import AnnotatorStats
from annotators.qa.timing import MAX_COUNTED_SECONDS, counted_seconds
from labelhub.projects.signals import annotation_submitted
from tests import factories
from tests.annotators.qa.builders import label

pytestmark = [
    pytest.mark.filterwarnings("ignore:.*(inplace|copy) keyword"),
]

# SQLite stores NaN as NULL (refused by the NOT NULL column); PostgreSQL keeps it.
UNTRUSTED = [1e308, float("inf"), -5.0] + ([float("nan")] if connection.vendor == "postgresql" else [])


@pytest.mark.parametrize(
    ("stored", "counted"),
    [
        (None, 0.0),
        (3.5, 3.5),
        (1e308, MAX_COUNTED_SECONDS),
        (float("inf"), 0.0),
        (float("nan"), 0.0),
        (-1, 0.0),
    ],
)
def test_counted_seconds_is_finite_non_negative_and_at_most_a_day(stored, counted):
    assert counted_seconds(stored) == counted


def test_huge_times_do_not_overflow_the_running_counter(db):
    project = factories.make_project()
    annotator = factories.make_member(project)
    for item in factories.make_items(project, 3):
        annotation = label(item, annotator, ["cat"], time_spent=1e308)
        annotation_submitted.send(sender=None, annotation=annotation, project=project)
    stats = AnnotatorStats.objects.get(project=project, annotator=annotator)
    assert stats.annotations == 3
    assert stats.seconds_spent == pytest.approx(3 * MAX_COUNTED_SECONDS)


def test_rebuilding_the_counters_skips_untrusted_times(db):
    project = factories.make_project()
    annotator = factories.make_member(project)
    for item, seconds in zip(
        factories.make_items(project, len(UNTRUSTED) + 1), [*UNTRUSTED, 2.0], strict=True
    ):
        label(item, annotator, ["cat"], time_spent=seconds)
    (stats,) = gold.rebuild_stats(project)
    assert stats.annotations == len(UNTRUSTED) + 1
    assert stats.seconds_spent == pytest.approx(MAX_COUNTED_SECONDS + 2.0)


def test_the_dashboard_answers_with_finite_figures_whatever_was_stored(db):
    project = factories.make_project()
    manager = factories.make_member(project, "manager")
    annotator = factories.make_member(project)
    items = factories.make_items(project, len(UNTRUSTED))
    for item, seconds in zip(items, UNTRUSTED, strict=True):
        label(item, annotator, ["cat"], time_spent=seconds)
    client = APIClient()
    client.force_authenticate(manager)

    response = client.get(f"/api/projects/{project.pk}/qa/dashboard/")

    assert response.status_code == 200
    (row,) = [r for r in response.json()["annotators"] if r["annotator_id"] == annotator.pk]
    assert row["annotations"] == len(UNTRUSTED)
    assert math.isfinite(row["seconds_per_item_mean"]) and math.isfinite(row["seconds_per_item_median"])
    assert row["seconds_per_item_mean"] == pytest.approx(MAX_COUNTED_SECONDS / len(UNTRUSTED), abs=0.01)
