"""Cutting snapshots and registering the model runs trained on them."""

from __future__ import annotations

import hashlib
import json
import uuid
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone

from annotators.qa.resolved import iter_resolved_chunks
from labelhub.projects.models import Project
from labelhub.projects.selectors import label_schema
from labelhub.snapshots import selectors
from labelhub.snapshots.canonical import ContentHasher, canonical_row
from labelhub.snapshots.errors import InvalidModelRun, InvalidRatios, NothingToSnapshot, NoWeakLabels
from labelhub.snapshots.models import ModelRun, Snapshot, SnapshotItem, SnapshotWeakLabel, SnapshotWeakSource
from labelhub.snapshots.splits import HashSplitter, normalise_ratios, stratified_splits
from labelhub.weak.models import WeakLabel, WeakRun

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


def _int_list(values: list[int]) -> str:
    return "[" + ",".join([str(v) for v in values]) + "]" if values else "[]"


def _stratum(labels: Iterable[str]) -> str:
    return "|".join(sorted(labels))


def _statistics(snapshot: Snapshot, ratios: Mapping[str, float]) -> dict:
    """Counts the snapshot page plots, frozen with the snapshot: one GROUP BY over its rows (a few
    hundred groups at most) instead of counting a million rows one by one in Python."""
    groups = (
        SnapshotItem.objects.filter(snapshot=snapshot)
        .values_list("split", "labels", "method", "annotator_count")
        .annotate(n=Count("id"), confidence=Sum("confidence"))
        .order_by()
    )
    splits: Counter[str] = Counter()
    classes: Counter[str] = Counter()
    split_classes: dict[str, Counter[str]] = defaultdict(Counter)
    methods: Counter[str] = Counter()
    annotator_counts: Counter[int] = Counter()
    confidence_sum = 0.0
    for split, labels, method, annotators, n, confidence in groups:
        splits[split] += n
        for name in labels:
            classes[name] += n
            split_classes[split][name] += n
        methods[method] += n
        annotator_counts[annotators] += n
        confidence_sum += confidence
    total = sum(splits.values()) or 1
    return {
        "splits": {s: splits[s] for s in ratios},
        "classes": dict(classes),
        "split_classes": {s: dict(c) for s, c in split_classes.items()},
        "methods": dict(methods),
        "annotator_counts": {str(k): v for k, v in sorted(annotator_counts.items())},
        "mean_confidence": round(confidence_sum / total, 6),
    }


