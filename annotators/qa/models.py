"""QA state: gold answers and the resolved (consensus) label of each item."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class GoldItem(models.Model):
    """A known answer for an item. Never leaves the server towards annotators."""

    class Source(models.TextChoices):
        MANUAL = "manual", "Set by a manager"
        ADJUDICATION = "adjudication", "Promoted adjudication"

    item = models.OneToOneField(
        "projects.Item", on_delete=models.CASCADE, related_name="gold", primary_key=True
    )
    labels = models.JSONField()
    source = models.CharField(max_length=15, choices=Source.choices, default=Source.MANUAL)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)


class ConsensusLabel(models.Model):
    """The one resolved label of an item, with how it was resolved and how sure we are."""

    class Method(models.TextChoices):
        SINGLE = "single", "Single annotation"
        MAJORITY = "majority", "Majority vote"
        DAWID_SKENE = "dawid_skene", "Dawid–Skene"
        ADJUDICATED = "adjudicated", "Adjudicated"

    item = models.OneToOneField(
        "projects.Item", on_delete=models.CASCADE, related_name="consensus", primary_key=True
    )
    labels = models.JSONField()
    confidence = models.FloatField(default=1.0)
    method = models.CharField(max_length=15, choices=Method.choices)
    annotator_count = models.PositiveIntegerField(default=1)
    updated_at = models.DateTimeField(auto_now=True)


class AnnotatorStats(models.Model):
    """Running QA counters of one annotator in one project, updated on every submit.

    Counters (not a recomputation over all annotations) keep the submit path O(1); the policy
    reads them to decide whether the annotator still meets the project's thresholds.
    """

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="annotator_stats")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="qa_stats")
    gold_seen = models.PositiveIntegerField(default=0)
    gold_correct = models.PositiveIntegerField(default=0)
    annotations = models.PositiveIntegerField(default=0)
    seconds_spent = models.FloatField(default=0, help_text="Sum of time_spent over counted annotations.")
    # Agreement with consensus, refreshed by the policy evaluation (items with 2+ annotators only).
    consensus_seen = models.PositiveIntegerField(default=0)
    consensus_agreed = models.PositiveIntegerField(default=0)
    last_evaluated_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "annotator"], name="one_stats_row_per_annotator"),
            models.CheckConstraint(
                condition=models.Q(gold_correct__lte=models.F("gold_seen")), name="gold_correct_lte_seen"
            ),
        ]
        verbose_name_plural = "annotator stats"

    def __str__(self) -> str:
        return f"{self.annotator} in {self.project}"

    @property
    def gold_accuracy(self) -> float | None:
        return self.gold_correct / self.gold_seen if self.gold_seen else None

    @property
    def consensus_agreement(self) -> float | None:
        return self.consensus_agreed / self.consensus_seen if self.consensus_seen else None


class AnnotatorFlag(models.Model):
    """A QA policy found an annotator below a threshold; managers see the reason and resolve it."""

    class Kind(models.TextChoices):
        GOLD_ACCURACY = "gold_accuracy", "Gold accuracy below threshold"
        AGREEMENT = "agreement", "Agreement with consensus below threshold"
        REVIEW_ERRORS = "review_errors", "Labels often confirmed wrong by label-error review"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="annotator_flags")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="qa_flags")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    reason = models.TextField(help_text="Human-readable: the measured value, the threshold and the count.")
    value = models.FloatField()
    threshold = models.FloatField()
    sample_size = models.PositiveIntegerField()
    paused = models.BooleanField(default=False, help_text="The policy paused the annotator when flagging.")
    sent_to_review = models.PositiveIntegerField(default=0, help_text="Recent labels sent to adjudication.")
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One open flag per (annotator, kind): re-evaluation refreshes it instead of piling up.
            models.UniqueConstraint(
                fields=["project", "annotator", "kind"],
                condition=models.Q(resolved_at__isnull=True),
                name="one_open_flag_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.annotator}: {self.get_kind_display()}"


class AdjudicationTask(models.Model):
    """An item a reviewer must resolve: its overlapping labels disagree, or a policy sent it."""

    class Reason(models.TextChoices):
        DISAGREEMENT = "disagreement", "Annotators disagree"
        TIE = "tie", "Tied vote"
        POLICY = "policy", "Annotator flagged by a QA policy"
        MANUAL = "manual", "Sent by a manager"
        LABEL_ERROR = "label_error", "Suspected label error"

    class Status(models.TextChoices):
        OPEN = "open", "Open"
        RESOLVED = "resolved", "Resolved"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="adjudications")
    item = models.ForeignKey("projects.Item", on_delete=models.CASCADE, related_name="adjudications")
    reason = models.CharField(max_length=15, choices=Reason.choices)
    detail = models.TextField(blank=True)
    # Consensus confidence when the task opened: reviewers see the least certain items first.
    confidence = models.FloatField(default=0.0)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.OPEN)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_labels = models.JSONField(null=True, blank=True)
    resolved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    note = models.TextField(blank=True)

    class Meta:
        ordering = ["confidence", "created_at", "id"]
        indexes = [models.Index(fields=["project", "status", "confidence"], name="adjudication_queue_order")]
        constraints = [
            models.UniqueConstraint(
                fields=["item"], condition=models.Q(status="open"), name="one_open_adjudication_per_item"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.item_id} ({self.reason}, {self.status})"
