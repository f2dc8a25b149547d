"""Web routes of the production inbox, under /production/."""

from django.urls import path

from labelhub.production import views

urlpatterns = [
    path("projects/<int:project_id>/", views.production_page, name="production-project"),
]
