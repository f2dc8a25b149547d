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
]
