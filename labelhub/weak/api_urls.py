"""REST routes of weak supervision, under /api/. Starting a run is active's route (the worker's job)."""

from django.urls import path

from labelhub.weak import api

urlpatterns = [
    path("projects/<int:project_id>/labeling-functions/", api.FunctionList.as_view(), name="weak-functions"),
    path(
        "projects/<int:project_id>/labeling-functions/preview/",
        api.Preview.as_view(),
        name="weak-function-preview",
    ),
    path(
        "projects/<int:project_id>/labeling-functions/stats/", api.Stats.as_view(), name="weak-function-stats"
    ),
    path("labeling-functions/<int:pk>/", api.FunctionDetail.as_view(), name="weak-function"),
    path(
        "labeling-functions/<int:pk>/versions/", api.FunctionVersions.as_view(), name="weak-function-versions"
    ),
    path("projects/<int:project_id>/weak-runs/<int:run_id>/", api.RunDetail.as_view(), name="weak-run"),
    path("projects/<int:project_id>/weak-labels/", api.WeakLabelList.as_view(), name="weak-labels"),
]
