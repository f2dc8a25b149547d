"""Versioned labeling guidelines: drafts, then immutable published versions.

A version holds the guideline text, one definition per label class with positive and negative
examples, and an "ambiguous cases" section. Once published it never changes: annotations point at
it, so its text must stay what the annotator read. Edits start a new draft from it.
"""

from __future__ import annotations

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Q


class ImmutableVersionError(Exception):
    """Raised when something tries to change or delete a published guideline version."""


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
    based_on = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="drafts",
        help_text="The published version this draft started from.",
    )
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
            # A published version always has its number; a draft never has one. (published_at is
            # set by publish_version but not required here: other parts' fixtures create
            # published rows directly.)
            models.CheckConstraint(
                condition=(Q(status="published") & Q(number__isnull=False))
                | (Q(status="draft") & Q(number__isnull=True)),
                name="guideline_number_iff_published",
            ),
        ]
        indexes = [models.Index(fields=["project", "status", "-number"], name="guideline_current_lookup")]

    def __str__(self) -> str:
        return f"{self.project} v{self.number}" if self.number else f"{self.project} draft #{self.pk}"

    def save(self, *args, **kwargs) -> None:
        # The stored row decides: the draft → published transition itself is a save of a draft.
        if self.pk is not None and _stored_is_published(GuidelineVersion.objects.filter(pk=self.pk)):
            raise ImmutableVersionError(f"Guideline {self.label} is published and cannot be changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        if _stored_is_published(GuidelineVersion.objects.filter(pk=self.pk)):
            raise ImmutableVersionError(f"Guideline {self.label} is published and cannot be deleted.")
        return super().delete(*args, **kwargs)

    @property
    def is_published(self) -> bool:
        return self.status == self.Status.PUBLISHED

    @property
    def label(self) -> str:
        """Short human name: "v3" or "draft #12"."""
        return f"v{self.number}" if self.number else f"draft #{self.pk}"


def _stored_is_published(queryset) -> bool:
    return queryset.filter(status=GuidelineVersion.Status.PUBLISHED).exists()


class _PartOfVersion(models.Model):
    """A row that belongs to a version's content, frozen with it on publish."""

    class Meta:
        abstract = True

    def save(self, *args, **kwargs) -> None:
        self._refuse_if_published("changed")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        self._refuse_if_published("deleted")
        return super().delete(*args, **kwargs)

    def _refuse_if_published(self, verb: str) -> None:
        if self.version_id and _stored_is_published(GuidelineVersion.objects.filter(pk=self.version_id)):
            raise ImmutableVersionError(
                f"{self._meta.verbose_name.capitalize()} belongs to a published guideline version "
                f"and cannot be {verb}."
            )


class ClassDefinition(_PartOfVersion):
    """What one label class means in one guideline version."""

    version = models.ForeignKey(GuidelineVersion, on_delete=models.CASCADE, related_name="class_definitions")
    label_class = models.ForeignKey("projects.LabelClass", on_delete=models.CASCADE, related_name="+")
    definition = models.TextField(blank=True, help_text="Markdown.")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["version", "order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["version", "label_class"], name="one_definition_per_class_version"
            )
        ]

    def __str__(self) -> str:
        return f"{self.label_class_id} in {self.version_id}"

    def clean(self) -> None:
        _check_same_project(self)


class GuidelineExample(_PartOfVersion):
    """A positive or negative example of a class: free text, or an item of the project.

    An item example also keeps the item's text at the time it was attached, so the published
    version reads the same even if the item is later removed.
    """

    class Kind(models.TextChoices):
        POSITIVE = "positive", "Positive (is this class)"
        NEGATIVE = "negative", "Negative (is not this class)"

    version = models.ForeignKey(GuidelineVersion, on_delete=models.CASCADE, related_name="examples")
    label_class = models.ForeignKey("projects.LabelClass", on_delete=models.CASCADE, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.POSITIVE)
    text = models.TextField(blank=True, help_text="Markdown; for an item example, a copy of its text.")
    item = models.ForeignKey(
        "projects.Item", null=True, blank=True, on_delete=models.SET_NULL, related_name="guideline_examples"
    )
    note = models.CharField(max_length=300, blank=True, help_text="Why this example is (not) the class.")
    order = models.PositiveIntegerField(default=0)

    class Meta:
        ordering = ["version", "label_class", "kind", "order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(text="") | Q(item__isnull=False), name="guideline_example_has_text_or_item"
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} example of {self.label_class_id}"

    def clean(self) -> None:
        _check_same_project(self)
        if self.item_id is not None:
            if self.item.project_id != self.version.project_id:
                raise ValidationError(
                    {"item": f"Item {self.item_id} is not an item of this guideline's project."}
                )
            if not self.text.strip() and isinstance(self.item.payload, dict):
                self.text = str(self.item.payload.get("text", ""))
        elif not self.text.strip():
            raise ValidationError({"text": "An example needs a text or an item."})


def _check_same_project(part: ClassDefinition | GuidelineExample) -> None:
    if part.label_class_id and part.version_id and part.label_class.project_id != part.version.project_id:
        raise ValidationError(
            {"label_class": f"Class '{part.label_class.name}' is not a class of this guideline's project."}
        )


class GuidelineAcknowledgement(models.Model):
    """An annotator has read a published version (its change summary) and may be served again."""

    version = models.ForeignKey(GuidelineVersion, on_delete=models.CASCADE, related_name="acknowledgements")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+")
    acknowledged_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["version", "user"], name="one_ack_per_version_user")]
