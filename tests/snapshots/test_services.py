"""Cutting snapshots: what they freeze, content addressing, and immutability."""

from __future__ import annotations

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import RestrictedError

from labelhub.projects.models import LabelClass
from labelhub.snapshots import services
from labelhub.snapshots.canonical import content_hash
from labelhub.snapshots.errors import ImmutableError, InvalidModelRun, InvalidRatios, NothingToSnapshot
from labelhub.snapshots.models import Snapshot, SnapshotItem
from tests import factories
from tests.snapshots.conftest import consensus, label

pytestmark = pytest.mark.django_db


def test_cut_freezes_consensus_else_latest_label(project, labelled, annotator):
    label(labelled[0], ["dog"], annotator)  # a later label replaces the first
    label(labelled[1], ["wolf"], annotator, retracted=True)  # undone: does not count
    snapshot, created = services.cut_snapshot(project, name="first")
    assert created and snapshot.sealed_at is not None
    rows = {r.external_id: r for r in SnapshotItem.objects.filter(snapshot=snapshot)}
    assert len(rows) == 11  # the unlabelled item is left out
    assert rows["item-0"].labels == ["dog"] and rows["item-0"].method == "single"
    assert rows["item-1"].labels == ["dog"] and rows["item-1"].confidence == 1.0
    assert rows["item-9"].labels == ["wolf"]
    assert (rows["item-9"].method, rows["item-9"].confidence, rows["item-9"].annotator_count) == (
        "majority",
        0.9,
        3,
    )
    assert "item-11" not in rows


def test_cut_records_guideline_versions_and_stats(project, labelled, guideline):
    snapshot, _ = services.cut_snapshot(project)
    assert snapshot.guideline_versions == [guideline.pk]
    assert snapshot.item_count == 11
    assert snapshot.stats["classes"] == {"cat": 3, "dog": 3, "wolf": 5}
    assert snapshot.stats["methods"] == {"single": 9, "majority": 2}
    assert sum(snapshot.stats["splits"].values()) == 11


def test_content_hash_matches_canonical_rows(project, labelled):
    snapshot, _ = services.cut_snapshot(project)
    rows = SnapshotItem.objects.filter(snapshot=snapshot).values_list(
        "external_id",
        "payload_sha256",
        "labels",
        "confidence",
        "method",
        "guideline_versions",
        "annotator_count",
        "split",
    )
    assert snapshot.content_hash == content_hash(project.pk, list(rows))


def test_cutting_unchanged_data_returns_the_existing_snapshot(project, labelled):
    first, created_first = services.cut_snapshot(project, name="a")
    second, created_second = services.cut_snapshot(project, name="b")
    assert created_first and not created_second
    assert second.pk == first.pk and second.name == "a"
    assert Snapshot.objects.count() == 1
    assert SnapshotItem.objects.count() == 11


def test_identical_contents_give_identical_hash_in_a_fresh_database_state(project, labelled, annotator):
    first, _ = services.cut_snapshot(project)
    label(labelled[11], ["cat"], annotator)
    second, created = services.cut_snapshot(project)
    assert created and second.content_hash != first.content_hash
    # Retracting the new label restores the first contents: the same hash again.
    labelled[11].annotations.update(retracted_at="2026-01-01T00:00:00Z")
    third, created = services.cut_snapshot(project)
    assert not created and third.pk == first.pk


def test_relabel_changes_the_hash(project, labelled, annotator):
    first, _ = services.cut_snapshot(project)
    label(labelled[0], ["wolf"], annotator)
    second, created = services.cut_snapshot(project)
    assert created and second.content_hash != first.content_hash


def test_same_labels_in_another_project_are_another_snapshot(labelled, project, annotator):
    other = factories.make_project()
    for item in factories.make_items(other, 1):
        label(item, ["cat"], annotator)
    mine, _ = services.cut_snapshot(project)
    theirs, _ = services.cut_snapshot(other)
    assert mine.content_hash != theirs.content_hash


def test_project_without_labels_refuses_to_cut(project):
    factories.make_items(project, 3)
    with pytest.raises(NothingToSnapshot, match="no labelled items") as refused:
        services.cut_snapshot(project)
    assert (refused.value.field, refused.value.code) == ("project", "nothing_to_snapshot")
    assert not Snapshot.objects.exists()


def test_bad_ratios_name_the_field(project, labelled):
    with pytest.raises(InvalidRatios, match="must be >= 0") as refused:
        services.cut_snapshot(project, ratios={"train": 1, "val": -1})
    assert refused.value.field == "ratios.val"
    assert not Snapshot.objects.exists()


