"""The projects API: membership scoping, manager-only writes, items, imports, schema."""

import io
import json

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotators.qa.models import GoldItem
from labelhub.projects.models import GroundTruth, ImportBatch, Item, Project
from tests import factories

pytestmark = pytest.mark.django_db

CONFIG = '<View><Text name="t" value="$text"/><Choices name="c" toName="t"><Choice value="yes"/><Choice value="no"/></Choices></View>'


def client_for(user) -> APIClient:
    client = APIClient()
    client.force_authenticate(user)
    return client


def upload(client, project, body: bytes, name: str, fmt: str | None = None):
    data = {"file": io.BytesIO(body)}
    data["file"].name = name
    if fmt:
        data["format"] = fmt
    return client.post(f"/api/projects/{project.pk}/imports/", data, format="multipart")


def test_member_lists_only_their_projects_with_classes(project, annotator):
    factories.make_project("someone else's")
    response = client_for(annotator).get("/api/projects/")
    assert response.status_code == 200
    assert [p["name"] for p in response.json()["results"]] == [project.name]
    assert [c["name"] for c in response.json()["results"][0]["classes"]] == ["cat", "dog", "wolf"]


def test_outsider_gets_404_on_project_items_and_imports(project, outsider):
    factories.make_items(project, 3)
    client = client_for(outsider)
    assert client.get(f"/api/projects/{project.pk}/").status_code == 404
    assert client.get(f"/api/projects/{project.pk}/items/").status_code == 404
    assert client.get(f"/api/projects/{project.pk}/imports/").status_code == 404


def test_anonymous_request_is_refused(project):
    assert APIClient().get(f"/api/projects/{project.pk}/items/").status_code in (401, 403)


def test_token_auth_works(project, annotator):
    token = Token.objects.create(user=annotator)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    assert client.get(f"/api/projects/{project.pk}/items/").status_code == 200


def test_annotator_cannot_create_project(annotator):
    response = client_for(annotator).post(
        "/api/projects/", {"name": "mine", "modality": "text"}, format="json"
    )
    assert response.status_code == 403


def test_annotator_cannot_change_project_or_classes(project, annotator):
    client = client_for(annotator)
    assert client.patch(f"/api/projects/{project.pk}/", {"gold_rate": 0.5}, format="json").status_code == 403
    response = client.post(f"/api/projects/{project.pk}/classes/", {"name": "fox"}, format="json")
    assert response.status_code == 403


