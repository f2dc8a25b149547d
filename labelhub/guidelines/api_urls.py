"""API routes of guidelines (mounted under /api/).

The impact route and the guideline-questions routes are joined in :mod:`labelhub.urls`: they show
or change queue flags, a layer above this app, so the root URLconf wires them in.
"""

from django.urls import path

from labelhub.guidelines import api

urlpatterns = [
    path(
        "projects/<int:project_id>/guidelines/",
        api.ProjectVersionsView.as_view(),
        name="api-guideline-versions",
    ),
    path(
        "projects/<int:project_id>/guidelines/current/",
        api.CurrentVersionView.as_view(),
        name="api-guideline-current",
    ),
    path("guidelines/preview/", api.PreviewView.as_view(), name="api-guideline-preview"),
    path("guidelines/<int:pk>/", api.VersionDetailView.as_view(), name="api-guideline-version"),
    path("guidelines/<int:pk>/classes/", api.ClassDefinitionsView.as_view(), name="api-guideline-classes"),
    path("guidelines/<int:pk>/publish/", api.PublishView.as_view(), name="api-guideline-publish"),
    path("guidelines/<int:pk>/new-draft/", api.NewDraftView.as_view(), name="api-guideline-new-draft"),
    path("guidelines/<int:pk>/acknowledge/", api.AcknowledgeView.as_view(), name="api-guideline-acknowledge"),
    path("guidelines/<int:pk>/diff/", api.DiffView.as_view(), name="api-guideline-diff"),
]
