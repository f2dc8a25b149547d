"""Builders for weak-supervision tests: a project with texts (and optional metadata)."""

from __future__ import annotations

from labelhub.projects.importing import content_hash
from labelhub.projects.models import Item, Project
from tests import factories


def text_items(project: Project, texts: list[str], **metadata) -> list[Item]:
    items = []
    for i, text in enumerate(texts):
        payload = {"text": text, **{k: v[i] for k, v in metadata.items()}}
        items.append(
            Item(
                project=project,
                external_id=f"t{Item.objects.count()}-{i}",
                payload=payload,
                content_hash=content_hash(payload),
            )
        )
    return Item.objects.bulk_create(items)


def animal_project() -> Project:
    return factories.make_project(classes=("animal", "plant", "tool"))
