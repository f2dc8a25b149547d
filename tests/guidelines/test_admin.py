"""The console editor: drafts, save-and-publish, read-only published versions, diffs, new drafts."""

import pytest
from django.contrib.auth import get_user_model
from django.urls import reverse

from labelhub.guidelines import services
from labelhub.guidelines.models import GuidelineVersion
from labelhub.projects.models import LabelClass
from tests.guidelines.conftest import publish

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client_(client, db):
    client.force_login(_superuser())
    return client


def _superuser():
    return get_user_model().objects.create_superuser("root", "root@example.org", "pw-for-tests-1")


def _formset_management(prefix: str) -> dict:
    return {
        f"{prefix}-TOTAL_FORMS": "0",
        f"{prefix}-INITIAL_FORMS": "0",
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def _post_data(version: GuidelineVersion, **fields) -> dict:
    data = {
        "project": version.project_id,
        "body": version.body,
        "ambiguous_cases": version.ambiguous_cases,
        "change_summary": version.change_summary,
        **_formset_management("class_definitions"),
        **_formset_management("examples"),
    }
    data.update(fields)
    return data


def test_change_page_renders_the_editor_with_preview(admin_client_, project):
    draft = services.create_draft(project, body="# Draft")
    html = admin_client_.get(
        reverse("admin:guidelines_guidelineversion_change", args=[draft.pk])
    ).content.decode()
    assert 'class="markdown-preview' in html and "guidelines/editor.js" in html
    assert 'name="_publish"' in html


def test_save_and_publish_from_the_change_page(admin_client_, project):
    draft = services.create_draft(project, body="old")
    url = reverse("admin:guidelines_guidelineversion_change", args=[draft.pk])
    response = admin_client_.post(
        url, _post_data(draft, body="new body", change_summary="Rewritten.", _publish="1")
    )
    assert response.status_code == 302
    draft.refresh_from_db()
    assert (draft.status, draft.number, draft.body) == ("published", 1, "new body")
    assert draft.published_by.username == "root"


def test_publishing_without_summary_shows_an_error_and_keeps_the_draft(admin_client_, project):
    draft = services.create_draft(project, body="old")
    url = reverse("admin:guidelines_guidelineversion_change", args=[draft.pk])
    response = admin_client_.post(url, _post_data(draft, _publish="1"), follow=True)
    assert "change_summary" in response.content.decode()
    draft.refresh_from_db()
    assert draft.status == "draft"


def test_published_version_is_read_only_in_the_admin(admin_client_, project, manager):
    version = publish(project, manager, body="frozen")
    url = reverse("admin:guidelines_guidelineversion_change", args=[version.pk])
    html = admin_client_.get(url).content.decode()
    assert 'name="body"' not in html and 'name="_publish"' not in html
    assert "<p>frozen</p>" in html  # the rendered version is shown beside the source
    assert admin_client_.post(url, _post_data(version, body="thawed")).status_code == 403
    version.refresh_from_db()
    assert version.body == "frozen"
    assert (
        admin_client_.post(
            reverse("admin:guidelines_guidelineversion_delete", args=[version.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert GuidelineVersion.objects.filter(pk=version.pk).exists()


def test_publish_action_numbers_drafts_oldest_first(admin_client_, project):
    first = services.create_draft(project, change_summary="one")
    second = services.create_draft(project, change_summary="two")
    admin_client_.post(
        reverse("admin:guidelines_guidelineversion_changelist"),
        {"action": "publish_selected", "_selected_action": [second.pk, first.pk]},
    )
    first.refresh_from_db()
    second.refresh_from_db()
    assert (first.number, second.number) == (1, 2)


def test_admin_diff_view_renders_changes(admin_client_, project, manager):
    v1 = publish(project, manager, body="Cats purr.")
    v2 = publish(project, manager, body="Cats purr softly.", summary="softly")
    url = reverse("admin:guidelines_guidelineversion_diff", args=[v2.pk]) + f"?against={v1.pk}"
    html = admin_client_.get(url).content.decode()
    assert "<ins>softly.</ins>" in html


def test_new_draft_button_starts_a_draft_from_the_version(admin_client_, project, manager):
    version = publish(project, manager, body="base")
    response = admin_client_.post(reverse("admin:guidelines_guidelineversion_new_draft", args=[version.pk]))
    draft = GuidelineVersion.objects.get(based_on=version)
    assert response["Location"] == reverse("admin:guidelines_guidelineversion_change", args=[draft.pk])
    assert draft.body == "base" and draft.status == "draft"


def test_non_staff_manager_cannot_open_the_console(client, project, manager):
    client.force_login(manager)
    response = client.get(reverse("admin:guidelines_guidelineversion_changelist"))
    assert response.status_code == 302 and "/admin/login/" in response["Location"]


def test_add_page_creates_a_draft_then_offers_class_inlines(admin_client_, project):
    add_url = reverse("admin:guidelines_guidelineversion_add")
    assert "class_definitions-TOTAL_FORMS" not in admin_client_.get(add_url).content.decode()
    response = admin_client_.post(
        add_url, {"project": project.pk, "body": "# New", "ambiguous_cases": "", "change_summary": ""}
    )
    draft = GuidelineVersion.objects.get(project=project)
    assert response.status_code == 302 and draft.status == "draft" and draft.created_by.username == "root"
    change = admin_client_.get(
        reverse("admin:guidelines_guidelineversion_change", args=[draft.pk])
    ).content.decode()
    assert "class_definitions-TOTAL_FORMS" in change


def test_class_definition_inline_saves_on_a_draft(admin_client_, project):
    draft = services.create_draft(project, body="x")
    cat = LabelClass.objects.get(project=project, name="cat")
    data = _post_data(draft)
    data.update(
        {
            "class_definitions-TOTAL_FORMS": "1",
            "class_definitions-0-label_class": cat.pk,
            "class_definitions-0-definition": "A small **feline**.",
            "class_definitions-0-order": "0",
            "examples-TOTAL_FORMS": "1",
            "examples-0-label_class": cat.pk,
            "examples-0-kind": "positive",
            "examples-0-text": "a tabby on a sofa",
            "examples-0-note": "",
            "examples-0-order": "0",
        }
    )
    response = admin_client_.post(reverse("admin:guidelines_guidelineversion_change", args=[draft.pk]), data)
    assert response.status_code == 302, response.content.decode()[:2000]
    assert draft.class_definitions.get().definition == "A small **feline**."
    assert draft.examples.get().text == "a tabby on a sofa"
