"""Weak labels in snapshots: a separate, marked source, frozen only when asked and exported only
when asked, never mixed with the human labels."""

from __future__ import annotations

import json

import pytest
from django.db import DatabaseError, connection, transaction
from rest_framework.test import APIClient

from labelhub.snapshots.errors import ImmutableError
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


def test_other_formats_refuse_weak_labels(weakly_labelled):
    project, _, client = weakly_labelled
    weak, _ = cut_snapshot(project, include_weak=True)
    response = client.get(f"/api/snapshots/{weak.content_hash}/export/csv/?include=weak")
    assert response.status_code == 400 and response.json()["field"] == "include"


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
