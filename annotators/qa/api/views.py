"""QA REST API: dashboard figures, gold answers, consensus, policy flags and adjudication.

Every view resolves the project through ``projects_for_user`` (outsiders get 404) and then checks
the role: managers for QA figures, gold and policy; reviewers and managers for adjudication.
Annotators get 403 everywhere here — gold answers and other annotators' labels are not theirs.
"""

from __future__ import annotations

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import serializers, status
from rest_framework.exceptions import PermissionDenied, ValidationError
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from annotators.qa import adjudication, consensus, gold, policies, selectors
from annotators.qa.agreement import agreement_by_guideline_version, project_agreement
from annotators.qa.models import AdjudicationTask, AnnotatorFlag, ConsensusLabel, GoldItem
from labelhub.projects.models import Project, ProjectMembership
from labelhub.projects.selectors import has_role, projects_for_user

MANAGER = ProjectMembership.Role.MANAGER


def project_for(request, project_id: int, *roles: str) -> Project:
    """The project if the user may see it (else 404) and holds one of ``roles`` (else 403)."""
    project = get_object_or_404(projects_for_user(request.user), pk=project_id)
    if not has_role(request.user, project, *roles):
        raise PermissionDenied(f"this needs the {' or '.join(roles)} role in project {project.pk}")
    return project


def _drf_validation(error: DjangoValidationError) -> ValidationError:
    return ValidationError(error.message_dict if hasattr(error, "error_dict") else error.messages)


class DashboardView(APIView):
    """Agreement (overall, per class, pair, version, over time), confusion, annotators, flags."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, project_id: int):
        return Response(selectors.dashboard(project_for(request, project_id, MANAGER)))


class AgreementView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, project_id: int):
        project = project_for(request, project_id, MANAGER)
        return Response(project_agreement(project))


class AgreementByVersionView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, project_id: int):
        project = project_for(request, project_id, MANAGER)
        by_version = agreement_by_guideline_version(project)
        return Response({"none" if k is None else str(k): v for k, v in by_version.items()})


class AnnotatorsView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, project_id: int):
        return Response(selectors.annotator_overview(project_for(request, project_id, MANAGER)))


class GoldAnswerSerializer(serializers.Serializer):
    item_id = serializers.IntegerField()
    labels = serializers.ListField(child=serializers.CharField(), allow_empty=False)


class GoldMarkSerializer(serializers.Serializer):
    items = GoldAnswerSerializer(many=True, allow_empty=False)


class GoldView(APIView):
    """GET: the project's gold answers (paginated). POST ``{"items": [{"item_id", "labels"}]}``."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, project_id: int):
        project = project_for(request, project_id, MANAGER)
        queryset = GoldItem.objects.filter(item__project=project).select_related("item").order_by("item_id")
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(
            [
                {
                    "item_id": g.item_id,
                    "external_id": g.item.external_id,
                    "labels": g.labels,
                    "source": g.source,
                    "created_at": g.created_at.isoformat(),
                }
                for g in page
            ]
        )

    @extend_schema(request=GoldMarkSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, project_id: int):
        project = project_for(request, project_id, MANAGER)
        body = GoldMarkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        try:
            rows = gold.mark_gold(
                project,
                [(a["item_id"], a["labels"]) for a in body.validated_data["items"]],
                user=request.user,
            )
        except DjangoValidationError as error:
            raise _drf_validation(error) from error
        return Response({"marked": len(rows)}, status=status.HTTP_201_CREATED)


class GoldItemView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, item_id: int):
        project = project_for(request, project_id, MANAGER)
        if not gold.unmark_gold(project, [item_id]):
            return Response({"detail": f"item {item_id} is not gold"}, status=status.HTTP_404_NOT_FOUND)
        return Response(status=status.HTTP_204_NO_CONTENT)


