"""Active-learning state: model rounds (each one a model version) and simulation runs.

Embedding vectors are not stored here: they live in a memory-mapped per-project store on disk
(see ``active/store.py``), because one database row per float would be both huge and slow.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class ModelRound(models.Model):
    """One active-learning round: train a head, score the pool, queue the next batch.

    A done round *is* a model version: ``Item.suggestion["model_version"]`` points at its id.
    The state machine is pending → running → done, or back to pending on a retryable failure
    (``attempts`` < ``max_attempts``), or failed for good. At most one round per project is
    pending or running (a database constraint), so a burst of labels never queues duplicates.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        LABELS = "labels", "New labels arrived"
        MANAGER = "manager", "Started by a manager"
        COMMAND = "command", "Management command"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="model_rounds")
    number = models.PositiveIntegerField(help_text="1, 2, 3… within the project.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANAGER)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    strategy = models.CharField(
        max_length=30, help_text="Query strategy, copied from the project at request."
    )
    batch_size = models.PositiveIntegerField()
    device = models.CharField(max_length=10, default="auto", help_text="auto, cpu or cuda.")
    device_used = models.CharField(max_length=20, blank=True)

    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    error = models.TextField(blank=True, help_text="Last failure, kept for the record after a retry.")
    scoring_attempt = models.PositiveIntegerField(
        null=True,
        blank=True,
        help_text="Set while the round is pending between training and selection, waiting for the "
        "score shards of this attempt (active/score_shards.py); it resumes that attempt, not a new one.",
    )

    labels_used = models.PositiveIntegerField(default=0, help_text="Labelled items the head was trained on.")
    pool_size = models.PositiveIntegerField(default=0)
    selected_count = models.PositiveIntegerField(default=0)
    suggestions_written = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(
        default=dict, blank=True, help_text="Held-out accuracy, macro F1, class counts."
    )
    timings = models.JSONField(default=dict, blank=True, help_text="Seconds per stage.")

    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(
        null=True,
        blank=True,
        help_text="Touched every 10 s by the running attempt; older than 45 s means its worker died.",
    )
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="unique_round_number_per_project"),
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(state__in=["pending", "running"]),
                name="one_active_round_per_project",
            ),
        ]
        indexes = [models.Index(fields=["state", "heartbeat_at"], name="round_state_heartbeat")]

    def __str__(self) -> str:
        return f"{self.project} round {self.number} ({self.state})"

    @property
    def batch_key(self) -> str:
        """Idempotency key of this round's queue writes: a retried round never writes twice."""
        return f"al-round-{self.pk}"

    @property
    def accuracy(self) -> float | None:
        return (self.metrics or {}).get("accuracy")


class SimulationRun(models.Model):
    """A simulated active-learning run against known ground truth (oracle instead of humans)."""

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="simulations")
    strategies = models.JSONField(help_text="Strategies compared (random is always included).")
    rounds = models.PositiveIntegerField()
    batch_size = models.PositiveIntegerField()
    initial_labels = models.PositiveIntegerField()
    seed = models.IntegerField(default=0)
    curve = models.JSONField(default=list, help_text="[{strategy, round, labels, accuracy}]")
    summary = models.JSONField(
        default=dict, blank=True, help_text="Labels each strategy needs to match random."
    )
    csv_path = models.CharField(max_length=500, help_text="Relative to LABELHUB_DATA_DIR.")
    png_path = models.CharField(max_length=500, help_text="Relative to LABELHUB_DATA_DIR.")
    seconds = models.FloatField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.project} simulation {self.pk}"


