"""Reads behind snapshots: snapshots a user may see, their rows in order, diffs between two
snapshots and the statistics shown on the snapshot page. What an item's label is comes from
:mod:`annotators.qa.resolved`."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

from django.db import connection, transaction
from django.db.models import Count, Q, QuerySet, Value
from django.db.models.fields.json import KeyTextTransform
from django.db.models.functions import Substr
from django.http import Http404
from django.shortcuts import get_object_or_404

from annotators.qa.models import AdjudicationTask, ConsensusLabel
from labelhub.guidelines.models import GuidelineVersion
from labelhub.projects.models import Annotation, Item, Project
from labelhub.projects.selectors import projects_with_visible_labels
from labelhub.queues.sampling import target_distribution
from labelhub.snapshots.errors import SnapshotError
from labelhub.snapshots.models import ModelRun, Snapshot, SnapshotItem, SnapshotWeakLabel, SnapshotWeakSource

FETCH_SIZE = 20000


def snapshots_for_user(user) -> QuerySet[Snapshot]:
    """Sealed snapshots the user may read (annotators and outsiders get 404 on the others)."""
    return Snapshot.objects.filter(
        project__in=projects_with_visible_labels(user), sealed_at__isnull=False
    ).select_related("project", "created_by")


def snapshot_for(user, snapshot_id: str) -> Snapshot:
    """The one lookup every snapshot page and endpoint uses: a snapshot the user may see, by its
    content hash or an unambiguous prefix (>= 8 characters). 404 for anything else, so outsiders
    learn nothing; Http404 because both the pages and the API's handler understand it."""
    snapshot_id = snapshot_id.lower()
    visible = snapshots_for_user(user)
    if len(snapshot_id) == 64:
        return get_object_or_404(visible, content_hash=snapshot_id)
    if len(snapshot_id) < 8:
        raise Http404("snapshot ids are the 64-character hash or a prefix of at least 8")
    matches = list(visible.filter(content_hash__startswith=snapshot_id)[:2])
    if len(matches) != 1:
        raise Http404("no snapshot with a unique id starting with that prefix")
    return matches[0]


def model_runs_for_user(user) -> QuerySet[ModelRun]:
    return ModelRun.objects.filter(snapshot__project__in=projects_with_visible_labels(user)).select_related(
        "snapshot", "created_by"
    )


def latest_snapshot(project: Project) -> Snapshot | None:
    return (
        Snapshot.objects.filter(project=project, sealed_at__isnull=False)
        .order_by("-created_at", "-id")
        .first()
    )


def previous_splits(snapshot: Snapshot | None) -> dict[str, str]:
    if snapshot is None:
        return {}
    return dict(
        SnapshotItem.objects.filter(snapshot=snapshot)
        .values_list("external_id", "split")
        .iterator(FETCH_SIZE)
    )


EXPORT_COLUMNS = (
    "item_id",
    "external_id",
    "payload_sha256",
    "labels",
    "confidence",
    "method",
    "annotator_count",
    "guideline_versions",
    "split",
    "payload",
)


def _streamed(sql: str, params: list, chunk_size: int | None) -> Iterator[list]:
    """Non-empty chunks of a query's rows from a server-side cursor (memory flat however many)."""
    # Inside a transaction PostgreSQL's server-side cursor streams; in autocommit Django declares it
    # WITH HOLD, which materialises the whole result before the first row.
    with transaction.atomic(), connection.chunked_cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(chunk_size or FETCH_SIZE):
            yield rows


