"""The guideline API: members read, managers write, outsiders see nothing, HTML is sanitised."""

import pytest
from django.core.management import call_command

from labelhub.guidelines import services
from labelhub.guidelines.models import GuidelineAcknowledgement, GuidelineVersion
from labelhub.queues.models import ItemFlag, QueueEntry
from tests import factories
from tests.guidelines.conftest import publish

pytestmark = pytest.mark.django_db
HOSTILE = '# Rules\n\n<script>alert(1)</script><img src=x onerror="alert(2)"> [x](javascript:alert(3))'


def _assert_clean(html: str) -> None:
    lowered = html.lower()
    assert "<script" not in lowered and "onerror" not in lowered and "javascript:" not in lowered


def test_members_list_published_versions_only(api, project, manager, annotator, published):
    services.create_draft(project, manager)
    response = api(annotator).get(f"/api/projects/{project.pk}/guidelines/")
    assert response.status_code == 200
    assert [row["id"] for row in response.json()["results"]] == [published.pk]


def test_managers_list_drafts_too(api, project, manager, published):
    draft = services.create_draft(project, manager)
    ids = [row["id"] for row in api(manager).get(f"/api/projects/{project.pk}/guidelines/").json()["results"]]
    assert ids == [published.pk, draft.pk] or set(ids) == {published.pk, draft.pk}


def test_outsider_gets_404_everywhere(api, project, outsider, published):
    client = api(outsider)
    assert client.get(f"/api/projects/{project.pk}/guidelines/").status_code == 404
    assert client.get(f"/api/guidelines/{published.pk}/").status_code == 404
    assert client.post(f"/api/guidelines/{published.pk}/acknowledge/").status_code == 404
    assert client.get(f"/api/projects/{project.pk}/guidelines/impact/").status_code == 404


def test_annotator_cannot_create_edit_or_publish(api, project, manager, annotator):
    draft = services.create_draft(project, manager, change_summary="x")
    client = api(annotator)
    create = client.post(
        f"/api/projects/{project.pk}/guidelines/", {"body": "mine"}, content_type="application/json"
    )
    assert create.status_code == 403
    # A draft is invisible to annotators: editing it is a 404, not a hint that it exists.
    assert (
        client.patch(
            f"/api/guidelines/{draft.pk}/", {"body": "x"}, content_type="application/json"
        ).status_code
        == 404
    )
    assert client.post(f"/api/guidelines/{draft.pk}/publish/").status_code == 404
    draft.refresh_from_db()
    assert draft.status == "draft" and draft.body == ""


def test_annotator_gets_403_writing_to_a_published_version(api, annotator, published):
    client = api(annotator)
    assert (
        client.patch(
            f"/api/guidelines/{published.pk}/", {"body": "x"}, content_type="application/json"
        ).status_code
        == 403
    )
    assert client.post(f"/api/guidelines/{published.pk}/new-draft/").status_code == 403
    assert (
        client.put(
            f"/api/guidelines/{published.pk}/classes/", [], content_type="application/json"
        ).status_code
        == 403
    )


def test_manager_creates_edits_and_publishes_a_draft(api, project, manager):
    client = api(manager)
    created = client.post(
        f"/api/projects/{project.pk}/guidelines/",
        {
            "body": "Label **animals**.",
            "class_definitions": [
                {
                    "label_class": "wolf",
                    "definition": "Wild canine.",
                    "examples": [{"kind": "negative", "text": "husky"}],
                }
            ],
        },
        content_type="application/json",
    )
    assert created.status_code == 201, created.content
    version_id = created.json()["id"]
    assert created.json()["class_definitions"][0]["examples"][0]["text"] == "husky"
    patched = client.patch(
        f"/api/guidelines/{version_id}/",
        {"change_summary": "Wolves defined."},
        content_type="application/json",
    )
    assert patched.status_code == 200
    published = client.post(f"/api/guidelines/{version_id}/publish/", {}, content_type="application/json")
    assert published.status_code == 200
    assert (published.json()["number"], published.json()["status"]) == (1, "published")
    assert published.json()["published_by"] == manager.username


