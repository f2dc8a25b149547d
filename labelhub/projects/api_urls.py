"""API routes of the core domain: /api/projects/ and what hangs off one project."""

from django.urls import include, path
from rest_framework.routers import DefaultRouter, SimpleRouter

from labelhub.projects import api

router = DefaultRouter()
router.register("projects", api.ProjectViewSet, basename="project")

project_router = SimpleRouter()
project_router.register("classes", api.LabelClassViewSet, basename="project-class")
project_router.register("members", api.MembershipViewSet, basename="project-member")
project_router.register("items", api.ItemViewSet, basename="project-item")
project_router.register("imports", api.ImportBatchViewSet, basename="project-import")

urlpatterns = [
    path("", include(router.urls)),
    path("projects/<int:project_pk>/", include(project_router.urls)),
]
