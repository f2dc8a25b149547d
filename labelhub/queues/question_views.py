"""Pages and API of guideline questions: managers list annotators' flags and answer them.

Routed by :mod:`labelhub.urls` at the URLs and names the guidelines app always had ("guidelines:
questions", "api-guideline-questions", "api-guideline-questions-answer"). Project lookup and the
manager check are the guideline views' own, so both parts refuse the same people the same way.
"""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_http_methods
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from labelhub.errors import DomainError
from labelhub.guidelines import api as guideline_api
from labelhub.guidelines import selectors as guideline_selectors
from labelhub.guidelines import views as guideline_pages
from labelhub.guidelines.errors import GuidelineError, page_message
from labelhub.guidelines.models import GuidelineVersion
from labelhub.openapi import paginated
from labelhub.projects.models import Project
from labelhub.queues import questions

QUESTIONS_PAGE_SIZE = 30


@login_required
@require_http_methods(["GET", "POST"])
def questions_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """Managers: annotators' flagged items, open first; answer a selection with a published version."""
    project = guideline_pages.project_for(request, project_id)
    guideline_pages.require_manager(request, project)
    if request.method == "POST":
        try:
            answered, version = _answer_posted(request, project)
        except DomainError as error:
            messages.error(request, page_message(error))
        else:
            messages.success(
                request,
                f"Answered {answered} question(s) with {version.label}; the items are back in the queue.",
            )
            return redirect(request.get_full_path())
    show = request.GET.get("show", "open")
    answered_filter = {"open": False, "answered": True}.get(show)
    page = Paginator(
        questions.questions_for(project, answered=answered_filter), QUESTIONS_PAGE_SIZE
    ).get_page(request.GET.get("page"))
    return render(
        request,
        "guidelines/questions.html",
        {
            "project": project,
            "page": page,
            "show": show,
            "published": guideline_selectors.published_versions(project),
            "current": guideline_selectors.current_version(project),
        },
    )


def _answer_posted(request: HttpRequest, project: Project) -> tuple[int, GuidelineVersion]:
    """The questions page's form, parsed and answered: (questions answered, the version used)."""
    try:
        version_id = int(request.POST.get("version") or 0)
        flag_ids = [int(v) for v in request.POST.getlist("flags")]
    except ValueError as error:
        raise GuidelineError("The selection was not a list of question ids.", field="flags") from error
    if not version_id:
        raise GuidelineError(
            "Choose the published version that answers these questions.", field="version", code="required"
        )
    version = guideline_selectors.project_version(project, version_id)
    answered = questions.answer_questions(
        project, flag_ids, version=version, answer=request.POST.get("answer", ""), user=request.user
    )
    return answered, version


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


AnsweredSchema = inline_serializer(
    "GuidelineQuestionsAnswered",
    {
        "answered": serializers.IntegerField(),
        "version": serializers.IntegerField(),
        "requeued": serializers.IntegerField(),
    },
)


class QuestionsView(APIView):
    """Flagged items of a project, newest first; ``?answered=false`` for the open ones (managers)."""

    @extend_schema(
        parameters=[OpenApiParameter("answered", OpenApiTypes.BOOL)], responses=paginated(QuestionSerializer)
    )
    def get(self, request: Request, project_id: int) -> Response:
        project = guideline_api.project_for(request, project_id)
        guideline_api.require_manager(request, project)
        answered = {"true": True, "false": False}.get(request.query_params.get("answered", "").lower())
        paginator = PageNumberPagination()
        page = paginator.paginate_queryset(
            questions.questions_for(project, answered=answered), request, view=self
        )
        return paginator.get_paginated_response(QuestionSerializer(page, many=True).data)


class AnswerQuestionsView(APIView):
    """Answer questions with a published version; their items go back into the queue (managers)."""

    @extend_schema(request=AnswerSerializer, responses=AnsweredSchema)
    def post(self, request: Request, project_id: int) -> Response:
        project = guideline_api.project_for(request, project_id)
        guideline_api.require_manager(request, project)
        payload = AnswerSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        validated = payload.validated_data
        version = guideline_selectors.project_version(project, validated["version"])
        answered = questions.answer_questions(
            project, validated["flags"], version=version, answer=validated["answer"], user=request.user
        )
        return Response({"answered": answered, "version": version.pk, "requeued": answered})