def test_editing_a_published_version_is_a_400_naming_status(api, manager, published):
    response = api(manager).patch(
        f"/api/guidelines/{published.pk}/", {"body": "x"}, content_type="application/json"
    )
    assert response.status_code == 400
    body = response.json()
    assert (body["field"], body["code"]) == ("status", "version_published")
    assert body["errors"] == [{"field": "status", "code": "version_published", "detail": body["detail"]}]


def test_publishing_without_summary_names_the_field(api, project, manager):
    draft = services.create_draft(project, manager)
    response = api(manager).post(f"/api/guidelines/{draft.pk}/publish/", {}, content_type="application/json")
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == ("change_summary", "required")


def test_unknown_class_is_a_400_naming_the_value(api, project, manager):
    draft = services.create_draft(project, manager)
    response = api(manager).put(
        f"/api/guidelines/{draft.pk}/classes/", [{"label_class": "unicorn"}], content_type="application/json"
    )
    assert response.status_code == 400
    body = response.json()
    assert (body["field"], body["code"]) == ("class_definitions[0].label_class", "unknown_class")
    assert "unicorn" in body["detail"]


def test_acknowledge_is_idempotent_201_then_200(api, project, annotator, published):
    client = api(annotator)
    first = client.post(f"/api/guidelines/{published.pk}/acknowledge/")
    second = client.post(f"/api/guidelines/{published.pk}/acknowledge/")
    assert (first.status_code, second.status_code) == (201, 200)
    assert first.json()["pending"] is False
    assert GuidelineAcknowledgement.objects.filter(version=published, user=annotator).count() == 1


def test_html_fields_are_sanitised(api, project, manager, annotator):
    draft = services.create_draft(project, manager, body=HOSTILE, ambiguous_cases=HOSTILE)
    services.replace_class_definitions(
        draft, [services.ClassDefinitionSpec("cat", HOSTILE, [services.ExampleSpec("positive", HOSTILE)])]
    )
    version = services.publish_version(draft, manager, change_summary=HOSTILE)
    payload = api(annotator).get(f"/api/guidelines/{version.pk}/").json()
    for html in (payload["body_html"], payload["ambiguous_cases_html"], payload["change_summary_html"]):
        _assert_clean(html)
    _assert_clean(payload["class_definitions"][0]["definition_html"])
    _assert_clean(payload["class_definitions"][0]["examples"][0]["text_html"])
    assert "<h1>Rules</h1>" in payload["body_html"]


def test_current_version_404_before_the_first_publish(api, project, annotator):
    assert api(annotator).get(f"/api/projects/{project.pk}/guidelines/current/").status_code == 404


def test_diff_api_returns_rendered_sections(api, project, manager, annotator):
    v1 = publish(project, manager, body="Dogs bark.")
    draft = services.start_draft_from(v1, manager)
    services.update_draft(draft, body="Dogs bark loudly.")
    v2 = services.publish_version(draft, manager, change_summary="louder")
    payload = api(annotator).get(f"/api/guidelines/{v2.pk}/diff/").json()
    assert payload["from"] == v1.pk and payload["changed"] is True
    assert "<ins>loudly.</ins>" in payload["sections"][0]["html"]


def test_preview_renders_sanitised_html_for_managers_only(api, project, manager, annotator):
    assert (
        api(annotator)
        .post("/api/guidelines/preview/", {"markdown": "x"}, content_type="application/json")
        .status_code
        == 403
    )
    response = api(manager).post(
        "/api/guidelines/preview/", {"markdown": HOSTILE}, content_type="application/json"
    )
    assert response.status_code == 200
    _assert_clean(response.json()["html"])


def test_questions_api_lists_and_answers(api, project, manager, annotator):
    item = factories.make_items(project, 1)[0]
    flag = ItemFlag.objects.create(item=item, annotator=annotator, comment="is a fox a dog?")
    version = publish(project, manager, summary="Foxes are not dogs.")
    client = api(manager)
    listed = client.get(f"/api/projects/{project.pk}/guideline-questions/?answered=false").json()
    assert [q["id"] for q in listed["results"]] == [flag.pk]
    answered = client.post(
        f"/api/projects/{project.pk}/guideline-questions/answer/",
        {"flags": [flag.pk], "version": version.pk, "answer": "No: foxes are their own class."},
        content_type="application/json",
    )
    assert answered.status_code == 200 and answered.json()["answered"] == 1
    assert QueueEntry.objects.filter(item=item, reason="requeue", is_open=True).exists()
    assert (
        client.get(f"/api/projects/{project.pk}/guideline-questions/?answered=false").json()["results"] == []
    )


