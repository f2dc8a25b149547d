"""Guideline pages: panel fragment, full page, diff, questions, impact, editor preview."""

import pytest

from labelhub.guidelines import selectors, services
from labelhub.guidelines.models import GuidelineVersion
from labelhub.guidelines.views import PREVIEW_MAX_CHARS
from labelhub.queues.models import ItemFlag, QueueEntry
from tests import factories
from tests.guidelines.conftest import publish

pytestmark = pytest.mark.django_db
HOSTILE = 'Rules <script>alert(1)</script><img src=x onerror="alert(2)"> [x](javascript:alert(3))'


def _assert_clean(html: str) -> None:
    lowered = html.lower()
    assert (
        "alert(1)</script" not in lowered and "onerror" not in lowered and "javascript:alert" not in lowered
    )


def test_panel_returns_the_current_version_fragment(api, project, manager, annotator):
    publish(project, manager, body="Old text.")
    publish(project, manager, body="## Current rules", summary="second")
    response = api(annotator).get(f"/guidelines/projects/{project.pk}/panel/")
    assert response.status_code == 200
    html = response.content.decode()
    assert "<h2>Current rules</h2>" in html and "Old text." not in html
    assert "<html" not in html  # a fragment, not a page


def test_panel_404_without_a_published_version(api, project, annotator):
    services.create_draft(project, body="not yet")
    assert api(annotator).get(f"/guidelines/projects/{project.pk}/panel/").status_code == 404


def test_panel_404_for_outsiders(api, project, outsider, published):
    assert api(outsider).get(f"/guidelines/projects/{project.pk}/panel/").status_code == 404


def test_panel_requires_login(client, project, published):
    assert client.get(f"/guidelines/projects/{project.pk}/panel/").status_code == 302


def test_pages_never_carry_hostile_markup(api, project, manager, annotator):
    draft = services.create_draft(project, manager, body=HOSTILE, ambiguous_cases=HOSTILE)
    services.replace_class_definitions(
        draft, [services.ClassDefinitionSpec("cat", HOSTILE, [services.ExampleSpec("negative", HOSTILE)])]
    )
    v1 = services.publish_version(draft, manager, change_summary="hostile")
    v2 = services.start_draft_from(v1, manager)
    services.update_draft(v2, body=HOSTILE + "\n\nmore")
    services.publish_version(v2, manager, change_summary="again")
    client = api(annotator)
    for url in (
        f"/guidelines/projects/{project.pk}/panel/",
        f"/guidelines/projects/{project.pk}/",
        f"/guidelines/projects/{project.pk}/diff/",
    ):
        response = client.get(url)
        assert response.status_code == 200, url
        _assert_clean(response.content.decode())


def test_full_page_shows_history_and_pending_acknowledgement(api, project, manager, annotator):
    publish(project, manager, summary="Dogs and wolves told apart.")
    html = api(annotator).get(f"/guidelines/projects/{project.pk}/").content.decode()
    assert 'id="guideline-pending"' in html and "Dogs and wolves told apart." in html
    assert "v1" in html


def test_annotators_cannot_open_a_draft_on_the_full_page(api, project, manager, annotator, published):
    draft = services.create_draft(project, manager, body="secret draft")
    assert api(annotator).get(f"/guidelines/projects/{project.pk}/?version={draft.pk}").status_code == 404


def test_diff_page_shows_rendered_changes(api, project, manager, annotator):
    v1 = publish(project, manager, body="Wolves are **wild**.")
    v2 = publish(project, manager, body="Wolves are **wild** canines.", summary="more precise")
    html = (
        api(annotator)
        .get(f"/guidelines/projects/{project.pk}/diff/?from={v1.pk}&to={v2.pk}")
        .content.decode()
    )
    assert "<strong>wild</strong>" in html and "<ins>canines.</ins>" in html


def test_questions_page_is_for_managers(api, project, annotator):
    assert api(annotator).get(f"/guidelines/projects/{project.pk}/questions/").status_code == 403


def test_questions_page_answers_and_requeues(api, project, manager, annotator):
    item = factories.make_items(project, 1)[0]
    flag = ItemFlag.objects.create(item=item, annotator=annotator, comment="husky?")
    version = publish(project, manager, summary="Huskies are dogs.")
    client = api(manager)
    page = client.get(f"/guidelines/projects/{project.pk}/questions/")
    assert "husky?" in page.content.decode()
    response = client.post(
        f"/guidelines/projects/{project.pk}/questions/",
        {"flags": [flag.pk], "version": version.pk, "answer": "Dogs."},
    )
    assert response.status_code == 302
    flag.refresh_from_db()
    assert flag.answered_in == version
    assert QueueEntry.objects.filter(item=item, reason="requeue").exists()


