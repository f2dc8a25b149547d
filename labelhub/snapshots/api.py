"""REST API of snapshots: cut, list, detail, manifest, export, diff, and model-run lineage."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import generics, serializers, status
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.response import Response
from rest_framework.views import APIView

from labelhub.errors import Forbidden, NotFound
from labelhub.openapi import ErrorSerializer
from labelhub.projects.selectors import is_manager, projects_with_visible_labels
from labelhub.snapshots import selectors, services
from labelhub.snapshots.downloads import export_response
from labelhub.snapshots.errors import SnapshotError
from labelhub.snapshots.exports import FORMATS, build_manifest
from labelhub.snapshots.models import ModelRun, Snapshot


class ModelRunSerializer(serializers.ModelSerializer):
    snapshot_id = serializers.CharField(source="snapshot.content_hash", read_only=True)
    # Null once the author's account is gone (SET_NULL) and for runs registered from code.
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None, allow_null=True
    )
    manifest_url = serializers.SerializerMethodField()

    class Meta:
        model = ModelRun
        fields = [
            "id",
            "snapshot_id",
            "name",
            "metrics",
            "artifact_uri",
            "created_by",
            "created_at",
            "manifest_url",
        ]
        read_only_fields = ["id", "created_at"]

    def get_manifest_url(self, run: ModelRun) -> str:
        return f"/api/snapshots/{run.snapshot.content_hash}/manifest/"


class SnapshotSerializer(serializers.ModelSerializer):
    id = serializers.CharField(source="content_hash", read_only=True)
    project = serializers.IntegerField(source="project_id", read_only=True)
    # Null once the author's account is gone (SET_NULL) and for runs registered from code.
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, default=None, allow_null=True
    )
    splits = serializers.SerializerMethodField()

    class Meta:
        model = Snapshot
        fields = [
            "id",
            "project",
            "name",
            "item_count",
            "split_ratios",
            "stratified",
            "split_key",
            "splits",
            "class_names",
            "guideline_versions",
            "created_by",
            "created_at",
        ]

    def get_splits(self, snapshot: Snapshot) -> dict:
        return snapshot.stats.get("splits", {})


class SnapshotDetailSerializer(SnapshotSerializer):
    statistics = serializers.SerializerMethodField()
    model_runs = ModelRunSerializer(many=True, read_only=True)
    exports = serializers.SerializerMethodField()

    class Meta(SnapshotSerializer.Meta):
        fields = [*SnapshotSerializer.Meta.fields, "statistics", "model_runs", "exports"]

    def get_statistics(self, snapshot: Snapshot) -> dict:
        return selectors.snapshot_statistics(snapshot)

    def get_exports(self, snapshot: Snapshot) -> dict:
        return {fmt: f"/api/snapshots/{snapshot.content_hash}/export/{fmt}/" for fmt in FORMATS}


class SnapshotCutSerializer(SnapshotDetailSerializer):
    """The answer to a cut: the snapshot, and whether this cut made it (else it existed already)."""

    created = serializers.BooleanField(read_only=True)

    class Meta(SnapshotDetailSerializer.Meta):
        fields = [*SnapshotDetailSerializer.Meta.fields, "created"]


class CutSerializer(serializers.Serializer):
    name = serializers.CharField(required=False, allow_blank=True, max_length=200, default="")
    # Numbers only here; which splits and values are allowed is normalise_ratios' one rule.
    ratios = serializers.DictField(child=serializers.FloatField(), required=False)
    stratify = serializers.BooleanField(required=False, default=False)
    split_key = serializers.ChoiceField(
        choices=Snapshot.SplitKey.choices,
        required=False,
        default=Snapshot.SplitKey.PROJECT,
        help_text='"project" (default): splits hash the project and external id; "external_id": the '
        "external id alone, so an item keeps its split in every project it is imported into.",
    )
    include_weak = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Also freeze the weak labels of unlabelled items, as a marked source.",
    )


class DiffPageSerializer(serializers.Serializer):
    """One page of a diff's rows; out-of-range values are clamped, not refused."""

    MAX_LIMIT = 500

    offset = serializers.IntegerField(required=False, default=0)
    limit = serializers.IntegerField(required=False, default=50)

    def validate_offset(self, value: int) -> int:
        return max(value, 0)

    def validate_limit(self, value: int) -> int:
        return min(max(value, 1), self.MAX_LIMIT)


class ProjectSnapshots(generics.ListAPIView):
    """GET: the project's snapshots, newest first. POST (managers): cut one; 201 when new, 200 with
    the existing snapshot when the contents are unchanged since it was cut."""

    serializer_class = SnapshotSerializer

    def get_project(self):
        return get_object_or_404(
            projects_with_visible_labels(self.request.user), pk=self.kwargs["project_id"]
        )

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Snapshot.objects.none()
        return selectors.snapshots_for_user(self.request.user).filter(project=self.get_project())

    @extend_schema(
        request=CutSerializer,
        responses={
            201: OpenApiResponse(SnapshotCutSerializer, description="A new snapshot."),
            200: OpenApiResponse(SnapshotCutSerializer, description="Unchanged since this snapshot was cut."),
        },
    )
    def post(self, request, project_id: int):
        project = self.get_project()
        if not is_manager(request.user, project):
            raise Forbidden("only project managers cut snapshots")
        params = CutSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        snapshot, created = services.cut_snapshot(
            project,
            name=params.validated_data["name"],
            ratios=params.validated_data.get("ratios"),
            stratify=params.validated_data["stratify"],
            split_key=params.validated_data["split_key"],
            include_weak=params.validated_data["include_weak"],
            user=request.user,
        )
        body = SnapshotDetailSerializer(snapshot).data
        body["created"] = created
        return Response(body, status=status.HTTP_201_CREATED if created else status.HTTP_200_OK)


