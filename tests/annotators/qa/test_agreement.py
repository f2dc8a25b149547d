"""Agreement metrics equal the reference libraries, on hand-checked and random data."""

from __future__ import annotations

import krippendorff
import numpy as np
import pandas as pd
import pytest
from crowdkit.metrics.data import alpha_krippendorff
from sklearn.metrics import cohen_kappa_score
from statsmodels.stats.inter_rater import fleiss_kappa as sm_fleiss

from annotators.qa import agreement
from labelhub.guidelines.models import GuidelineVersion
from tests import factories
from tests.annotators.qa.builders import (
    label,
)

NAN = np.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", nominal example: α = 0.743.
KRIPPENDORFF_EXAMPLE = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
        [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
    ]
)


def long_form(wide: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(items, raters, values) of the present cells of a raters × units matrix."""
    raters, units = np.nonzero(~np.isnan(wide))
    return units, raters, wide[raters, units].astype(np.int64)


def random_wide(
    seed: int, raters: int = 6, units: int = 80, classes: int = 4, missing: float = 0.3
) -> np.ndarray:
    rng = np.random.default_rng(seed)
    truth = rng.integers(0, classes, units)
    wide = np.where(
        rng.random((raters, units)) < 0.6, truth, rng.integers(0, classes, (raters, units))
    ).astype(float)
    wide[rng.random((raters, units)) < missing] = NAN
    return wide


def test_alpha_matches_krippendorff_worked_example_with_missing_ratings():
    units, _, values = long_form(KRIPPENDORFF_EXAMPLE)
    assert agreement.krippendorff_alpha_nominal(units, values) == pytest.approx(0.743, abs=5e-4)


@pytest.mark.parametrize("seed", range(6))
def test_alpha_equals_krippendorff_package_on_random_data_with_missing(seed):
    wide = random_wide(seed)
    units, _, values = long_form(wide)
    expected = krippendorff.alpha(reliability_data=wide, level_of_measurement="nominal")
    assert agreement.krippendorff_alpha_nominal(units, values) == pytest.approx(expected, abs=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_alpha_equals_crowd_kit_on_random_data_with_missing(seed):
    wide = random_wide(seed + 100, raters=5, units=40)
    units, raters, values = long_form(wide)
    expected = alpha_krippendorff(pd.DataFrame({"task": units, "worker": raters, "label": values}))
    assert agreement.krippendorff_alpha_nominal(units, values) == pytest.approx(expected, abs=1e-12)


def test_alpha_is_undefined_without_pairable_ratings_or_variation():
    assert agreement.krippendorff_alpha_nominal(np.array([0, 1, 2]), np.array([0, 1, 0])) is None
    assert agreement.krippendorff_alpha_nominal(np.array([0, 0, 1, 1]), np.array([2, 2, 2, 2])) is None


def test_percent_agreement_hand_checked():
    # item 0: a,a,b -> 1 of 3 pairs agree; item 1: a,a -> 1 of 1; item 2: rated once -> ignored.
    items = np.array([0, 0, 0, 1, 1, 2])
    values = np.array([0, 0, 1, 0, 0, 1])
    assert agreement.percent_agreement(items, values) == pytest.approx((1 / 3 + 1) / 2)


def test_fleiss_kappa_matches_fleiss_1971_example():
    # Wikipedia's worked example (14 raters, 10 subjects, 5 categories): κ = 0.210.
    table = np.array(
        [[0, 0, 0, 0, 14], [0, 2, 6, 4, 2], [0, 0, 3, 5, 6], [0, 3, 9, 2, 0], [2, 2, 8, 1, 1],
         [7, 7, 0, 0, 0], [3, 2, 6, 3, 0], [2, 5, 3, 2, 2], [6, 5, 2, 1, 0], [0, 2, 2, 3, 7]]
    )  # fmt: skip
    items = np.repeat(np.arange(10), 14)
    values = np.concatenate([np.repeat(np.arange(5), row) for row in table])
    assert agreement.fleiss_kappa(items, values, 5) == pytest.approx(0.210, abs=5e-4)


@pytest.mark.parametrize("seed", range(3))
def test_fleiss_kappa_uses_only_items_with_the_modal_rater_count(seed):
    wide = random_wide(seed, raters=4, units=60, missing=0.15)
    units, _, values = long_form(wide)
    counts = np.bincount(units, minlength=wide.shape[1])
    full = np.flatnonzero(counts == 4)
    table = np.stack([np.bincount(wide[:, u].astype(int), minlength=4) for u in full])
    assert agreement.fleiss_kappa(units, values, 4) == pytest.approx(
        sm_fleiss(table, method="fleiss"), abs=1e-12
    )


def test_coincidence_matrix_is_symmetric_and_sums_to_pairable_values():
    units, _, values = long_form(KRIPPENDORFF_EXAMPLE)
    matrix = agreement.coincidence_matrix(units, values - 1, 5)
    assert np.allclose(matrix, matrix.T)
    assert matrix.sum() == pytest.approx(40)  # Krippendorff's n: 41 values less the unpaired one


# ------------------------------------------------------------------------------- database-backed


@pytest.fixture
def overlap_project(db):
    project = factories.make_project(classes=("cat", "dog", "wolf"))
    items = factories.make_items(project, 4)
    people = [factories.make_member(project) for _ in range(3)]
    answers = [
        ["cat", "cat", "cat"],
        ["dog", "dog", "wolf"],
        ["cat", "dog", None],
        ["wolf", None, None],
    ]
    for item, row in zip(items, answers, strict=True):
        for who, answer in zip(people, row, strict=True):
            if answer:
                label(item, who, [answer])
    return project, items, people


def test_project_agreement_from_database_matches_references(overlap_project):
    project, _, _ = overlap_project
    result = agreement.project_agreement(project)
    wide = np.array([[0, 1, 0, 2], [0, 1, 1, NAN], [0, 2, NAN, NAN]], dtype=float)
    assert result["overall"]["items"] == 3
    assert result["overall"]["percent_agreement"] == pytest.approx((1 + 1 / 3 + 0) / 3, abs=1e-6)
    assert result["overall"]["krippendorff_alpha"] == pytest.approx(
        krippendorff.alpha(reliability_data=wide, level_of_measurement="nominal"), abs=1e-6
    )


def test_retracted_and_superseded_labels_do_not_count(overlap_project):
    from django.utils import timezone

    project, items, people = overlap_project
    before = agreement.project_agreement(project)["overall"]
    label(items[3], people[1], ["cat"], retracted_at=timezone.now())
    assert agreement.project_agreement(project)["overall"] == before
    label(items[2], people[1], ["cat"])  # people[1] changed their mind on item 2: the latest counts
    assert agreement.project_agreement(project)["overall"]["percent_agreement"] == pytest.approx(
        (1 + 1 / 3 + 1) / 3, abs=1e-6
    )


def test_cohen_kappa_per_pair_equals_scikit_learn(db):
    project = factories.make_project(classes=("a", "b", "c"))
    items = factories.make_items(project, 30)
    first, second = factories.make_member(project), factories.make_member(project)
    rng = np.random.default_rng(3)
    x, y = rng.integers(0, 3, 30), rng.integers(0, 3, 30)
    y[:18] = x[:18]
    for item, a, b in zip(items, x, y, strict=True):
        label(item, first, ["abc"[a]])
        label(item, second, ["abc"[b]])
    (pair,) = agreement.project_agreement(project)["by_pair"]
    assert {pair["annotator_a"], pair["annotator_b"]} == {first.pk, second.pk}
    assert pair["items"] == 30
    assert pair["cohen_kappa"] == pytest.approx(cohen_kappa_score(x, y), abs=1e-9)


def test_multi_label_alpha_is_mean_of_per_class_binary_alpha(db):
    project = factories.make_project(classes=("red", "green", "blue"), multi_label=True)
    items = factories.make_items(project, 6)
    people = [factories.make_member(project) for _ in range(3)]
    sets = [
        [["red"], ["red"], ["red", "blue"]],
        [["green", "blue"], ["blue", "green"], ["green"]],
        [["blue"], ["red"], None],
        [["red", "green"], ["red", "green"], ["red"]],
        [["green"], None, ["green", "blue"]],
        [["red", "blue"], ["blue"], ["blue"]],
    ]
    for item, row in zip(items, sets, strict=True):
        for who, labels in zip(people, row, strict=True):
            if labels:
                label(item, who, labels)
    result = agreement.project_agreement(project)
    expected = []
    for cls in ("red", "green", "blue"):
        wide = np.array([[NAN if r[w] is None else float(cls in r[w]) for r in sets] for w in range(3)])
        expected.append(krippendorff.alpha(reliability_data=wide, level_of_measurement="nominal"))
    assert result["overall"]["krippendorff_alpha"] == pytest.approx(np.mean(expected), abs=1e-6)
    by_class = {row["class"]: row["krippendorff_alpha"] for row in result["by_class"]}
    assert by_class["red"] == pytest.approx(expected[0], abs=1e-6)
    # ["green", "blue"] and ["blue", "green"] are the same set: item 1 has one agreeing pair of 3.
    assert result["overall"]["percent_agreement"] == pytest.approx(
        np.mean([1 / 3, 1 / 3, 0, 1 / 3, 0, 1 / 3]), abs=1e-6
    )


def test_agreement_by_guideline_version_scores_each_version_on_its_own_labels(db):
    project = factories.make_project(classes=("cat", "dog"))
    v1 = GuidelineVersion.objects.create(project=project, number=1, status="published")
    v2 = GuidelineVersion.objects.create(project=project, number=2, status="published")
    items = factories.make_items(project, 4)
    first, second = factories.make_member(project), factories.make_member(project)
    for item in items[:2]:  # under v1 they disagree
        label(item, first, ["cat"], guideline_version=v1)
        label(item, second, ["dog"], guideline_version=v1)
    for item in items[2:]:  # under v2 they agree
        label(item, first, ["dog"], guideline_version=v2)
        label(item, second, ["dog"], guideline_version=v2)
    label(items[0], factories.make_member(project), ["cat"])  # no version: rated once, no pair
    result = agreement.agreement_by_guideline_version(project)
    assert result[v1.pk] == {"items": 2, "percent_agreement": 0.0, "krippendorff_alpha": pytest.approx(-0.5)}
    assert result[v2.pk]["items"] == 2 and result[v2.pk]["percent_agreement"] == 1.0
    assert result[v2.pk]["krippendorff_alpha"] is None  # one value only: alpha undefined
    assert result[None] == {"items": 0, "percent_agreement": None, "krippendorff_alpha": None}


def test_empty_project_reports_nothing_rather_than_failing(project):
    result = agreement.project_agreement(project)
    assert result["overall"] == {
        "items": 0,
        "ratings": 0,
        "percent_agreement": None,
        "krippendorff_alpha": None,
        "fleiss_kappa": None,
    }
    assert result["by_pair"] == [] and result["over_time"] == []


def test_count_table_equals_statsmodels_aggregate_raters():
    from statsmodels.stats.inter_rater import aggregate_raters

    wide = random_wide(9, raters=5, units=50, missing=0.0)
    units, _, values = long_form(wide)
    counts, m = agreement.item_value_counts(units, values, 4)
    table, _ = aggregate_raters(wide.T.astype(int), n_cat=4)
    assert np.array_equal(counts, table) and set(m) == {5}


def frame_of(wide: np.ndarray) -> pd.DataFrame:
    units, raters, values = long_form(wide)
    return pd.DataFrame(
        {
            "id": np.arange(len(units)),
            "item_id": units + 1000,
            "annotator_id": raters + 10,
            "labels": [f'["c{v}"]' for v in values],
            "version_id": None,
            "created_at": pd.Timestamp("2026-01-05", tz="UTC"),
        }
    )


@pytest.mark.parametrize("seed", range(3))
def test_cohen_by_pair_equals_scikit_learn_for_every_pair_with_missing_ratings(seed):
    wide = random_wide(seed + 50, raters=4, units=60, missing=0.25)
    ratings = agreement.ratings_from_frame(frame_of(wide), ["c0", "c1", "c2", "c3"], multi_label=False)
    pairs = {(p["annotator_a"], p["annotator_b"]): p for p in agreement.cohen_by_pair(ratings)}
    assert len(pairs) == 6
    for a in range(4):
        for b in range(a + 1, 4):
            shared = ~np.isnan(wide[a]) & ~np.isnan(wide[b])
            expected = cohen_kappa_score(wide[a, shared].astype(int), wide[b, shared].astype(int))
            pair = pairs[(a + 10, b + 10)]
            assert pair["items"] == shared.sum()
            assert pair["cohen_kappa"] == pytest.approx(expected, abs=1e-12)
            assert pair["percent_agreement"] == pytest.approx((wide[a, shared] == wide[b, shared]).mean())


def _rate_in_order(project, outcomes):
    """One overlapping item per outcome (True: both annotators agree), a minute apart, in order."""
    from datetime import timedelta

    from django.utils import timezone

    from labelhub.projects.models import Annotation

    items = factories.make_items(project, len(outcomes))
    a, b = factories.make_member(project), factories.make_member(project)
    start = timezone.now() - timedelta(hours=2)
    for i, (item, agree) in enumerate(zip(items, outcomes, strict=True)):
        first = Annotation.objects.create(item=item, annotator=a, labels=["cat"])
        second = Annotation.objects.create(item=item, annotator=b, labels=["cat" if agree else "dog"])
        Annotation.objects.filter(pk__in=[first.pk, second.pk]).update(
            created_at=start + timedelta(minutes=i)
        )


def test_agreement_over_time_is_a_rolling_window_not_one_point_per_day(project):
    from annotators.qa.agreement import agreement_over_time, load_ratings

    _rate_in_order(project, [True] * 40 + [False] * 40)  # all within one calendar day or two
    points = agreement_over_time(load_ratings(project), window=20)
    assert len(points) > 10
    assert all(p["items"] == 20 for p in points)
    assert points[0]["percent_agreement"] == 1.0 and points[-1]["percent_agreement"] == 0.0
    assert [p["at"] for p in points] == sorted(p["at"] for p in points)


def test_rolling_alpha_matches_alpha_on_the_same_items(project):
    from annotators.qa.agreement import agreement_over_time, load_ratings, overall_agreement

    _rate_in_order(project, [True, False, True, True, False, True, True, True, False, True, True, False])
    ratings = load_ratings(project)
    (point,) = agreement_over_time(ratings, window=12)[-1:]
    whole = overall_agreement(ratings, with_fleiss=False)
    assert point["krippendorff_alpha"] == pytest.approx(whole["krippendorff_alpha"], abs=1e-6)
    assert point["percent_agreement"] == pytest.approx(whole["percent_agreement"], abs=1e-6)
