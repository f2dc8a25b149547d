"""Applying labeling functions to a project's pool, batch by batch, incrementally.

A function whose stored votes are of its current version (and the current class list) is only
evaluated on items added since (ids above ``applied_through``); an edited one (a version bump) is
re-applied from scratch, alone. Kinds that need embeddings or a head (:data:`POOL_KINDS`) are
evaluated over the whole pool by callables the caller passes (the active-learning worker), since
their votes change with the embeddings and the head.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from django.db import transaction

from labelhub.projects.models import Item, Project
from labelhub.projects.selectors import label_schema
from labelhub.weak.definitions import ABSTAIN, POOL_KINDS, Batch, Compiled, compile_function
from labelhub.weak.matrix import pack, unpack
from labelhub.weak.models import FunctionVotes, LabelingFunction

BATCH_SIZE = 20000
# A pool evaluator: (function, every pool item id, sorted) -> int16 vote per id, ABSTAIN = -1.
PoolEvaluator = Callable[[LabelingFunction, np.ndarray], np.ndarray]


def vote_batch(compiled: list[Compiled], batch: Batch) -> list[np.ndarray]:
    """Each compiled function's votes on one batch (the batch's texts are built once for all)."""
    return [function.vote(batch) for function in compiled]


def _needs_full(function: LabelingFunction, row: FunctionVotes | None, class_names: list[str]) -> bool:
    return row is None or row.version != function.version or list(row.class_names) != class_names


def apply_functions(
    project: Project,
    *,
    pool_evaluators: dict[str, PoolEvaluator] | None = None,
    batch_size: int = BATCH_SIZE,
    full: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> dict:
    """Bring every active function's votes up to date with the pool; returns what was done.

    ``progress(done, total)`` is called after each batch (items evaluated so far, of those due).
    The new votes of all functions are written in one transaction at the end: a failed apply
    leaves the previous matrix whole.
    """
    schema = label_schema(project)
    class_names = list(schema.class_names)
    pool_evaluators = pool_evaluators or {}
    functions = list(
        LabelingFunction.objects.filter(project=project, is_active=True)
        .select_related("votes")
        .order_by("id")
    )
    rows = {f.pk: getattr(f, "votes", None) for f in functions}
    batched = [f for f in functions if f.kind not in POOL_KINDS]
    starts = {
        f.pk: 0 if full or _needs_full(f, rows[f.pk], class_names) else rows[f.pk].applied_through
        for f in batched
    }
    compiled = {f.pk: compile_function(f.kind, f.label, f.config, schema) for f in batched}
    new_ids: dict[int, list[np.ndarray]] = {f.pk: [] for f in functions}
    new_codes: dict[int, list[np.ndarray]] = {f.pk: [] for f in functions}
    evaluated = dict.fromkeys(starts, 0)

    items = Item.objects.filter(project=project)
    last_id = items.order_by("-id").values_list("id", flat=True).first() or 0
    first = min(starts.values(), default=last_id)
    total = items.filter(id__gt=first).count() if batched else 0
    done = 0
    cursor = first
    while batched and cursor < last_id:
        chunk = list(items.filter(id__gt=cursor).order_by("id").values_list("id", "payload")[:batch_size])
        if not chunk:
            break
        ids = np.fromiter((i for i, _ in chunk), np.int64, len(chunk))
        batch = Batch(ids, [p for _, p in chunk])
        for function in batched:
            start = starts[function.pk]
            if start >= ids[-1]:
                continue
            votes = compiled[function.pk].vote(batch)
            due = ids > start
            voted = due & (votes != ABSTAIN)
            new_ids[function.pk].append(ids[voted])
            new_codes[function.pk].append(votes[voted])
            evaluated[function.pk] += int(due.sum())
        cursor = int(ids[-1])
        done += len(chunk)
        if progress is not None:
            progress(done, total)

    pool_ids = None
    summary = {"functions": {}, "skipped": []}
    for function in functions:
        if function.kind in POOL_KINDS:
            evaluator = pool_evaluators.get(function.kind)
            if evaluator is None:
                summary["skipped"].append(function.name)
                continue
            if pool_ids is None:
                pool_ids = np.fromiter(items.order_by("id").values_list("id", flat=True), np.int64)
            votes = np.asarray(evaluator(function, pool_ids), np.int16)
            new_ids[function.pk] = [pool_ids[votes != ABSTAIN]]
            new_codes[function.pk] = [votes[votes != ABSTAIN]]
            evaluated[function.pk] = len(pool_ids)
            starts[function.pk] = 0

    with transaction.atomic():
        for function in functions:
            if function.pk not in starts:
                continue
            row = rows[function.pk]
            if function.kind not in POOL_KINDS and row is not None and starts[function.pk] >= last_id > 0:
                summary["functions"][function.name] = {"version": function.version, "up_to_date": True}
                continue
            ids = np.concatenate(new_ids[function.pk] or [np.zeros(0, np.int64)])
            codes = np.concatenate(new_codes[function.pk] or [np.zeros(0, np.int16)])
            incremental = starts[function.pk] > 0 and row is not None
            if incremental:
                old_ids, old_codes = unpack(row)
                ids, codes = np.concatenate([old_ids, ids]), np.concatenate([old_codes, codes])
            packed_ids, packed_codes = pack(ids, codes)
            timeouts = getattr(compiled.get(function.pk), "timeouts", 0)
            FunctionVotes.objects.update_or_create(
                function=function,
                defaults={
                    "version": function.version,
                    "applied_through": last_id,
                    "item_ids": packed_ids,
                    "codes": packed_codes,
                    "class_names": class_names,
                    "evaluated": (row.evaluated if incremental else 0) + evaluated[function.pk],
                    "timeouts": (row.timeouts if incremental else 0) + timeouts,
                },
            )
            summary["functions"][function.name] = {
                "version": function.version,
                "evaluated": evaluated[function.pk],
                "incremental": incremental,
                "votes": len(ids),
                "timeouts": timeouts,
            }
    summary["items_evaluated"] = done
    return summary
