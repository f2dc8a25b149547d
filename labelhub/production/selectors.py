"""Reads of the production inbox: deployments, rules, what was captured, scored and selected."""

from __future__ import annotations

import hashlib

from django.db.models import QuerySet

from labelhub.production.models import Deployment, SamplingRules
from labelhub.projects.models import Project
from labelhub.projects.selectors import managed_project_ids, projects_with_visible_labels


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def deployment_for_token(token: str) -> Deployment | None:
    return (
        Deployment.objects.select_related("project", "model_run__snapshot")
        .filter(token_hash=token_hash(token), is_active=True)
        .first()
    )


def deployments_for_user(user) -> QuerySet[Deployment]:
    """Deployments of the projects whose labels the user may see (managers, staff)."""
    return Deployment.objects.select_related("model_run__snapshot", "project").filter(
        project__in=projects_with_visible_labels(user)
    )


def managed_projects(user) -> QuerySet[Project]:
    ids = managed_project_ids(user)
    return Project.objects.all() if ids is None else Project.objects.filter(pk__in=ids)


def sampling_rules(project: Project) -> SamplingRules:
    """The project's rules, or the defaults (unsaved) when it never saved any: pages never write on GET."""
    return SamplingRules.objects.filter(project=project).first() or SamplingRules(project=project)
