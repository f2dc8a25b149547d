"""Versioned labeling guidelines: drafts, then immutable published versions."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class GuidelineVersion(models.Model):
    class Status(models.TextChoices):
        DRAFT = "draft", "Draft"
        PUBLISHED = "published", "Published"

    project = models.ForeignKey(
        "projects.Project", on_delete=models.CASCADE, related_name="guideline_versions"
    )
    number = models.PositiveIntegerField(null=True, blank=True, help_text="Set on publish: 1, 2, 3…")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.DRAFT)
    body = models.TextField(blank=True, help_text="Markdown.")
    ambiguous_cases = models.TextField(blank=True, help_text="Markdown.")
    change_summary = models.TextField(blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["project", "-number", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["project", "number"], name="unique_guideline_number_per_project"),
        ]

    def __str__(self) -> str:
        return f"{self.project} v{self.number}" if self.number else f"{self.project} draft #{self.pk}"


class GuidelineAcknowledgement(models.Model):
    """An annotator has read a published version (its change summary) and may be served again."""

    version = models.ForeignKey(GuidelineVersion, on_delete=models.CASCADE, related_name="acknowledgements")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    acknowledged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "user"], name="one_ack_per_version_user")]
