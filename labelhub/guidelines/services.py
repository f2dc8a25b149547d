"""Changes to guidelines: drafts, publishing and acknowledgements.

Every function here is the one place its change happens; views, the admin and the API call them.
User-caused errors raise :class:`~labelhub.guidelines.errors.GuidelineError` naming the field and
the offending value. Answering annotators' questions re-queues items, so it lives with the queues,
in :mod:`labelhub.queues.questions`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from labelhub.guidelines.errors import GuidelineError
from labelhub.guidelines.models import (
    ClassDefinition,
    GuidelineAcknowledgement,
    GuidelineExample,
    GuidelineVersion,
    ImmutableVersionError,
)
from labelhub.projects.models import Item, LabelClass, Project
from labelhub.projects.push import announce_queue_update

EDITABLE_FIELDS = ("body", "ambiguous_cases", "change_summary")


@dataclass(frozen=True)
class ExampleSpec:
    kind: str
    text: str = ""
    item_id: int | None = None
    note: str = ""


@dataclass(frozen=True)
class ClassDefinitionSpec:
    label_class: str  # the class NAME, as annotations store it
    definition: str = ""
    examples: Sequence[ExampleSpec] = ()


def _refuse_published(version: GuidelineVersion) -> None:
    if version.is_published:
        raise GuidelineError(
            f"Guideline {version.label} is published and cannot be changed; start a new draft from it.",
            field="status",
            code="version_published",
        )


def create_draft(
    project: Project,
    user=None,
    *,
    body: str = "",
    ambiguous_cases: str = "",
    change_summary: str = "",
) -> GuidelineVersion:
    """A new, empty-or-given draft for ``project``."""
    return GuidelineVersion.objects.create(
        project=project,
        body=body,
        ambiguous_cases=ambiguous_cases,
        change_summary=change_summary,
        created_by=user if user is not None and user.is_authenticated else None,
    )


def start_draft_from(version: GuidelineVersion, user=None) -> GuidelineVersion:
    """ "New draft from version N": copy its text, class definitions and examples into a draft.

    The change summary starts empty: it describes what the new draft changes, not the old one.
    """
    with transaction.atomic():
        draft = GuidelineVersion.objects.create(
            project_id=version.project_id,
            body=version.body,
            ambiguous_cases=version.ambiguous_cases,
            based_on=version if version.is_published else version.based_on,
            created_by=user if user is not None and user.is_authenticated else None,
        )
        ClassDefinition.objects.bulk_create(
            ClassDefinition(
                version=draft, label_class_id=d.label_class_id, definition=d.definition, order=d.order
            )
            for d in version.class_definitions.all()
        )
        GuidelineExample.objects.bulk_create(
            GuidelineExample(
                version=draft,
                label_class_id=e.label_class_id,
                kind=e.kind,
                text=e.text,
                item_id=e.item_id,
                note=e.note,
                order=e.order,
            )
            for e in version.examples.all()
        )
    return draft


def update_draft(version: GuidelineVersion, **fields: str) -> GuidelineVersion:
    """Change the text fields of a draft (``body``, ``ambiguous_cases``, ``change_summary``)."""
    _refuse_published(version)
    unknown = sorted(set(fields) - set(EDITABLE_FIELDS))
    if unknown:
        raise GuidelineError(
            f"'{unknown[0]}' cannot be edited; editable: {', '.join(EDITABLE_FIELDS)}.", field=unknown[0]
        )
    for name, value in fields.items():
        setattr(version, name, value or "")
    try:
        version.save(update_fields=list(fields))
    except ImmutableVersionError as error:  # published by someone else since it was read
        raise GuidelineError(str(error), field="status", code="version_published") from error
    return version


def delete_draft(version: GuidelineVersion) -> None:
    _refuse_published(version)
    try:
        version.delete()
    except ImmutableVersionError as error:  # published by someone else since it was read
        raise GuidelineError(str(error), field="status", code="version_published") from error


def replace_class_definitions(version: GuidelineVersion, specs: Iterable[ClassDefinitionSpec]) -> None:
    """Set the draft's class definitions and examples to exactly ``specs``, all or nothing.

    Classes are named as annotations name them; an item example must be an item of the project,
    and keeps a copy of the item's text so the version still reads the same if the item goes.
    """
    _refuse_published(version)
    specs = list(specs)
    classes = {c.name: c for c in LabelClass.objects.filter(project_id=version.project_id)}
    seen: set[str] = set()
    for index, spec in enumerate(specs):
        if spec.label_class not in classes:
            raise GuidelineError(
                f"'{spec.label_class}' is not a class of this project (classes: {', '.join(classes)}).",
                field=f"class_definitions[{index}].label_class",
                code="unknown_class",
            )
        if spec.label_class in seen:
            raise GuidelineError(
                f"'{spec.label_class}' is defined twice.",
                field=f"class_definitions[{index}].label_class",
                code="duplicate_class",
            )
        seen.add(spec.label_class)
    item_ids = {e.item_id for s in specs for e in s.examples if e.item_id is not None}
    items = Item.objects.in_bulk(item_ids) if item_ids else {}
    definitions: list[ClassDefinition] = []
    examples: list[GuidelineExample] = []
    for index, spec in enumerate(specs):
        label_class = classes[spec.label_class]
        definitions.append(
            ClassDefinition(version=version, label_class=label_class, definition=spec.definition, order=index)
        )
        for position, example in enumerate(spec.examples):
            where = f"class_definitions[{index}].examples[{position}]"
            if example.kind not in GuidelineExample.Kind.values:
                raise GuidelineError(
                    f"'{example.kind}' is not one of {', '.join(GuidelineExample.Kind.values)}.",
                    field=f"{where}.kind",
                    code="invalid_choice",
                )
            text = example.text
            if example.item_id is not None:
                item = items.get(example.item_id)
                if item is None or item.project_id != version.project_id:
                    raise GuidelineError(
                        f"Item {example.item_id} is not an item of this project.",
                        field=f"{where}.item",
                        code="not_in_project",
                    )
                if not text and isinstance(item.payload, dict):
                    text = str(item.payload.get("text", ""))
            if not text.strip() and example.item_id is None:
                raise GuidelineError(
                    "An example needs a text or an item.", field=f"{where}.text", code="required"
                )
            examples.append(
                GuidelineExample(
                    version=version,
                    label_class=label_class,
                    kind=example.kind,
                    text=text,
                    item_id=example.item_id,
                    note=example.note,
                    order=position,
                )
            )
    with transaction.atomic():
        GuidelineExample.objects.filter(version=version).delete()
        ClassDefinition.objects.filter(version=version).delete()
        ClassDefinition.objects.bulk_create(definitions)
        GuidelineExample.objects.bulk_create(examples)


def publish_version(
    version: GuidelineVersion, user=None, *, change_summary: str | None = None
) -> GuidelineVersion:
    """Freeze a draft as the project's next version (1, 2, 3…) and make it current.

    The project row is locked while the number is chosen, so two managers publishing at once get
    consecutive numbers instead of a collision (the unique constraint is the last line of defence).
    Annotators must then acknowledge it before they are served again; open labeling pages hear
    about it on the project's channel group and ask for the acknowledgement right away.
    """
    with transaction.atomic():
        Project.objects.select_for_update().only("pk").get(pk=version.project_id)
        locked = GuidelineVersion.objects.select_for_update().get(pk=version.pk)
        if locked.is_published:
            raise GuidelineError(
                f"Guideline {locked.label} is already published.", field="status", code="version_published"
            )
        summary = (change_summary if change_summary is not None else locked.change_summary).strip()
        if not summary:
            raise GuidelineError(
                "A change summary is required to publish: annotators read it before going on.",
                field="change_summary",
                code="required",
            )
        highest = GuidelineVersion.objects.filter(project_id=locked.project_id).aggregate(n=Max("number"))[
            "n"
        ]
        locked.number = (highest or 0) + 1
        locked.status = GuidelineVersion.Status.PUBLISHED
        locked.change_summary = summary
        locked.published_at = timezone.now()
        locked.published_by = user if user is not None and user.is_authenticated else None
        locked.save()
        details = {"id": locked.pk, "number": locked.number, "change_summary": summary}
        transaction.on_commit(lambda: _announce_published(locked.project_id, details))
    return locked


def _announce_published(project_id: int, details: dict[str, Any]) -> None:
    announce_queue_update(project_id, guideline_published=details)


def acknowledge(version: GuidelineVersion, user) -> tuple[GuidelineAcknowledgement, bool]:
    """Record that ``user`` read ``version``; idempotent. Returns (acknowledgement, created)."""
    if not version.is_published:
        raise GuidelineError(
            f"Guideline {version.label} is a draft; only published versions are acknowledged.",
            field="version",
            code="version_draft",
        )
    return GuidelineAcknowledgement.objects.get_or_create(version=version, user=user)