def test_impact_page_shows_counts_and_agreement_state(api, project, manager, published):
    html = api(manager).get(f"/guidelines/projects/{project.pk}/impact/").content.decode()
    assert "v1" in html
    assert "Guideline impact" in html


def test_impact_page_is_for_managers(api, project, annotator, published):
    assert api(annotator).get(f"/guidelines/projects/{project.pk}/impact/").status_code == 403


def test_preview_is_staff_only_and_sanitised(api, manager):
    assert (
        api(manager).post("/guidelines/preview/", {"markdown": "x"}).status_code == 302
    )  # to the admin login
    staff = factories.make_user("editor", is_staff=True)
    response = api(staff).post("/guidelines/preview/", {"markdown": "**hi** " + HOSTILE})
    assert response.status_code == 200
    assert "<strong>hi</strong>" in response.json()["html"]
    _assert_clean(response.json()["html"])


def test_manage_page_is_for_managers(api, project, annotator):
    assert api(annotator).get(f"/guidelines/projects/{project.pk}/edit/").status_code == 403


def test_manager_without_staff_starts_edits_and_publishes_a_draft(api, project, manager, annotator):
    v1 = publish(project, manager, body="Old rules.")
    client = api(manager)
    url = f"/guidelines/projects/{project.pk}/edit/"
    started = client.post(url, {"action": "new_draft"})
    draft = GuidelineVersion.objects.get(based_on=v1)
    assert started["Location"] == f"{url}?draft={draft.pk}"
    page = client.get(started["Location"]).content.decode()
    assert "Old rules." in page and 'data-preview-url="/api/guidelines/preview/"' in page
    client.post(
        url, {"action": "publish", "draft": draft.pk, "body": "New rules.", "change_summary": "Renewed."}
    )
    draft.refresh_from_db()
    assert (draft.status, draft.number, draft.body, draft.published_by) == (
        "published",
        2,
        "New rules.",
        manager,
    )


def test_manage_page_reports_a_missing_summary(api, project, manager):
    draft = services.create_draft(project, manager)
    client = api(manager)
    response = client.post(
        f"/guidelines/projects/{project.pk}/edit/",
        {"action": "publish", "draft": draft.pk, "body": "x"},
        follow=True,
    )
    assert "change_summary" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.body == "x"


def test_panel_is_served_from_cache_in_few_queries(
    api, project, manager, annotator, django_assert_max_num_queries
):
    draft = services.create_draft(project, manager, body="Body")
    services.replace_class_definitions(
        draft,
        [
            services.ClassDefinitionSpec(c, f"{c}!", [services.ExampleSpec("positive", f"a {c}")])
            for c in ("cat", "dog", "wolf")
        ],
    )
    services.publish_version(draft, manager, change_summary="three classes")
    client = api(annotator)
    url = f"/guidelines/projects/{project.pk}/panel/"
    with django_assert_max_num_queries(12):  # session, user, project, current, then 3 for content
        first = client.get(url).content.decode()
    with django_assert_max_num_queries(6):
        second = client.get(url).content.decode()
    assert first == second and "a wolf" in second


def test_impact_page_says_when_agreement_is_not_available(api, project, manager, published, monkeypatch):
    monkeypatch.setattr(selectors, "_agreement_by_version", lambda project: None)
    html = api(manager).get(f"/guidelines/projects/{project.pk}/impact/").content.decode()
    assert 'id="agreement-unavailable"' in html and "<polyline" not in html


def test_impact_page_plots_agreement_when_available(api, project, manager, published, monkeypatch):
    agreement = {published.pk: {"items": 4, "percent_agreement": 0.75, "krippendorff_alpha": 0.5}}
    monkeypatch.setattr(selectors, "_agreement_by_version", lambda project: agreement)
    html = api(manager).get(f"/guidelines/projects/{project.pk}/impact/").content.decode()
    assert 'id="impact-chart"' in html and "<polyline" in html
    assert "75.0 %" in html and 'id="agreement-unavailable"' not in html


def test_preview_refuses_overlong_markdown_in_the_one_error_shape(api):
    staff = factories.make_user("editor", is_staff=True)
    response = api(staff).post("/guidelines/preview/", {"markdown": "x" * (PREVIEW_MAX_CHARS + 1)})
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == ("markdown", "max_length")
