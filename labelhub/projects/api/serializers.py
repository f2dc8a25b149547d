"""Serializers of the core domain's API: projects, classes, members, items, import batches.

Some fields are for the project's managers (and staff) only: the QA, queue and active-learning
policy of a project (when checks start and how strict they are tells an annotator how to game
them) and whether a member is paused, and why. :class:`ManagerFieldsMixin` leaves them out of
what anyone else is sent; the labeling page needs none of them.
"""

from __future__ import annotations

from rest_framework import serializers

from labelhub.openapi import ErrorSerializer
from labelhub.projects import services
from labelhub.projects.importing import FILE_FORMAT_CHOICES
from labelhub.projects.label_config import ClassSpec
from labelhub.projects.models import ImportBatch, Item, LabelClass, Project, ProjectMembership
from labelhub.projects.selectors import managed_project_ids


class ManagerFieldsMixin:
    """Drops ``Meta.manager_fields`` from the output unless the requester manages the object's project.

    The requester's managed projects are read once per request and shared by every object of a
    list (the context is the list serializer's). Without a request in the context (internal use)
    nothing is dropped.
    """

    def project_id_of(self, instance) -> int:
        return instance.project_id

    def to_representation(self, instance) -> dict:
        data = super().to_representation(instance)
        request = self.context.get("request")
        if request is None:
            return data
        if "managed_project_ids" not in self.context:
            self.context["managed_project_ids"] = managed_project_ids(request.user)
        managed = self.context["managed_project_ids"]
        if managed is not None and self.project_id_of(instance) not in managed:
            for name in self.Meta.manager_fields:
                data.pop(name, None)
        return data


class LabelClassSerializer(serializers.ModelSerializer):
    class Meta:
        model = LabelClass
        fields = ["id", "name", "key", "colour", "description", "order"]

    def validate_colour(self, value: str) -> str:
        if len(value) != 7 or not value.startswith("#"):
            raise serializers.ValidationError("use #rrggbb")
        return value


#: Project fields sent to managers and staff only; the rest is what the labeling page needs.
MANAGER_FIELDS = (
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
)


class ProjectSerializer(ManagerFieldsMixin, serializers.ModelSerializer):
    """A project; its policy fields (``Meta.manager_fields``) go to its managers and staff only."""

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
            *MANAGER_FIELDS,
        ]
        read_only_fields = ["created_at"]
        manager_fields = MANAGER_FIELDS

    def project_id_of(self, instance: Project) -> int:
        return instance.pk

    def get_fields(self) -> dict:
        fields = super().get_fields()
        # The modality decides what an import reads (text or image): chosen on purpose, not defaulted.
        fields["modality"].required = self.instance is None
        return fields

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


class MembershipSerializer(ManagerFieldsMixin, serializers.ModelSerializer):
    """A member and their role; whether they are paused, and why, only to the project's managers."""

    username = serializers.CharField(source="user.username", read_only=True)

    class Meta:
        model = ProjectMembership
        fields = ["id", "user", "username", "role", "is_paused", "paused_reason", "joined_at"]
        read_only_fields = ["joined_at"]
        extra_kwargs = {"role": {"required": True}}
        manager_fields = ["is_paused", "paused_reason"]

    def get_fields(self) -> dict:
        fields = super().get_fields()
        if self.instance is not None:
            # A membership is one user's: moving it to another user could clash with theirs.
            fields["user"].read_only = True
        return fields


class ItemSerializer(serializers.ModelSerializer):
    """What a member may see of an item: never gold answers, ground truth or other annotations."""

    class Meta:
        model = Item
        fields = ["id", "external_id", "payload", "suggestion", "import_batch", "created_at"]


class ImportBatchSerializer(serializers.ModelSerializer):
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None, allow_null=True
    )

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
            "skipped",
            "warnings",
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
        allow_null=True,
        required=False,
        help_text="The failed import batch; null or absent when the upload was refused before one existed.",
    )
