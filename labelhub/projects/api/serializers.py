"""Serializers of the core domain's API: projects, classes, members, items, import batches."""

from __future__ import annotations

from rest_framework import serializers

from labelhub.openapi import ErrorSerializer
from labelhub.projects import services
from labelhub.projects.importing import FILE_FORMAT_CHOICES
from labelhub.projects.label_config import ClassSpec
from labelhub.projects.models import ImportBatch, Item, LabelClass, Project, ProjectMembership


class LabelClassSerializer(serializers.ModelSerializer):
    class Meta:
        model = LabelClass
        fields = ["id", "name", "key", "colour", "description", "order"]

    def validate_colour(self, value: str) -> str:
        if len(value) != 7 or not value.startswith("#"):
            raise serializers.ValidationError("use #rrggbb")
        return value


class ProjectSerializer(serializers.ModelSerializer):
    classes = LabelClassSerializer(many=True, required=False)
    item_count = serializers.IntegerField(read_only=True)

    class Meta:
        model = Project
        fields = [
            "id",
            "name",
            "description",
            "modality",
            "multi_label",
            "classes",
            "item_count",
            "created_at",
            "lease_minutes",
            "overlap_fraction",
            "overlap_annotators",
            "balance_target",
            "gold_rate",
            "qa_min_gold_accuracy",
            "qa_min_agreement",
            "qa_min_count",
            "qa_pause_on_fail",
            "qa_anonymous_adjudication",
            "consensus_method",
            "al_strategy",
            "al_batch_size",
            "al_trigger_labels",
        ]
        read_only_fields = ["created_at"]

    def validate_classes(self, value: list[dict]) -> list[dict]:
        names = [c["name"] for c in value]
        if len(set(names)) != len(names):
            raise serializers.ValidationError("class names must be unique")
        keys = [c.get("key") for c in value if c.get("key")]
        if len(set(keys)) != len(keys):
            raise serializers.ValidationError("class keys must be unique")
        return value

    def create(self, validated_data: dict) -> Project:
        classes = [ClassSpec(**spec) for spec in validated_data.pop("classes", [])]
        return services.create_project(
            classes=services.assign_default_keys(classes),
            created_by=self.context["request"].user,
            **validated_data,
        )

    def update(self, instance: Project, validated_data: dict) -> Project:
        if "classes" in validated_data:
            raise serializers.ValidationError(
                {
                    "classes": "edit classes through /api/projects/<id>/classes/, so annotations keep their names"
                }
            )
        return super().update(instance, validated_data)


class FromLabelConfigSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=200)
    label_config = serializers.CharField(help_text="Label Studio labeling config (XML).")
    description = serializers.CharField(required=False, allow_blank=True, default="")

    def validate_name(self, value: str) -> str:
        if Project.objects.filter(name=value).exists():
            raise serializers.ValidationError(f"a project named {value!r} exists")
        return value


class MembershipSerializer(serializers.ModelSerializer):
    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = ProjectMembership
        fields = ["id", "user", "username", "role", "is_paused", "paused_reason", "joined_at"]
        read_only_fields = ["joined_at"]


class ItemSerializer(serializers.ModelSerializer):
    """What a member may see of an item: never gold answers, ground truth or other annotations."""

    class Meta:
        model = Item
        fields = ["id", "external_id", "payload", "suggestion", "import_batch", "created_at"]


class ImportBatchSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(source="created_by.username", read_only=True, default=None)

    class Meta:
        model = ImportBatch
        fields = [
            "id",
            "project",
            "created_by",
            "created_at",
            "finished_at",
            "source",
            "filename",
            "format",
            "status",
            "lines_read",
            "imported_count",
            "duplicate_count",
            "annotation_count",
            "errors",
        ]
        read_only_fields = fields


class ImportUploadSerializer(serializers.Serializer):
    file = serializers.FileField()
    format = serializers.ChoiceField(
        choices=FILE_FORMAT_CHOICES,
        required=False,
        help_text="Guessed from the file name if left out.",
    )


class ImportRejectedSerializer(ErrorSerializer):
    """The 400 of an import: the one error shape, each error with its ``line``, and the batch."""

    batch = serializers.IntegerField(
        allow_null=True, help_text="The failed import batch; null when refused before one existed."
    )
