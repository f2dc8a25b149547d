"""REST API of guidelines: members read published versions; managers write drafts and publish.

Outsiders get 404 for everything (projects are looked up among the user's own); members who may
read but not write get 403. Every HTML field is rendered by :mod:`labelhub.guidelines.rendering`.
"""

from __future__ import annotations

from django.http import Http404
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labelhub.guidelines import selectors, services
from labelhub.guidelines.diff import diff_versions
from labelhub.guidelines.models import GuidelineExample, GuidelineVersion
from labelhub.guidelines.rendering import render_markdown
from labelhub.projects.models import Project
from labelhub.projects.selectors import is_manager, projects_for_user

# ---------------------------------------------------------------- serializers (shapes only)


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
    created_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
    published_by = serializers.SlugRelatedField(slug_field="username", read_only=True)
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


class QuestionSerializer(serializers.Serializer):
    id = serializers.IntegerField(source="pk")
    item = serializers.SerializerMethodField()
    annotator = serializers.CharField(source="annotator.username")
    comment = serializers.CharField()
    created_at = serializers.DateTimeField()
    asked_under = serializers.IntegerField(source="guideline_version_id", allow_null=True)
    answered_in = serializers.IntegerField(source="answered_in_id", allow_null=True)
    answered_in_number = serializers.SerializerMethodField()
    answer = serializers.CharField()
    answered_by = serializers.SerializerMethodField()
    answered_at = serializers.DateTimeField(allow_null=True)

    def get_item(self, flag) -> dict:
        return {"id": flag.item_id, "external_id": flag.item.external_id, "payload": flag.item.payload}

    def get_answered_in_number(self, flag) -> int | None:
        return flag.answered_in.number if flag.answered_in_id else None

    def get_answered_by(self, flag) -> str | None:
        return flag.answered_by.username if flag.answered_by_id else None


class AnswerSerializer(serializers.Serializer):
    flags = serializers.ListField(child=serializers.IntegerField(), allow_empty=False)
    version = serializers.IntegerField(help_text="A published version of the project that answers them.")
    answer = serializers.CharField(max_length=2000)


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
AnsweredSchema = inline_serializer(
    "GuidelineQuestionsAnswered",
    {
        "answered": serializers.IntegerField(),
        "version": serializers.IntegerField(),
        "requeued": serializers.IntegerField(),
    },
)
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

# ---------------------------------------------------------------- lookups and permission


def _project(request: Request, project_id: int) -> Project:
    return get_object_or_404(projects_for_user(request.user), pk=project_id)


def _version(request: Request, pk: int, *, content: bool = False) -> GuidelineVersion:
    """A version the user may read: in one of their projects, and published unless they manage it."""
    versions = GuidelineVersion.objects.filter(project__in=projects_for_user(request.user)).select_related(
        "project", "created_by", "published_by"
    )
    if content:
        versions = selectors.with_content(versions)
    version = get_object_or_404(versions, pk=pk)
    if not version.is_published and not is_manager(request.user, version.project):
        # A draft is not a thing annotators can know about: 404, as for an outsider.
        raise _not_found()
    return version


def _not_found() -> Http404:
    return Http404("No such guideline version.")


def _require_manager(request: Request, project: Project) -> None:
    if not is_manager(request.user, project):
        raise PermissionDenied("Only the project's managers may change its guidelines.")


def _validation_error(error: services.GuidelineError) -> ValidationError:
    return ValidationError({error.field: [error.message]})


def _apply_draft_changes(version: GuidelineVersion, validated: dict) -> None:
    text_fields = {k: validated[k] for k in services.EDITABLE_FIELDS if k in validated}
    if text_fields:
        services.update_draft(version, **text_fields)
    if "class_definitions" in validated:
        spec_maker = ClassDefinitionSerializer()
        services.replace_class_definitions(
            version, [spec_maker.to_spec(d) for d in validated["class_definitions"]]
        )


def _version_response(version_id: int, *, code: int = status.HTTP_200_OK) -> Response:
    version = selectors.with_content(
        GuidelineVersion.objects.select_related("created_by", "published_by")
    ).get(pk=version_id)
    return Response(VersionSerializer(version).data, status=code)


