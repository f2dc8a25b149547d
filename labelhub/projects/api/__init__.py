"""REST API of the core domain: projects, label classes, members, items and imports.

:mod:`.serializers` shape the resources, :mod:`.views` serve them; the routes are in
``labelhub.projects.api_urls``.
"""

from labelhub.projects.api.views import (
    ImportBatchViewSet,
    ItemViewSet,
    LabelClassViewSet,
    MembershipViewSet,
    ProjectScopedMixin,
    ProjectViewSet,
)

__all__ = [
    "ImportBatchViewSet",
    "ItemViewSet",
    "LabelClassViewSet",
    "MembershipViewSet",
    "ProjectScopedMixin",
    "ProjectViewSet",
]
