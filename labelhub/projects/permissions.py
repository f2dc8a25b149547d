"""DRF permissions by project membership.

Objects outside the user's projects are filtered out of querysets (so they get 404, never a hint
that they exist); these classes then decide what a member may do with what they can see.
"""

from __future__ import annotations

from rest_framework.permissions import SAFE_METHODS, BasePermission

from labelhub.projects.models import ProjectMembership
from labelhub.projects.selectors import has_role


def project_of(obj):
    return obj if hasattr(obj, "memberships") else obj.project


class IsProjectMember(BasePermission):
    def has_object_permission(self, request, view, obj) -> bool:
        return has_role(request.user, project_of(obj))


class IsProjectManagerOrReadOnly(BasePermission):
    """Members read; managers (and staff) write."""

    def has_object_permission(self, request, view, obj) -> bool:
        project = project_of(obj)
        if request.method in SAFE_METHODS:
            return has_role(request.user, project)
        return has_role(request.user, project, ProjectMembership.Role.MANAGER)
