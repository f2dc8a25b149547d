"""Web routes of active learning, under /active/."""

from django.urls import path

from active import views

urlpatterns = [
    path("projects/<int:project_id>/", views.project_page, name="active-project"),
    path("projects/<int:project_id>/rounds/", views.start_round, name="active-start-round"),
    path("projects/<int:project_id>/simulations/", views.start_simulation, name="active-start-simulation"),
    path("projects/<int:project_id>/data-quality/", views.data_quality, name="active-data-quality"),
    path(
        "projects/<int:project_id>/data-quality/checks/",
        views.start_noise_check,
        name="active-start-noise-check",
    ),
    path(
        "projects/<int:project_id>/simulations/<int:simulation_id>/curve.<str:kind>",
        views.simulation_file,
        name="active-simulation-file",
    ),
]