def test_questions_api_is_for_managers(api, project, annotator):
    response = api(annotator).get(f"/api/projects/{project.pk}/guideline-questions/")
    assert response.status_code == 403 and response.json()["code"] == "permission_denied"


def test_answering_with_a_version_of_another_project_names_the_version(api, project, manager, annotator):
    item = factories.make_items(project, 1)[0]
    flag = ItemFlag.objects.create(item=item, annotator=annotator)
    foreign = publish(factories.make_project(), manager)
    response = api(manager).post(
        f"/api/projects/{project.pk}/guideline-questions/answer/",
        {"flags": [flag.pk], "version": foreign.pk, "answer": "x"},
        content_type="application/json",
    )
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == ("version", "not_in_project")


def test_a_draft_based_on_a_foreign_version_is_a_400_naming_based_on(api, project, manager):
    foreign = publish(factories.make_project(), manager)
    response = api(manager).post(
        f"/api/projects/{project.pk}/guidelines/", {"based_on": foreign.pk}, content_type="application/json"
    )
    assert response.status_code == 400 and response.json()["field"] == "based_on"
    assert not GuidelineVersion.objects.filter(project=project).exists()


def test_diff_without_a_base_names_against(api, manager, published):
    response = api(manager).get(f"/api/guidelines/{published.pk}/diff/")
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == ("against", "required")


def test_a_serializer_error_takes_the_one_shape(api, project, manager):
    draft = services.create_draft(project, manager)
    response = api(manager).put(
        f"/api/guidelines/{draft.pk}/classes/", [{"definition": "no class"}], content_type="application/json"
    )
    assert response.status_code == 400
    assert response.json()["field"].endswith("label_class") and response.json()["code"] == "required"


def test_an_annotator_writing_gets_403_in_the_one_shape(api, annotator, published):
    response = api(annotator).post(f"/api/guidelines/{published.pk}/new-draft/")
    assert response.status_code == 403
    assert response.json()["code"] == "permission_denied" and response.json()["field"] is None


def test_a_draft_is_a_404_in_the_one_shape_for_annotators(api, project, manager, annotator):
    draft = services.create_draft(project, manager)
    response = api(annotator).get(f"/api/guidelines/{draft.pk}/")
    assert response.status_code == 404 and response.json()["code"] == "not_found"


def test_impact_api_reports_counts_and_agreement_availability(api, project, manager, published):
    payload = api(manager).get(f"/api/projects/{project.pk}/guidelines/impact/").json()
    assert payload["versions"][0]["number"] == 1
    assert payload["versions"][0]["annotations"] == 0
    assert isinstance(payload["agreement_available"], bool)


def test_new_draft_api_copies_the_version(api, manager, published):
    response = api(manager).post(f"/api/guidelines/{published.pk}/new-draft/")
    assert response.status_code == 201
    draft = GuidelineVersion.objects.get(pk=response.json()["id"])
    assert draft.based_on == published and draft.body == published.body


def test_every_guideline_endpoint_is_in_the_openapi_schema_without_warnings(tmp_path, capsys):
    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--file", str(target))
    # Other parts' warnings are theirs to fix; none may come from this app.
    assert "labelhub/guidelines/" not in capsys.readouterr().err
    schema = target.read_text()
    for path in (
        "/api/projects/{project_id}/guidelines/:",
        "/api/guidelines/{id}/acknowledge/:",
        "/api/guidelines/{id}/publish/:",
        "/api/guidelines/{id}/diff/:",
        "/api/projects/{project_id}/guideline-questions/answer/:",
        "/api/projects/{project_id}/guidelines/impact/:",
    ):
        assert path in schema, path
