"""REST views of guidelines: members read published versions; managers write drafts and publish.

Outsiders get 404 for everything (projects are looked up among the user's own); members who may
read but not write get 403. Views parse, call one service or selector and shape the answer; the
errors they raise take the one shape of :mod:`labelhub.errors` in DRF's exception handler.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labelhub.errors import Forbidden, NotFound
from labelhub.guidelines import selectors, services
from labelhub.guidelines.api.serializers import (
    AcknowledgementSchema,
    ClassDefinitionSerializer,
    DiffSchema,
    DraftCreateSerializer,
    DraftWriteSerializer,
    ImpactSchema,
    PreviewSchema,
    PreviewSerializer,
    PublishSerializer,
    VersionListSerializer,
    VersionSerializer,
    impact_body,
)
from labelhub.guidelines.diff import diff_versions
from labelhub.guidelines.errors import GuidelineError
from labelhub.guidelines.models import GuidelineVersion
from labelhub.guidelines.rendering import render_markdown
from labelhub.openapi import ErrorSerializer, paginated
from labelhub.projects.models import Project
from labelhub.projects.selectors import is_manager, projects_for_user

# ---------------------------------------------------------------- lookups and permission


def project_for(request: Request, project_id: int) -> Project:
    """One of the user's projects; 404 for any other, so outsiders learn nothing."""
    return get_object_or_404(projects_for_user(request.user), pk=project_id)


def require_manager(request: Request, project: Project) -> None:
    if not is_manager(request.user, project):
        raise Forbidden("Only the project's managers may do this.")


def _version(request: Request, pk: int, *, content: bool = False) -> GuidelineVersion:
    """A version the user may read: in one of their projects, and published unless they manage it."""
    versions = GuidelineVersion.objects.filter(project__in=projects_for_user(request.user)).select_related(
        "project", "created_by", "published_by"
    )
    if content:
        versions = selectors.with_content(versions)
    version = versions.filter(pk=pk).first()
    # A draft is not a thing annotators can know about: 404, as for an outsider.
    if version is None or (not version.is_published and not is_manager(request.user, version.project)):
        raise NotFound("No such guideline version.")
    return version


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

    @extend_schema(responses=paginated(VersionListSerializer))
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for(request, project_id)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            selectors.versions_visible_to(request.user, project), request, view=self
        )
        return paginator.get_paginated_response(VersionListSerializer(page, many=True).data)

    @extend_schema(request=DraftCreateSerializer, responses={201: VersionSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = project_for(request, project_id)
        require_manager(request, project)
        payload = DraftCreateSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        validated = payload.validated_data
        if validated.get("based_on"):
            source = selectors.project_version(project, validated["based_on"], field="based_on")
            draft = services.start_draft_from(source, request.user)
        else:
            draft = services.create_draft(project, request.user)
        _apply_draft_changes(draft, validated)
        return _version_response(draft.pk, code=status.HTTP_201_CREATED)


class CurrentVersionView(APIView):
    """The version annotators work under now; 404 before the first is published."""

    @extend_schema(responses=VersionSerializer)
    def get(self, request: Request, project_id: int) -> Response:
        version = selectors.current_version(project_for(request, project_id))
        if version is None:
            raise NotFound("This project has no published guideline yet.")
        return _version_response(version.pk)


class VersionDetailView(APIView):
    """GET a version; PATCH or DELETE a draft (managers). Published versions never change."""

    @extend_schema(responses=VersionSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(VersionSerializer(_version(request, pk, content=True)).data)

    @extend_schema(request=DraftWriteSerializer, responses=VersionSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        version = _version(request, pk)
        require_manager(request, version.project)
        payload = DraftWriteSerializer(data=request.data, partial=True)
        payload.is_valid(raise_exception=True)
        _apply_draft_changes(version, payload.validated_data)
        return _version_response(version.pk)

    @extend_schema(
        responses={
            204: None,
            400: OpenApiResponse(ErrorSerializer, description="The version is published: it never changes."),
        }
    )
    def delete(self, request: Request, pk: int) -> Response:
        version = _version(request, pk)
        require_manager(request, version.project)
        services.delete_draft(version)
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
        require_manager(request, version.project)
        payload = ClassDefinitionSerializer(data=request.data, many=True)
        payload.is_valid(raise_exception=True)
        _apply_draft_changes(version, {"class_definitions": payload.validated_data})
        version = _version(request, pk, content=True)
        return Response(ClassDefinitionSerializer(selectors.class_sections(version), many=True).data)


class PublishView(APIView):
    """Publish a draft as the next version number (managers)."""

    @extend_schema(request=PublishSerializer, responses=VersionSerializer)
    def post(self, request: Request, pk: int) -> Response:
        version = _version(request, pk)
        require_manager(request, version.project)
        payload = PublishSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        published = services.publish_version(
            version, request.user, change_summary=payload.validated_data.get("change_summary")
        )
        return _version_response(published.pk)


class NewDraftView(APIView):
    """Start a new draft from this version (managers)."""

    @extend_schema(request=None, responses={201: VersionSerializer})
    def post(self, request: Request, pk: int) -> Response:
        version = _version(request, pk)
        require_manager(request, version.project)
        draft = services.start_draft_from(version, request.user)
        return _version_response(draft.pk, code=status.HTTP_201_CREATED)


class AcknowledgeView(APIView):
    """The annotator read this version's change summary. Idempotent: 201 the first time, 200 after."""

    @extend_schema(request=None, responses={200: AcknowledgementSchema, 201: AcknowledgementSchema})
    def post(self, request: Request, pk: int) -> Response:
        version = _version(request, pk)
        acknowledgement, created = services.acknowledge(version, request.user)
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
        responses={
            200: DiffSchema,
            400: OpenApiResponse(
                ErrorSerializer,
                description="`against` is missing (and the version was based on none), not an id, or of another project.",
            ),
        },
    )
    def get(self, request: Request, pk: int) -> Response:
        version = _version(request, pk, content=True)
        against_id = request.query_params.get("against") or version.based_on_id
        if against_id is None:
            raise GuidelineError(
                "Name the version to compare with: ?against=<id>.", field="against", code="required"
            )
        try:
            against_pk = int(against_id)
        except ValueError as error:
            raise GuidelineError(f"'{against_id}' is not a version id.", field="against") from error
        against = _version(request, against_pk, content=True)
        if against.project_id != version.project_id:
            raise GuidelineError(
                f"Version {against.pk} belongs to another project.", field="against", code="not_in_project"
            )
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
            raise Forbidden("Only managers preview guideline text.")
        payload = PreviewSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        return Response({"html": render_markdown(payload.validated_data["markdown"])})


class ImpactView(APIView):
    """Per version: annotations made under it and agreement before vs after (managers).

    ``questions_answered`` (``as_view(questions_answered=…)``) counts the questions each version
    answered; questions are queue flags, a layer above, so the root URLconf hands the count in.
    """

    questions_answered: Callable[[Project], Mapping[int, int]] | None = None

    @extend_schema(responses=ImpactSchema)
    def get(self, request: Request, project_id: int) -> Response:
        project = project_for(request, project_id)
        require_manager(request, project)
        answered = self.questions_answered(project) if self.questions_answered else None
        return Response(impact_body(selectors.guideline_impact(project, questions_answered=answered)))
