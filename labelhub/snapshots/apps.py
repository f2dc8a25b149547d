from django.apps import AppConfig


class SnapshotsConfig(AppConfig):
    name = "labelhub.snapshots"
    label = "snapshots"
    verbose_name = "Snapshots"
