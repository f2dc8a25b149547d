"""Every export format reads back to the snapshot's rows; the Label Studio file is valid for Label
Studio and re-imports into labelhub with the same labels."""

from __future__ import annotations

import csv
import io
import json

import pytest

from labelhub.projects import importing
from labelhub.projects.models import Annotation, Item
from labelhub.snapshots import exports, selectors, services
from labelhub.snapshots.exports import build_manifest
from labelhub.snapshots.models import SnapshotItem
from tests import factories
from tests.snapshots.conftest import label

pytestmark = pytest.mark.django_db


@pytest.fixture
def snapshot(project, labelled):
    return services.cut_snapshot(project, name="export me")[0]


def expected_rows(snapshot) -> list[dict]:
    rows = SnapshotItem.objects.filter(snapshot=snapshot).select_related("item").order_by("id")
    return [
        {
            "external_id": r.external_id,
            "item_id": r.item_id,
            "split": r.split,
            "labels": r.labels,
            "confidence": r.confidence,
            "method": r.method,
            "annotator_count": r.annotator_count,
            "guideline_versions": r.guideline_versions,
            "payload_sha256": r.payload_sha256,
            "payload": r.item.payload,
        }
        for r in rows
    ]


def download(client, snapshot, fmt: str) -> bytes:
    response = client.get(f"/api/snapshots/{snapshot.content_hash}/export/{fmt}/")
    assert response.status_code == 200, response
    return b"".join(response.streaming_content)


def test_jsonl_round_trips(client, manager, snapshot):
    client.force_login(manager)
    lines = download(client, snapshot, "jsonl").decode().splitlines()
    assert [json.loads(line) for line in lines] == expected_rows(snapshot)


def test_csv_round_trips(client, manager, snapshot):
    client.force_login(manager)
    reader = csv.DictReader(io.StringIO(download(client, snapshot, "csv").decode()))
    rows = [
        {
            **row,
            "item_id": int(row["item_id"]),
            "labels": json.loads(row["labels"]),
            "confidence": float(row["confidence"]),
            "annotator_count": int(row["annotator_count"]),
            "guideline_versions": json.loads(row["guideline_versions"]),
            "payload": json.loads(row["payload"]),
        }
        for row in reader
    ]
    assert rows == expected_rows(snapshot)


def test_parquet_round_trips_with_the_manifest_inside(client, manager, snapshot):
    import pyarrow.parquet as pq  # heavy: only the Parquet tests load pyarrow

    client.force_login(manager)
    table = pq.read_table(io.BytesIO(download(client, snapshot, "parquet")))
    rows = table.to_pylist()
    for row in rows:
        row["payload"] = json.loads(row["payload"])
    assert rows == expected_rows(snapshot)
    manifest = json.loads(table.schema.metadata[b"labelhub"])
    assert manifest["snapshot_id"] == snapshot.content_hash


def test_parquet_streams_several_row_groups(client, manager, snapshot, monkeypatch):
    import pyarrow.parquet as pq  # heavy: only the Parquet tests load pyarrow

    monkeypatch.setattr(exports, "PARQUET_ROW_GROUP", 4)
    monkeypatch.setattr(selectors, "FETCH_SIZE", 4)
    client.force_login(manager)
    response = client.get(f"/api/snapshots/{snapshot.content_hash}/export/parquet/")
    chunks = list(response.streaming_content)
    assert len(chunks) >= 3
    assert pq.ParquetFile(io.BytesIO(b"".join(chunks))).num_row_groups == 3


def test_label_studio_json_is_valid_for_label_studio(client, manager, snapshot):
    from label_studio_sdk.label_interface import LabelInterface  # heavy: the SDK loads on use

    client.force_login(manager)
    tasks = json.loads(download(client, snapshot, "labelstudio"))
    config = build_manifest(snapshot)["label_config"]
    interface = LabelInterface(config)
    interface.validate()
    assert len(tasks) == snapshot.item_count
    for task in tasks:
        assert task["data"]["text"]
        assert interface.validate_annotation(task["annotations"][0]), task
    by_id = {t["meta"]["external_id"]: t["annotations"][0]["result"][0]["value"]["choices"] for t in tasks}
    assert by_id == {r["external_id"]: r["labels"] for r in expected_rows(snapshot)}


