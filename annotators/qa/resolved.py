"""What an item's label is now: the one resolved-label selector.

The consensus label when QA wrote one (majority, Dawid–Skene, adjudication); otherwise the latest
non-retracted annotation (method "single", confidence 1.0, one annotator). Items nobody labelled
are left out. Labels outside the project's current schema (a class renamed or deleted after it
was given) are dropped, and an item left with none is unlabelled: a round never trains on, and a
snapshot never ships, a class the schema does not have. Rounds, snapshots and their exports, and
the balance report all read labels through here.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator

from django.db import connection

from annotators.qa.models import ConsensusLabel
from labelhub.projects.labels import LabelSchema
from labelhub.projects.models import Annotation, Item, Project
from labelhub.projects.selectors import label_schema

FETCH_SIZE = 20000
SINGLE = ConsensusLabel.Method.SINGLE.value


# One resolved item, as the cut consumes it: (item_id, external_id, payload_sha256, labels,
# confidence, method, annotator_count, guideline_versions, labels as JSON text). Plain tuples: a
# million of them go by, and the JSON text is written back as read, never re-encoded.
ResolvedRow = tuple[int, str, str, list, float, str, int, list, str]


def _json(value):
    # Django loads jsonb as text for JSONField to decode; raw cursors see that text (or, on other
    # drivers, the decoded value).
    return json.loads(value) if isinstance(value, str | bytes) else value


def _binary_order() -> str:
    """ORDER BY suffix that sorts strings by code point on both backends, i.e. like Python's sort,
    so the content hash is the same whichever database produced the rows."""
    return ' COLLATE "C"' if connection.vendor == "postgresql" else ""


def iter_resolved_chunks(project: Project, schema: LabelSchema | None = None) -> Iterator[list[ResolvedRow]]:
    """Every labelled item of the project in external-id order, with its resolved label.

    The consensus label when QA wrote one; otherwise the latest non-retracted annotation (method
    "single", confidence 1.0, one annotator). Guideline versions are those of the annotations behind
    the label. Items nobody labelled, or whose labels all left the schema, are left out. Streams
    chunks through a server-side cursor.
    """
    known = set((schema or label_schema(project)).class_names)
    item_table = Item._meta.db_table
    annotation_table = Annotation._meta.db_table
    consensus_table = ConsensusLabel._meta.db_table
    if connection.vendor == "postgresql":
        version_agg = "string_agg(DISTINCT a.guideline_version_id::text, ',')"
    else:
        version_agg = "group_concat(DISTINCT a.guideline_version_id)"
    sql = f"""
        WITH latest AS (
            SELECT a.item_id, a.labels, a.guideline_version_id,
                   ROW_NUMBER() OVER (PARTITION BY a.item_id ORDER BY a.created_at DESC, a.id DESC) AS rn
            FROM {annotation_table} a JOIN {item_table} i ON i.id = a.item_id
            WHERE i.project_id = %s AND a.retracted_at IS NULL
        ), versions AS (
            SELECT a.item_id, {version_agg} AS ids
            FROM {annotation_table} a JOIN {item_table} i ON i.id = a.item_id
            WHERE i.project_id = %s AND a.retracted_at IS NULL AND a.guideline_version_id IS NOT NULL
            GROUP BY a.item_id
        )
        SELECT i.id, i.external_id, i.content_hash,
               c.labels, c.confidence, c.method, c.annotator_count,
               l.labels, l.guideline_version_id, v.ids
        FROM {item_table} i
        LEFT JOIN {consensus_table} c ON c.item_id = i.id
        LEFT JOIN latest l ON l.item_id = i.id AND l.rn = 1
        LEFT JOIN versions v ON v.item_id = i.id
        WHERE i.project_id = %s AND (c.item_id IS NOT NULL OR l.item_id IS NOT NULL)
        ORDER BY i.external_id{_binary_order()}
    """  # noqa: S608 - table names come from model metadata, values are parameters
    with connection.chunked_cursor() as cursor:
        cursor.execute(sql, [project.pk, project.pk, project.pk])
        while rows := cursor.fetchmany(FETCH_SIZE):
            resolved = [_resolve(row) for row in rows]
            yield [row for row in map(_in_schema(known), resolved) if row is not None]


def _resolve(row: tuple) -> ResolvedRow:
    item_id, external_id, payload_sha, c_labels, c_conf, c_method, c_count, l_labels, l_gv, gv_ids = row
    if c_method is not None:
        versions = sorted({int(v) for v in str(gv_ids).split(",")}) if gv_ids else []
        labels, text = _json_and_text(c_labels)
        return (
            item_id,
            external_id,
            payload_sha,
            labels,
            float(c_conf),
            c_method,
            int(c_count),
            versions,
            text,
        )
    labels, text = _json_and_text(l_labels)
    return item_id, external_id, payload_sha, labels, 1.0, SINGLE, 1, [l_gv] if l_gv is not None else [], text


def _json_and_text(value) -> tuple[list, str]:
    """The labels decoded (for the hash) and as JSON text (written back as read)."""
    if isinstance(value, str):
        labels = parse_json_list(value)
        return labels, value if labels else "[]"
    labels = list(value or [])
    return labels, json.dumps(labels)


def parse_json_list(text: str | None) -> list:
    """A JSON list from the database: ``["cat"]`` (by far the most common) and ``[]`` without
    the JSON parser, anything else (several labels, escapes, numbers) with it."""
    if not text or text == "[]" or text == "null":
        return []
    if text.startswith('["') and text.endswith('"]'):
        inner = text[2:-2]
        if '"' not in inner and "\\" not in inner:
            return [inner]
    return json.loads(text) or []


def _in_schema(known: set[str]):
    def keep(row: ResolvedRow) -> ResolvedRow | None:
        labels = row[3]
        if all(name in known for name in labels):
            return row if labels else None
        kept = [name for name in labels if name in known]
        return (*row[:3], kept, *row[4:8], json.dumps(kept)) if kept else None

    return keep


def resolved_labels(project: Project, schema: LabelSchema | None = None) -> Iterator[tuple[int, list[str]]]:
    """``(item_id, labels)`` of every labelled item, labels in schema order."""
    for chunk in iter_resolved_chunks(project, schema):
        for row in chunk:
            yield row[0], row[3]


def resolved_label_counts(project: Project, schema: LabelSchema | None = None) -> Counter[str]:
    """Items per class by their resolved label (a multi-label item counts once in each class)."""
    counts: Counter[str] = Counter()
    for _, labels in resolved_labels(project, schema):
        counts.update(labels)
    return counts
