"""Guideline pages (mounted under /guidelines/, namespace "guidelines", by :mod:`labelhub.urls`).

The project page and the impact page show guideline-question counts, and the questions page
changes queue flags: that feature sits above this app, so :mod:`labelhub.urls` routes those three
with the counts handed in.
"""

from django.urls import path

from labelhub.guidelines import views

urlpatterns = [
    path("projects/<int:project_id>/panel/", views.panel, name="panel"),
    path("projects/<int:project_id>/diff/", views.diff_page, name="diff"),
    path("projects/<int:project_id>/edit/", views.manage_page, name="manage"),
    path("preview/", views.preview, name="preview"),
]
