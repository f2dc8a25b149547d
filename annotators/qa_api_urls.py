"""QA API routes (under /api/)."""

from django.urls import path

from annotators import qa_api

urlpatterns = [
    path("projects/<int:project_id>/qa/dashboard/", qa_api.DashboardView.as_view(), name="qa-api-dashboard"),
    path("projects/<int:project_id>/qa/agreement/", qa_api.AgreementView.as_view(), name="qa-api-agreement"),
    path(
        "projects/<int:project_id>/qa/agreement/by-version/",
        qa_api.AgreementByVersionView.as_view(),
        name="qa-api-agreement-by-version",
    ),
    path(
        "projects/<int:project_id>/qa/annotators/", qa_api.AnnotatorsView.as_view(), name="qa-api-annotators"
    ),
    path("projects/<int:project_id>/qa/evaluate/", qa_api.EvaluateView.as_view(), name="qa-api-evaluate"),
    path("projects/<int:project_id>/qa/flags/", qa_api.FlagsView.as_view(), name="qa-api-flags"),
    path("qa/flags/<int:flag_id>/resolve/", qa_api.FlagResolveView.as_view(), name="qa-api-flag-resolve"),
    path("projects/<int:project_id>/gold/", qa_api.GoldView.as_view(), name="qa-api-gold"),
    path(
        "projects/<int:project_id>/gold/<int:item_id>/",
        qa_api.GoldItemView.as_view(),
        name="qa-api-gold-item",
    ),
    path("projects/<int:project_id>/consensus/", qa_api.ConsensusView.as_view(), name="qa-api-consensus"),
    path(
        "projects/<int:project_id>/consensus/recompute/",
        qa_api.ConsensusRecomputeView.as_view(),
        name="qa-api-consensus-recompute",
    ),
    path(
        "projects/<int:project_id>/adjudication/",
        qa_api.AdjudicationListView.as_view(),
        name="qa-api-adjudication",
    ),
    path(
        "projects/<int:project_id>/adjudication/promote/",
        qa_api.AdjudicationPromoteView.as_view(),
        name="qa-api-adjudication-promote",
    ),
    path(
        "adjudication/<int:task_id>/",
        qa_api.AdjudicationDetailView.as_view(),
        name="qa-api-adjudication-task",
    ),
    path(
        "adjudication/<int:task_id>/resolve/",
        qa_api.AdjudicationResolveView.as_view(),
        name="qa-api-adjudication-resolve",
    ),
]
