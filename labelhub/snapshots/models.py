"""Immutable, content-addressed snapshots of resolved labels, and the model runs trained on them.

A snapshot's public id is ``content_hash`` (sha256 over its canonical contents, see
``canonical.py``); the integer primary key only keeps the per-item table compact (an 8-byte
foreign key on every row instead of a 64-character hash).
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from labelhub.snapshots.errors import ImmutableError


class FrozenWithSnapshot:
    """A row frozen into a snapshot at its cut: saved once, never changed or deleted on its own
    (a whole project's deletion still cascades; on PostgreSQL triggers also refuse raw SQL)."""

    frozen_what = "rows of a snapshot"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None:
            raise ImmutableError(f"{self.frozen_what} cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableError(f"{self.frozen_what} cannot be deleted")


class Snapshot(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="snapshots")
    content_hash = models.CharField(max_length=64, unique=True, help_text="sha256 of the canonical contents.")
    name = models.CharField(max_length=200, blank=True)
    split_ratios = models.JSONField(help_text='{"train": 0.8, "val": 0.1, "test": 0.1}')
    stratified = models.BooleanField(default=False)

    class SplitKey(models.TextChoices):
        PROJECT = "project", "Project and external id"
        EXTERNAL_ID = "external_id", "External id alone (the same in every project)"

    split_key = models.CharField(
        max_length=12,
        choices=SplitKey.choices,
        default=SplitKey.PROJECT,
        help_text="What an item's split is hashed from (see splits.py).",
    )
    item_count = models.PositiveIntegerField(default=0)
    class_names = models.JSONField(
        default=list, help_text="The project's classes at cut time, in label order."
    )
    guideline_versions = models.JSONField(
        default=list, help_text="Guideline version ids the labels were made under."
    )
    # Computed once at cut time (the contents never change): per split per class counts, methods.
    stats = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Set in the same transaction that inserts the items; from then on nothing may change.
    sealed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["project", "-created_at"], name="snapshot_project_recent")]

    def __str__(self) -> str:
        return f"{self.name or 'snapshot'} {self.content_hash[:12]}"

    def save(self, *args, **kwargs) -> None:
        if self.pk is not None and self.sealed_at is not None:
            previous = type(self).objects.filter(pk=self.pk).values_list("sealed_at", flat=True).first()
            if previous is not None:
                raise ImmutableError(f"snapshot {self.content_hash[:12]} is sealed and cannot be changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise ImmutableError(f"snapshot {self.content_hash[:12]} cannot be deleted")

    @property
    def short_id(self) -> str:
        return self.content_hash[:12]


class SnapshotItem(FrozenWithSnapshot, models.Model):
    """One resolved item in one snapshot: the compact row everything else is derived from."""

    class Split(models.TextChoices):
        TRAIN = "train", "Train"
        VAL = "val", "Validation"
        TEST = "test", "Test"

    # Rows are inserted in external-id order, so (snapshot, id) reads them back sorted without a sort.
    # On PostgreSQL the reference is checked set-based, once per insert statement, by the trigger of
    # migration 0004 instead of a deferred FK (one locking lookup per row at commit: 15 s a million).
    snapshot = models.ForeignKey(
        Snapshot, on_delete=models.CASCADE, related_name="items", db_index=False, db_constraint=False
    )
    # RESTRICT (enforced by Django's deletion collector): an item in a snapshot cannot be deleted on
    # its own, only with its whole project. No database constraint: rows are copied from the items
    # in the cut's own transaction, and PostgreSQL's deferred check would lock a million item rows
    # (FOR KEY SHARE, one trigger call each) at commit, about as long as the whole cut.
    item = models.ForeignKey(
        "projects.Item", on_delete=models.RESTRICT, related_name="+", db_constraint=False
    )
    external_id = models.CharField(max_length=255)
    payload_sha256 = models.CharField(max_length=64)
    labels = models.JSONField()
    confidence = models.FloatField()
    method = models.CharField(max_length=15)
    annotator_count = models.PositiveIntegerField()
    guideline_versions = models.JSONField(default=list)
    split = models.CharField(max_length=5, choices=Split.choices)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "external_id"], name="one_row_per_item_per_snapshot"),
        ]
        indexes = [models.Index(fields=["snapshot", "id"], name="snapshotitem_in_order")]

    frozen_what = "snapshot items"


class ModelRun(models.Model):
    """A model trained on a snapshot: lineage from a model artefact back to its exact data."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.PROTECT, related_name="model_runs")
    name = models.CharField(max_length=200)
    metrics = models.JSONField(default=dict, blank=True, help_text='{"accuracy": 0.91, ...}')
    artifact_uri = models.CharField(max_length=1000, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.name} on {self.snapshot_id}"


class SnapshotWeakSource(FrozenWithSnapshot, models.Model):
    """The weak labels frozen with a snapshot when its cut asked for them: a separate, marked
    source (label model, function versions), never mixed into the human-labelled items."""

    snapshot = models.OneToOneField(Snapshot, on_delete=models.CASCADE, related_name="weak_source")
    run_id = models.BigIntegerField(null=True, help_text="The weak-supervision run the labels came from.")
    method = models.CharField(max_length=30)
    function_versions = models.JSONField(default=dict, help_text="{function name: version}")
    label_count = models.PositiveIntegerField(default=0)

    frozen_what = "the weak source of a snapshot"


class SnapshotWeakLabel(FrozenWithSnapshot, models.Model):
    """One weak label of an item nobody labelled (items with a human label are never here)."""

    snapshot = models.ForeignKey(Snapshot, on_delete=models.CASCADE, related_name="weak_labels")
    item_id = models.BigIntegerField()
    external_id = models.CharField(max_length=255)
    labels = models.JSONField()
    confidence = models.FloatField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["snapshot", "external_id"], name="unique_weak_label_per_snapshot")
        ]

    frozen_what = "weak labels frozen into a snapshot"