def cut_snapshot(
    project: Project,
    *,
    name: str = "",
    ratios: Mapping[str, float] | None = None,
    ratios_are_fractions: bool = False,
    stratify: bool = False,
    split_key: str = Snapshot.SplitKey.PROJECT,
    include_weak: bool = False,
    user=None,
) -> tuple[Snapshot, bool]:
    """Freeze the project's resolved labels into a sealed snapshot. Returns (snapshot, created).

    Labels are those of :mod:`annotators.qa.resolved`, read against the schema as it is now: a
    class deleted since it was given is not in the snapshot. Content addressing makes cutting
    idempotent: when the same contents (same labels, same splits) were already cut, the rows just
    written are rolled back and the existing snapshot is returned with created=False; its name is
    kept. Raises InvalidRatios for bad ratios and NothingToSnapshot for a project with no
    labelled item.

    ``split_key="external_id"`` pins the splits to the external id alone, so an item keeps its
    split in any project it is exported to and re-imported in (the default hashes the project
    too). Raises InvalidRatios for an unknown split key.

    ``include_weak`` also freezes the project's weak labels of the items nobody labelled, as a
    separate marked source (:func:`freeze_weak_labels`); they enter the content hash, so a cut
    with them is a different snapshot from one without.
    """
    ratios = normalise_ratios(ratios, fractions=ratios_are_fractions)
    if split_key not in Snapshot.SplitKey.values:
        raise InvalidRatios(
            f"unknown split key {split_key!r}; use {' or '.join(Snapshot.SplitKey.values)}", field="split_key"
        )
    split_project = project.pk if split_key == Snapshot.SplitKey.PROJECT else None
    schema = label_schema(project)  # one read: the classes recorded and the filter of the rows
    previous = selectors.previous_splits(selectors.latest_snapshot(project)) if stratify else {}
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql":
                # Sort the resolved rows in memory rather than in temp files (this transaction only).
                with connection.cursor() as cursor:
                    cursor.execute("SET LOCAL work_mem = '256MB'")
            snapshot = Snapshot.objects.create(
                project=project,
                content_hash=f"cutting-{uuid.uuid4().hex}",
                name=name,
                split_ratios=ratios,
                stratified=stratify,
                split_key=split_key,
                class_names=list(schema.class_names),
                created_by=user if user is not None and user.is_authenticated else None,
            )
            chunks = iter_resolved_chunks(project, schema)
            if stratify:
                # Stratification needs every key's class before assigning: rows are held in memory.
                chunks = list(chunks)
                splits = stratified_splits(
                    split_project,
                    ((r[1], _stratum(r[3])) for chunk in chunks for r in chunk),
                    ratios,
                    previous,
                )
                split_of = splits.__getitem__
            else:
                split_of = HashSplitter(split_project, ratios)
            hasher = ContentHasher(project.pk)
            versions: set[int] = set()
            pk = snapshot.pk
            for chunk in chunks:
                # One pass per row: its split, its canonical line for the hash, its row for COPY.
                lines: list[bytes] = []
                copy_rows: list[tuple] = []
                for (
                    item_id,
                    external_id,
                    sha,
                    labels,
                    confidence,
                    method,
                    annotators,
                    gv,
                    labels_text,
                ) in chunk:
                    split = split_of(external_id)
                    lines.append(
                        canonical_row(external_id, sha, labels, confidence, method, gv, annotators, split)
                    )
                    copy_rows.append(
                        (
                            pk,
                            item_id,
                            external_id,
                            sha,
                            labels_text,
                            confidence,
                            method,
                            annotators,
                            _int_list(gv),
                            split,
                        )
                    )
                    if gv:
                        versions.update(gv)
                hasher.add_lines([r[1] for r in chunk], lines)
                _write_rows(copy_rows)
            if hasher.count == 0:
                raise NothingToSnapshot(project.name)
            digest = hasher.hexdigest()
            if include_weak:
                weak_digest = freeze_weak_labels(snapshot, project, schema)
                digest = hashlib.sha256(f"{digest}\nweak:{weak_digest}".encode()).hexdigest()
            existing = Snapshot.objects.filter(content_hash=digest).first()
            if existing is not None:
                raise _AlreadyCut(existing)
            snapshot.content_hash = digest
            snapshot.item_count = hasher.count
            snapshot.guideline_versions = sorted(versions)
            snapshot.stats = _statistics(snapshot, ratios)
            snapshot.sealed_at = timezone.now()
            snapshot.save()
    except _AlreadyCut as already:
        return already.snapshot, False
    return snapshot, True


def freeze_weak_labels(snapshot: Snapshot, project: Project, schema) -> str:
    """Copy the weak labels of items not in the snapshot's human rows; returns their digest.

    Raises :class:`NoWeakLabels` (naming ``include_weak``) when the project has none.
    """
    rows = (
        WeakLabel.objects.filter(project=project)
        .exclude(item_id__in=SnapshotItem.objects.filter(snapshot=snapshot).values("item_id"))
        .select_related("run")
        .order_by("item__external_id")
        .values_list("item_id", "item__external_id", "labels", "confidence", "run_id")
    )
    kept = [r for r in rows if r[2] and all(name in schema for name in r[2])]
    if not kept:
        raise NoWeakLabels(project.name)
    run = WeakRun.objects.get(pk=kept[0][4])
    SnapshotWeakLabel.objects.bulk_create(
        (
            SnapshotWeakLabel(snapshot=snapshot, item_id=i, external_id=ext, labels=labels, confidence=conf)
            for i, ext, labels, conf, _ in kept
        ),
        batch_size=5000,
    )
    SnapshotWeakSource.objects.create(
        snapshot=snapshot,
        run_id=run.pk,
        method=run.method,
        function_versions=run.function_versions,
        label_count=len(kept),
    )
    digest = hashlib.sha256(f"{run.method}\n{json.dumps(run.function_versions, sort_keys=True)}\n".encode())
    for _, ext, labels, conf, _ in kept:
        digest.update(f"{ext}\t{json.dumps(labels)}\t{conf!r}\n".encode())
    return digest.hexdigest()


def register_model_run(
    snapshot: Snapshot, *, name: str, metrics: dict | None = None, artifact_uri: str = "", user=None
) -> ModelRun:
    """Record that a model was trained on exactly this snapshot. Raises InvalidModelRun naming the
    field for a blank name or metrics that are not a JSON object."""
    if not name.strip():
        raise InvalidModelRun("a model run needs a name", field="name")
    if metrics is not None and not isinstance(metrics, dict):
        raise InvalidModelRun('metrics must be a JSON object such as {"accuracy": 0.9}', field="metrics")
    return ModelRun.objects.create(
        snapshot=snapshot,
        name=name.strip(),
        metrics=metrics or {},
        artifact_uri=artifact_uri,
        created_by=user if user is not None and user.is_authenticated else None,
    )
