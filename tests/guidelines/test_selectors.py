"""The acknowledgement gate, version visibility and impact."""

import pytest
from django.utils import timezone

from labelhub.guidelines import selectors, services
from labelhub.guidelines.errors import GuidelineAckRequired, GuidelineError
from labelhub.projects.models import Annotation
from tests import factories
from tests.guidelines.conftest import publish

pytestmark = pytest.mark.django_db


def test_nothing_is_pending_before_the_first_publish(project, annotator):
    services.create_draft(project)
    assert selectors.pending_acknowledgement(annotator, project) is None


def test_publishing_makes_an_acknowledgement_pending(project, manager, annotator):
    version = publish(project, manager)
    assert selectors.pending_acknowledgement(annotator, project) == version


def test_acknowledging_clears_the_gate_until_the_next_publish(project, manager, annotator):
    v1 = publish(project, manager)
    services.acknowledge(v1, annotator)
    assert selectors.pending_acknowledgement(annotator, project) is None
    v2 = publish(project, manager, summary="second")
    assert selectors.pending_acknowledgement(annotator, project) == v2
    services.acknowledge(v2, annotator)
    assert selectors.pending_acknowledgement(annotator, project) is None


def test_a_new_draft_does_not_reopen_the_gate(project, manager, annotator):
    v1 = publish(project, manager)
    services.acknowledge(v1, annotator)
    services.start_draft_from(v1, manager)
    assert selectors.pending_acknowledgement(annotator, project) is None


def test_acknowledgement_body_follows_the_queue_contract(published):
    error = GuidelineAckRequired(published)
    body = error.body()
    assert (error.status_code, body["code"]) == (409, "guideline_ack_required")
    assert body["version"] == {"id": published.pk, "number": 1, "change_summary": "First version."}
    assert body["acknowledge_url"] == f"/api/guidelines/{published.pk}/acknowledge/"


def test_annotators_see_only_published_versions(project, manager, annotator, published):
    draft = services.create_draft(project)
    assert list(selectors.versions_visible_to(annotator, project)) == [published]
    assert set(selectors.versions_visible_to(manager, project)) == {published, draft}


def test_project_version_names_the_field_for_a_version_of_another_project(project, manager):
    foreign = publish(factories.make_project(), manager)
    with pytest.raises(GuidelineError) as caught:
        selectors.project_version(project, foreign.pk, field="based_on")
    assert (caught.value.field, caught.value.code) == ("based_on", "not_in_project")


def _annotate(items, annotator, version, *, retracted=False):
    Annotation.objects.bulk_create(
        Annotation(
            item=item,
            annotator=annotator,
            labels=["cat"],
            guideline_version=version,
            retracted_at=timezone.now() if retracted else None,
        )
        for item in items
    )


def test_impact_counts_annotations_per_version_without_retracted(project, manager, annotator):
    items = factories.make_items(project, 6)
    _annotate(items[:1], annotator, None)
    v1 = publish(project, manager)
    _annotate(items[1:4], annotator, v1)
    _annotate(items[4:5], annotator, v1, retracted=True)
    v2 = publish(project, manager, summary="second")
    _annotate(items[5:], manager, v2)
    impact = selectors.guideline_impact(project)
    assert [(r.version, r.annotations, r.annotators) for r in impact.rows] == [
        (None, 1, 1),
        (v1, 3, 1),
        (v2, 1, 1),
    ]


def test_impact_takes_the_questions_each_version_answered(project, manager):
    v1 = publish(project, manager)
    v2 = publish(project, manager, summary="second")
    impact = selectors.guideline_impact(project, questions_answered={v2.pk: 3})
    assert [(r.version, r.questions_answered) for r in impact.rows] == [(v1, 0), (v2, 3)]


def test_impact_says_agreement_is_unavailable_without_the_qa_module(project, published, monkeypatch):
    monkeypatch.setattr(selectors, "_agreement_by_version", lambda project: None)
    impact = selectors.guideline_impact(project)
    assert impact.agreement_available is False
    assert impact.rows[0].agreement_after is None


def test_impact_pairs_agreement_before_and_after_each_version(project, manager, monkeypatch):
    v1 = publish(project, manager)
    v2 = publish(project, manager, summary="second")
    by_version = {
        None: {"items": 10, "percent_agreement": 0.6, "krippendorff_alpha": 0.40},
        v1.pk: {"items": 12, "percent_agreement": 0.7, "krippendorff_alpha": 0.55},
        v2.pk: {"items": 9, "percent_agreement": 0.9, "krippendorff_alpha": 0.80},
    }
    monkeypatch.setattr(selectors, "_agreement_by_version", lambda project: by_version)
    rows = {r.version: r for r in selectors.guideline_impact(project).rows if r.version}
    assert rows[v1].agreement_before == by_version[None] and rows[v1].agreement_after == by_version[v1.pk]
    assert rows[v2].agreement_before == by_version[v1.pk]
    assert rows[v2].alpha_change == pytest.approx(0.25)
    assert rows[v2].percent_change == pytest.approx(0.2)


def test_the_gate_costs_one_query(project, manager, annotator, django_assert_num_queries):
    publish(project, manager)
    with django_assert_num_queries(1):
        assert selectors.pending_acknowledgement(annotator, project) is not None