def test_label_of_a_deleted_class_does_not_reach_the_snapshot(annotator):
    """Labels are read against the schema as it is at cut time: a class deleted since is dropped
    from multi-label items, and an item left with no label is not in the snapshot at all."""
    project = factories.make_project(multi_label=True)
    kept, mixed, gone = factories.make_items(project, 3)
    label(kept, ["cat"], annotator)
    label(mixed, ["dog", "wolf"], annotator)
    consensus(gone, ["wolf"], method="adjudicated", annotator_count=2)
    LabelClass.objects.filter(project=project, name="wolf").delete()
    snapshot, _ = services.cut_snapshot(project)
    rows = dict(SnapshotItem.objects.filter(snapshot=snapshot).values_list("external_id", "labels"))
    assert rows == {kept.external_id: ["cat"], mixed.external_id: ["dog"]}
    assert snapshot.class_names == ["cat", "dog"]
    assert snapshot.stats["classes"] == {"cat": 1, "dog": 1}


def test_sealed_snapshot_cannot_be_saved_or_deleted(project, labelled):
    snapshot, _ = services.cut_snapshot(project)
    snapshot.name = "renamed"
    with pytest.raises(ImmutableError):
        snapshot.save()
    with pytest.raises(ImmutableError):
        snapshot.delete()
    row = SnapshotItem.objects.filter(snapshot=snapshot).first()
    row.labels = ["cat"]
    with pytest.raises(ImmutableError):
        row.save()
    with pytest.raises(ImmutableError):
        row.delete()


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the triggers are PostgreSQL only")
def test_database_refuses_raw_updates_of_a_sealed_snapshot(project, labelled):
    snapshot, _ = services.cut_snapshot(project)
    with pytest.raises(DatabaseError, match="sealed"), transaction.atomic():
        Snapshot.objects.filter(pk=snapshot.pk).update(name="renamed")
    with pytest.raises(DatabaseError, match="cannot be changed"), transaction.atomic():
        SnapshotItem.objects.filter(snapshot=snapshot).update(labels=["cat"])
    row = SnapshotItem.objects.filter(snapshot=snapshot).values().first()
    row.pop("id")
    with pytest.raises(DatabaseError, match="sealed"), transaction.atomic():
        SnapshotItem.objects.create(**{**row, "external_id": "smuggled"})


@pytest.mark.skipif(connection.vendor != "postgresql", reason="the triggers are PostgreSQL only")
def test_database_checks_references_and_refuses_orphans(project, labelled):
    snapshot, _ = services.cut_snapshot(project)
    row = SnapshotItem.objects.filter(snapshot=snapshot).values().first()
    row.pop("id")
    with pytest.raises(DatabaseError, match="existing items"), transaction.atomic():
        unsealed = Snapshot.objects.create(project=project, content_hash="x" * 64, split_ratios={})
        SnapshotItem.objects.create(**{**row, "snapshot_id": unsealed.pk, "item_id": 10**9})
    with pytest.raises(DatabaseError, match="missing snapshot"), transaction.atomic():
        SnapshotItem.objects.create(**{**row, "snapshot_id": 10**9})
    with (
        pytest.raises(DatabaseError, match="still has items"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute("DELETE FROM snapshots_snapshot WHERE id = %s", [snapshot.pk])


def test_items_in_a_snapshot_cannot_be_deleted_alone(project, labelled):
    services.cut_snapshot(project)
    with pytest.raises(RestrictedError):
        labelled[0].delete()


def test_deleting_the_project_removes_its_snapshots(annotator):
    project = factories.make_project()
    for item in factories.make_items(project, 3):
        label(item, ["cat"], annotator)
    services.cut_snapshot(project)
    project.delete()
    assert not Snapshot.objects.exists() and not SnapshotItem.objects.exists()


def test_model_run_needs_a_name(project, labelled):
    snapshot, _ = services.cut_snapshot(project)
    with pytest.raises(InvalidModelRun, match="needs a name") as refused:
        services.register_model_run(snapshot, name="  ")
    assert refused.value.field == "name"
    with pytest.raises(InvalidModelRun) as refused:
        services.register_model_run(snapshot, name="m", metrics=[0.9])
    assert refused.value.field == "metrics"


def test_consensus_without_annotations_still_counts(project):
    item = factories.make_items(project, 1)[0]
    consensus(item, ["cat"], method="adjudicated", annotator_count=2)
    snapshot, _ = services.cut_snapshot(project)
    row = SnapshotItem.objects.get(snapshot=snapshot)
    assert (row.labels, row.method, row.guideline_versions) == (["cat"], "adjudicated", [])
