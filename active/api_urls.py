"""REST routes of active learning, under /api/."""

from django.urls import path

from active import api

urlpatterns = [
    path("projects/<int:project_id>/active/rounds/", api.RoundListCreate.as_view(), name="active-rounds"),
    path(
        "projects/<int:project_id>/active/rounds/<int:round_id>/",
        api.RoundDetail.as_view(),
        name="active-round-detail",
    ),
    path(
        "projects/<int:project_id>/active/simulations/",
        api.SimulationList.as_view(),
        name="active-simulations",
    ),
    path("projects/<int:project_id>/weak-runs/", api.WeakRunStart.as_view(), name="weak-runs"),
    path(
        "projects/<int:project_id>/active/noise-checks/",
        api.NoiseCheckListCreate.as_view(),
        name="active-noise-checks",
    ),
    path(
        "projects/<int:project_id>/active/noise-checks/<int:check_id>/",
        api.NoiseCheckDetail.as_view(),
        name="active-noise-check-detail",
    ),
    path(
        "projects/<int:project_id>/active/noise-checks/<int:check_id>/suspects/",
        api.NoiseSuspectList.as_view(),
        name="active-noise-suspects",
    ),
    path(
        "projects/<int:project_id>/active/data-quality/",
        api.DataQuality.as_view(),
        name="active-data-quality-api",
    ),
]
