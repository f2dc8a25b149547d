"""The core domain: projects, their label schema, items, imports, members and annotations."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from labelhub.projects.hotkeys import validate_class_key
from labelhub.projects.policy import SHARE, validate_balance_target


class Project(models.Model):
    class Modality(models.TextChoices):
        TEXT = "text", "Text"
        IMAGE = "image", "Image"

    class ConsensusMethod(models.TextChoices):
        MAJORITY = "majority", "Majority vote"
        DAWID_SKENE = "dawid_skene", "Dawid–Skene"

    name = models.CharField(max_length=200, unique=True)
    description = models.TextField(blank=True)
    modality = models.CharField(max_length=10, choices=Modality.choices, default=Modality.TEXT)
    multi_label = models.BooleanField(default=False, help_text="Items may carry several classes.")
    label_config = models.TextField(blank=True, help_text="Label Studio XML the schema came from, if any.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    # Queue policy (queues app).
    lease_minutes = models.PositiveIntegerField(default=10)
    overlap_fraction = models.FloatField(
        default=0.1, validators=SHARE, help_text="Share of items sent to several annotators."
    )
    overlap_annotators = models.PositiveIntegerField(default=3, help_text="Annotators per overlapping item.")
    balance_target = models.JSONField(
        default=dict,
        blank=True,
        validators=[validate_balance_target],
        help_text='Target label distribution: {"wolf": 1, "dog": 10}, or {"uniform": true}; empty for none.',
    )
    # QA policy (annotators app).
    gold_rate = models.FloatField(
        default=0.05, validators=SHARE, help_text="Share of served items that are gold checks."
    )
    qa_min_gold_accuracy = models.FloatField(default=0.7, validators=SHARE)
    qa_min_agreement = models.FloatField(
        default=0.6, validators=SHARE, help_text="Minimum agreement with consensus."
    )
    qa_min_count = models.PositiveIntegerField(default=20, help_text="Checks needed before a policy applies.")
    qa_pause_on_fail = models.BooleanField(default=False)
    qa_anonymous_adjudication = models.BooleanField(default=True)
    consensus_method = models.CharField(
        max_length=20, choices=ConsensusMethod.choices, default=ConsensusMethod.MAJORITY
    )
    # Active learning (active app).
    al_strategy = models.CharField(max_length=30, default="auto")
    al_batch_size = models.PositiveIntegerField(default=100)
    al_trigger_labels = models.PositiveIntegerField(default=50, help_text="New labels that start a round.")

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(overlap_fraction__gte=0) & Q(overlap_fraction__lte=1), name="overlap_fraction_0_1"
            ),
            models.CheckConstraint(condition=Q(gold_rate__gte=0) & Q(gold_rate__lte=1), name="gold_rate_0_1"),
        ]

    def __str__(self) -> str:
        return self.name


class LabelClass(models.Model):
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="classes")
    name = models.CharField(max_length=100)
    key = models.CharField(
        max_length=1,
        blank=True,
        validators=[validate_class_key],
        help_text="Keyboard shortcut in the labeling page (not S, F, Z, G or ?: the page's own).",
    )
    colour = models.CharField(max_length=7, default="#4c78a8")
    description = models.TextField(blank=True)
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["project", "order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="unique_class_name_per_project"),
            models.UniqueConstraint(
                fields=["project", "key"], condition=~Q(key=""), name="unique_class_key_per_project"
            ),
        ]
        verbose_name_plural = "label classes"

    def __str__(self) -> str:
        return self.name


class ProjectMembership(models.Model):
    class Role(models.TextChoices):
        MANAGER = "manager", "Manager"
        ANNOTATOR = "annotator", "Annotator"
        REVIEWER = "reviewer", "Reviewer"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=10, choices=Role.choices, default=Role.ANNOTATOR)
    is_paused = models.BooleanField(default=False, help_text="Paused by a QA policy; served nothing.")
    paused_reason = models.TextField(blank=True)
    joined_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["project", "user"], name="unique_member_per_project")]

    def __str__(self) -> str:
        return f"{self.user} in {self.project} ({self.role})"


class ImportBatch(models.Model):
    class Format(models.TextChoices):
        JSONL = "jsonl", "JSON Lines"
        CSV = "csv", "CSV"
        LABEL_STUDIO = "label_studio", "Label Studio JSON"
        RECORDS = "records", "Parsed records"  # import_records: no file, dicts from code

    class Status(models.TextChoices):
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="import_batches")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=20, default="api", help_text="upload, api, command or demo")
    filename = models.CharField(max_length=255, blank=True)
    format = models.CharField(max_length=20, choices=Format.choices)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.RUNNING)
    lines_read = models.PositiveIntegerField(default=0)
    imported_count = models.PositiveIntegerField(default=0)
    duplicate_count = models.PositiveIntegerField(default=0)
    annotation_count = models.PositiveIntegerField(default=0)
    errors = models.JSONField(default=list, blank=True, help_text="[{line, field, code, detail}]")
    # What an import read but left out on purpose, or imported but cannot show, by reason:
    # {"cancelled_annotations": 2, "predictions_id_only": 5, "images_not_shown": 1}.
    skipped = models.JSONField(
        default=dict, blank=True, help_text="{reason: count} of what was left out or cannot be shown"
    )
    # What was imported but will not work as the file's author may expect (e.g. images that the
    # labeling page cannot show); same entry shape as ``errors``, at most MAX_ERRORS of them.
    warnings = models.JSONField(default=list, blank=True, help_text="[{line, field, code, detail}]")

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "import batches"

    def __str__(self) -> str:
        return f"{self.filename or self.format} → {self.project} ({self.status})"

    @property
    def left_out(self) -> str:
        """What was skipped and warned about, for a person: "1 cancelled annotation; 2 warnings"."""
        parts = [f"{count} {reason.replace('_', ' ')}" for reason, count in sorted(self.skipped.items())]
        if self.warnings:
            parts.append(f"{len(self.warnings)} warning(s), first: {self.warnings[0]['detail']}")
        return "; ".join(parts)


class Item(models.Model):
    # No index of its own: both unique constraints below lead with project_id and serve its
    # lookups; a third index on it only slowed bulk imports (one more b-tree per row).
    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="items", db_index=False)
    external_id = models.CharField(max_length=255)
    payload = models.JSONField(help_text='{"text": …} or {"image": data-URL or URL}, plus any metadata.')
    content_hash = models.CharField(max_length=64, help_text="sha256 of the canonical payload content.")
    import_batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="items"
    )
    # The current model's suggestion: {"labels": [...], "confidence": float, "model_version": id}.
    suggestion = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "external_id"], name="unique_external_id_per_project"),
            models.UniqueConstraint(fields=["project", "content_hash"], name="unique_content_per_project"),
        ]

    def __str__(self) -> str:
        return f"{self.project_id}:{self.external_id}"


class GroundTruth(models.Model):
    """Known answers of a demo data set, kept aside for simulation; never served as labels."""

    item = models.OneToOneField(Item, on_delete=models.CASCADE, related_name="ground_truth", primary_key=True)
    labels = models.JSONField()


class Annotation(models.Model):
    class Source(models.TextChoices):
        HUMAN = "human", "Annotator"
        IMPORT = "import", "Imported"
        ORACLE = "oracle", "Simulation oracle"

    item = models.ForeignKey(Item, on_delete=models.CASCADE, related_name="annotations")
    annotator = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="annotations"
    )
    labels = models.JSONField(help_text="List of class names.")
    time_spent = models.FloatField(default=0, help_text="Seconds on the item.")
    source = models.CharField(max_length=10, choices=Source.choices, default=Source.HUMAN)
    guideline_version = models.ForeignKey(
        "guidelines.GuidelineVersion",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="annotations",
    )
    lease = models.ForeignKey(
        "queues.Lease", null=True, blank=True, on_delete=models.SET_NULL, related_name="annotations"
    )
    # The model's suggestion as shown (its ``labels``, ``confidence``, ``model_version``) and, under
    # ``weak``, the weak label shown beside it, marked ``"source": "weak"`` (see
    # ``labelhub.queues.services.annotating.suggestions_shown``).
    suggestion_shown = models.JSONField(null=True, blank=True)
    was_gold_check = models.BooleanField(default=False)
    # Undo keeps the row (nothing submitted is dropped); a retracted annotation no longer counts.
    retracted_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        indexes = [
            models.Index(fields=["annotator", "created_at"]),
            models.Index(fields=["item", "annotator"]),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} by {self.annotator_id}: {self.labels}"