class ActiveSettings(models.Model):
    """A project's active-learning settings that are not the round's own (those stay on Project).

    Read through ``selectors.active_settings``, which answers the defaults for a project that has
    never saved any, so pages never write on a GET.
    """

    project = models.OneToOneField(
        "projects.Project", on_delete=models.CASCADE, related_name="active_settings"
    )
    target_accuracy = models.FloatField(
        default=0.9, help_text="The held-out accuracy the forecast counts labels towards (0–1, exclusive)."
    )
    cost_per_hour = models.FloatField(default=0, help_text="What an annotator-hour costs, for the forecast.")
    control_share = models.FloatField(
        default=0.05,
        help_text="Share of served items held out of training as the random control slice (0–0.5; "
        "0 turns it off). See active/control.py.",
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name_plural = "active settings"
        constraints = [
            models.CheckConstraint(
                condition=Q(target_accuracy__gt=0) & Q(target_accuracy__lt=1), name="target_accuracy_in_0_1"
            ),
            models.CheckConstraint(condition=Q(cost_per_hour__gte=0), name="cost_per_hour_not_negative"),
            models.CheckConstraint(
                condition=Q(control_share__gte=0) & Q(control_share__lte=0.5), name="control_share_in_0_half"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} active-learning settings"


class NoiseCheck(models.Model):
    """One label-noise check of a project: K-fold probabilities, detection, suspects sent to review.

    Run by a background job after each active-learning round and on demand. The state machine is
    the rounds' (pending → running → done, back to pending for a retry, or failed); each fold's
    probabilities are stored as soon as they are computed (:class:`NoiseScore`), so a retried
    attempt resumes at the first missing fold. At most one check per project is pending or running.
    """

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    class Trigger(models.TextChoices):
        ROUND = "round", "After an active-learning round"
        MANAGER = "manager", "Started by a manager"
        COMMAND = "command", "Management command"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="noise_checks")
    model_round = models.ForeignKey(
        ModelRound, null=True, blank=True, on_delete=models.SET_NULL, related_name="noise_checks"
    )
    number = models.PositiveIntegerField(help_text="1, 2, 3… within the project.")
    state = models.CharField(max_length=10, choices=State.choices, default=State.PENDING)
    trigger = models.CharField(max_length=10, choices=Trigger.choices, default=Trigger.MANAGER)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    folds = models.PositiveSmallIntegerField(default=5)
    review_budget = models.PositiveIntegerField(default=20, help_text="Suspects sent to adjudication.")
    device = models.CharField(max_length=10, default="auto")
    device_used = models.CharField(max_length=20, blank=True)
    head = models.CharField(max_length=20, blank=True, help_text="The head kind every fold fitted.")
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    error = models.TextField(blank=True)

    labelled = models.PositiveIntegerField(
        default=0, help_text="Items scored (resolved labels in the cache)."
    )
    folds_done = models.PositiveSmallIntegerField(default=0)
    issues_found = models.PositiveIntegerField(default=0)
    sent_to_review = models.PositiveIntegerField(default=0)
    metrics = models.JSONField(
        default=dict,
        blank=True,
        help_text="Suspects by class, CROWDLAB annotator quality, near-duplicate conflicts, timings.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="unique_noise_check_number"),
            models.UniqueConstraint(
                fields=["project"],
                condition=Q(state__in=["pending", "running"]),
                name="one_active_noise_check_per_project",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project} label-noise check {self.number} ({self.state})"


class NoiseScore(models.Model):
    """One item's out-of-sample probabilities in one check, and what detection made of them.

    Written fold by fold (``fold``); one row per item per check, so a resumed or repeated attempt
    never duplicates. Detection fills ``quality`` onwards once every fold is in.
    """

    noise_check = models.ForeignKey(NoiseCheck, on_delete=models.CASCADE, related_name="scores")
    item = models.ForeignKey("projects.Item", on_delete=models.CASCADE, related_name="+")
    fold = models.PositiveSmallIntegerField()
    given = models.CharField(max_length=200, help_text="The resolved (or gold) label scored.")
    proba = models.JSONField(help_text="Out-of-sample class probabilities, in schema order.")
    is_gold = models.BooleanField(default=False)
    annotators = models.PositiveIntegerField(default=1)
    quality = models.FloatField(null=True, blank=True, help_text="Label quality of ``given``; low = suspect.")
    is_issue = models.BooleanField(default=False)
    suggested = models.CharField(max_length=200, blank=True)
    confidence = models.FloatField(null=True, blank=True)
    outlier = models.FloatField(null=True, blank=True, help_text="Low = unlike the rest of its class.")
    rank = models.PositiveIntegerField(null=True, blank=True, help_text="1 = most suspect; gold: none.")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["noise_check", "item"], name="one_noise_score_per_item_per_check")
        ]
        indexes = [models.Index(fields=["noise_check", "rank"], name="noise_score_rank")]


class NoiseReview(models.Model):
    """A suspect sent to adjudication with reason ``label_error``, and what the reviewer decided.

    ``outcome``: ``confirmed`` (the given label was right), ``fixed`` (the reviewer changed it: a
    confirmed label error), ``ambiguous`` (sent on as a guideline question), or ``pending``.
    """

    class Outcome(models.TextChoices):
        PENDING = "pending", "Waiting for review"
        CONFIRMED = "confirmed", "Given label confirmed"
        FIXED = "fixed", "Label error fixed"
        AMBIGUOUS = "ambiguous", "Ambiguous (guideline question)"

    noise_check = models.ForeignKey(NoiseCheck, on_delete=models.CASCADE, related_name="reviews")
    item = models.ForeignKey("projects.Item", on_delete=models.CASCADE, related_name="+")
    task = models.ForeignKey(
        "annotators.AdjudicationTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    given = models.JSONField(help_text="The label under suspicion.")
    suggested = models.CharField(max_length=200)
    confidence = models.FloatField()
    quality = models.FloatField()
    outcome = models.CharField(max_length=10, choices=Outcome.choices, default=Outcome.PENDING)
    fixed_to = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    resolved_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["noise_check", "quality", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["noise_check", "item"], name="one_noise_review_per_item_per_check"
            )
        ]
