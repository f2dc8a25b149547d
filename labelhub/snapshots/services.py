"""Cutting snapshots and registering the model runs trained on them."""

from __future__ import annotations

import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from django.db import connection, transaction
from django.utils import timezone

from labelhub.projects.models import Project
from labelhub.snapshots import selectors
from labelhub.snapshots.canonical import ContentHasher
from labelhub.snapshots.models import ModelRun, Snapshot, SnapshotItem
from labelhub.snapshots.splits import hash_split, normalise_ratios, stratified_splits

WRITE_BATCH = 20000
_COLUMNS = (
    "snapshot_id",
    "item_id",
    "external_id",
    "payload_sha256",
    "labels",
    "confidence",
    "method",
    "annotator_count",
    "guideline_versions",
    "split",
)


class NothingToSnapshot(ValueError):
    """The project has no labelled item: a snapshot of nothing is refused."""


class _AlreadyCut(Exception):
    def __init__(self, snapshot: Snapshot) -> None:
        self.snapshot = snapshot


def _write_rows(rows: list[tuple]) -> None:
    """Bulk-insert snapshot rows: COPY on PostgreSQL (the 1M-row cut budget), executemany elsewhere."""
    table = SnapshotItem._meta.db_table
    columns = ", ".join(_COLUMNS)
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            with cursor.cursor.copy(f"COPY {table} ({columns}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
        else:
            marks = ", ".join(["%s"] * len(_COLUMNS))
            cursor.executemany(f"INSERT INTO {table} ({columns}) VALUES ({marks})", rows)  # noqa: S608


def _stratum(labels: Iterable[str]) -> str:
    return "|".join(sorted(labels))


def cut_snapshot(
    project: Project,
    *,
    name: str = "",
    ratios: Mapping[str, float] | None = None,
    stratify: bool = False,
    user=None,
) -> tuple[Snapshot, bool]:
    """Freeze the project's resolved labels into a sealed snapshot. Returns (snapshot, created).

    Content addressing makes cutting idempotent: when the same contents (same labels, same splits)
    were already cut, the rows just written are rolled back and the existing snapshot is returned
    with created=False; its name is kept. Raises ValueError for bad ratios and NothingToSnapshot
    for a project with no labelled item.
    """
    ratios = normalise_ratios(ratios)
    class_names = list(project.classes.order_by("order", "id").values_list("name", flat=True))
    previous = selectors.previous_splits(selectors.latest_snapshot(project)) if stratify else {}
    try:
        with transaction.atomic():
            snapshot = Snapshot.objects.create(
                project=project,
                content_hash=f"cutting-{uuid.uuid4().hex}",
                name=name,
                split_ratios=ratios,
                stratified=stratify,
                class_names=class_names,
                created_by=user if user is not None and user.is_authenticated else None,
            )
            resolved = selectors.iter_resolved_labels(project)
            if stratify:
                # Stratification needs every key's class before assigning: keys are held in memory.
                resolved = list(resolved)
                splits = stratified_splits(
                    project.pk, ((r.external_id, _stratum(r.labels)) for r in resolved), ratios, previous
                )
                split_of = splits.__getitem__
            else:
                split_of = lambda external_id: hash_split(project.pk, external_id, ratios)  # noqa: E731
            hasher = ContentHasher(project.pk)
            split_counts: Counter[str] = Counter()
            class_counts: Counter[str] = Counter()
            split_classes: dict[str, Counter[str]] = defaultdict(Counter)
            methods: Counter[str] = Counter()
            annotator_counts: Counter[int] = Counter()
            versions: set[int] = set()
            confidence_sum = 0.0
            batch: list[tuple] = []
            for row in resolved:
                split = split_of(row.external_id)
                hasher.add(
                    row.external_id,
                    row.payload_sha256,
                    row.labels,
                    row.confidence,
                    row.method,
                    row.guideline_versions,
                    row.annotator_count,
                    split,
                )
                batch.append(
                    (
                        snapshot.pk,
                        row.item_id,
                        row.external_id,
                        row.payload_sha256,
                        json.dumps(row.labels),
                        row.confidence,
                        row.method,
                        row.annotator_count,
                        json.dumps(row.guideline_versions),
                        split,
                    )
                )
                split_counts[split] += 1
                class_counts.update(row.labels)
                split_classes[split].update(row.labels)
                methods[row.method] += 1
                annotator_counts[row.annotator_count] += 1
                versions.update(row.guideline_versions)
                confidence_sum += row.confidence
                if len(batch) >= WRITE_BATCH:
                    _write_rows(batch)
                    batch = []
            if batch:
                _write_rows(batch)
            if hasher.count == 0:
                raise NothingToSnapshot(f"project {project.name!r} has no labelled items to snapshot")
            digest = hasher.hexdigest()
            existing = Snapshot.objects.filter(content_hash=digest).first()
            if existing is not None:
                raise _AlreadyCut(existing)
            snapshot.content_hash = digest
            snapshot.item_count = hasher.count
            snapshot.guideline_versions = sorted(versions)
            snapshot.stats = {
                "splits": {s: split_counts[s] for s in ratios},
                "classes": dict(class_counts),
                "split_classes": {s: dict(c) for s, c in split_classes.items()},
                "methods": dict(methods),
                "annotator_counts": {str(k): v for k, v in sorted(annotator_counts.items())},
                "mean_confidence": round(confidence_sum / hasher.count, 6),
            }
            snapshot.sealed_at = timezone.now()
            snapshot.save()
    except _AlreadyCut as already:
        return already.snapshot, False
    return snapshot, True


def register_model_run(
    snapshot: Snapshot, *, name: str, metrics: dict | None = None, artifact_uri: str = "", user=None
) -> ModelRun:
    """Record that a model was trained on exactly this snapshot."""
    if not name.strip():
        raise ValueError("name: a model run needs a name")
    if metrics is not None and not isinstance(metrics, dict):
        raise ValueError('metrics: must be a JSON object such as {"accuracy": 0.9}')
    return ModelRun.objects.create(
        snapshot=snapshot,
        name=name.strip(),
        metrics=metrics or {},
        artifact_uri=artifact_uri,
        created_by=user if user is not None and user.is_authenticated else None,
    )