def test_label_studio_json_uses_the_project_label_config(client, manager, annotator):
    from label_studio_sdk.label_interface import LabelInterface  # heavy: the SDK loads on use

    config = (
        '<View><Text name="review" value="$review"/>'
        '<Choices name="sentiment" toName="review" choice="single"><Choice value="cat"/>'
        '<Choice value="dog"/></Choices></View>'
    )
    project = factories.make_project(classes=("cat", "dog"), label_config=config)
    factories.make_member(project, "manager", user=manager)
    label(factories.make_items(project, 1)[0], ["dog"], annotator)
    snapshot, _ = services.cut_snapshot(project)
    client.force_login(manager)
    task = json.loads(download(client, snapshot, "labelstudio"))[0]
    assert task["data"] == {"external_id": "item-0", "review": "item number 0"}
    result = task["annotations"][0]["result"][0]
    assert (result["from_name"], result["to_name"]) == ("sentiment", "review")
    assert LabelInterface(config).validate_annotation(task["annotations"][0])


def test_label_studio_json_reimports_with_the_same_labels(client, manager, snapshot):
    client.force_login(manager)
    body = download(client, snapshot, "labelstudio")
    target = factories.make_project(classes=("cat", "dog", "wolf"))
    importing.import_file(target, io.BytesIO(body), "label_studio", user=manager, filename="snapshot.json")
    rows = Annotation.objects.filter(item__project=target, retracted_at__isnull=True).select_related("item")
    imported = {a.item.external_id: (a.item.payload, sorted(a.labels)) for a in rows}
    assert imported == {
        r["external_id"]: (r["payload"], sorted(r["labels"])) for r in expected_rows(snapshot)
    }


def test_manifest_describes_the_snapshot(client, manager, snapshot, guideline):
    client.force_login(manager)
    manifest = client.get(f"/api/snapshots/{snapshot.content_hash}/manifest/").json()
    assert manifest["snapshot_id"] == snapshot.content_hash
    assert manifest["counts"]["items"] == 11
    assert manifest["guideline_versions"][0]["id"] == guideline.pk
    assert manifest["class_names"] == ["cat", "dog", "wolf"]
    assert set(manifest["schema"]) >= {"external_id", "labels", "split", "payload"}
    assert manifest["exports"]["jsonl"]["sha256"] is None  # nothing downloaded yet


# Cells a spreadsheet would run as a formula (OWASP "CSV injection"), and one it would not.
FORMULA_IDS = ["=1+1", "+SUM(A1)", "-2+3", "@SUM(A1)", "\tcmd", "\rcmd"]


@pytest.fixture
def formula_snapshot(manager, annotator):
    project = factories.make_project(classes=("cat", "dog"))
    factories.make_member(project, "manager", user=manager)
    for external_id in [*FORMULA_IDS, "plain"]:
        payload = {"text": f"text of {external_id}"}
        item = Item.objects.create(
            project=project,
            external_id=external_id,
            payload=payload,
            content_hash=importing.content_hash(payload),
        )
        label(item, ["cat"], annotator)
    return services.cut_snapshot(project)[0]


def test_csv_neutralises_cells_a_spreadsheet_would_run_as_formulas(client, manager, formula_snapshot):
    client.force_login(manager)
    reader = csv.DictReader(io.StringIO(download(client, formula_snapshot, "csv").decode(), newline=""))
    external_ids = sorted(row["external_id"] for row in reader)
    assert external_ids == sorted([*("'" + e for e in FORMULA_IDS), "plain"])


def test_jsonl_and_parquet_keep_formula_like_values_exact(client, manager, formula_snapshot):
    import pyarrow.parquet as pq  # heavy: only the Parquet tests load pyarrow

    client.force_login(manager)
    expected = sorted([*FORMULA_IDS, "plain"])
    lines = download(client, formula_snapshot, "jsonl").decode().splitlines()
    assert sorted(json.loads(line)["external_id"] for line in lines) == expected
    table = pq.read_table(io.BytesIO(download(client, formula_snapshot, "parquet")))
    assert sorted(table.column("external_id").to_pylist()) == expected


def test_a_csv_cached_before_the_formula_guard_is_not_served(client, manager, formula_snapshot, export_cache):
    export_cache.mkdir(parents=True)
    stale = export_cache / f"{formula_snapshot.content_hash}.csv"
    stale.write_text("external_id\n=1+1\n")
    stale.with_name(stale.name + ".sha256").write_text("0" * 64 + "\n")
    client.force_login(manager)
    assert b"'=1+1" in download(client, formula_snapshot, "csv")


def test_jsonl_writes_confidence_as_a_float_on_every_database(client, manager, snapshot):
    client.force_login(manager)
    lines = download(client, snapshot, "jsonl").decode().splitlines()
    assert lines and all('"confidence":1.0,' in line or '"confidence":0.9,' in line for line in lines), lines[
        :2
    ]
    assert all(isinstance(json.loads(line)["confidence"], float) for line in lines)
