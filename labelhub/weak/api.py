"""REST views of weak supervision, for the project's managers: labeling functions (CRUD, history,
live preview), their statistics, runs' progress and the weak labels.

Outsiders get 404 (projects are looked up among the user's own); members who do not manage the
project get 403: functions encode labelling hints annotators should not see.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labelhub.errors import Forbidden
from labelhub.openapi import paginated
from labelhub.projects.models import Project
from labelhub.projects.selectors import is_manager, projects_for_user
from labelhub.weak import selectors, services
from labelhub.weak.models import LabelingFunction, LabelingFunctionVersion, WeakLabel, WeakRun


def managed_project(request: Request, project_id: int) -> Project:
    project = get_object_or_404(projects_for_user(request.user), pk=project_id)
    if not is_manager(request.user, project):
        raise Forbidden("Only the project's managers may see or change its labeling functions.")
    return project


def managed_function(request: Request, pk: int) -> LabelingFunction:
    function = get_object_or_404(
        LabelingFunction.objects.filter(project__in=projects_for_user(request.user)).select_related(
            "project"
        ),
        pk=pk,
    )
    managed_project(request, function.project_id)
    return function


class FunctionSerializer(serializers.ModelSerializer):
    class Meta:
        model = LabelingFunction
        fields = ["id", "name", "kind", "label", "config", "version", "is_active", "created_at", "updated_at"]
        read_only_fields = ["id", "version", "created_at", "updated_at"]


class FunctionWriteSerializer(serializers.Serializer):
    """Shape only; the rules (valid kinds, classes, patterns) are :mod:`labelhub.weak.definitions`'."""

    name = serializers.JSONField(required=False)
    kind = serializers.JSONField(required=False)
    label = serializers.JSONField(required=False)
    config = serializers.JSONField(required=False)
    is_active = serializers.JSONField(required=False)


class FunctionVersionSerializer(serializers.ModelSerializer):
    class Meta:
        model = LabelingFunctionVersion
        fields = ["version", "kind", "label", "config", "created_at"]


class RunSerializer(serializers.ModelSerializer):
    class Meta:
        model = WeakRun
        fields = [
            "id",
            "status",
            "method",
            "items_total",
            "items_done",
            "function_versions",
            "summary",
            "error",
            "created_at",
            "finished_at",
        ]
        read_only_fields = fields


class WeakLabelSerializer(serializers.ModelSerializer):
    external_id = serializers.CharField(source="item.external_id")

    class Meta:
        model = WeakLabel
        fields = ["item", "external_id", "labels", "confidence", "probabilities", "votes", "conflict"]


class Page(PageNumberPagination):
    page_size = 100
    max_page_size = 1000
    page_size_query_param = "page_size"


class FunctionList(APIView):
    @extend_schema(responses=FunctionSerializer(many=True))
    def get(self, request: Request, project_id: int) -> Response:
        project = managed_project(request, project_id)
        return Response(FunctionSerializer(project.labeling_functions.all(), many=True).data)

    @extend_schema(request=FunctionWriteSerializer, responses={201: FunctionSerializer})
    def post(self, request: Request, project_id: int) -> Response:
        project = managed_project(request, project_id)
        body = FunctionWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        given = body.validated_data
        function = services.create_function(
            project,
            name=given.get("name"),
            kind=given.get("kind"),
            label=given.get("label", ""),
            config=given.get("config", {}),
            user=request.user,
        )
        return Response(FunctionSerializer(function).data, status=status.HTTP_201_CREATED)


class FunctionDetail(APIView):
    @extend_schema(responses=FunctionSerializer)
    def get(self, request: Request, pk: int) -> Response:
        return Response(FunctionSerializer(managed_function(request, pk)).data)

    @extend_schema(request=FunctionWriteSerializer, responses=FunctionSerializer)
    def patch(self, request: Request, pk: int) -> Response:
        function = managed_function(request, pk)
        body = FunctionWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        function = services.update_function(function, user=request.user, **body.validated_data)
        return Response(FunctionSerializer(function).data)

    @extend_schema(responses={204: None})
    def delete(self, request: Request, pk: int) -> Response:
        managed_function(request, pk).delete()
        return Response(status=status.HTTP_204_NO_CONTENT)


class FunctionVersions(APIView):
    @extend_schema(responses=FunctionVersionSerializer(many=True))
    def get(self, request: Request, pk: int) -> Response:
        function = managed_function(request, pk)
        return Response(FunctionVersionSerializer(function.versions.all(), many=True).data)


class FunctionPreviewSerializer(FunctionWriteSerializer):
    function = serializers.IntegerField(required=False, help_text="The function being edited, if saved.")


class Preview(APIView):
    """Statistics of a definition being edited, on a sample (gold / labelled + newest items)."""

    @extend_schema(request=FunctionPreviewSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request: Request, project_id: int) -> Response:
        project = managed_project(request, project_id)
        body = FunctionPreviewSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        given = body.validated_data
        function = None
        if given.get("function") is not None:
            function = get_object_or_404(project.labeling_functions, pk=given["function"])
        preview = selectors.preview_function(
            project,
            kind=given.get("kind", function.kind if function else None),
            label=given.get("label", function.label if function else ""),
            config=given.get("config", function.config if function else {}),
            function=function,
        )
        return Response(preview)


class Stats(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request: Request, project_id: int) -> Response:
        return Response(selectors.project_stats(managed_project(request, project_id)))


class RunDetail(APIView):
    @extend_schema(responses=RunSerializer)
    def get(self, request: Request, project_id: int, run_id: int) -> Response:
        project = managed_project(request, project_id)
        return Response(RunSerializer(get_object_or_404(project.weak_runs, pk=run_id)).data)


class WeakLabelList(APIView):
    """The weak labels, least confident first (``?conflict=1``: only where functions disagree)."""

    @extend_schema(responses=paginated(WeakLabelSerializer))
    def get(self, request: Request, project_id: int) -> Response:
        project = managed_project(request, project_id)
        rows = (
            WeakLabel.objects.filter(project=project).select_related("item").order_by("confidence", "item_id")
        )
        if request.query_params.get("conflict") in ("1", "true"):
            rows = rows.filter(conflict=True)
        page = Page()
        found = page.paginate_queryset(rows, request, view=self)
        return page.get_paginated_response(WeakLabelSerializer(found, many=True).data)
