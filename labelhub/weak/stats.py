"""Labeling-function statistics: coverage, overlap and conflicts over the pool, and empirical
accuracy (with a Wilson interval) and the items each gets wrong on gold and human-labelled items."""

from __future__ import annotations

import numpy as np

from annotators.qa.gold import wilson_interval
from annotators.qa.models import GoldItem
from annotators.qa.resolved import resolved_labels
from labelhub.projects.labels import LabelSchema
from labelhub.projects.models import Project
from labelhub.weak.matrix import LabelMatrix

WRONG_LIMIT = 20


def reference_labels(project: Project, schema: LabelSchema) -> dict[int, int]:
    """Item id -> class code of the answers to judge functions by: gold, else the resolved human label."""
    reference = {
        item_id: schema.position(labels[0])
        for item_id, labels in resolved_labels(project, schema)
        if labels and labels[0] in schema
    }
    for item_id, labels in GoldItem.objects.filter(item__project=project).values_list("item_id", "labels"):
        if labels and labels[0] in schema:
            reference[item_id] = schema.position(labels[0])
    return reference


def function_stats(
    matrix: LabelMatrix, reference: dict[int, int], *, wrong_limit: int = WRONG_LIMIT
) -> list[dict]:
    """One dict per function, in the matrix's order (see the module docstring for the figures)."""
    n, k = matrix.n_items, len(matrix.class_names)
    per_item = np.bincount(matrix.rows, minlength=n)
    classes_per_item = (np.bincount(matrix.rows * k + matrix.codes, minlength=n * k).reshape(n, k) > 0).sum(
        axis=1
    )
    truth = np.full(n, -1, np.int64)
    if reference and n:
        ref_ids = np.fromiter(reference, np.int64, len(reference))
        ref_codes = np.fromiter(reference.values(), np.int64, len(reference))
        positions = np.searchsorted(matrix.item_ids, ref_ids)
        positions = np.minimum(positions, n - 1)
        hit = matrix.item_ids[positions] == ref_ids
        truth[positions[hit]] = ref_codes[hit]
    out = []
    for col in range(matrix.n_functions):
        mine = matrix.cols == col
        rows, codes = matrix.rows[mine], matrix.codes[mine]
        judged = truth[rows] >= 0
        correct = int((codes[judged] == truth[rows][judged]).sum())
        seen = int(judged.sum())
        interval = wilson_interval(correct, seen)
        wrong = np.flatnonzero(judged & (codes != truth[rows]))[:wrong_limit]
        out.append(
            {
                "name": matrix.function_names[col],
                "version": matrix.function_versions[col],
                "votes": len(rows),
                "coverage": round(len(rows) / n, 4) if n else 0.0,
                "overlap": round(float((per_item[rows] > 1).sum()) / n, 4) if n else 0.0,
                "conflicts": round(float((classes_per_item[rows] > 1).sum()) / n, 4) if n else 0.0,
                "judged": seen,
                "accuracy": round(correct / seen, 4) if seen else None,
                "accuracy_interval": [round(interval[0], 4), round(interval[1], 4)] if interval else None,
                "wrong": [
                    {
                        "item": int(matrix.item_ids[rows[i]]),
                        "voted": matrix.class_names[int(codes[i])],
                        "answer": matrix.class_names[int(truth[rows[i]])],
                    }
                    for i in wrong
                ],
            }
        )
    return out


def matrix_summary(matrix: LabelMatrix) -> dict:
    """Coverage, overlap and conflict shares of the whole matrix (any function)."""
    n, k = matrix.n_items, len(matrix.class_names)
    if not n:
        return {"items": 0, "coverage": 0.0, "overlap": 0.0, "conflicts": 0.0}
    per_item = np.bincount(matrix.rows, minlength=n)
    classes_per_item = (np.bincount(matrix.rows * k + matrix.codes, minlength=n * k).reshape(n, k) > 0).sum(
        axis=1
    )
    return {
        "items": n,
        "coverage": round(float((per_item > 0).mean()), 4),
        "overlap": round(float((per_item > 1).mean()), 4),
        "conflicts": round(float((classes_per_item > 1).mean()), 4),
    }