def iter_export_rows(snapshot: Snapshot, chunk_size: int | None = None) -> Iterator[list[tuple]]:
    """The snapshot's rows in external-id order, in chunks, joined to the item payloads.

    Columns are ``EXPORT_COLUMNS``; ``labels``, ``guideline_versions`` and ``payload`` come as JSON
    text so exporters can splice them without a decode/encode round trip. A server-side cursor
    keeps memory flat however large the snapshot.
    """
    sql = f"""
        SELECT s.item_id, s.external_id, s.payload_sha256, s.labels, s.confidence, s.method,
               s.annotator_count, s.guideline_versions, s.split, i.payload
        FROM {SnapshotItem._meta.db_table} s JOIN {Item._meta.db_table} i ON i.id = s.item_id
        WHERE s.snapshot_id = %s
        ORDER BY s.id
    """  # noqa: S608 - table names come from model metadata
    for rows in _streamed(sql, [snapshot.pk], chunk_size):
        if not isinstance(rows[0][3], str):
            rows = [
                (*r[:3], json.dumps(r[3]), *r[4:7], json.dumps(r[7]), r[8], json.dumps(r[9])) for r in rows
            ]
        yield rows


def iter_weak_rows(snapshot: Snapshot, chunk_size: int | None = None) -> Iterator[list[tuple]]:
    """The snapshot's frozen weak labels in external-id order, in chunks, joined to the items:
    ``(item_id, external_id, payload_sha256, labels, confidence, payload)``, the JSON columns as
    text like :func:`iter_export_rows`' (items deleted since the cut are left out)."""
    sql = f"""
        SELECT w.item_id, w.external_id, i.content_hash, w.labels, w.confidence, i.payload
        FROM {SnapshotWeakLabel._meta.db_table} w JOIN {Item._meta.db_table} i ON i.id = w.item_id
        WHERE w.snapshot_id = %s
        ORDER BY w.external_id
    """  # noqa: S608 - table names come from model metadata
    for rows in _streamed(sql, [snapshot.pk], chunk_size):
        if not isinstance(rows[0][3], str):
            rows = [(*r[:3], json.dumps(r[3]), r[4], json.dumps(r[5], ensure_ascii=False)) for r in rows]
        yield rows


@dataclass(frozen=True)
class CutAnnotation:
    """One annotation as it stood when a snapshot was cut (for the Label Studio export)."""

    labels: list
    time_spent: float
    username: str | None
    email: str
    suggestion_shown: dict | None


def annotations_at_cut(snapshot: Snapshot, item_ids: list[int]) -> dict[int, list[CutAnnotation]]:
    """The annotations of ``item_ids`` that counted when ``snapshot`` was sealed, oldest first:
    made by then and not retracted by then, so the export of a snapshot never changes."""
    sealed = snapshot.sealed_at
    rows = (
        Annotation.objects.filter(item_id__in=item_ids, created_at__lte=sealed)
        .filter(Q(retracted_at__isnull=True) | Q(retracted_at__gt=sealed))
        .order_by("item_id", "created_at", "id")
        .values_list(
            "item_id", "labels", "time_spent", "annotator__username", "annotator__email", "suggestion_shown"
        )
    )
    found: dict[int, list[CutAnnotation]] = {}
    for item_id, labels, seconds, username, email, suggestion in rows.iterator(FETCH_SIZE):
        found.setdefault(item_id, []).append(
            CutAnnotation(labels, seconds, username, email or "", suggestion)
        )
    return found


def iter_jsonl_lines(snapshot: Snapshot, chunk_size: int | None = None) -> Iterator[list[str]] | None:
    """On PostgreSQL, the JSONL export's lines built by the database itself (one text column per
    row instead of ten Python objects, formatted in C in the database process): what makes the
    100,000 items/s target. None elsewhere; the exporter then formats the rows in Python.
    Confidence is written as a float (``1.0``, not PostgreSQL's ``1``), as Python writes it, so
    readers that infer column types (``datasets``) see floats.
    """
    if connection.vendor != "postgresql":
        return None
    sql = f"""
        SELECT concat('{{"external_id":', to_json(s.external_id)::text, ',"item_id":', s.item_id,
                      ',"split":"', s.split, '","labels":', s.labels::text, ',"confidence":', s.confidence,
                      CASE WHEN s.confidence = trunc(s.confidence) AND abs(s.confidence) < 1e15 THEN '.0' ELSE '' END,
                      ',"method":"', s.method, '","annotator_count":', s.annotator_count,
                      ',"guideline_versions":', s.guideline_versions::text,
                      ',"payload_sha256":"', s.payload_sha256, '","payload":', i.payload::text, E'}}\n')
        FROM {SnapshotItem._meta.db_table} s JOIN {Item._meta.db_table} i ON i.id = s.item_id
        WHERE s.snapshot_id = %s
        ORDER BY s.id
    """  # noqa: S608 - table names come from model metadata

    def lines() -> Iterator[list[str]]:
        with transaction.atomic(), connection.chunked_cursor() as cursor:
            cursor.execute(sql, [snapshot.pk])
            while rows := cursor.fetchmany(chunk_size or FETCH_SIZE):
                yield [row[0] for row in rows]

    return lines()


