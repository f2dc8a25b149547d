"""Reads of weak supervision: functions, their statistics over the stored matrix, and the live
preview of a definition being edited, on a sample small enough to answer within a second."""

from __future__ import annotations

import time

import numpy as np

from labelhub.projects.models import Item, Project
from labelhub.projects.selectors import label_schema
from labelhub.weak.definitions import POOL_KINDS, Batch, clean_definition, compile_function
from labelhub.weak.errors import InvalidLabelingFunction
from labelhub.weak.matrix import ABSTAIN, from_columns, load_matrix, unpack
from labelhub.weak.models import LabelingFunction, WeakLabel
from labelhub.weak.stats import function_stats, matrix_summary, reference_labels

PREVIEW_SAMPLE = 2000  # pool items, plus up to as many gold / human-labelled ones
WRONG_TEXT = 120  # characters of an item's text shown beside a wrong vote in the preview


def project_stats(project: Project) -> dict:
    """Every active function's statistics over the stored matrix, and the matrix as a whole."""
    matrix = load_matrix(project)
    reference = reference_labels(project, label_schema(project))
    stale = list(
        LabelingFunction.objects.filter(project=project, is_active=True)
        .exclude(pk__in=matrix.function_ids)
        .values_list("name", flat=True)
    )
    return {
        "matrix": matrix_summary(matrix),
        "functions": function_stats(matrix, reference),
        "not_applied": stale,
    }


def preview_function(
    project: Project, *, kind, label="", config=None, function: LabelingFunction | None = None
) -> dict:
    """A definition's statistics on a sample, against the other functions' stored votes.

    The sample is the gold / human-labelled items (the newest ``PREVIEW_SAMPLE``) and the newest
    ``PREVIEW_SAMPLE`` pool items, so accuracy is judged and coverage estimated in one pass.
    """
    started = time.perf_counter()
    schema = label_schema(project)
    label, config = clean_definition(kind, label, config if config is not None else {}, schema)
    if kind in POOL_KINDS:
        raise InvalidLabelingFunction(
            "needs embeddings or a head: save it and apply the functions to see its statistics.",
            field="kind",
            code="preview_needs_worker",
        )
    reference = reference_labels(project, schema)
    judged = sorted(reference)[-PREVIEW_SAMPLE:]
    recent = list(
        Item.objects.filter(project=project).order_by("-id").values_list("id", flat=True)[:PREVIEW_SAMPLE]
    )
    ids = np.unique(np.asarray(judged + recent, np.int64))
    payload_of = dict(Item.objects.filter(pk__in=ids.tolist()).values_list("id", "payload"))
    ids = np.asarray([i for i in ids.tolist() if i in payload_of], np.int64)
    batch = Batch(ids, [payload_of[int(i)] for i in ids])
    compiled = compile_function(kind, label, config, schema)
    votes = compiled.vote(batch)

    others = (
        LabelingFunction.objects.filter(project=project, is_active=True)
        .select_related("votes")
        .order_by("id")
    )
    if function is not None:
        others = others.exclude(pk=function.pk)
    columns = []
    for other in others:
        row = getattr(other, "votes", None)
        if row is None or row.version != other.version:
            continue
        voted_ids, codes = unpack(row)
        inside = np.isin(voted_ids, ids)
        remap = np.array(
            [schema.position(n) if n in schema else ABSTAIN for n in row.class_names] or [0], np.int16
        )
        columns.append((other, voted_ids[inside], remap[codes[inside]] if inside.any() else codes[:0]))
    editing = function or LabelingFunction(name="(editing)", version=0)
    columns.append((editing, ids[votes != ABSTAIN], votes[votes != ABSTAIN]))
    matrix = from_columns(ids, schema.class_names, columns)
    stats = function_stats(matrix, reference)[-1]
    stats["name"] = function.name if function is not None else "(editing)"
    for wrong in stats["wrong"]:  # so the editor sees what it got wrong, not only an id
        text = payload_of[wrong["item"]].get("text")
        wrong["text"] = text[:WRONG_TEXT] if isinstance(text, str) else None
    return {
        "sample": {"items": len(ids), "judged": int(np.isin(ids, np.asarray(judged, np.int64)).sum())},
        "function": stats,
        "timeouts": compiled.timeouts,
        "seconds": round(time.perf_counter() - started, 3),
    }


def _as_shown(row: WeakLabel) -> dict:
    return {
        "labels": row.labels,
        "confidence": round(row.confidence, 4),
        "source": "weak",
        "method": row.run.method,
        "conflict": row.conflict,
    }


#: The path from an item to its weak label and run, for ``select_related`` in reads that serve or
#: record items ("next" and submit read it in the query they run anyway, not in one more).
WEAK_LABEL_PATH = "weak_label__run"


def _weak_label_rows(items: list) -> list[WeakLabel]:
    """The items' weak labels (with their run): from what their read loaded (``select_related`` of
    :data:`WEAK_LABEL_PATH`) when every item has it, else in one query."""
    if not items:
        return []
    related = type(items[0]).weak_label.related
    if all(related.is_cached(item) for item in items):
        return [row for row in map(related.get_cached_value, items) if row is not None]
    return list(WeakLabel.objects.filter(item_id__in=[item.pk for item in items]).select_related("run"))


def weak_suggestions(items: list) -> dict[int, dict]:
    """Item id -> the weak label an annotator may be shown, marked as weak (``items``: Item
    instances; those read with :data:`WEAK_LABEL_PATH` cost no query, the rest one in all).

    Only items nobody labelled have weak labels (see ``services.write_weak_labels``), so this never
    carries another annotator's or a gold answer.
    """
    return {row.item_id: _as_shown(row) for row in _weak_label_rows(items)}


def weak_suggestion_record(item) -> dict | None:
    """The weak suggestion the labeling page shows for an item, as an annotation records it: what
    the page showed (:func:`weak_suggestions`) plus where it came from (the run and the version of
    each labeling function), so QA and analysis can tell it from the model's and trace it back.
    Function names stay off the page itself (they hint at the answer); the annotation keeps them.
    """
    rows = _weak_label_rows([item])
    if not rows:
        return None
    row = rows[0]
    return {**_as_shown(row), "run": row.run_id, "function_versions": row.run.function_versions}
