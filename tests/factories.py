"""Small builders for tests: plain functions over the ORM, no fixture files."""

from __future__ import annotations

import itertools

from django.contrib.auth import get_user_model
from rest_framework.test import APIClient

from labelhub.projects.importing import content_hash
from labelhub.projects.models import Item, LabelClass, Project, ProjectMembership
from labelhub.queues import services as queue_services

_seq = itertools.count(1)


def make_user(
    username: str | None = None,
    *,
    is_staff: bool = False,
    is_superuser: bool = False,
    password: str = "pw-for-tests-1",
):
    username = username or f"user{next(_seq)}"
    return get_user_model().objects.create_user(
        username=username, password=password, is_staff=is_staff, is_superuser=is_superuser
    )


def make_project(
    name: str | None = None,
    classes: tuple[str, ...] = ("cat", "dog", "wolf"),
    *,
    modality: str = "text",
    multi_label: bool = False,
    **fields,
) -> Project:
    project = Project.objects.create(
        name=name or f"project {next(_seq)}", modality=modality, multi_label=multi_label, **fields
    )
    LabelClass.objects.bulk_create(
        LabelClass(project=project, name=c, key=str(i + 1), order=i) for i, c in enumerate(classes)
    )
    return project


def make_member(project: Project, role: str = "annotator", user=None):
    user = user or make_user(f"{role}{next(_seq)}")
    ProjectMembership.objects.create(project=project, user=user, role=role)
    return user


def make_items(project: Project, count: int, *, prefix: str = "item") -> list[Item]:
    items = []
    for i in range(count):
        payload = {"text": f"{prefix} number {i}"}
        items.append(
            Item(
                project=project,
                external_id=f"{prefix}-{i}",
                payload=payload,
                content_hash=content_hash(payload),
            )
        )
    return Item.objects.bulk_create(items)


def queued_project(n_items: int):
    """A project with no gold or overlap, ``n_items`` queued in order, and one member's API client."""
    project = make_project(gold_rate=0, overlap_fraction=0)
    user = make_member(project)
    items = make_items(project, n_items)
    queue_services.enqueue_items(
        project, [(item.pk, float(-i)) for i, item in enumerate(items)], reason="random"
    )
    client = APIClient()
    client.force_authenticate(user)
    return project, user, items, client
