"""REST API of guidelines: :mod:`.serializers` (shapes) and :mod:`.views` (one view per endpoint)."""

from labelhub.guidelines.api.views import (
    AcknowledgeView,
    ClassDefinitionsView,
    CurrentVersionView,
    DiffView,
    ImpactView,
    NewDraftView,
    PreviewView,
    ProjectVersionsView,
    PublishView,
    VersionDetailView,
    project_for,
    require_manager,
)

__all__ = [
    "AcknowledgeView",
    "ClassDefinitionsView",
    "CurrentVersionView",
    "DiffView",
    "ImpactView",
    "NewDraftView",
    "PreviewView",
    "ProjectVersionsView",
    "PublishView",
    "VersionDetailView",
    "project_for",
    "require_manager",
]