# --- diff ---------------------------------------------------------------------------------------


@dataclass
class SnapshotDiff:
    """What changed from ``before`` to ``after``: counts in full, rows for one page of each kind."""

    added: int = 0
    removed: int = 0
    relabelled: int = 0
    relabelled_in_review: int = 0  # relabelled items whose new label a reviewer set (adjudicated)
    unchanged: int = 0
    class_counts: dict[str, dict[str, int]] = field(default_factory=dict)  # class -> before/after/delta
    added_rows: list[dict] = field(default_factory=list)
    removed_rows: list[dict] = field(default_factory=list)
    relabelled_rows: list[dict] = field(default_factory=list)


def _diff_rows(snapshot: Snapshot) -> Iterator[tuple[str, list[str], str, str, int]]:
    rows = (
        SnapshotItem.objects.filter(snapshot=snapshot)
        .order_by("id")
        .values_list("external_id", "labels", "split", "method", "item_id")
        .iterator(chunk_size=FETCH_SIZE)
    )
    for external_id, labels, split, method, item_id in rows:
        yield external_id, sorted(labels), split, method, item_id


def _review_reasons(item_ids: list[int]) -> dict[int, str]:
    """The reason of the latest adjudication that set each item's label (``label_error``: review of a
    suspected label error), for the diff's rows: which changes a reviewer made, and why."""
    reasons = (
        AdjudicationTask.objects.filter(
            item_id__in=item_ids, status=AdjudicationTask.Status.RESOLVED, resolved_labels__isnull=False
        )
        .order_by("resolved_at", "id")
        .values_list("item_id", "reason")
    )
    return dict(reasons)


def diff_snapshots(before: Snapshot, after: Snapshot, *, offset: int = 0, limit: int = 50) -> SnapshotDiff:
    """Merge-join both snapshots in external-id order (both are stored sorted), so a diff of two
    million-row snapshots holds one page of rows, never the snapshots."""
    diff = SnapshotDiff()
    before_counts: Counter[str] = Counter()
    after_counts: Counter[str] = Counter()
    end = offset + limit

    def keep(bucket: list[dict], index: int, row: dict) -> None:
        if offset <= index < end:
            bucket.append(row)

    left, right = _diff_rows(before), _diff_rows(after)
    a, b = next(left, None), next(right, None)
    while a is not None or b is not None:
        if b is None or (a is not None and a[0] < b[0]):
            before_counts.update(a[1])
            keep(diff.removed_rows, diff.removed, {"external_id": a[0], "labels": a[1], "split": a[2]})
            diff.removed += 1
            a = next(left, None)
        elif a is None or b[0] < a[0]:
            after_counts.update(b[1])
            keep(diff.added_rows, diff.added, {"external_id": b[0], "labels": b[1], "split": b[2]})
            diff.added += 1
            b = next(right, None)
        else:
            before_counts.update(a[1])
            after_counts.update(b[1])
            if a[1] != b[1]:
                keep(
                    diff.relabelled_rows,
                    diff.relabelled,
                    {
                        "external_id": a[0],
                        "before": a[1],
                        "after": b[1],
                        "split": b[2],
                        "method": b[3],
                        "item_id": b[4],
                    },
                )
                diff.relabelled += 1
                diff.relabelled_in_review += b[3] == ConsensusLabel.Method.ADJUDICATED
            else:
                diff.unchanged += 1
            a, b = next(left, None), next(right, None)
    reasons = _review_reasons([row["item_id"] for row in diff.relabelled_rows])
    for row in diff.relabelled_rows:
        item_id = row.pop("item_id")
        row["review"] = reasons.get(item_id) if row["method"] == ConsensusLabel.Method.ADJUDICATED else None
    names = list(dict.fromkeys([*before.class_names, *after.class_names, *before_counts, *after_counts]))
    diff.class_counts = {
        name: {
            "before": before_counts[name],
            "after": after_counts[name],
            "delta": after_counts[name] - before_counts[name],
        }
        for name in names
    }
    return diff


