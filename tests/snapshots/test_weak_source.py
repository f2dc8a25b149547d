"""Weak labels in snapshots: a separate, marked source, frozen only when asked and exported only
when asked, never mixed with the human labels."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from labelhub.projects.importing import content_hash
from labelhub.projects.models import Annotation, Item
from labelhub.snapshots.errors import ImmutableError
from labelhub.snapshots.exports import CSV_COLUMNS
from labelhub.snapshots.models import Snapshot, SnapshotItem, SnapshotWeakLabel, SnapshotWeakSource
from labelhub.snapshots.services import cut_snapshot
from labelhub.weak import services as weak_services
from tests import factories
from tests.snapshots.conftest import label
from tests.weak.builders import text_items

pytestmark = pytest.mark.django_db


@pytest.fixture
def weakly_labelled(project, manager):
    items = text_items(project, ["a cat", "a dog", "another cat", "a wolf", "nothing"])
    label(items[0], ["cat"], factories.make_member(project))
    weak_services.create_function(
        project, name="cats", kind="keyword", label="cat", config={"keywords": ["cat"]}
    )
    weak_services.create_function(
        project, name="dogs", kind="keyword", label="dog", config={"keywords": ["dog"]}
    )
    weak_services.execute_run(weak_services.start_run(project), method="majority")
    client = APIClient()
    client.force_authenticate(manager)
    return project, items, client


def lines(response) -> list[dict]:
    return [json.loads(line) for line in b"".join(response.streaming_content).decode().splitlines()]


def test_weak_labels_are_left_out_unless_the_cut_and_the_export_ask(weakly_labelled):
    project, items, client = weakly_labelled
    plain, _ = cut_snapshot(project)
    assert not hasattr(plain, "weak_source") or plain.weak_labels.count() == 0
    rows = lines(client.get(f"/api/snapshots/{plain.content_hash}/export/jsonl/"))
    assert [r["external_id"] for r in rows] == [items[0].external_id]
    assert (
        client.get(f"/api/snapshots/{plain.content_hash}/export/jsonl/?include=weak").json()["field"]
        == "include"
    )

    weak, created = cut_snapshot(project, include_weak=True)
    assert created and weak.content_hash != plain.content_hash
    assert SnapshotItem.objects.filter(snapshot=weak).count() == 1  # the human rows are the same
    assert weak.weak_source.method == "majority" and weak.weak_source.function_versions == {
        "cats": 1,
        "dogs": 1,
    }
    without = lines(client.get(f"/api/snapshots/{weak.content_hash}/export/jsonl/"))
    assert all("weak_labels" not in r and r.get("source") != "weak" for r in without)
    assert len(without) == 1


def test_an_export_that_asks_gets_marked_weak_rows_never_for_human_items(weakly_labelled):
    project, items, client = weakly_labelled
    weak, _ = cut_snapshot(project, include_weak=True)
    response = client.get(f"/api/snapshots/{weak.content_hash}/export/jsonl/?include=weak")
    assert response.status_code == 200
    rows = lines(response)
    human = [r for r in rows if r.get("source") != "weak"]
    marked = [r for r in rows if r.get("source") == "weak"]
    assert [r["external_id"] for r in human] == [items[0].external_id]
    # "a cat" is human-labelled: its weak label stays out; "nothing" had no vote.
    assert sorted(r["external_id"] for r in marked) == sorted([items[1].external_id, items[2].external_id])
    for row in marked:
        assert "labels" not in row and row["method"] == "weak:majority"
        assert row["function_versions"] == {"cats": 1, "dogs": 1} and 0 < row["confidence"] <= 1
    assert {r["external_id"]: r["weak_labels"] for r in marked}[items[1].external_id] == ["dog"]
    assert response["ETag"].endswith('-weak"')


def test_a_cut_asking_for_weak_labels_without_any_is_a_400_naming_the_field(project, manager):
    (item,) = text_items(project, ["a cat"])
    label(item, ["cat"], factories.make_member(project))
    client = APIClient()
    client.force_authenticate(manager)
    response = client.post(f"/api/projects/{project.pk}/snapshots/", {"include_weak": True}, format="json")
    assert response.status_code == 400 and response.json()["field"] == "include_weak"
    assert not project.snapshots.exists()


def test_every_format_refuses_include_weak_on_a_snapshot_cut_without_them(weakly_labelled):
    project, _, client = weakly_labelled
    plain, _ = cut_snapshot(project)
    for fmt in ("jsonl", "csv", "parquet", "labelstudio"):
        response = client.get(f"/api/snapshots/{plain.content_hash}/export/{fmt}/?include=weak")
        assert response.status_code == 400 and response.json()["field"] == "include", fmt


def body(response) -> bytes:
    assert response.status_code == 200
    return b"".join(response.streaming_content)


@pytest.fixture
def formula_item(weakly_labelled):
    """A weak-labelled item whose external id a spreadsheet would run as a formula."""
    project, items, client = weakly_labelled
    payload = {"text": "a dog again"}
    Item.objects.create(
        project=project, external_id="=HYPERLINK(1)", payload=payload, content_hash=content_hash(payload)
    )
    weak_services.execute_run(weak_services.start_run(project), method="majority")
    weak, _ = cut_snapshot(project, include_weak=True)
    return weak, items, client


def test_csv_with_weak_adds_marked_rows_after_the_human_ones_formula_safe(formula_item):
    weak, items, client = formula_item
    plain = body(client.get(f"/api/snapshots/{weak.content_hash}/export/csv/")).decode()
    assert next(csv.reader(io.StringIO(plain))) == CSV_COLUMNS  # the plain export is unchanged
    response = client.get(f"/api/snapshots/{weak.content_hash}/export/csv/?include=weak")
    rows = list(csv.DictReader(io.StringIO(body(response).decode(), newline="")))
    assert response["ETag"].endswith('-weak"')
    assert list(rows[0]) == CSV_COLUMNS + ["source", "weak_labels", "function_versions"]
    assert [(r["external_id"], r["source"], r["labels"]) for r in rows[:1]] == [
        (items[0].external_id, "human", '["cat"]')
    ]
    marked = {r["external_id"]: r for r in rows[1:]}
    assert {r["source"] for r in marked.values()} == {"weak"}
    assert set(marked) == {"'=HYPERLINK(1)", items[1].external_id, items[2].external_id}
    dog = marked["'=HYPERLINK(1)"]
    assert (dog["labels"], dog["split"], dog["method"]) == ("", "", "weak:majority")
    assert json.loads(dog["weak_labels"]) == ["dog"] and float(dog["confidence"]) > 0
    assert json.loads(dog["function_versions"]) == {"cats": 1, "dogs": 1}


def test_parquet_with_weak_has_weak_columns_and_null_human_fields(weakly_labelled):
    import pyarrow.parquet as pq

    project, items, client = weakly_labelled
    weak, _ = cut_snapshot(project, include_weak=True)
    plain = pq.read_table(io.BytesIO(body(client.get(f"/api/snapshots/{weak.content_hash}/export/parquet/"))))
    assert "source" not in plain.column_names and plain.num_rows == 1
    table = pq.read_table(
        io.BytesIO(body(client.get(f"/api/snapshots/{weak.content_hash}/export/parquet/?include=weak")))
    )
    rows = {r["external_id"]: r for r in table.to_pylist()}
    assert rows[items[0].external_id]["source"] == "human" and rows[items[0].external_id]["labels"] == ["cat"]
    dog = rows[items[1].external_id]
    assert (dog["source"], dog["labels"], dog["split"], dog["weak_labels"]) == ("weak", None, None, ["dog"])
    assert dog["method"] == "weak:majority" and json.loads(dog["function_versions"]) == {"cats": 1, "dogs": 1}
    embedded = json.loads(table.schema.metadata[b"labelhub"])
    assert embedded["weak"]["method"] == "weak:majority" and "exports" not in embedded["weak"]


def test_label_studio_with_weak_gives_weak_labels_as_predictions_never_annotations(weakly_labelled):
    project, items, client = weakly_labelled
    weak, _ = cut_snapshot(project, include_weak=True)
    plain = json.loads(body(client.get(f"/api/snapshots/{weak.content_hash}/export/labelstudio/")))
    assert len(plain) == 1
    tasks = json.loads(
        body(client.get(f"/api/snapshots/{weak.content_hash}/export/labelstudio/?include=weak"))
    )
    assert tasks[0] == plain[0]  # the human task is as in the plain export
    marked = {t["meta"]["external_id"]: t for t in tasks[1:]}
    assert set(marked) == {items[1].external_id, items[2].external_id}
    dog = marked[items[1].external_id]
    assert dog["annotations"] == [] and dog["data"]["text"] == "a dog"
    (prediction,) = dog["predictions"]
    assert prediction["model_version"] == "weak:majority" and 0 < prediction["score"] <= 1
    assert prediction["result"][0]["value"] == {"choices": ["dog"]}
    assert dog["meta"]["source"] == "weak" and dog["meta"]["function_versions"] == {"cats": 1, "dogs": 1}


def test_label_studio_with_weak_shows_the_weak_suggestion_an_annotator_saw(weakly_labelled):
    project, items, client = weakly_labelled
    model = {"labels": ["wolf"], "confidence": 0.5, "model_version": 3}
    shown = {"labels": ["dog"], "confidence": 0.75, "source": "weak", "method": "majority"}
    Annotation.objects.filter(item=items[0]).update(suggestion_shown={**model, "weak": shown})
    weak, _ = cut_snapshot(project, include_weak=True)
    url = f"/api/snapshots/{weak.content_hash}/export/labelstudio/"
    (only_model,) = json.loads(body(client.get(url)))[0]["predictions"]
    assert only_model["model_version"] == 3
    predictions = json.loads(body(client.get(url + "?include=weak")))[0]["predictions"]
    # The weak one first: Label Studio and labelhub's importer take the last for the model's.
    assert [(p["model_version"], p["score"]) for p in predictions] == [("weak:majority", 0.75), (3, 0.5)]


def test_the_manifest_lists_the_weak_exports_of_a_snapshot_with_weak_labels(weakly_labelled):
    project, _, client = weakly_labelled
    plain, _ = cut_snapshot(project)
    assert "weak" not in client.get(f"/api/snapshots/{plain.content_hash}/manifest/").json()
    weak, _ = cut_snapshot(project, include_weak=True)
    base = f"/api/snapshots/{weak.content_hash}/"
    body(client.get(base + "export/csv/?include=weak"))  # cached now: the manifest gives its size
    listed = client.get(base + "manifest/").json()["weak"]
    assert listed["method"] == "weak:majority" and listed["label_count"] == 2
    assert listed["exports"]["csv"]["url"] == base + "export/csv/?include=weak"
    assert listed["exports"]["csv"]["size"] > 0 and listed["exports"]["parquet"]["size"] is None


def test_frozen_weak_rows_cannot_be_saved_or_deleted(weakly_labelled):
    project, _, _ = weakly_labelled
    weak, _ = cut_snapshot(project, include_weak=True)
    row = weak.weak_labels.first()
    row.labels = ["wolf"]
    with pytest.raises(ImmutableError):
        row.save()
    with pytest.raises(ImmutableError):
        row.delete()
    source = SnapshotWeakSource.objects.get(snapshot=weak)
    source.method = "one_coin"
    with pytest.raises(ImmutableError):
        source.save()
    with pytest.raises(ImmutableError):
        source.delete()


postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql", reason="the triggers are PostgreSQL only"
)


def raw(sql: str, params: list) -> None:
    """Run SQL, then check the deferred constraint triggers now instead of at commit."""
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(sql, params)
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")


@postgresql_only
@pytest.mark.parametrize("table", ["snapshots_snapshotweaklabel", "snapshots_snapshotweaksource"])
def test_database_refuses_raw_updates_and_deletes_of_frozen_weak_rows(weakly_labelled, table):
    project, _, _ = weakly_labelled
    weak, _ = cut_snapshot(project, include_weak=True)
    with pytest.raises(DatabaseError, match="cannot be changed"):
        raw(f"UPDATE {table} SET snapshot_id = snapshot_id WHERE snapshot_id = %s", [weak.pk])  # noqa: S608
    with pytest.raises(DatabaseError, match="cannot be deleted"):
        raw(f"DELETE FROM {table} WHERE snapshot_id = %s", [weak.pk])  # noqa: S608
    assert weak.weak_labels.count() == 2 and SnapshotWeakSource.objects.filter(snapshot=weak).exists()


@postgresql_only
def test_database_refuses_weak_labels_added_to_a_sealed_snapshot(weakly_labelled):
    project, items, _ = weakly_labelled
    weak, _ = cut_snapshot(project, include_weak=True)
    with pytest.raises(DatabaseError, match="sealed or missing"), transaction.atomic():
        SnapshotWeakLabel.objects.create(
            snapshot=weak, item_id=items[4].pk, external_id="smuggled", labels=["cat"], confidence=1.0
        )
    with pytest.raises(DatabaseError, match="sealed or missing"), transaction.atomic():
        SnapshotWeakSource.objects.create(snapshot=cut_snapshot(project)[0], method="majority")


@postgresql_only
def test_deleting_the_project_still_removes_its_weak_snapshot_rows(weakly_labelled):
    project, _, _ = weakly_labelled
    cut_snapshot(project, include_weak=True)
    project.delete()
    with connection.cursor() as cursor:
        cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")  # the deferred checks run here, as at commit
    assert not Snapshot.objects.exists() and not SnapshotWeakLabel.objects.exists()