# ---------------------------------------------------------------- views


class ProjectVersionsView(APIView):
    """GET: the project's versions, newest first (drafts for managers). POST: a new draft (managers)."""

    @extend_schema(responses=VersionListSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = _project(request, project_id)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.versions_visible_to(request.user, project), request, view=self
        )
        return paginator.get_paginated_response(VersionListSerializer(page, many=True).data)

    @extend_schema(request=DraftCreateSerializer, responses={201: VersionSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = _project(request, project_id)
        _require_manager(request, project)
        payload = DraftCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        validated = payload.validated_data
        try:
            if validated.get("based_on"):
                source = GuidelineVersion.objects.filter(project=project, pk=validated["based_on"]).first()
                if source is None:
                    raise services.GuidelineError(
                        "based_on", f"Version {validated['based_on']} is not in this project."
                    )
                draft = services.start_draft_from(source, request.user)
            else:
                draft = services.create_draft(project, request.user)
            _apply_draft_changes(draft, validated)
        except services.GuidelineError as error:
            raise _validation_error(error) from error
        return _version_response(draft.pk, code=status.HTTP_201_CREATED)


class CurrentVersionView(APIView):
    """The version annotators work under now; 404 before the first is published."""

    @extend_schema(responses=VersionSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        project = _project(request, project_id)
        version = selectors.current_version(project)
        if version is None:
            raise _not_found()
        return _version_response(version.pk)


class VersionDetailView(APIView):
    """GET a version; PATCH or DELETE a draft (managers). Published versions never change."""

    @extend_schema(responses=VersionSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(VersionSerializer(_version(request, pk, content=True)).data)

    @extend_schema(request=DraftWriteSerializer, responses=VersionSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        version = _version(request, pk)
        _require_manager(request, version.project)
        payload = DraftWriteSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        try:
            _apply_draft_changes(version, payload.validated_data)
        except services.GuidelineError as error:
            raise _validation_error(error) from error
        return _version_response(version.pk)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        version = _version(request, pk)
        _require_manager(request, version.project)
        try:
            services.delete_draft(version)
        except services.GuidelineError as error:
            raise _validation_error(error) from error
        return Response(status=status.HTTP_204_NO_CONTENT)


class ClassDefinitionsView(APIView):
    """GET the class definitions of a version; PUT replaces all of a draft's (managers)."""

    @extend_schema(responses=ClassDefinitionSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        version = _version(request, pk, content=True)
        return Response(ClassDefinitionSerializer(selectors.class_sections(version), many=True).data)

    @extend_schema(
        request=ClassDefinitionSerializer(many=True), responses=ClassDefinitionSerializer(many=True)
    )
    def put(self, request: Request, pk: int) -> Response:
        version = _version(request, pk)
        _require_manager(request, version.project)
        payload = ClassDefinitionSerializer(data=request.data, many=True)
        payload.is_valid(raise_exception=True)
        try:
            _apply_draft_changes(version, {"class_definitions": payload.validated_data})
        except services.GuidelineError as error:
            raise _validation_error(error) from error
        version = _version(request, pk, content=True)
        return Response(ClassDefinitionSerializer(selectors.class_sections(version), many=True).data)


class PublishView(APIView):
    """Publish a draft as the next version number (managers)."""

    @extend_schema(request=PublishSerializer, responses=VersionSerializer)
    def post(self, request: Request, pk: int) -> Response:
        version = _version(request, pk)
        _require_manager(request, version.project)
        payload = PublishSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        try:
            published = services.publish_version(
                version, request.user, change_summary=payload.validated_data.get("change_summary")
            )
        except services.GuidelineError as error:
            raise _validation_error(error) from error
        return _version_response(published.pk)


class NewDraftView(APIView):
    """Start a new draft from this version (managers)."""

    @extend_schema(request=None, responses={201: VersionSerializer})
    def post(self, request: Request, pk: int) -> Response:
        version = _version(request, pk)
        _require_manager(request, version.project)
        draft = services.start_draft_from(version, request.user)
        return _version_response(draft.pk, code=status.HTTP_201_CREATED)


class AcknowledgeView(APIView):
    """The annotator read this version's change summary. Idempotent: 201 the first time, 200 after."""

    @extend_schema(request=None, responses={200: AcknowledgementSchema, 201: AcknowledgementSchema})
    def post(self, request: Request, pk: int) -> Response:
        version = _version(request, pk)
        try:
            acknowledgement, created = services.acknowledge(version, request.user)
        except services.GuidelineError as error:
            raise _validation_error(error) from error
        return Response(
            {
                "version": version.pk,
                "number": version.number,
                "acknowledged_at": acknowledgement.acknowledged_at,
                "pending": selectors.pending_acknowledgement(request.user, version.project) is not None,
            },
            status=status.HTTP_201_CREATED if created else status.HTTP_200_OK,
        )


class DiffView(APIView):
    """Rendered differences from ``?against=<id>`` (default: the version it was based on) to this one."""

    @extend_schema(
        parameters=[OpenApiParameter("against", OpenApiTypes.INT, description="Version to compare with.")],
        responses=DiffSchema,
    )
    def get(self, request: Request, pk: int) -> Response:
        version = _version(request, pk, content=True)
        against_id = request.query_params.get("against") or version.based_on_id
        if against_id is None:
            raise ValidationError({"against": ["Name the version to compare with: ?against=<id>."]})
        try:
            against = _version(request, int(against_id), content=True)
        except ValueError as error:
            raise ValidationError({"against": [f"'{against_id}' is not a version id."]}) from error
        if against.project_id != version.project_id:
            raise ValidationError({"against": [f"Version {against.pk} belongs to another project."]})
        sections = diff_versions(against, version)
        return Response(
            {
                "from": against.pk,
                "to": version.pk,
                "changed": any(s.changed for s in sections),
                "sections": [{"title": s.title, "status": s.status, "html": s.html} for s in sections],
            }
        )


class PreviewView(APIView):
    """Render markdown the way a published version will show it (managers of any project, staff)."""

    @extend_schema(request=PreviewSerializer, responses=PreviewSchema)
    def post(self, request: Request) -> Response:
        user = request.user
        if not (user.is_staff or user.memberships.filter(role="manager").exists()):
            raise PermissionDenied("Only managers preview guideline text.")
        payload = PreviewSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return Response({"html": render_markdown(payload.validated_data["markdown"])})


class QuestionsView(APIView):
    """Flagged items of a project, newest first; ``?answered=false`` for the open ones (managers)."""

    @extend_schema(
        parameters=[OpenApiParameter("answered", OpenApiTypes.BOOL)], responses=QuestionSerializer(many=True)
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = _project(request, project_id)
        _require_manager(request, project)
        answered = {"true": True, "false": False}.get(request.query_params.get("answered", "").lower())
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.questions_for(project, answered=answered), request, view=self
        )
        return paginator.get_paginated_response(QuestionSerializer(page, many=True).data)


class AnswerQuestionsView(APIView):
    """Answer questions with a published version; their items go back into the queue (managers)."""

    @extend_schema(request=AnswerSerializer, responses=AnsweredSchema)
    def post(self, request: Request, project_id: int) -> Response:
        project = _project(request, project_id)
        _require_manager(request, project)
        payload = AnswerSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        validated = payload.validated_data
        version = GuidelineVersion.objects.filter(project=project, pk=validated["version"]).first()
        if version is None:
            raise ValidationError({"version": [f"Version {validated['version']} is not in this project."]})
        try:
            answered = services.answer_questions(
                project, validated["flags"], version=version, answer=validated["answer"], user=request.user
            )
        except services.GuidelineError as error:
            raise _validation_error(error) from error
        return Response({"answered": answered, "version": version.pk, "requeued": answered})


class ImpactView(APIView):
    """Per version: annotations made under it and agreement before vs after (managers)."""

    @extend_schema(responses=ImpactSchema)
    def get(self, request: Request, project_id: int) -> Response:
        project = _project(request, project_id)
        _require_manager(request, project)
        impact = selectors.guideline_impact(project)
        return Response(
            {
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
        )
