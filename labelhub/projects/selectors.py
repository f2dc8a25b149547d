"""Reads of the core domain that every app shares: who may see which project."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.db.models import Count, IntegerField, QuerySet, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404

from labelhub.projects.labels import LabelSchema
from labelhub.projects.models import LabelClass, Project, ProjectMembership

NOT_A_MEMBER = "You are not a member of this project. Ask one of its managers to add you."


def project_page_or_deny(user, project_id: int) -> Project:
    """The project a page is about: 404 when there is none, 403 with a readable reason when the
    user is not one of its members (pages render that reason; the id says nothing more)."""
    project = projects_for_user(user).filter(pk=project_id).first()
    if project is not None:
        return project
    if Project.objects.filter(pk=project_id).exists():
        raise PermissionDenied(NOT_A_MEMBER)
    raise Http404("There is no project with this id.")


def projects_for_user(user) -> QuerySet[Project]:
    """Projects the user may see: all for staff, their memberships otherwise."""
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(memberships__user=user).distinct()


def projects_with_visible_labels(user) -> QuerySet[Project]:
    """Projects whose resolved labels the user may read in bulk (snapshots, exports, diffs).

    Staff, managers and reviewers. Annotators are left out: they never see other people's labels
    on an item before they submit, and a snapshot is exactly that for every item.
    """
    if not user.is_authenticated:
        return Project.objects.none()
    if user.is_staff:
        return Project.objects.all()
    return Project.objects.filter(
        memberships__user=user,
        memberships__role__in=[ProjectMembership.Role.MANAGER, ProjectMembership.Role.REVIEWER],
    ).distinct()


def membership_of(user, project: Project | int) -> ProjectMembership | None:
    project_id = project if isinstance(project, int) else project.pk
    if not user.is_authenticated:
        return None
    return ProjectMembership.objects.filter(project_id=project_id, user=user).first()


def has_role(user, project: Project | int, *roles: str) -> bool:
    """True for staff, or a member holding one of ``roles`` (any role when none is given)."""
    if not user.is_authenticated:
        return False
    if user.is_staff:
        return True
    member = membership_of(user, project)
    return member is not None and (not roles or member.role in roles)


def is_manager(user, project: Project | int) -> bool:
    return has_role(user, project, ProjectMembership.Role.MANAGER)


def managed_project_ids(user) -> set[int] | None:
    """Ids of the projects ``user`` manages; ``None`` for staff, who manage every project."""
    if not user.is_authenticated:
        return set()
    if user.is_staff:
        return None
    return set(
        ProjectMembership.objects.filter(user=user, role=ProjectMembership.Role.MANAGER).values_list(
            "project_id", flat=True
        )
    )


def can_create_projects(user) -> bool:
    """Staff, holders of the ``add_project`` permission, and managers of any project."""
    if not user.is_authenticated:
        return False
    if user.is_staff or user.has_perm("projects.add_project"):
        return True
    return ProjectMembership.objects.filter(user=user, role=ProjectMembership.Role.MANAGER).exists()


def correlated_count(rows: QuerySet, group: str = "project") -> Coalesce:
    """COUNT of ``rows`` (filtered on ``OuterRef("pk")``) for each outer project, as an annotation.

    A correlated subquery per count: joining several related tables in one query instead would
    multiply their rows (items x classes) before counting.
    """
    grouped = rows.order_by().values(group).annotate(n=Count("pk")).values("n")[:1]
    return Coalesce(Subquery(grouped, output_field=IntegerField()), 0)


def label_schema(project: Project) -> LabelSchema:
    """The project's :class:`~labelhub.projects.labels.LabelSchema`, read in one query.

    Callers that check many values (an import, a bulk gold upload) read it once and reuse it.
    """
    classes = LabelClass.objects.filter(project=project).order_by("order", "id").values_list("name", "key")
    return LabelSchema.build(project.name, classes, multi_label=project.multi_label)
