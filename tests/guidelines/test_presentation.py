"""Cached rendering of published versions, and the impact plot's geometry."""

from types import SimpleNamespace

import pytest

from labelhub.guidelines import services
from labelhub.guidelines.presentation import cached_diff, impact_chart, version_html
from labelhub.guidelines.selectors import VersionImpact
from tests.guidelines.conftest import publish


@pytest.mark.django_db
def test_published_html_is_rendered_once(project, manager, django_assert_num_queries):
    version = publish(project, manager, body="## Cached")
    first = version_html(version)
    with django_assert_num_queries(0):
        assert version_html(version) == first
    assert "<h2>Cached</h2>" in first


@pytest.mark.django_db
def test_draft_html_is_always_fresh(project, manager):
    draft = services.create_draft(project, manager, body="one")
    assert "one" in version_html(draft)
    services.update_draft(draft, body="two")
    assert "two" in version_html(draft)


@pytest.mark.django_db
def test_diff_of_published_pair_is_cached(project, manager, django_assert_num_queries):
    v1 = publish(project, manager, body="a b c")
    v2 = publish(project, manager, body="a b d", summary="d")
    first = cached_diff(v1, v2)
    with django_assert_num_queries(0):
        assert cached_diff(v1, v2) == first


def _row(number, annotations, alpha=None):
    version = SimpleNamespace(number=number) if number else None
    agreement = None if alpha is None else {"items": 5, "percent_agreement": 0.5, "krippendorff_alpha": alpha}
    return VersionImpact(version, annotations=annotations, agreement_after=agreement)


def test_impact_chart_scales_bars_to_the_busiest_version():
    chart = impact_chart([_row(None, 50), _row(1, 100), _row(2, 0)], width=330, height=140)
    heights = [b["h"] for b in chart.bars]
    assert heights[1] == 100.0 and heights[0] == 50.0 and heights[2] == 0.0  # plot height 140 - 12 - 28
    assert [b["label"] for b in chart.bars] == ["none", "v1", "v2"]


def test_impact_chart_draws_agreement_clamped_to_zero_and_one():
    chart = impact_chart(
        [_row(1, 10, alpha=1.0), _row(2, 10, alpha=-0.3), _row(3, 10)], width=330, height=140
    )
    assert [p["y"] for p in chart.points] == [12.0, 112.0]
    assert chart.line.count(",") == 2


def test_impact_chart_without_agreement_has_no_line():
    assert impact_chart([_row(1, 3)]).line == ""
