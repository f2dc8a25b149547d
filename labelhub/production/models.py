"""The production inbox: deployments, what they captured, how it scored, the sampling rules, drift.

A :class:`Deployment` is a :class:`~labelhub.snapshots.models.ModelRun` put in service: the run
ties it to its training snapshot, so drift is always measured against the data the model learnt.
Vectors (probabilities, logits, embeddings) are stored as raw little-endian float32 bytes: one
column per record instead of one row per float, read back with ``numpy.frombuffer``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Deployment(models.Model):
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="deployments")
    model_run = models.ForeignKey("snapshots.ModelRun", on_delete=models.PROTECT, related_name="deployments")
    name = models.CharField(max_length=100)
    # sha256 of the capture token; the token itself is shown once, when the deployment is made.
    token_hash = models.CharField(max_length=64, unique=True)
    token_prefix = models.CharField(
        max_length=8, help_text="First characters of the token, to tell tokens apart."
    )
    webhook_url = models.URLField(blank=True, help_text="Drift alarms are POSTed here as JSON (optional).")
    is_active = models.BooleanField(default=True, help_text="An inactive deployment's token is refused.")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    # Scoring bookkeeping: set when a scoring task is queued, cleared when one starts. A value older
    # than the dead-worker horizon with unscored captures left means the task was lost: re-queue.
    scoring_queued_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "name"], name="unique_deployment_name_per_project")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.project_id})"


class Capture(models.Model):
    """One input a deployed model saw, what it predicted, and (after scoring) how it scored."""

    class Rule(models.TextChoices):
        NONE = "", "Not selected"
        CONTROL = "control", "Random control slice"
        NOVELTY = "novelty", "Novel (unlike the training data)"
        UNCERTAINTY = "uncertainty", "Uncertain prediction"
        DISAGREEMENT = "disagreement", "Deployed model and current head disagree"
        DUPLICATE = "duplicate", "Picked, but already in the pool"

    id = models.BigAutoField(primary_key=True)
    deployment = models.ForeignKey(
        Deployment, on_delete=models.CASCADE, related_name="captures", db_index=False
    )
    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="+", db_index=False
    )
    key = models.CharField(max_length=128, help_text="The client's idempotency key.")
    payload = models.JSONField(help_text='{"text": …} or {"image": …}, as an item\'s payload.')
    content_hash = models.CharField(max_length=64)
    prediction = models.JSONField(help_text="The predicted labels, canonical (clean_labels).")
    predicted_class = models.SmallIntegerField(help_text="Schema position of the first predicted label.")
    probabilities = models.BinaryField(null=True, blank=True)
    logits = models.BinaryField(null=True, blank=True)
    embedding = models.BinaryField(null=True, blank=True)
    model_version = models.CharField(max_length=100, blank=True)
    source = models.CharField(max_length=100, blank=True)
    captured_at = models.DateTimeField(help_text="When the model saw it (the client's clock).")
    received_at = models.DateTimeField()
    outcome = models.JSONField(null=True, blank=True, help_text="The true labels, once known downstream.")
    outcome_at = models.DateTimeField(null=True, blank=True)

    scored_at = models.DateTimeField(null=True, blank=True)
    margin = models.FloatField(null=True, blank=True, help_text="Top-1 minus top-2 probability.")
    entropy = models.FloatField(null=True, blank=True, help_text="Normalised to [0, 1].")
    energy = models.FloatField(
        null=True, blank=True, help_text="-logsumexp(logits); higher is less familiar."
    )
    novelty = models.FloatField(
        null=True, blank=True, help_text="Mean distance to the k nearest training vectors."
    )
    novelty_percentile = models.FloatField(
        null=True, blank=True, help_text="Share of the training set's own k-NN distances below it (0-1)."
    )
    head_class = models.SmallIntegerField(null=True, blank=True, help_text="The current head's prediction.")

    rule = models.CharField(max_length=12, choices=Rule.choices, blank=True, default="")
    item = models.ForeignKey(
        "projects.Item", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # When the sampling rules looked at it (selected or not): each capture is triaged once.
    triaged_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["deployment", "key"], name="one_capture_per_key"),
        ]
        indexes = [
            models.Index(
                fields=["deployment", "id"], condition=Q(scored_at__isnull=True), name="capture_unscored"
            ),
            models.Index(fields=["project", "received_at"], name="capture_project_received"),
            models.Index(fields=["deployment", "source", "captured_at"], name="capture_window"),
        ]

    def __str__(self) -> str:
        return f"capture {self.pk} ({self.key})"

    @property
    def disagrees(self) -> bool | None:
        return None if self.head_class is None else self.head_class != self.predicted_class


class SamplingRules(models.Model):
    """What a project's production stream sends to labelling; read through ``selectors.sampling_rules``."""

    project = models.OneToOneField(
        "projects.Project", on_delete=models.CASCADE, related_name="sampling_rules"
    )
    enabled = models.BooleanField(default=True)
    uncertainty_margin = models.FloatField(
        default=0.2,
        help_text="Select a capture whose top-1 minus top-2 probability is below this (0 disables).",
    )
    novelty_percentile = models.FloatField(
        default=0.95,
        help_text="Select a capture more novel than this share of the training set (1 disables).",
    )
    select_disagreements = models.BooleanField(
        default=False, help_text="Select captures where the deployed model and the current head disagree."
    )
    class_quota = models.PositiveIntegerField(
        default=100, help_text="At most this many selections per predicted class per day (0: no cap)."
    )
    control_share = models.FloatField(default=0.02, help_text="Uniform random control slice (0.02 = 2 %).")
    daily_budget = models.PositiveIntegerField(
        default=500, help_text="Items sent to labelling per day, all rules."
    )
    near_duplicate_distance = models.FloatField(
        default=0.02, help_text="A capture this close (cosine distance) to a pool item is not added again."
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "sampling rules"
        constraints = [
            models.CheckConstraint(
                condition=Q(uncertainty_margin__gte=0, uncertainty_margin__lte=1), name="margin_0_1"
            ),
            models.CheckConstraint(
                condition=Q(novelty_percentile__gte=0, novelty_percentile__lte=1), name="novelty_0_1"
            ),
            models.CheckConstraint(
                condition=Q(control_share__gte=0, control_share__lte=1), name="control_0_1"
            ),
            models.CheckConstraint(
                condition=Q(near_duplicate_distance__gte=0, near_duplicate_distance__lte=2),
                name="near_dup_0_2",
            ),
        ]

    def __str__(self) -> str:
        return f"sampling rules of {self.project_id}"


class DriftWindow(models.Model):
    """One window of one source of a deployment, checked against its training snapshot."""

    deployment = models.ForeignKey(Deployment, on_delete=models.CASCADE, related_name="drift_windows")
    source = models.CharField(max_length=100, blank=True)
    window_start = models.DateTimeField()
    window_end = models.DateTimeField()
    n_production = models.PositiveIntegerField()
    n_reference = models.PositiveIntegerField()
    domain_auc = models.FloatField(null=True, blank=True)
    domain_threshold = models.FloatField(
        null=True, blank=True, help_text="AUC the permutations reach (1 - alpha)."
    )
    domain_p = models.FloatField(null=True, blank=True)
    mmd = models.FloatField(null=True, blank=True)
    mmd_p = models.FloatField(null=True, blank=True)
    class_mix = models.JSONField(default=dict, help_text='{"training": {...}, "production": {...}}')
    class_tvd = models.FloatField(null=True, blank=True, help_text="Total variation distance of the mixes.")
    class_p = models.FloatField(null=True, blank=True)
    control_total = models.PositiveIntegerField(default=0)
    control_correct = models.PositiveIntegerField(default=0)
    production_like = models.JSONField(
        default=list, help_text="Capture ids the domain classifier finds most production-like."
    )
    alarm = models.BooleanField(default=False)
    reasons = models.JSONField(default=list)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["window_start", "source"]
        constraints = [
            models.UniqueConstraint(
                fields=["deployment", "source", "window_start"], name="one_drift_row_per_window"
            )
        ]

    def __str__(self) -> str:
        return f"drift of {self.deployment_id} {self.source or '-'} {self.window_start:%Y-%m-%d %H:%M}"
