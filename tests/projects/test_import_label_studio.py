"""Label Studio 1.23.2's own exports (tests/projects/fixtures/label_studio/, see its README)
imported into a project made from the same config: labels, annotators, suggestions, skips."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from django.contrib.auth import get_user_model

from annotators.qa.consensus import compute_consensus
from annotators.qa.models import ConsensusLabel
from labelhub.projects.importing import ImportRejected, import_file
from labelhub.projects.models import Annotation, Item
from labelhub.projects.services import create_project_from_label_config
from tests import factories

pytestmark = pytest.mark.django_db

FIXTURES = Path(__file__).parent / "fixtures" / "label_studio"
BATTERY = "The battery lasts for days, great purchase."
STOPPED = "Stopped working after a week."
CASE = "It is a phone case."
SHIPPING = "Shipping took long, but the product, is fine."


@pytest.fixture
def project():
    return create_project_from_label_config("From Label Studio", (FIXTURES / "config.xml").read_text())


def load(project, name: str, fmt: str):
    with (FIXTURES / name).open("rb") as handle:
        return import_file(project, handle, fmt, filename=name)


def annotations_by_text(project) -> dict[str, list[tuple[str, list[str], float]]]:
    found: dict[str, list] = {}
    rows = Annotation.objects.filter(item__project=project).select_related("item", "annotator").order_by("id")
    for a in rows:
        found.setdefault(a.item.payload["text"], []).append((a.annotator.username, a.labels, a.time_spent))
    return {text: sorted(rows) for text, rows in found.items()}


# Label Studio user ids 2, 3, 4 are alice, bob and carol (see the README).
BY_ID = {
    BATTERY: [
        ("ls:user-2", ["positive"], 4.2),
        ("ls:user-3", ["positive"], 6.0),
        ("ls:user-4", ["neutral"], 3.1),
    ],
    STOPPED: [("ls:user-2", ["negative"], 2.5)],
    CASE: [("ls:user-4", ["neutral"], 5.5)],
}


def test_default_json_skips_id_only_predictions_and_counts_them(project):
    batch = load(project, "export-default.json", "label_studio")
    assert (batch.status, batch.imported_count, batch.annotation_count) == ("done", 3, 5)
    assert batch.skipped == {"predictions_id_only": 2, "cancelled_annotations": 1}
    assert annotations_by_text(project) == BY_ID
    assert not Item.objects.filter(project=project, suggestion__isnull=False).exists()
    assert Item.objects.get(project=project, external_id="5").payload == {
        "text": BATTERY,
        "source": "reviews",
    }


def test_json_with_full_predictions_makes_them_the_suggestion(project):
    batch = load(project, "export-full-predictions.json", "label_studio")
    assert (batch.imported_count, batch.annotation_count) == (4, 5)
    assert batch.skipped == {"cancelled_annotations": 1}
    suggestions = {i.payload["text"]: i.suggestion for i in Item.objects.filter(project=project)}
    assert suggestions == {
        BATTERY: {"labels": ["positive"], "confidence": 0.91, "model_version": "sentiment-v2"},
        STOPPED: {"labels": ["negative"], "confidence": 0.64, "model_version": "sentiment-v2"},
        CASE: None,
        SHIPPING: {"labels": ["neutral"], "confidence": 0.55, "model_version": "sentiment-v2"},
    }


def test_annotators_given_with_their_email_are_named_by_it(project):
    load(project, "export-full.json", "label_studio")
    assert annotations_by_text(project)[BATTERY] == [
        ("ls:alice@example.com", ["positive"], 4.2),
        ("ls:bob@example.com", ["positive"], 6.0),
        ("ls:carol@example.com", ["neutral"], 3.1),
    ]


def test_json_min_is_regrouped_into_one_item_per_task(project):
    batch = load(project, "export-min.json", "label_studio")
    assert (batch.status, batch.imported_count, batch.duplicate_count, batch.annotation_count) == (
        "done",
        3,
        0,
        5,
    )
    assert annotations_by_text(project) == BY_ID
    assert Item.objects.get(project=project, external_id="6").payload == {
        "text": STOPPED,
        "source": "reviews",
    }


def test_csv_label_column_named_after_the_choices_is_read_as_annotations(project):
    batch = load(project, "export.csv", "csv")
    assert (batch.status, batch.imported_count, batch.annotation_count) == ("done", 3, 5)
    assert annotations_by_text(project) == BY_ID
    assert Item.objects.get(project=project, external_id="7").payload == {"text": CASE, "source": "reviews"}


def test_imported_annotators_cannot_log_in_and_are_made_once(project, client):
    load(project, "export-default.json", "label_studio")
    other = create_project_from_label_config("Second", (FIXTURES / "config.xml").read_text())
    load(other, "export-min.json", "label_studio")
    accounts = get_user_model().objects.filter(username__startswith="ls:")
    assert sorted(a.username for a in accounts) == ["ls:user-2", "ls:user-3", "ls:user-4"]
    assert not any(a.is_active or a.has_usable_password() for a in accounts)
    assert not client.login(username="ls:user-2", password="")


def test_consensus_sees_every_imported_annotator(project):
    load(project, "export-default.json", "label_studio")
    compute_consensus(project)
    battery = ConsensusLabel.objects.get(item__project=project, item__external_id="5")
    assert (battery.labels, battery.annotator_count) == (["positive"], 3)
    assert battery.confidence == pytest.approx(2 / 3)


def test_flat_export_into_a_project_without_its_config_is_refused_once():
    project = factories.make_project(classes=("positive", "negative", "neutral"))
    with pytest.raises(ImportRejected) as rejected:
        load(project, "export-min.json", "label_studio")
    errors = rejected.value.errors
    assert len(errors) == 1
    assert errors[0]["code"] == "label_studio_flat_export" and "JSON_MIN" in errors[0]["detail"]


def test_flat_row_without_the_label_column_names_the_column(project):
    rows = [{"text": "x", "id": 1, "label": "positive", "annotator": 2, "annotation_id": 1}]
    with pytest.raises(ImportRejected) as rejected:
        import_file(project, io.BytesIO(json.dumps(rows).encode()), "label_studio")
    assert rejected.value.errors[0]["field"] == "sentiment"


def test_unknown_class_in_a_csv_names_the_label_column(project):
    body = "id,text,sentiment,annotator\n1,hello,angry,2\n"
    with pytest.raises(ImportRejected) as rejected:
        import_file(project, io.BytesIO(body.encode()), "csv")
    error = rejected.value.errors[0]
    assert (error["line"], error["field"], error["code"]) == (2, "sentiment", "unknown_label")


def test_a_hand_made_csv_with_the_label_column_imports_unattributed_annotations(project):
    body = "text,sentiment\ngood,positive\nbad,\n"
    batch = import_file(project, io.BytesIO(body.encode()), "csv")
    assert (batch.imported_count, batch.annotation_count) == (2, 1)
    assert Annotation.objects.get(item__project=project).annotator is None


def test_label_studio_upload_paths_are_imported_with_a_warning():
    config = (
        '<View><Image name="img" value="$image"/>'
        '<Choices name="kind" toName="img"><Choice value="cat"/><Choice value="dog"/></Choices></View>'
    )
    project = create_project_from_label_config("Pictures", config)
    tasks = [
        {"data": {"image": "/data/upload/1/cat.png"}},
        {"data": {"image": "https://example.org/dog.png"}},
    ]
    batch = import_file(project, io.BytesIO(json.dumps(tasks).encode()), "label_studio")
    assert batch.imported_count == 2
    assert batch.skipped == {"images_not_shown": 1}
    [warning] = batch.warnings
    assert (warning["line"], warning["field"], warning["code"]) == (1, "image", "image_not_shown")
    assert "/data/upload/1/cat.png" in warning["detail"]


def test_a_config_reading_title_labels_the_title_even_when_the_task_has_text():
    config = (
        '<View><Text name="t" value="$title"/>'
        '<Choices name="c" toName="t"><Choice value="cat"/><Choice value="dog"/></Choices></View>'
    )
    project = create_project_from_label_config("Titles", config)
    tasks = [{"data": {"title": "a short title", "text": "a long body"}}]
    import_file(project, io.BytesIO(json.dumps(tasks).encode()), "label_studio")
    assert Item.objects.get(project=project).payload == {
        "text": "a short title",
        "unread_text": "a long body",
    }


def test_a_multiple_choice_cell_of_label_studio_csv_is_read_as_several_classes():
    config = (
        '<View><Text name="t" value="$text"/><Choices name="topics" toName="t" choice="multiple">'
        '<Choice value="price"/><Choice value="battery"/><Choice value="shipping"/></Choices></View>'
    )
    project = create_project_from_label_config("Topics", config)
    body = 'annotation_id,annotator,id,text,topics\n1,2,9,"cheap, lasts","{""choices"": [""price"", ""battery""]}"\n'
    batch = import_file(project, io.BytesIO(body.encode()), "csv")
    assert batch.annotation_count == 1
    assert Annotation.objects.get(item__project=project).labels == ["price", "battery"]


def test_a_class_key_that_is_a_page_key_is_refused_when_a_class_is_added(project):
    from rest_framework.test import APIClient

    manager = factories.make_member(project, "manager")
    api = APIClient()
    api.force_authenticate(manager)
    response = api.post(
        f"/api/projects/{project.pk}/classes/", {"name": "flagged", "key": "f"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "key" and "Flag" in response.json()["detail"]


NEWS = (
    '<View><Header value="$title"/><Text name="summary" value="$summary"/>'
    '<Text name="body" value="$body"/>'
    '<Choices name="topic" toName="body"><Choice value="sport"/><Choice value="politics"/></Choices></View>'
)


def test_every_text_and_header_field_a_config_shows_is_kept_in_the_payload():
    project = create_project_from_label_config("News", NEWS)
    tasks = [
        {
            "id": 7,
            "data": {"title": "Cup final", "summary": "City won.", "body": "City won 2-1.", "source": "wire"},
            "annotations": [{"result": [{"type": "choices", "value": {"choices": ["sport"]}}]}],
        }
    ]
    batch = import_file(project, io.BytesIO(json.dumps(tasks).encode()), "label_studio")
    assert (batch.imported_count, batch.annotation_count) == (1, 1)
    assert Item.objects.get(project=project).payload == {
        "text": "City won 2-1.",
        "title": "Cup final",
        "summary": "City won.",
        "source": "wire",
    }


@pytest.mark.parametrize(
    ("data", "field", "code"),
    [
        ({"title": "Cup final", "body": "City won 2-1."}, "summary", "required"),
        ({"title": 3, "summary": "City won.", "body": "City won 2-1."}, "title", "invalid_type"),
    ],
    ids=["missing", "not-a-string"],
)
def test_a_task_without_a_shown_field_is_refused_naming_it(data, field, code):
    project = create_project_from_label_config("News", NEWS)
    tasks = [{"data": {"title": "ok", "summary": "ok", "body": "fine"}}, {"data": data}]
    with pytest.raises(ImportRejected) as refused:
        import_file(project, io.BytesIO(json.dumps(tasks).encode()), "label_studio")
    [error] = refused.value.errors
    assert (error["line"], error["field"], error["code"]) == (2, field, code)
    assert not Item.objects.filter(project=project).exists()
