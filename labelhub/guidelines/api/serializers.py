"""Shapes of the guideline API: what a version, its class sections and the write payloads look like.

Serializers only parse and shape; every rule lives in :mod:`labelhub.guidelines.services`. Every
HTML field is rendered by :mod:`labelhub.guidelines.rendering`.
"""

from __future__ import annotations

from drf_spectacular.utils import inline_serializer
from rest_framework import serializers

from labelhub.guidelines import selectors, services
from labelhub.guidelines.models import GuidelineExample, GuidelineVersion
from labelhub.guidelines.rendering import render_markdown


class ExampleSerializer(serializers.Serializer):
    kind = serializers.ChoiceField(choices=GuidelineExample.Kind.choices)
    text = serializers.CharField(allow_blank=True, required=False, default="")
    text_html = serializers.SerializerMethodField()
    item = serializers.IntegerField(source="item_id", allow_null=True, required=False, default=None)
    note = serializers.CharField(allow_blank=True, required=False, default="", max_length=300)

    def get_text_html(self, example) -> str:
        return render_markdown(example.text)


class ClassDefinitionSerializer(serializers.Serializer):
    label_class = serializers.CharField(help_text="Class name, as annotations store it.")
    definition = serializers.CharField(allow_blank=True, required=False, default="")
    definition_html = serializers.CharField(read_only=True)
    examples = ExampleSerializer(many=True, required=False, default=list)

    def to_representation(self, section: selectors.ClassSection) -> dict:
        return {
            "label_class": section.label_class.name,
            "definition": section.definition,
            "definition_html": render_markdown(section.definition),
            "examples": ExampleSerializer(section.positives + section.negatives, many=True).data,
        }

    def to_spec(self, validated: dict) -> services.ClassDefinitionSpec:
        return services.ClassDefinitionSpec(
            label_class=validated["label_class"],
            definition=validated.get("definition", ""),
            examples=[
                services.ExampleSpec(
                    kind=e["kind"], text=e.get("text", ""), item_id=e.get("item_id"), note=e.get("note", "")
                )
                for e in validated.get("examples", [])
            ],
        )


class VersionSerializer(serializers.ModelSerializer):
    label = serializers.CharField(read_only=True)
    # A plain string in the schema: a "status" enum would collide with other apps' status enums.
    status = serializers.CharField(read_only=True, help_text='"draft" or "published".')
    body_html = serializers.SerializerMethodField()
    ambiguous_cases_html = serializers.SerializerMethodField()
    change_summary_html = serializers.SerializerMethodField()
    # Null once the author's account is gone (SET_NULL), and published_by on every draft.
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    published_by = serializers.SlugRelatedField(slug_field="username", read_only=True, allow_null=True)
    class_definitions = serializers.SerializerMethodField()

    class Meta:
        model = GuidelineVersion
        fields = [
            "id",
            "project",
            "number",
            "label",
            "status",
            "body",
            "body_html",
            "ambiguous_cases",
            "ambiguous_cases_html",
            "change_summary",
            "change_summary_html",
            "based_on",
            "created_by",
            "created_at",
            "published_by",
            "published_at",
            "class_definitions",
        ]
        read_only_fields = fields

    def get_body_html(self, version) -> str:
        return render_markdown(version.body)

    def get_ambiguous_cases_html(self, version) -> str:
        return render_markdown(version.ambiguous_cases)

    def get_change_summary_html(self, version) -> str:
        return render_markdown(version.change_summary)

    def get_class_definitions(self, version) -> list[dict]:
        return ClassDefinitionSerializer(selectors.class_sections(version), many=True).data


class VersionListSerializer(VersionSerializer):
    """History rows: no bodies, so a long history stays a small response."""

    class Meta(VersionSerializer.Meta):
        fields = [
            "id",
            "project",
            "number",
            "label",
            "status",
            "change_summary",
            "based_on",
            "created_by",
            "created_at",
            "published_by",
            "published_at",
        ]
        read_only_fields = fields


class DraftWriteSerializer(serializers.Serializer):
    body = serializers.CharField(allow_blank=True, required=False, trim_whitespace=False)
    ambiguous_cases = serializers.CharField(allow_blank=True, required=False, trim_whitespace=False)
    change_summary = serializers.CharField(allow_blank=True, required=False)
    class_definitions = ClassDefinitionSerializer(many=True, required=False)


class DraftCreateSerializer(DraftWriteSerializer):
    based_on = serializers.IntegerField(
        required=False, allow_null=True, help_text="Start from this version's text, classes and examples."
    )


class PublishSerializer(serializers.Serializer):
    change_summary = serializers.CharField(required=False, allow_blank=True)


class PreviewSerializer(serializers.Serializer):
    markdown = serializers.CharField(allow_blank=True, trim_whitespace=False, max_length=200_000)


AcknowledgementSchema = inline_serializer(
    "GuidelineAcknowledgement",
    {
        "version": serializers.IntegerField(),
        "number": serializers.IntegerField(),
        "acknowledged_at": serializers.DateTimeField(),
        "pending": serializers.BooleanField(help_text="Still a newer version to acknowledge."),
    },
)
DiffSchema = inline_serializer(
    "GuidelineDiff",
    {
        "from": serializers.IntegerField(),
        "to": serializers.IntegerField(),
        "changed": serializers.BooleanField(),
        "sections": inline_serializer(
            "GuidelineDiffSection",
            {
                "title": serializers.CharField(),
                "status": serializers.CharField(),
                "html": serializers.CharField(),
            },
            many=True,
        ),
    },
)
PreviewSchema = inline_serializer("GuidelinePreview", {"html": serializers.CharField()})
AgreementSchema = inline_serializer(
    "GuidelineAgreement",
    {
        "items": serializers.IntegerField(),
        "percent_agreement": serializers.FloatField(allow_null=True),
        "krippendorff_alpha": serializers.FloatField(allow_null=True),
    },
    allow_null=True,
)
ImpactSchema = inline_serializer(
    "GuidelineImpact",
    {
        "agreement_available": serializers.BooleanField(),
        "versions": inline_serializer(
            "GuidelineVersionImpact",
            {
                "version": serializers.IntegerField(allow_null=True),
                "number": serializers.IntegerField(allow_null=True),
                "published_at": serializers.DateTimeField(allow_null=True),
                "change_summary": serializers.CharField(),
                "annotations": serializers.IntegerField(),
                "annotators": serializers.IntegerField(),
                "questions_answered": serializers.IntegerField(),
                "agreement_before": AgreementSchema,
                "agreement_after": AgreementSchema,
                "krippendorff_alpha_change": serializers.FloatField(allow_null=True),
                "percent_agreement_change": serializers.FloatField(allow_null=True),
            },
            many=True,
        ),
    },
)


def impact_body(impact: selectors.GuidelineImpact) -> dict:
    """:class:`~labelhub.guidelines.selectors.GuidelineImpact` as :data:`ImpactSchema` describes it."""
    return {
        "agreement_available": impact.agreement_available,
        "versions": [
            {
                "version": row.version.pk if row.version else None,
                "number": row.version.number if row.version else None,
                "published_at": row.version.published_at if row.version else None,
                "change_summary": row.version.change_summary if row.version else "",
                "annotations": row.annotations,
                "annotators": row.annotators,
                "questions_answered": row.questions_answered,
                "agreement_before": row.agreement_before,
                "agreement_after": row.agreement_after,
                "krippendorff_alpha_change": row.alpha_change,
                "percent_agreement_change": row.percent_change,
            }
            for row in impact.rows
        ],
    }
