"""Prioritised queue entries, leases of entries to annotators, and flags raised on items."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class QueueEntry(models.Model):
    class Reason(models.TextChoices):
        ACTIVE = "active", "Active learning"
        BALANCE = "balance", "Class balance"
        GOLD = "gold", "Gold check"
        OVERLAP = "overlap", "Overlap (agreement)"
        RANDOM = "random", "Random"
        REQUEUE = "requeue", "Re-queued"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="queue_entries")
    item = models.ForeignKey("projects.Item", on_delete=models.CASCADE, related_name="queue_entries")
    priority = models.FloatField(default=0, help_text="Higher is served first.")
    reason = models.CharField(max_length=10, choices=Reason.choices, default=Reason.RANDOM)
    required_annotations = models.PositiveIntegerField(default=1)
    completed_annotations = models.PositiveIntegerField(default=0)
    is_open = models.BooleanField(default=True, help_text="False once enough annotators finished it.")
    # Idempotency key of the writer (e.g. "al-round-17"): a retried writer never duplicates entries.
    batch_key = models.CharField(max_length=64, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["project", "is_open", "-priority", "id"], name="queue_serve_order")]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "item"], condition=models.Q(is_open=True), name="one_open_entry_per_item"
            ),
        ]
        verbose_name_plural = "queue entries"

    def __str__(self) -> str:
        return f"{self.item_id} ({self.reason}, {self.priority:.3f})"


class Lease(models.Model):
    entry = models.ForeignKey(QueueEntry, on_delete=models.CASCADE, related_name="leases")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="leases")
    leased_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    released_at = models.DateTimeField(null=True, blank=True, help_text="Skipped, released or expired.")
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            # One live lease per (entry, annotator): nobody holds the same copy twice.
            models.UniqueConstraint(
                fields=["entry", "annotator"],
                condition=models.Q(released_at__isnull=True, completed_at__isnull=True),
                name="one_live_lease_per_entry_annotator",
            ),
        ]


class ItemFlag(models.Model):
    """An annotator's "this is ambiguous" on an item; managers answer it with a guideline version."""

    item = models.ForeignKey("projects.Item", on_delete=models.CASCADE, related_name="flags")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="flags")
    comment = models.TextField(blank=True)
    guideline_version = models.ForeignKey(
        "guidelines.GuidelineVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    answered_in = models.ForeignKey(
        "guidelines.GuidelineVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="answered_flags",
    )
    answer = models.TextField(blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    answered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
