"""QA API routes (under /api/)."""

from django.urls import path

from annotators.qa.api import views as api

urlpatterns = [
    path("projects/<int:project_id>/qa/dashboard/", api.DashboardView.as_view(), name="qa-api-dashboard"),
    path("projects/<int:project_id>/qa/agreement/", api.AgreementView.as_view(), name="qa-api-agreement"),
    path(
        "projects/<int:project_id>/qa/agreement/by-version/",
        api.AgreementByVersionView.as_view(),
        name="qa-api-agreement-by-version",
    ),
    path("projects/<int:project_id>/qa/annotators/", api.AnnotatorsView.as_view(), name="qa-api-annotators"),
    path("projects/<int:project_id>/qa/evaluate/", api.EvaluateView.as_view(), name="qa-api-evaluate"),
    path("projects/<int:project_id>/qa/flags/", api.FlagsView.as_view(), name="qa-api-flags"),
    path("qa/flags/<int:flag_id>/resolve/", api.FlagResolveView.as_view(), name="qa-api-flag-resolve"),
    path("projects/<int:project_id>/gold/", api.GoldView.as_view(), name="qa-api-gold"),
    path(
        "projects/<int:project_id>/gold/<int:item_id>/",
        api.GoldItemView.as_view(),
        name="qa-api-gold-item",
    ),
    path("projects/<int:project_id>/consensus/", api.ConsensusView.as_view(), name="qa-api-consensus"),
    path(
        "projects/<int:project_id>/consensus/recompute/",
        api.ConsensusRecomputeView.as_view(),
        name="qa-api-consensus-recompute",
    ),
    path(
        "projects/<int:project_id>/adjudication/",
        api.AdjudicationListView.as_view(),
        name="qa-api-adjudication",
    ),
    path(
        "projects/<int:project_id>/adjudication/promote/",
        api.AdjudicationPromoteView.as_view(),
        name="qa-api-adjudication-promote",
    ),
    path(
        "adjudication/<int:task_id>/",
        api.AdjudicationDetailView.as_view(),
        name="qa-api-adjudication-task",
    ),
    path(
        "adjudication/<int:task_id>/resolve/",
        api.AdjudicationResolveView.as_view(),
        name="qa-api-adjudication-resolve",
    ),
]