def test_staff_creates_project_with_classes():
    staff = factories.make_user(is_staff=True)
    response = client_for(staff).post(
        "/api/projects/",
        {"name": "Birds", "modality": "image", "classes": [{"name": "owl"}, {"name": "hawk", "key": "h"}]},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert [(c["name"], c["key"]) for c in response.json()["classes"]] == [("owl", "1"), ("hawk", "h")]


def test_manager_updates_settings_and_adds_member(project, manager):
    client = client_for(manager)
    assert client.patch(f"/api/projects/{project.pk}/", {"gold_rate": 0.2}, format="json").status_code == 200
    newcomer = factories.make_user()
    response = client.post(
        f"/api/projects/{project.pk}/members/", {"user": newcomer.pk, "role": "reviewer"}, format="json"
    )
    assert response.status_code == 201
    assert project.memberships.get(user=newcomer).role == "reviewer"


def test_annotator_cannot_add_members(project, annotator):
    response = client_for(annotator).post(
        f"/api/projects/{project.pk}/members/", {"user": annotator.pk, "role": "manager"}, format="json"
    )
    assert response.status_code == 403


def test_manager_creates_project_from_label_config(project, manager):
    response = client_for(manager).post(
        "/api/projects/from-label-config/", {"name": "Yes or no", "label_config": CONFIG}, format="json"
    )
    assert response.status_code == 201
    assert [c["name"] for c in response.json()["classes"]] == ["yes", "no"]


def test_label_config_error_is_a_400_naming_the_tag(manager):
    bad = CONFIG.replace("</View>", '<Rating name="r" toName="t"/></View>')
    response = client_for(manager).post(
        "/api/projects/from-label-config/", {"name": "Rated", "label_config": bad}, format="json"
    )
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"]) == ("invalid_label_config", "label_config")
    assert "<Rating>" in body["detail"]
    assert not Project.objects.filter(name="Rated").exists()


def test_items_are_paginated_filtered_by_batch_and_searchable(project, annotator, manager):
    factories.make_items(project, 3, prefix="old")
    body = "".join(json.dumps({"id": f"new-{n}", "text": f"fresh sentence {n}"}) + "\n" for n in range(5))
    batch_id = upload(client_for(manager), project, body.encode(), "new.jsonl").json()["id"]
    client = client_for(annotator)
    page = client.get(f"/api/projects/{project.pk}/items/", {"page_size": 2}).json()
    assert page["count"] == 8 and len(page["results"]) == 2
    by_batch = client.get(f"/api/projects/{project.pk}/items/", {"import_batch": batch_id}).json()
    assert by_batch["count"] == 5
    found = client.get(f"/api/projects/{project.pk}/items/", {"search": "sentence 3"}).json()
    assert [i["external_id"] for i in found["results"]] == ["new-3"]


def test_items_never_expose_ground_truth_or_gold(project, annotator):
    item = factories.make_items(project, 1)[0]
    GroundTruth.objects.create(item=item, labels=["wolf"])
    GoldItem.objects.create(item=item, labels=["wolf"])
    body = json.dumps(client_for(annotator).get(f"/api/projects/{project.pk}/items/{item.pk}/").json())
    assert "wolf" not in body and "gold" not in body and "ground" not in body


def test_upload_import_returns_201_batch(project, manager):
    body = b'{"text": "one"}\n{"text": "two"}\n{"text": "one"}\n'
    response = upload(client_for(manager), project, body, "items.jsonl")
    assert response.status_code == 201
    assert (response.json()["imported_count"], response.json()["duplicate_count"]) == (2, 1)
    assert response.json()["status"] == "done"


def test_upload_import_with_bad_line_returns_400_with_line_and_field(project, manager):
    body = b"text,id\nfine,1\n,2\n"
    response = upload(client_for(manager), project, body, "items.txt", fmt="csv")
    assert response.status_code == 400
    body = response.json()
    assert (body["code"], body["field"]) == ("import_rejected", "text")
    assert body["errors"][0] == {
        "line": 3,
        "field": "text",
        "code": "required",
        "detail": "missing: a text project needs a 'text' field",
    }
    failed = client_for(manager).get(f"/api/projects/{project.pk}/imports/{response.json()['batch']}/").json()
    assert failed["status"] == "failed"
    assert not Item.objects.filter(project=project).exists()


def test_annotator_cannot_import(project, annotator):
    assert upload(client_for(annotator), project, b'{"text": "x"}\n', "x.jsonl").status_code == 403


def test_openapi_schema_is_valid_with_no_warnings_from_project_views(tmp_path, capsys):
    from django.core.management import call_command

    target = tmp_path / "schema.yml"
    call_command("spectacular", "--validate", "--file", str(target))
    warnings = [line for line in capsys.readouterr().err.splitlines() if "labelhub/projects/" in line]
    assert warnings == []
    schema = target.read_text()
    assert "/api/projects/{project_pk}/imports/:" in schema
    assert "/api/projects/from-label-config/:" in schema


@pytest.mark.parametrize("fmt", ["jsonl", "csv", "label_studio"])
def test_upload_spooled_to_disk_streams_from_the_temporary_file(project, manager, settings, fmt):
    settings.FILE_UPLOAD_MAX_MEMORY_SIZE = 100  # Django writes bigger uploads to a temporary file
    texts = [f"sentence {n} long enough to pass the in-memory limit" for n in range(50)]
    body = {
        "jsonl": "".join(json.dumps({"text": t}) + "\n" for t in texts),
        "csv": "text\n" + "".join(f"{t}\n" for t in texts),
        "label_studio": json.dumps([{"data": {"text": t}} for t in texts]),
    }[fmt]
    response = upload(client_for(manager), project, body.encode(), f"big.{fmt}", fmt=fmt)
    assert response.status_code == 201, response.json()
    assert response.json()["imported_count"] == 50


def test_upload_refuses_the_records_format_which_has_no_file_reader(project, manager):
    response = upload(client_for(manager), project, b'{"text": "x"}\n', "x.jsonl", fmt="records")
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == ("format", "invalid_choice")
    assert not Item.objects.filter(project=project).exists()


DEEP = b"[" * 100_000
HOSTILE_IMPORTS = {
    # name: (file body, file name, the line and field the 400 must name)
    "jsonl_nul": (b'{"text": "ok"}\n{"text": "a\\u0000b"}\n', "x.jsonl", 2, "text"),
    "jsonl_nan": (b'{"text": "a", "score": NaN}\n', "x.jsonl", 1, "score"),
    "jsonl_infinity": (b'{"text": "a", "score": -Infinity}\n', "x.jsonl", 1, "score"),
    "jsonl_1e999": (b'{"text": "a", "meta": {"score": 1e999}}\n', "x.jsonl", 1, "meta.score"),
    "jsonl_lone_surrogate": (b'{"text": "a\\ud800"}\n', "x.jsonl", 1, "text"),
    "jsonl_5000_digits": (b'{"text": "a", "n": ' + b"9" * 5000 + b"}\n", "x.jsonl", 1, "n"),
    "jsonl_100000_nested": (b'{"text": "fine"}\n' + DEEP + b"\n", "x.jsonl", 2, "json"),
    "label_studio_nul": (b'[{"data": {"text": "a\\u0000b"}}]', "x.json", 1, "data.text"),
    "label_studio_100000_nested": (
        b'[{"data": {"text": "a"}}, ' + DEEP + b"]" * 100_001,
        "x.json",
        2,
        "json",
    ),
    "csv_raw_nul": (b"id,text\n1,fine\n2,a\x00b\n", "x.csv", 3, "text"),
    "csv_duplicated_header": (b"text,lang,text\na,en,b\n", "x.csv", 1, "text"),
}


@pytest.mark.parametrize("case", list(HOSTILE_IMPORTS))
def test_hostile_import_is_a_400_naming_line_and_field_with_nothing_written(project, manager, case):
    body, name, line, field = HOSTILE_IMPORTS[case]
    response = upload(client_for(manager), project, body, name)
    assert response.status_code == 400, response.content[:300]
    error = response.json()["errors"][0]
    assert (error["line"], error["field"]) == (line, field), error
    assert not Item.objects.filter(project=project).exists()
    batch = ImportBatch.objects.get(pk=response.json()["batch"])
    assert batch.status == "failed"


def test_import_line_over_the_size_limit_is_a_400_and_others_are_still_checked(project, manager, settings):
    settings.LABELHUB_IMPORT_MAX_ITEM_BYTES = 1000
    body = b'{"text": "' + b"x" * 5000 + b'"}\n{"text": "fine"}\n{"text": oops}\n'
    response = upload(client_for(manager), project, body, "x.jsonl")
    assert response.status_code == 400
    assert [(e["line"], e["field"], e["code"]) for e in response.json()["errors"]] == [
        (1, "line", "too_large"),
        (3, "json", "invalid_json"),
    ]
    assert not Item.objects.filter(project=project).exists()


def test_project_without_modality_is_a_400_naming_it(manager):
    response = client_for(manager).post("/api/projects/", {"name": "No modality"}, format="json")
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == ("modality", "required")
    assert not Project.objects.filter(name="No modality").exists()


def test_patch_without_modality_keeps_it(project, manager):
    response = client_for(manager).patch(f"/api/projects/{project.pk}/", {"gold_rate": 0.1}, format="json")
    assert response.status_code == 200
    assert response.json()["modality"] == project.modality


def test_form_encoded_null_balance_target_is_a_400(project, manager):
    response = client_for(manager).patch(f"/api/projects/{project.pk}/", {"balance_target": "null"})
    assert response.status_code == 400
    assert response.json()["field"] == "balance_target"
    project.refresh_from_db()
    assert project.balance_target == {}


@pytest.mark.parametrize(
    "target",
    [[1, 2], {"wolf": "x"}, {"wolf": -1}, {"uniform": "yes"}, {"uniform": True, "wolf": 1}],
)
def test_balance_target_that_no_fill_could_use_is_a_400(project, manager, target):
    response = client_for(manager).patch(
        f"/api/projects/{project.pk}/", {"balance_target": target}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "balance_target"


@pytest.mark.parametrize("target", [{}, {"uniform": True}, {"wolf": 1, "dog": 10.5}])
def test_balance_target_in_one_of_its_forms_is_accepted(project, manager, target):
    response = client_for(manager).patch(
        f"/api/projects/{project.pk}/", {"balance_target": target}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["balance_target"] == target


@pytest.mark.parametrize(
    "field, value",
    [
        ("gold_rate", 2),
        ("gold_rate", -0.1),
        ("overlap_fraction", -1),
        ("overlap_fraction", 1.5),
        ("qa_min_gold_accuracy", 3),
        ("qa_min_agreement", -2),
    ],
)
def test_share_outside_0_1_is_a_400_naming_the_field(project, manager, field, value):
    response = client_for(manager).patch(f"/api/projects/{project.pk}/", {field: value}, format="json")
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == (
        field,
        "max_value" if value > 1 else "min_value",
    )


def test_share_outside_0_1_on_create_is_a_400(manager):
    response = client_for(manager).post(
        "/api/projects/", {"name": "Strict", "modality": "text", "gold_rate": 2}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "gold_rate"
    assert not Project.objects.filter(name="Strict").exists()


@pytest.mark.parametrize("clash", [{"name": "cat"}, {"name": "lynx", "key": "c"}])
def test_duplicate_class_name_or_key_is_a_400_naming_it(project, manager, clash):
    project.classes.filter(name="cat").update(key="c")
    response = client_for(manager).post(f"/api/projects/{project.pk}/classes/", clash, format="json")
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == (list(clash)[-1], "unique")
    assert project.classes.count() == 3


def test_renaming_a_class_to_another_class_name_is_a_400(project, manager):
    dog = project.classes.get(name="dog")
    response = client_for(manager).patch(
        f"/api/projects/{project.pk}/classes/{dog.pk}/", {"name": "cat"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["field"] == "name"
    dog.refresh_from_db()
    assert dog.name == "dog"


def test_class_keeps_its_own_name_and_key_on_update(project, manager):
    cat = project.classes.get(name="cat")
    response = client_for(manager).patch(
        f"/api/projects/{project.pk}/classes/{cat.pk}/",
        {"name": "cat", "description": "felines"},
        format="json",
    )
    assert response.status_code == 200
    assert response.json()["description"] == "felines"


def test_member_without_role_is_a_400_naming_it(project, manager):
    newcomer = factories.make_user()
    response = client_for(manager).post(
        f"/api/projects/{project.pk}/members/", {"user": newcomer.pk}, format="json"
    )
    assert response.status_code == 400
    assert (response.json()["field"], response.json()["code"]) == ("role", "required")
    assert not project.memberships.filter(user=newcomer).exists()


def test_member_cannot_be_moved_to_another_user(project, manager, annotator):
    membership = project.memberships.get(user=annotator)
    response = client_for(manager).patch(
        f"/api/projects/{project.pk}/members/{membership.pk}/", {"user": manager.pk}, format="json"
    )
    assert response.status_code == 200
    membership.refresh_from_db()
    assert membership.user == annotator


POLICY_FIELDS = {"gold_rate", "qa_min_count", "qa_min_gold_accuracy", "qa_min_agreement", "qa_pause_on_fail"}
POLICY_FIELDS |= {
    "overlap_fraction",
    "overlap_annotators",
    "balance_target",
    "consensus_method",
    "al_strategy",
}


def test_annotator_reads_the_project_without_its_qa_policy(project, annotator):
    body = client_for(annotator).get(f"/api/projects/{project.pk}/").json()
    assert POLICY_FIELDS.isdisjoint(body)
    assert {"name", "modality", "multi_label", "classes", "lease_minutes"} <= set(body)
    listed = client_for(annotator).get("/api/projects/").json()["results"][0]
    assert POLICY_FIELDS.isdisjoint(listed)


def test_manager_and_staff_read_the_qa_policy(project, manager):
    assert set(client_for(manager).get(f"/api/projects/{project.pk}/").json()) >= POLICY_FIELDS
    staff = factories.make_user(is_staff=True)
    assert set(client_for(staff).get(f"/api/projects/{project.pk}/").json()) >= POLICY_FIELDS


def test_project_list_shows_the_policy_only_of_the_projects_one_manages(project, manager):
    other = factories.make_project("annotated elsewhere")
    factories.make_member(other, "annotator", user=manager)
    results = {p["name"]: p for p in client_for(manager).get("/api/projects/").json()["results"]}
    assert set(results[project.name]) >= POLICY_FIELDS
    assert POLICY_FIELDS.isdisjoint(results[other.name])


def test_annotator_does_not_see_who_is_paused_or_why(project, manager, annotator):
    project.memberships.filter(user=annotator).update(is_paused=True, paused_reason="gold accuracy 0.41")
    members = client_for(annotator).get(f"/api/projects/{project.pk}/members/").json()["results"]
    assert members and all({"is_paused", "paused_reason"}.isdisjoint(m) for m in members)
    as_manager = client_for(manager).get(f"/api/projects/{project.pk}/members/").json()["results"]
    assert {m["username"]: m["paused_reason"] for m in as_manager}[annotator.username] == "gold accuracy 0.41"


def test_upload_of_a_label_studio_export_says_what_it_left_out(manager):
    from pathlib import Path

    from labelhub.projects.services import create_project_from_label_config

    fixtures = Path(__file__).parent / "fixtures" / "label_studio"
    project = create_project_from_label_config("LS upload", (fixtures / "config.xml").read_text())
    factories.make_member(project, "manager", user=manager)
    body = (fixtures / "export-default.json").read_bytes()
    response = upload(client_for(manager), project, body, "export.json")
    assert response.status_code == 201, response.json()
    assert response.json()["skipped"] == {"cancelled_annotations": 1, "predictions_id_only": 2}
    assert (response.json()["annotation_count"], response.json()["warnings"]) == (5, [])
