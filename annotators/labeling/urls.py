"""Pages of the annotation interface."""

from django.urls import path

from annotators.labeling import views

urlpatterns = [
    path("", views.home, name="home"),
    path("projects/<int:project_id>/label/", views.label, name="label"),
]
