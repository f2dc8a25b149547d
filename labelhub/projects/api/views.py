"""Views of the core domain's API.

Every nested route resolves its project through ``projects_for_user``, so a project the user is
not a member of is a 404 (no hint that it exists); writes then need the manager role (403).
Items are served without anything that could reveal a gold answer or the demo ground truth.
Views raise; ``labelhub.errors.api_exception_handler`` shapes every error body.
"""

from __future__ import annotations

import django_filters
from django.db.models import Count, Prefetch, Q
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.pagination import PageNumberPagination
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.permissions import IsAuthenticated
from rest_framework.response import Response

from labelhub.errors import Forbidden
from labelhub.projects import services
from labelhub.projects.api.serializers import (
    FromLabelConfigSerializer,
    ImportBatchSerializer,
    ImportRejectedSerializer,
    ImportUploadSerializer,
    ItemSerializer,
    LabelClassSerializer,
    MembershipSerializer,
    ProjectSerializer,
)
from labelhub.projects.importing import import_file
from labelhub.projects.models import ImportBatch, Item, LabelClass, Project, ProjectMembership
from labelhub.projects.permissions import IsProjectManagerOrReadOnly
from labelhub.projects.selectors import can_create_projects, is_manager, projects_for_user

PROJECT_PK = OpenApiParameter("project_pk", OpenApiTypes.INT, OpenApiParameter.PATH, description="Project id")


class ItemPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 500


class ProjectScopedMixin:
    """Resolves ``project_pk`` among the user's projects: outsiders get 404."""

    def get_project(self) -> Project:
        if not hasattr(self, "_project"):
            self._project = get_object_or_404(
                projects_for_user(self.request.user), pk=self.kwargs["project_pk"]
            )
        return self._project

    def require_manager(self) -> None:
        if not is_manager(self.request.user, self.get_project()):
            raise Forbidden("only the project's managers may change this")


@extend_schema_view(
    list=extend_schema(summary="Projects you are a member of (all for staff)"),
    create=extend_schema(summary="Create a project with its classes (staff and managers)"),
)
class ProjectViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.UpdateModelMixin,
    viewsets.GenericViewSet,
):
    serializer_class = ProjectSerializer
    permission_classes = [IsAuthenticated, IsProjectManagerOrReadOnly]

    def get_queryset(self):
        return (
            projects_for_user(self.request.user)
            .annotate(item_count=Count("items"))  # one join only (classes are prefetched)
            .prefetch_related(Prefetch("classes", queryset=LabelClass.objects.order_by("order", "id")))
            .order_by("name")
        )

    def create(self, request, *args, **kwargs):
        if not can_create_projects(request.user):
            raise Forbidden("only staff and project managers may create projects")
        return super().create(request, *args, **kwargs)

    def perform_create(self, serializer):
        project = serializer.save()
        project.item_count = 0

    @extend_schema(
        request=FromLabelConfigSerializer,
        responses={201: ProjectSerializer},
        summary="Create a project from a Label Studio labeling config",
    )
    @action(detail=False, methods=["post"], url_path="from-label-config")
    def from_label_config(self, request):
        if not can_create_projects(request.user):
            raise Forbidden("only staff and project managers may create projects")
        form = FromLabelConfigSerializer(data=request.data)
        form.is_valid(raise_exception=True)
        project = services.create_project_from_label_config(
            form.validated_data["name"],
            form.validated_data["label_config"],
            request.user,
            description=form.validated_data["description"],
        )
        # The creator is staff or now manages it, so it is in their queryset (with its counts).
        project = self.get_queryset().get(pk=project.pk)
        return Response(self.get_serializer(project).data, status=status.HTTP_201_CREATED)


@extend_schema(parameters=[PROJECT_PK])
class LabelClassViewSet(ProjectScopedMixin, viewsets.ModelViewSet):
    """A project's classes; members read, managers write."""

    queryset = LabelClass.objects.none()  # for the schema; get_queryset scopes it to the project
    serializer_class = LabelClassSerializer
    pagination_class = None

    def get_queryset(self):
        return LabelClass.objects.filter(project=self.get_project()).order_by("order", "id")

    def perform_create(self, serializer):
        self.require_manager()
        serializer.instance = services.save_label_class(self.get_project(), None, **serializer.validated_data)

    def perform_update(self, serializer):
        self.require_manager()
        serializer.instance = services.save_label_class(
            self.get_project(), serializer.instance, **serializer.validated_data
        )

    def perform_destroy(self, instance):
        self.require_manager()
        instance.delete()


@extend_schema(parameters=[PROJECT_PK])
class MembershipViewSet(ProjectScopedMixin, viewsets.ModelViewSet):
    """A project's members and their roles; managers write."""

    queryset = ProjectMembership.objects.none()  # for the schema; get_queryset scopes it to the project
    serializer_class = MembershipSerializer

    def get_queryset(self):
        return (
            ProjectMembership.objects.filter(project=self.get_project())
            .select_related("user")
            .order_by("role", "user__username")
        )

    def perform_create(self, serializer):
        self.require_manager()
        serializer.instance = services.set_membership(
            self.get_project(), serializer.validated_data["user"], serializer.validated_data["role"]
        )

    def perform_update(self, serializer):
        self.require_manager()
        serializer.save()

    def perform_destroy(self, instance):
        self.require_manager()
        instance.delete()


class ItemFilter(django_filters.FilterSet):
    import_batch = django_filters.NumberFilter(field_name="import_batch_id")
    external_id = django_filters.CharFilter(field_name="external_id")
    search = django_filters.CharFilter(method="search_items", label="Search external id or text")

    class Meta:
        model = Item
        fields = ["import_batch", "external_id", "search"]

    def search_items(self, queryset, name, value):
        return queryset.filter(Q(external_id__icontains=value) | Q(payload__text__icontains=value))


@extend_schema(parameters=[PROJECT_PK])
class ItemViewSet(ProjectScopedMixin, viewsets.ReadOnlyModelViewSet):
    """A project's items, paginated; filter by import batch, search by external id or text."""

    queryset = Item.objects.none()  # for the schema; get_queryset scopes it to the project
    serializer_class = ItemSerializer
    pagination_class = ItemPagination
    filterset_class = ItemFilter

    def get_queryset(self):
        return Item.objects.filter(project=self.get_project()).order_by("id")


@extend_schema(parameters=[PROJECT_PK])
class ImportBatchViewSet(ProjectScopedMixin, mixins.CreateModelMixin, viewsets.ReadOnlyModelViewSet):
    """Import a file into a project (managers), and follow past and running imports."""

    queryset = ImportBatch.objects.none()  # for the schema; get_queryset scopes it to the project
    serializer_class = ImportBatchSerializer

    def get_queryset(self):
        return ImportBatch.objects.filter(project=self.get_project()).select_related("created_by")

    parser_classes = [MultiPartParser, FormParser]  # the only write is a file upload

    @extend_schema(
        request={"multipart/form-data": ImportUploadSerializer},
        responses={201: ImportBatchSerializer, 400: ImportRejectedSerializer},
        summary="Import a JSONL, CSV or Label Studio JSON file; all lines or none",
    )
    def create(self, request, *args, **kwargs):
        self.require_manager()
        upload = ImportUploadSerializer(data=request.data)
        upload.is_valid(raise_exception=True)
        uploaded = upload.validated_data["file"]
        batch = import_file(
            self.get_project(),
            uploaded,
            upload.validated_data.get("format"),
            user=request.user,
            source="api",
            filename=uploaded.name,
        )
        return Response(ImportBatchSerializer(batch).data, status=status.HTTP_201_CREATED)
