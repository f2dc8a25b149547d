"""Snapshot pages (under /snapshots/)."""

from django.urls import path

from labelhub.snapshots import views

app_name = "snapshots"

urlpatterns = [
    path("projects/<int:project_id>/", views.project_snapshots, name="project"),
    path("compare/", views.compare, name="compare"),
    path("<str:snapshot_id>/", views.snapshot_detail, name="detail"),
    path("<str:snapshot_id>/diff/<str:other_id>/", views.snapshot_diff, name="diff"),
]
