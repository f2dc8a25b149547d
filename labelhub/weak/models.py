"""Labeling functions (versioned per project), their votes as a compact label matrix, and the weak
labels the label model gives the pool.

The label matrix is stored one row per labeling function, not one per item × function: the row
holds the sorted ids of the items the function voted on and its vote for each (packed int64 and
int16 arrays), the class names the codes index, and the highest item id evaluated so far, so new
items are evaluated incrementally and an edited function (a version bump) re-applies only itself.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class LabelingFunction(models.Model):
    class Kind(models.TextChoices):
        KEYWORD = "keyword", "Keywords in the text"
        REGEX = "regex", "Regular expression over the text"
        METADATA = "metadata", "Metadata field = value"
        SIMILAR = "similar", "More like these (embedding similarity)"
        MODEL = "model", "Current head above a confidence"

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="labeling_functions"
    )
    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=10, choices=Kind.choices)
    label = models.CharField(
        max_length=100,
        blank=True,
        help_text="The class it votes for; blank on a model LF (the head's class).",
    )
    config = models.JSONField(default=dict, blank=True)
    version = models.PositiveIntegerField(
        default=1, help_text="Bumped by every change of kind, label or config."
    )
    is_active = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["project", "name"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="unique_lf_name_per_project"),
            models.CheckConstraint(condition=Q(version__gte=1), name="lf_version_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.name} v{self.version}"


class LabelingFunctionVersion(models.Model):
    """Each definition a function has had: what a weak label's LF versions point back to."""

    function = models.ForeignKey(LabelingFunction, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    kind = models.CharField(max_length=10, choices=LabelingFunction.Kind.choices)
    label = models.CharField(max_length=100, blank=True)
    config = models.JSONField(default=dict)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["function", "-version"]
        constraints = [
            models.UniqueConstraint(fields=["function", "version"], name="unique_lf_version"),
        ]


class FunctionVotes(models.Model):
    """One column of the label matrix: a function's votes over the pool (abstentions not stored)."""

    function = models.OneToOneField(
        LabelingFunction, on_delete=models.CASCADE, related_name="votes", primary_key=True
    )
    version = models.PositiveIntegerField(help_text="The function's version these votes came from.")
    # For a model LF: the head (model round) whose suggestions it read; a new head re-applies it.
    source_version = models.CharField(max_length=64, blank=True)
    applied_through = models.BigIntegerField(default=0, help_text="Highest item id evaluated.")
    item_ids = models.BinaryField(default=b"", help_text="Sorted item ids voted on, int64 little-endian.")
    codes = models.BinaryField(default=b"", help_text="The vote per item id, int16 into class_names.")
    class_names = models.JSONField(default=list)
    evaluated = models.PositiveIntegerField(default=0)
    timeouts = models.PositiveIntegerField(default=0, help_text="Items a regex gave up on (abstained).")
    applied_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "function votes"


class WeakRun(models.Model):
    """One apply + label-model run over a project's pool: its progress and what it used."""

    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="weak_runs")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.QUEUED)
    method = models.CharField(max_length=30, blank=True)
    items_total = models.PositiveIntegerField(default=0)
    items_done = models.PositiveIntegerField(default=0)
    function_versions = models.JSONField(default=dict, blank=True, help_text="{function name: version}")
    summary = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]


class WeakLabel(models.Model):
    """An item's probabilistic weak label. Never a human label: kept apart, always marked weak."""

    item = models.OneToOneField(
        "projects.Item", on_delete=models.CASCADE, related_name="weak_label", primary_key=True
    )
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    run = models.ForeignKey(WeakRun, on_delete=models.CASCADE, related_name="labels")
    labels = models.JSONField()
    confidence = models.FloatField()
    probabilities = models.JSONField(default=dict, help_text="{class: posterior} of the label model.")
    votes = models.PositiveSmallIntegerField(default=0, help_text="Functions that voted.")
    conflict = models.BooleanField(default=False, help_text="Functions voted for different classes.")

    class Meta:
        indexes = [models.Index(fields=["project", "confidence"])]
