"""Changes to projects, their schema and their members; imports live in ``importing``."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TYPE_CHECKING

from django.db import IntegrityError, transaction

from labelhub.projects.errors import DuplicateLabelClass
from labelhub.projects.importing import RecordError, import_records
from labelhub.projects.label_config import DEFAULT_COLOURS, ClassSpec, parse_label_config
from labelhub.projects.labels import InvalidLabels, clean_labels
from labelhub.projects.models import GroundTruth, ImportBatch, LabelClass, Project, ProjectMembership
from labelhub.projects.selectors import label_schema

if TYPE_CHECKING:  # datasets imports numpy, which web processes (this module's callers) do without
    from labelhub.projects.datasets import LabelledRecord

# Keys handed to classes without one: digits only, so letters stay free for the page's own shortcuts.
DEFAULT_KEYS = "1234567890"


def assign_default_keys(classes: list[ClassSpec]) -> list[ClassSpec]:
    """Give every class without a hotkey the next free key, so the labeling page is keyboard-only."""
    taken = {c.key for c in classes if c.key}
    free = iter(k for k in DEFAULT_KEYS if k not in taken)
    for spec in classes:
        if not spec.key:
            spec.key = next(free, "")
    return classes


@transaction.atomic
def create_project(
    *,
    name: str,
    modality: str,
    classes: Iterable[ClassSpec],
    multi_label: bool = False,
    created_by=None,
    label_config: str = "",
    description: str = "",
    **settings,
) -> Project:
    project = Project.objects.create(
        name=name,
        modality=modality,
        multi_label=multi_label,
        created_by=created_by,
        label_config=label_config,
        description=description,
        **settings,
    )
    LabelClass.objects.bulk_create(
        LabelClass(
            project=project,
            name=spec.name,
            key=spec.key,
            colour=spec.colour or DEFAULT_COLOURS[order % len(DEFAULT_COLOURS)],
            description=spec.description,
            order=order,
        )
        for order, spec in enumerate(classes)
    )
    if created_by is not None and not created_by.is_staff:
        # Whoever creates a project manages it; staff see every project anyway.
        ProjectMembership.objects.create(
            project=project, user=created_by, role=ProjectMembership.Role.MANAGER
        )
    return project


def create_project_from_label_config(name: str, xml: str, user=None, **settings) -> Project:
    """A project whose modality, single/multi label and classes come from a Label Studio config.

    Raises ``LabelConfigError`` (a ``DomainError`` on ``label_config``) naming the unsupported tag.
    """
    schema = parse_label_config(xml)
    return create_project(
        name=name,
        modality=schema.modality,
        classes=assign_default_keys(schema.classes),
        multi_label=schema.multi_label,
        created_by=user,
        label_config=xml,
        **settings,
    )


def check_label_class(project: Project, *, name: str, key: str = "", exclude: int | None = None) -> None:
    """Raise :class:`DuplicateLabelClass` when another class of ``project`` has this name or hotkey."""
    others = LabelClass.objects.filter(project=project).exclude(pk=exclude)
    if others.filter(name=name).exists():
        raise DuplicateLabelClass(f"the project already has a class named {name!r}", field="name")
    if key and others.filter(key=key).exists():
        raise DuplicateLabelClass(f"the key {key!r} already belongs to another class", field="key")


def save_label_class(project: Project, label_class: LabelClass | None, **fields) -> LabelClass:
    """Create a class of ``project`` (``label_class`` None) or change one, names and keys unique.

    Checked first for a clear message; a concurrent save that takes the name meanwhile hits the
    unique constraint, which answers the same error rather than a 500.
    """
    label_class = label_class or LabelClass(project=project)
    for attr, value in fields.items():
        setattr(label_class, attr, value)
    check_label_class(project, name=label_class.name, key=label_class.key, exclude=label_class.pk)
    try:
        with transaction.atomic():
            label_class.save()
    except IntegrityError as exc:
        raise DuplicateLabelClass(
            f"another class took the name {label_class.name!r} or key {label_class.key!r} meanwhile",
            field="name",
        ) from exc
    return label_class


def set_membership(project: Project, user, role: str) -> ProjectMembership:
    """Add ``user`` to ``project`` with ``role``, or change the role of an existing member."""
    membership, _ = ProjectMembership.objects.update_or_create(
        project=project, user=user, defaults={"role": role}
    )
    return membership


def load_labelled_dataset(
    *,
    name: str,
    modality: str,
    classes: list[ClassSpec],
    records: Iterable[LabelledRecord],
    description: str = "",
    user=None,
    source: str = "demo",
) -> tuple[Project, ImportBatch | None]:
    """Create ``name`` from labelled records: items through the importer, labels to GroundTruth.

    Idempotent: a project that already has items is returned untouched (batch ``None``). The
    records stream into :func:`import_records`, so 100k+ records never sit in memory as model
    objects; only the external id → label map does (a few MB). Each label is checked against the
    new project's schema like any imported label; a bad one rejects the load (``ImportRejected``).
    """
    project = Project.objects.filter(name=name).first()
    if project is not None and project.items.exists():
        return project, None
    if project is None:
        project = create_project(
            name=name, modality=modality, classes=classes, description=description, created_by=user
        )
    labels: dict[str, list[str]] = {}

    def item_records() -> Iterator[dict | RecordError]:
        schema = label_schema(project)
        for record in records:
            try:
                labels[record.external_id] = clean_labels(schema, [record.label], field="label")
            except InvalidLabels as exc:
                yield RecordError(exc.message, field=exc.field, code=exc.code)
                continue
            yield {"external_id": record.external_id, **record.payload}

    batch = import_records(project, item_records(), user=user, source=source, filename=name)
    with transaction.atomic():
        pending: list[GroundTruth] = []
        for item_id, external_id in batch.items.values_list("id", "external_id").iterator(5000):
            pending.append(GroundTruth(item_id=item_id, labels=labels[external_id]))
            if len(pending) >= 5000:
                GroundTruth.objects.bulk_create(pending)
                pending = []
        GroundTruth.objects.bulk_create(pending)
    return project, batch
