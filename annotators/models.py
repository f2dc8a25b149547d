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