class SnapshotDetail(APIView):
    @extend_schema(responses={200: SnapshotDetailSerializer})
    def get(self, request, snapshot_id: str):
        snapshot = selectors.snapshot_for(request.user, snapshot_id)
        return Response(SnapshotDetailSerializer(snapshot).data)


class SnapshotManifest(APIView):
    @extend_schema(
        responses={200: OpenApiTypes.OBJECT}, description="Id, hash, schema, counts, guideline versions."
    )
    def get(self, request, snapshot_id: str):
        snapshot = selectors.snapshot_for(request.user, snapshot_id)
        response = Response(build_manifest(snapshot, base_path=f"/api/snapshots/{snapshot.content_hash}/"))
        response["ETag"] = f'"{snapshot.content_hash}"'
        return response


class _FirstRenderer(BaseContentNegotiation):
    """Downloads are files, not API representations: an Accept header for the file's own type must
    not make DRF answer 406 (errors still render as JSON)."""

    def select_parser(self, request, parsers):
        return parsers[0]

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class SnapshotExport(APIView):
    """The snapshot as a streaming download: jsonl, csv, parquet or labelstudio (see downloads.py
    for ETag, Range and checksum headers)."""

    content_negotiation_class = _FirstRenderer

    @extend_schema(
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY, 206: OpenApiTypes.BINARY}
    )
    def get(self, request, snapshot_id: str, fmt: str):
        if fmt not in FORMATS:
            raise NotFound(f"format {fmt!r} is not one of {', '.join(FORMATS)}", field="fmt")
        snapshot = selectors.snapshot_for(request.user, snapshot_id)
        include = request.query_params.get("include", "")
        if include not in ("", "weak"):
            raise SnapshotError(
                f"include: {include!r} is not an extra source (expected weak).", field="include"
            )
        if include == "weak":
            fmt = selectors.weak_export_format(snapshot, fmt)
        return export_response(request._request, snapshot, fmt)


class SnapshotDiff(APIView):
    """What changed from this snapshot to ``other``: counts, per-class deltas and one page
    (``offset``, ``limit`` ≤ 500) of added, removed and relabelled items."""

    @extend_schema(
        parameters=[DiffPageSerializer],
        responses={
            200: OpenApiTypes.OBJECT,
            400: OpenApiResponse(ErrorSerializer, description="`offset` or `limit` is not an integer."),
        },
    )
    def get(self, request, snapshot_id: str, other_id: str):
        before = selectors.snapshot_for(request.user, snapshot_id)
        after = selectors.snapshot_for(request.user, other_id)
        page = DiffPageSerializer(data=request.query_params)
        page.is_valid(raise_exception=True)
        offset, limit = page.validated_data["offset"], page.validated_data["limit"]
        diff = selectors.diff_snapshots(before, after, offset=offset, limit=limit)
        return Response(
            {
                "before": before.content_hash,
                "after": after.content_hash,
                "offset": offset,
                "limit": limit,
                "counts": {
                    "added": diff.added,
                    "removed": diff.removed,
                    "relabelled": diff.relabelled,
                    "relabelled_in_review": diff.relabelled_in_review,
                    "unchanged": diff.unchanged,
                },
                "classes": diff.class_counts,
                "added": diff.added_rows,
                "removed": diff.removed_rows,
                "relabelled": diff.relabelled_rows,
            }
        )


class SnapshotModelRuns(generics.ListAPIView):
    """GET: models trained on this snapshot. POST (managers): register one
    ``{"name", "metrics": {...}, "artifact_uri"}``."""

    serializer_class = ModelRunSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):  # schema generation has no snapshot
            return ModelRun.objects.none()
        snapshot = selectors.snapshot_for(self.request.user, self.kwargs["snapshot_id"])
        return ModelRun.objects.filter(snapshot=snapshot).select_related("snapshot", "created_by")

    @extend_schema(request=ModelRunSerializer, responses={201: ModelRunSerializer})
    def post(self, request, snapshot_id: str):
        snapshot = selectors.snapshot_for(request.user, snapshot_id)
        if not is_manager(request.user, snapshot.project):
            raise Forbidden("only project managers register model runs")
        params = ModelRunSerializer(data=request.data)
        params.is_valid(raise_exception=True)
        run = services.register_model_run(
            snapshot,
            name=params.validated_data["name"],
            metrics=params.validated_data.get("metrics"),
            artifact_uri=params.validated_data.get("artifact_uri", ""),
            user=request.user,
        )
        return Response(ModelRunSerializer(run).data, status=status.HTTP_201_CREATED)


class ModelRunDetail(generics.RetrieveAPIView):
    serializer_class = ModelRunSerializer

    def get_queryset(self):
        return selectors.model_runs_for_user(self.request.user)
