"""REST routes of snapshots (under /api/)."""

from django.urls import path

from labelhub.snapshots import api

urlpatterns = [
    path(
        "projects/<int:project_id>/snapshots/", api.ProjectSnapshots.as_view(), name="api-project-snapshots"
    ),
    path("snapshots/<str:snapshot_id>/", api.SnapshotDetail.as_view(), name="api-snapshot"),
    path(
        "snapshots/<str:snapshot_id>/manifest/", api.SnapshotManifest.as_view(), name="api-snapshot-manifest"
    ),
    path(
        "snapshots/<str:snapshot_id>/export/<str:fmt>/",
        api.SnapshotExport.as_view(),
        name="api-snapshot-export",
    ),
    path(
        "snapshots/<str:snapshot_id>/diff/<str:other_id>/",
        api.SnapshotDiff.as_view(),
        name="api-snapshot-diff",
    ),
    path(
        "snapshots/<str:snapshot_id>/model-runs/",
        api.SnapshotModelRuns.as_view(),
        name="api-snapshot-model-runs",
    ),
    path("model-runs/<int:pk>/", api.ModelRunDetail.as_view(), name="api-model-run"),
]