# --- statistics ---------------------------------------------------------------------------------


def snapshot_statistics(snapshot: Snapshot) -> dict:
    """What the snapshot page plots: class distribution against the project's balance target,
    label sources and per-split counts (from the stats frozen at cut time)."""
    stats = snapshot.stats or {}
    class_totals = stats.get("classes", {})
    total_labels = sum(class_totals.values()) or 1
    target = target_distribution(snapshot.project, snapshot.class_names)
    classes = [
        {
            "name": name,
            "count": class_totals.get(name, 0),
            "share": class_totals.get(name, 0) / total_labels,
            "target": None if target is None else target.get(name, 0.0),
            "by_split": {
                s: stats.get("split_classes", {}).get(s, {}).get(name, 0) for s in ("train", "val", "test")
            },
        }
        for name in snapshot.class_names
    ]
    return {
        "classes": classes,
        "has_target": target is not None,
        "methods": stats.get("methods", {}),
        "splits": stats.get("splits", {}),
        "annotator_counts": stats.get("annotator_counts", {}),
        "mean_confidence": stats.get("mean_confidence"),
    }


#: Characters of an item's text a row of the snapshot page shows (the export has all of it).
ROW_TEXT_CHARS = 160


def snapshot_rows(snapshot: Snapshot, split: str = "") -> QuerySet[SnapshotItem]:
    """The snapshot's rows in order (of one split when ``split`` names one), each with the start of
    its item's text (``text``) or its image (``image``) read in the same query: a page of rows
    never loads whole payloads."""
    rows = SnapshotItem.objects.filter(snapshot=snapshot).order_by("id")
    if split in SnapshotItem.Split.values:
        rows = rows.filter(split=split)
    rows = rows.only("external_id", "labels", "confidence", "method", "annotator_count", "split")
    if snapshot.project.modality == Project.Modality.IMAGE:
        return rows.annotate(text=Value(""), image=KeyTextTransform("image", "item__payload"))
    return rows.annotate(
        text=Substr(KeyTextTransform("text", "item__payload"), 1, ROW_TEXT_CHARS + 1), image=Value("")
    )


def guideline_versions_of(snapshot: Snapshot) -> QuerySet[GuidelineVersion]:
    """The guideline versions the snapshot's labels were made under, oldest first."""
    return GuidelineVersion.objects.filter(pk__in=snapshot.guideline_versions).order_by("number", "pk")


def snapshot_counts_by_project(projects: QuerySet[Project]) -> dict[int, int]:
    return dict(
        Snapshot.objects.filter(project__in=projects, sealed_at__isnull=False)
        .values_list("project")
        .annotate(n=Count("id"))
        .values_list("project", "n")
    )


def weak_export_format(snapshot: Snapshot, fmt: str) -> str:
    """The export of format ``fmt`` that also carries the snapshot's weak labels (``csv_weak`` for
    ``csv``…), or SnapshotError naming ``include`` when the snapshot was cut without them."""
    if not SnapshotWeakSource.objects.filter(snapshot=snapshot).exists():
        raise SnapshotError("include=weak: this snapshot was cut without weak labels.", field="include")
    return f"{fmt}_weak"