class ConsensusView(APIView):
    """GET: resolved labels (paginated; ``?method=``). Managers and reviewers."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, project_id: int):
        project = project_for(request, project_id, MANAGER, ProjectMembership.Role.REVIEWER)
        queryset = (
            ConsensusLabel.objects.filter(item__project=project).select_related("item").order_by("item_id")
        )
        if method := request.query_params.get("method"):
            queryset = queryset.filter(method=method)
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response(
            [
                {
                    "item_id": c.item_id,
                    "external_id": c.item.external_id,
                    "labels": c.labels,
                    "confidence": c.confidence,
                    "method": c.method,
                    "annotator_count": c.annotator_count,
                }
                for c in page
            ]
        )


class ConsensusRecomputeView(APIView):
    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request, project_id: int):
        project = project_for(request, project_id, MANAGER)
        return Response(consensus.compute_consensus(project))


class EvaluateView(APIView):
    """Run the QA policy over every annotator now (recounting from the annotations)."""

    @extend_schema(request=None, responses=OpenApiTypes.OBJECT)
    def post(self, request, project_id: int):
        project = project_for(request, project_id, MANAGER)
        results = policies.evaluate_project(project)
        return Response(
            {
                "evaluated": len(results),
                "failing": [
                    {"annotator_id": e.annotator_id, "reasons": [f.reason for f in e.failures]}
                    for e, _ in results
                    if not e.passed
                ],
                "flags": selectors.open_flags(project),
            }
        )


class FlagsView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, project_id: int):
        return Response(selectors.open_flags(project_for(request, project_id, MANAGER)))


class FlagResolveSerializer(serializers.Serializer):
    unpause = serializers.BooleanField(default=True)


class FlagResolveView(APIView):
    """POST ``{"unpause": true}``: close a flag (and unpause when it was the last open one)."""

    @extend_schema(request=FlagResolveSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, flag_id: int):
        flag = get_object_or_404(
            AnnotatorFlag.objects.filter(project__in=projects_for_user(request.user)), pk=flag_id
        )
        project_for(request, flag.project_id, MANAGER)
        if flag.resolved_at is not None:
            raise ValidationError({"flag": f"flag {flag.pk} is already resolved"})
        body = FlagResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        policies.resolve_flag(flag, request.user, unpause=body.validated_data["unpause"])
        return Response({"id": flag.pk, "resolved_at": flag.resolved_at.isoformat()})


def task_json(task: AdjudicationTask, *, with_labels: bool = False) -> dict:
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


class AdjudicationListView(APIView):
    """The reviewer queue, least confident first (``?status=open|resolved``)."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, project_id: int):
        project = project_for(request, project_id, *adjudication.REVIEW_ROLES)
        queryset = AdjudicationTask.objects.filter(project=project).select_related("item")
        wanted = request.query_params.get("status", AdjudicationTask.Status.OPEN)
        if wanted not in AdjudicationTask.Status.values:
            raise ValidationError({"status": f"unknown status {wanted!r} (open or resolved)"})
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(queryset.filter(status=wanted), request, view=self)
        return paginator.get_paginated_response([task_json(t) for t in page])


def _task_for(request, task_id: int) -> AdjudicationTask:
    task = get_object_or_404(
        AdjudicationTask.objects.filter(project__in=projects_for_user(request.user)).select_related(
            "item", "project"
        ),
        pk=task_id,
    )
    project_for(request, task.project_id, *adjudication.REVIEW_ROLES)
    return task


class AdjudicationDetailView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, task_id: int):
        return Response(task_json(_task_for(request, task_id), with_labels=True))


class ResolveSerializer(serializers.Serializer):
    labels = serializers.ListField(child=serializers.CharField(), allow_empty=False)
    promote_to_gold = serializers.BooleanField(default=False)
    note = serializers.CharField(required=False, allow_blank=True, default="")


class AdjudicationResolveView(APIView):
    """POST ``{"labels": [...], "promote_to_gold": bool, "note": ""}``: the final label."""

    @extend_schema(request=ResolveSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, task_id: int):
        task = _task_for(request, task_id)
        body = ResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if body.validated_data["promote_to_gold"]:
            project_for(request, task.project_id, MANAGER)  # gold answers are the managers' call
        try:
            task = adjudication.resolve_task(
                task,
                request.user,
                body.validated_data["labels"],
                promote_to_gold=body.validated_data["promote_to_gold"],
                note=body.validated_data["note"],
            )
        except DjangoValidationError as error:
            raise _drf_validation(error) from error
        except DjangoPermissionDenied as error:
            raise PermissionDenied(str(error)) from error
        return Response(task_json(task))


class PromoteSerializer(serializers.Serializer):
    task_ids = serializers.ListField(child=serializers.IntegerField(), allow_empty=False)


class AdjudicationPromoteView(APIView):
    """POST ``{"task_ids": [...]}``: make resolved adjudications gold answers."""

    @extend_schema(request=PromoteSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, project_id: int):
        project = project_for(request, project_id, MANAGER)
        body = PromoteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        promoted = adjudication.promote_resolutions_to_gold(
            project, body.validated_data["task_ids"], user=request.user
        )
        return Response({"promoted": promoted})
