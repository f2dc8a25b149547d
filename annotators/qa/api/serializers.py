"""What the QA API accepts (request serializers) and how it writes its objects (plain dicts).

Labels are only checked for shape here; the label rule itself (known classes, count, order) is
:func:`labelhub.projects.labels.clean_labels`, applied by the services these requests reach.
"""

from __future__ import annotations

from rest_framework import serializers

from annotators.qa import adjudication
from annotators.qa.models import AdjudicationTask, ConsensusLabel, GoldItem


class GoldAnswerSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    labels = serializers.ListField(child=serializers.CharField(), allow_empty=False)


class GoldMarkSerializer(serializers.Serializer):
    items = GoldAnswerSerializer(many=True, allow_empty=False)


class FlagResolveSerializer(serializers.Serializer):
    unpause = serializers.BooleanField(default=True)


class AdjudicationListQuery(serializers.Serializer):
    status = serializers.ChoiceField(
        choices=AdjudicationTask.Status.choices, default=AdjudicationTask.Status.OPEN
    )


class ResolveSerializer(serializers.Serializer):
    labels = serializers.ListField(child=serializers.CharField(), allow_empty=False, required=False)
    ambiguous = serializers.BooleanField(
        default=False, help_text="Close with no final label: the item becomes a guideline question."
    )
    promote_to_gold = serializers.BooleanField(default=False)
    note = serializers.CharField(required=False, allow_blank=True, default="")

    def validate(self, attrs):
        if not attrs["ambiguous"] and not attrs.get("labels"):
            raise serializers.ValidationError({"labels": ["Give the final labels, or set ambiguous."]})
        return attrs


class PromoteSerializer(serializers.Serializer):
    task_ids = serializers.ListField(child=serializers.IntegerField(), allow_empty=False)


def gold_json(gold: GoldItem) -> dict:
    return {
        "item_id": gold.item_id,
        "external_id": gold.item.external_id,
        "labels": gold.labels,
        "source": gold.source,
        "created_at": gold.created_at.isoformat(),
    }


def consensus_json(label: ConsensusLabel) -> dict:
    return {
        "item_id": label.item_id,
        "external_id": label.item.external_id,
        "labels": label.labels,
        "confidence": label.confidence,
        "method": label.method,
        "annotator_count": label.annotator_count,
    }


def task_json(task: AdjudicationTask, *, with_labels: bool = False) -> dict:
    """A task as the reviewer queue lists it; ``with_labels`` adds what the detail page shows."""
    result = {
        "id": task.pk,
        "item": {"id": task.item_id, "external_id": task.item.external_id, "payload": task.item.payload},
        "reason": task.reason,
        "detail": task.detail,
        "confidence": task.confidence,
        "status": task.status,
        "created_at": task.created_at.isoformat(),
        "resolved_labels": task.resolved_labels,
        "resolved_at": task.resolved_at.isoformat() if task.resolved_at else None,
    }
    if with_labels:
        result["labels"] = adjudication.task_labels(task)
        result["classes"] = list(task.project.classes.values_list("name", flat=True))
        result["multi_label"] = task.project.multi_label
    return result


# --- response shapes (the schema's, for clients; the views answer what the selectors build) ----


class AnnotatorRowSerializer(serializers.Serializer):
    """One annotator of ``qa/annotators/``: volume, speed, gold accuracy with its 95 % interval,
    agreement with the consensus, and the reasons of their open flags. Nulls: nothing measured yet."""

    annotator_id = serializers.IntegerField()
    username = serializers.CharField()
    role = serializers.CharField(allow_null=True, help_text="Null when no longer a member.")
    is_paused = serializers.BooleanField()
    paused_reason = serializers.CharField(allow_blank=True)
    annotations = serializers.IntegerField()
    seconds_per_item_median = serializers.FloatField(allow_null=True)
    seconds_per_item_mean = serializers.FloatField(allow_null=True)
    gold_seen = serializers.IntegerField()
    gold_correct = serializers.IntegerField()
    gold_accuracy = serializers.FloatField(allow_null=True)
    gold_ci_low = serializers.FloatField(allow_null=True)
    gold_ci_high = serializers.FloatField(allow_null=True)
    consensus_seen = serializers.IntegerField()
    consensus_agreement = serializers.FloatField(allow_null=True)
    flags = serializers.ListField(child=serializers.CharField())


class OpenFlagSerializer(serializers.Serializer):
    """One open flag of ``qa/flags/``: what a policy measured, against which threshold, over how many."""

    id = serializers.IntegerField()
    annotator_id = serializers.IntegerField()
    username = serializers.CharField()
    kind = serializers.CharField()
    reason = serializers.CharField()
    value = serializers.FloatField()
    threshold = serializers.FloatField()
    sample_size = serializers.IntegerField()
    paused = serializers.BooleanField()
    sent_to_review = serializers.IntegerField()
    created_at = serializers.DateTimeField()
