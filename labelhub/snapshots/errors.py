"""What can go wrong with snapshots.

Errors a user can cause are :class:`labelhub.errors.DomainError` subclasses naming the field: the
API's one exception handler shapes them, the pages and the admin show their message.
:class:`ImmutableError` is not one of them: nothing a user can reach edits or deletes a sealed
snapshot, so raising it means a bug, and it stays a 500 in the logs.
"""

from __future__ import annotations

from labelhub.errors import DomainError


class SnapshotError(DomainError):
    """A snapshot request that cannot be carried out as asked."""

    default_code = "invalid_snapshot_request"


class NothingToSnapshot(SnapshotError):
    """The project has no labelled item: a snapshot of nothing is refused."""

    default_code = "nothing_to_snapshot"

    def __init__(self, project_name: str) -> None:
        super().__init__(f"project {project_name!r} has no labelled items to snapshot", field="project")


class InvalidRatios(SnapshotError):
    """Split ratios that are not train / val / test numbers >= 0 with a positive sum."""

    default_code = "invalid_ratios"


class InvalidModelRun(SnapshotError):
    """A model run without a name, or with metrics that are not a JSON object."""

    default_code = "invalid_model_run"


class ImmutableError(Exception):
    """Raised on any attempt to change or delete a snapshot once cut (a bug, not a user error)."""


class NoWeakLabels(SnapshotError):
    """A cut asked for weak labels the project does not have (no labeling-function run yet)."""

    default_code = "no_weak_labels"

    def __init__(self, project_name: str) -> None:
        super().__init__(
            f"project {project_name!r} has no weak labels of unlabelled items: run its labeling functions first",
            field="include_weak",
        )
