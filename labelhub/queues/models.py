"""Prioritised queue entries, leases of entries to annotators, and flags raised on items."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from labelhub.projects.models import Project

#: An open entry that can take one more annotator: its completed annotations plus live leases are
#: fewer than it asks for. The serve query, the top-up count and the progress figures all use it.
HAS_FREE_SLOT = Q(completed_annotations__lt=F("required_annotations") - F("leased_count"))


class QueueEntry(models.Model):
    class Reason(models.TextChoices):
        ACTIVE = "active", "Active learning"
        BALANCE = "balance", "Class balance"
        CONTROL = "control", "Random control slice"
        GOLD = "gold", "Gold check"
        OVERLAP = "overlap", "Overlap (agreement)"
        PRODUCTION = "production", "Seen in production"
        RANDOM = "random", "Random"
        REQUEUE = "requeue", "Re-queued"
        WEAK = "weak", "Labeling functions conflict or are unsure"

    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="queue_entries")
    item = models.ForeignKey("projects.Item", on_delete=models.CASCADE, related_name="queue_entries")
    priority = models.FloatField(default=0, help_text="Higher is served first.")
    reason = models.CharField(max_length=10, choices=Reason.choices, default=Reason.RANDOM)
    required_annotations = models.PositiveIntegerField(default=1)
    completed_annotations = models.PositiveIntegerField(default=0)
    # Live (unexpired, unreleased, uncompleted) leases. Kept on the row itself so that the
    # "has a free slot" test is re-checked by PostgreSQL after a SKIP LOCKED row lock.
    leased_count = models.PositiveIntegerField(default=0)
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
            # Never more annotators on an entry than it asks for: the overlap invariant, in the DB.
            models.CheckConstraint(
                condition=Q(completed_annotations__lte=F("required_annotations") - F("leased_count")),
                name="entry_never_over_leased",
            ),
        ]
        verbose_name_plural = "queue entries"

    def __str__(self) -> str:
        return f"{self.item_id} ({self.reason}, {self.priority:.3f})"


class Lease(models.Model):
    class ReleaseReason(models.TextChoices):
        RELEASED = "released", "Released (unused prefetch)"
        SKIPPED = "skipped", "Skipped"
        FLAGGED = "flagged", "Flagged"
        EXPIRED = "expired", "Expired"

    entry = models.ForeignKey(QueueEntry, on_delete=models.CASCADE, related_name="leases")
    annotator = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="leases")
    leased_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(db_index=True)
    released_at = models.DateTimeField(null=True, blank=True, help_text="Skipped, released or expired.")
    completed_at = models.DateTimeField(null=True, blank=True)
    release_reason = models.CharField(max_length=10, choices=ReleaseReason.choices, blank=True)

    class Meta:
        indexes = [
            # "Does this annotator hold / did they skip this entry?" in the serve query.
            models.Index(fields=["entry", "annotator"], name="lease_entry_annotator"),
            # The expiry sweep reads only live leases, oldest deadline first.
            models.Index(
                fields=["expires_at"],
                condition=Q(released_at__isnull=True, completed_at__isnull=True),
                name="live_lease_expiry",
            ),
        ]
        constraints = [
            # One live lease per (entry, annotator): nobody holds the same copy twice.
            models.UniqueConstraint(
                fields=["entry", "annotator"],
                condition=models.Q(released_at__isnull=True, completed_at__isnull=True),
                name="one_live_lease_per_entry_annotator",
            ),
        ]

    def __str__(self) -> str:
        return f"lease {self.pk} of entry {self.entry_id} to {self.annotator_id}"

    @property
    def is_live(self) -> bool:
        return self.released_at is None and self.completed_at is None


class PendingReaction(models.Model):
    """A submitted annotation whose reactions (QA scoring, consensus, active-learning trigger) have
    not run yet: an outbox row written in the submit's own transaction, deleted when delivered.

    The row makes the reactions durable: a process that dies between the commit and the
    reactions leaves it behind, and ``keep_queues`` delivers it later. With
    ``LABELHUB_REACTIONS=deferred`` every submit leaves its reactions to ``keep_queues``, which
    delivers them in batches off the request path.
    """

    annotation = models.OneToOneField(
        "projects.Annotation", on_delete=models.CASCADE, primary_key=True, related_name="+"
    )
    project = models.ForeignKey("projects.Project", on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    last_error = models.TextField(blank=True)

    class Meta:
        indexes = [models.Index(fields=["attempts", "created_at"], name="pending_reaction_order")]

    def __str__(self) -> str:
        return f"reactions of annotation {self.annotation_id}"


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


class QueueState(models.Model):
    """What the queues remember of a project between requests: that its pool had nothing left to
    fill from, so "next" on an exhausted project answers at once instead of searching again.

    Set by a fill that finds no candidates; cleared by whatever can bring candidates back (an
    import, :func:`~labelhub.queues.services.enqueue_items`) and, as a safety net for writers that
    say nothing (the admin, a shell), trusted only for ``EXHAUSTED_RECHECK`` after it was set.
    """

    project = models.OneToOneField(
        "projects.Project", on_delete=models.CASCADE, primary_key=True, related_name="queue_state"
    )
    exhausted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"queue of project {self.project_id}"


class ProjectQueue(Project):
    """The admin's view of a project's queue and class balance (a proxy: no table of its own)."""

    class Meta:
        proxy = True
        verbose_name = "queue and class balance"
        verbose_name_plural = "queues and class balance"
