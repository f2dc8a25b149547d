"""Guideline pages (mounted under /guidelines/)."""

from django.urls import path

from labelhub.guidelines import views

app_name = "guidelines"

urlpatterns = [
    path("projects/<int:project_id>/", views.project_guidelines, name="project"),
    path("projects/<int:project_id>/panel/", views.panel, name="panel"),
    path("projects/<int:project_id>/diff/", views.diff_page, name="diff"),
    path("projects/<int:project_id>/questions/", views.questions_page, name="questions"),
    path("projects/<int:project_id>/impact/", views.impact_page, name="impact"),
    path("projects/<int:project_id>/edit/", views.manage_page, name="manage"),
    path("preview/", views.preview, name="preview"),
]
