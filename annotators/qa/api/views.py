"""QA REST API views: dashboard figures, gold answers, consensus, policy flags and adjudication.

Every view resolves the project through ``projects_for_user`` (outsiders get 404) and then checks
the role: managers for QA figures, gold and policy; reviewers and managers for adjudication.
Annotators get 403 everywhere here — gold answers and other annotators' labels are not theirs.
Views only parse, call one service or selector and shape the answer: every error a request can
cause is raised by the services and written by ``labelhub.errors.api_exception_handler``.
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.pagination import PageNumberPagination
from rest_framework.response import Response
from rest_framework.views import APIView

from annotators.qa import adjudication, consensus, gold, policies, selectors, services
from annotators.qa.agreement import agreement_by_guideline_version, project_agreement
from annotators.qa.api.serializers import (
    AdjudicationListQuery,
    AnnotatorRowSerializer,
    FlagResolveSerializer,
    GoldMarkSerializer,
    OpenFlagSerializer,
    PromoteSerializer,
    ResolveSerializer,
    consensus_json,
    gold_json,
    task_json,
)
from annotators.qa.errors import NotGold
from annotators.qa.models import AdjudicationTask, AnnotatorFlag, ConsensusLabel, GoldItem
from labelhub.errors import Forbidden
from labelhub.projects.models import Project, ProjectMembership
from labelhub.projects.selectors import has_role, projects_for_user

MANAGER = ProjectMembership.Role.MANAGER


def project_for(request, project_id: int, *roles: str) -> Project:
    """The project if the user may see it (else 404) and holds one of ``roles`` (else 403)."""
    project = get_object_or_404(projects_for_user(request.user), pk=project_id)
    if not has_role(request.user, project, *roles):
        raise Forbidden(f"This needs the {' or '.join(roles)} role in project {project.pk}.")
    return project


def _task_for(request, task_id: int) -> AdjudicationTask:
    """The task if its project is visible (else 404) and the user reviews there (else 403)."""
    task = get_object_or_404(
        AdjudicationTask.objects.filter(project__in=projects_for_user(request.user)).select_related(
            "item", "project"
        ),
        pk=task_id,
    )
    project_for(request, task.project_id, *adjudication.REVIEW_ROLES)
    return task


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
    @extend_schema(responses=AnnotatorRowSerializer(many=True))
    def get(self, request, project_id: int):
        return Response(selectors.annotator_overview(project_for(request, project_id, MANAGER)))


class GoldView(APIView):
    """GET: the project's gold answers (paginated). POST ``{"items": [{"item_id", "labels"}]}``."""

    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, project_id: int):
        project = project_for(request, project_id, MANAGER)
        queryset = GoldItem.objects.filter(item__project=project).select_related("item").order_by("item_id")
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response([gold_json(g) for g in page])

    @extend_schema(request=GoldMarkSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, project_id: int):
        project = project_for(request, project_id, MANAGER)
        body = GoldMarkSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        rows = gold.mark_gold(
            project,
            [(a["item_id"], a["labels"]) for a in body.validated_data["items"]],
            user=request.user,
        )
        return Response({"marked": len(rows)}, status=status.HTTP_201_CREATED)


class GoldItemView(APIView):
    @extend_schema(responses={204: None})
    def delete(self, request, project_id: int, item_id: int):
        project = project_for(request, project_id, MANAGER)
        if not gold.unmark_gold(project, [item_id]):
            raise NotGold(f"item {item_id} is not gold.")
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
        return paginator.get_paginated_response([consensus_json(c) for c in page])


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
    @extend_schema(responses=OpenFlagSerializer(many=True))
    def get(self, request, project_id: int):
        return Response(selectors.open_flags(project_for(request, project_id, MANAGER)))


class FlagResolveView(APIView):
    """POST ``{"unpause": true}``: close a flag (and unpause when it was the last open one)."""

    @extend_schema(request=FlagResolveSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, flag_id: int):
        flag = get_object_or_404(
            AnnotatorFlag.objects.filter(project__in=projects_for_user(request.user)), pk=flag_id
        )
        project_for(request, flag.project_id, MANAGER)
        body = FlagResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        policies.resolve_flag(flag, request.user, unpause=body.validated_data["unpause"])
        return Response({"id": flag.pk, "resolved_at": flag.resolved_at.isoformat()})


class AdjudicationListView(APIView):
    """The reviewer queue, least confident first (``?status=open|resolved``)."""

    @extend_schema(parameters=[AdjudicationListQuery], responses=OpenApiTypes.OBJECT)
    def get(self, request, project_id: int):
        project = project_for(request, project_id, *adjudication.REVIEW_ROLES)
        query = AdjudicationListQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        queryset = AdjudicationTask.objects.filter(
            project=project, status=query.validated_data["status"]
        ).select_related("item")
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        return paginator.get_paginated_response([task_json(t) for t in page])


class AdjudicationDetailView(APIView):
    @extend_schema(responses=OpenApiTypes.OBJECT)
    def get(self, request, task_id: int):
        return Response(task_json(_task_for(request, task_id), with_labels=True))


class AdjudicationResolveView(APIView):
    """POST ``{"labels": [...], "promote_to_gold": bool, "note": ""}``: the final label; or
    ``{"ambiguous": true}``: no final label, the item goes on as a guideline question."""

    @extend_schema(request=ResolveSerializer, responses=OpenApiTypes.OBJECT)
    def post(self, request, task_id: int):
        task = _task_for(request, task_id)
        body = ResolveSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        if body.validated_data["promote_to_gold"]:
            project_for(request, task.project_id, MANAGER)  # gold answers are the managers' call
        task = services.resolve_adjudication(
            task,
            request.user,
            body.validated_data.get("labels"),
            ambiguous=body.validated_data["ambiguous"],
            promote_to_gold=body.validated_data["promote_to_gold"],
            note=body.validated_data["note"],
        )
        return Response(task_json(task))


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
