"""Consensus labels: one resolved label per item, by majority vote or Dawid–Skene.

The project's ``consensus_method`` picks the aggregator. Majority vote treats every annotator
alike; Dawid–Skene (crowd-kit) estimates each annotator's confusion matrix by EM and weighs them by
it, so a careless annotator stops outvoting two careful ones. Items labelled once get method
``single``; adjudicated labels are never overwritten by a recomputation.
"""

from __future__ import annotations

import json
import logging
import warnings
from dataclasses import dataclass

import numpy as np
import pandas as pd
from django.db import transaction
from django.db.models import Exists, OuterRef

from annotators.agreement import Ratings, load_ratings, ratings_from_frame
from annotators.models import ConsensusLabel
from labelhub.projects.models import Annotation, LabelClass, Project

logger = logging.getLogger(__name__)

# EM stops when the per-answer evidence bound gains less than this: on a million answers it
# settles in 10-20 rounds, and labels no longer change well before crowd-kit's default 1e-5.
DS_MAX_ITERATIONS = 50
DS_TOLERANCE = 1e-4


@dataclass
class Resolution:
    """Consensus of every rated item of a project, as parallel arrays indexed by item code."""

    item_ids: np.ndarray
    labels: list[list[str]]
    confidence: np.ndarray
    annotator_count: np.ndarray
    method: np.ndarray  # ConsensusLabel.Method values
    tie: np.ndarray  # bool: the vote was tied (majority) — a reviewer should decide
    disagreement: np.ndarray  # bool: 2+ annotators did not all give the same label set

    def __len__(self) -> int:
        return len(self.item_ids)


def _item_set_counts(ratings: Ratings) -> np.ndarray:
    """Dense items × label-sets count matrix (item codes are 0..n-1 after loading)."""
    n_items, n_sets = len(ratings.item_ids), max(len(ratings.sets), 1)
    return np.bincount(ratings.item * n_sets + ratings.label_set, minlength=n_items * n_sets).reshape(
        n_items, n_sets
    )


def _item_class_counts(ratings: Ratings) -> np.ndarray:
    counts = np.zeros((len(ratings.item_ids), len(ratings.classes)), dtype=np.int64)
    np.add.at(counts, ratings.item, ratings.indicator[ratings.label_set])
    return counts


def _base(ratings: Ratings) -> tuple[np.ndarray, np.ndarray]:
    set_counts = _item_set_counts(ratings)
    m = set_counts.sum(axis=1)
    disagreement = (set_counts > 0).sum(axis=1) > 1
    return m, disagreement


def majority_vote(ratings: Ratings) -> Resolution:
    """Most frequent label set per item; confidence is its vote share.

    A tie keeps the lower confidence (the winning share, e.g. 0.5) and sets ``tie`` so the item goes
    to adjudication; among tied sets the one with the lowest code wins, which is deterministic.
    Multi-label: each class is kept when more than half of the item's annotators chose it.
    """
    m, disagreement = _base(ratings)
    if ratings.multi_label:
        class_counts = _item_class_counts(ratings)
        share = class_counts / m[:, None]
        chosen = share > 0.5
        tie = (class_counts * 2 == m[:, None]).any(axis=1)
        confidence = np.maximum(share, 1 - share).mean(axis=1) if class_counts.shape[1] else np.ones(len(m))
        labels = [sorted(ratings.classes[c] for c in np.flatnonzero(row)) for row in chosen]
    else:
        set_counts = _item_set_counts(ratings)
        winner = set_counts.argmax(axis=1)
        top = set_counts[np.arange(len(winner)), winner]
        tie = (set_counts == top[:, None]).sum(axis=1) > 1
        confidence = top / m
        labels = [list(ratings.sets[s]) for s in winner]
    method = np.where(m == 1, ConsensusLabel.Method.SINGLE, ConsensusLabel.Method.MAJORITY)
    return Resolution(
        ratings.item_ids, labels, confidence.astype(float), m, method, tie & (m > 1), disagreement
    )


def _dawid_skene_posteriors(items: np.ndarray, workers: np.ndarray, values: np.ndarray) -> pd.DataFrame:
    """Posterior class probabilities per item code (rows) from crowd-kit's Dawid–Skene EM."""
    from crowdkit.aggregation import DawidSkene

    answers = pd.DataFrame({"task": items, "worker": workers, "label": values})
    model = DawidSkene(n_iter=DS_MAX_ITERATIONS, tol=DS_TOLERANCE)
    with warnings.catch_warnings():
        # crowd-kit 1.4 still passes pandas' deprecated inplace=/copy= keywords; harmless here.
        warnings.filterwarnings("ignore", message=".*(inplace|copy) keyword.*")
        model.fit(answers)
    return model.probas_.sort_index()


def dawid_skene(ratings: Ratings) -> Resolution:
    """Dawid–Skene consensus; confidence is the posterior probability of the chosen label.

    Multi-label: one binary Dawid–Skene per class (chosen / not chosen), kept when its posterior
    exceeds one half; confidence is the mean over classes of the posterior of the decision taken.
    """
    m, disagreement = _base(ratings)
    n_items = len(ratings.item_ids)
    if ratings.multi_label:
        decided = np.zeros((n_items, len(ratings.classes)), dtype=bool)
        certainty = np.ones((n_items, len(ratings.classes)))
        for c in range(len(ratings.classes)):
            chosen = ratings.indicator[ratings.label_set, c].astype(np.int64)
            if chosen.min() == chosen.max():  # everyone agrees everywhere: nothing to estimate
                decided[:, c] = bool(chosen[0]) if len(chosen) else False
                continue
            probas = _dawid_skene_posteriors(ratings.item, ratings.annotator, chosen)
            p_yes = (
                probas.get(1, pd.Series(0.0, index=probas.index)).reindex(range(n_items)).fillna(0).to_numpy()
            )
            decided[:, c] = p_yes > 0.5
            certainty[:, c] = np.maximum(p_yes, 1 - p_yes)
        labels = [sorted(ratings.classes[c] for c in np.flatnonzero(row)) for row in decided]
        confidence = certainty.mean(axis=1) if certainty.shape[1] else np.ones(n_items)
    else:
        probas = _dawid_skene_posteriors(ratings.item, ratings.annotator, ratings.label_set)
        matrix = probas.reindex(range(n_items)).fillna(0.0)
        columns = matrix.columns.to_numpy()
        values = matrix.to_numpy()
        best = values.argmax(axis=1)
        confidence = values[np.arange(n_items), best]
        labels = [list(ratings.sets[int(columns[b])]) for b in best]
    method = np.where(m == 1, ConsensusLabel.Method.SINGLE, ConsensusLabel.Method.DAWID_SKENE)
    tie = np.zeros(n_items, dtype=bool)
    return Resolution(ratings.item_ids, labels, np.asarray(confidence, float), m, method, tie, disagreement)


def resolve(ratings: Ratings, method: str) -> Resolution:
    """Run the named aggregator (a ``Project.ConsensusMethod`` value)."""
    if len(ratings) == 0:
        empty = np.zeros(0)
        return Resolution(
            empty.astype(np.int64),
            [],
            empty,
            empty.astype(np.int64),
            empty.astype(str),
            empty.astype(bool),
            empty.astype(bool),
        )
    if method == Project.ConsensusMethod.DAWID_SKENE:
        return dawid_skene(ratings)
    if method == Project.ConsensusMethod.MAJORITY:
        return majority_vote(ratings)
    raise ValueError(f"consensus_method: unknown method {method!r} (expected majority or dawid_skene)")


def write_consensus(project: Project, resolution: Resolution) -> dict:
    """Upsert every item's ConsensusLabel in one transaction, leaving adjudicated ones alone.

    Consensus rows of items that no longer have any countable label (all retracted) are removed,
    so snapshots fall back to nothing rather than to a stale vote.
    """
    with transaction.atomic():
        adjudicated = set(
            ConsensusLabel.objects.filter(
                item__project=project, method=ConsensusLabel.Method.ADJUDICATED
            ).values_list("item_id", flat=True)
        )
        rows = [
            ConsensusLabel(
                item_id=int(item_id),
                labels=labels,
                confidence=round(float(confidence), 6),
                method=str(method),
                annotator_count=int(count),
            )
            for item_id, labels, confidence, method, count in zip(
                resolution.item_ids,
                resolution.labels,
                resolution.confidence,
                resolution.method,
                resolution.annotator_count,
                strict=True,
            )
            if int(item_id) not in adjudicated
        ]
        ConsensusLabel.objects.bulk_create(
            rows,
            batch_size=5000,
            update_conflicts=True,
            unique_fields=["item"],
            update_fields=["labels", "confidence", "method", "annotator_count", "updated_at"],
        )
        live = Annotation.objects.filter(
            item_id=OuterRef("item_id"), retracted_at__isnull=True, annotator__isnull=False
        )
        stale = (
            ConsensusLabel.objects.filter(item__project=project)
            .exclude(method=ConsensusLabel.Method.ADJUDICATED)
            .filter(~Exists(live))
        )
        removed, _ = stale.delete()
    return {"written": len(rows), "kept_adjudicated": len(adjudicated), "removed": removed}


def compute_consensus(project: Project, *, method: str | None = None, ratings: Ratings | None = None) -> dict:
    """Recompute and store the consensus of every labelled item; open adjudication for disputes.

    Returns figures for the caller (command, API): items written, ties, disagreements, method.
    """
    from annotators.adjudication import open_adjudications

    method = method or project.consensus_method
    ratings = ratings if ratings is not None else load_ratings(project)
    resolution = resolve(ratings, method)
    written = write_consensus(project, resolution)
    opened = open_adjudications(project, resolution)
    return {
        "method": method,
        "items": len(resolution),
        "ties": int(resolution.tie.sum()),
        "disagreements": int(resolution.disagreement.sum()),
        "adjudications_opened": opened,
        **written,
    }


def refresh_item_consensus(item) -> ConsensusLabel | None:
    """Majority consensus of one item after a submit (cheap; the project-wide recompute refines it).

    Dawid–Skene needs the whole project to estimate annotators, so on submit every project gets
    the item's majority vote, which ``compute_consensus`` later replaces with its own method.
    """
    from annotators.adjudication import open_adjudications

    project = item.project
    ratings = load_item_ratings(item)
    existing = ConsensusLabel.objects.filter(item=item).first()
    if existing is not None and existing.method == ConsensusLabel.Method.ADJUDICATED:
        return existing
    if len(ratings) == 0:
        if existing is not None:
            existing.delete()
        return None
    resolution = majority_vote(ratings)
    if (
        existing is not None
        and existing.method == ConsensusLabel.Method.DAWID_SKENE
        and existing.annotator_count == int(resolution.annotator_count[0])
    ):
        return existing  # nothing new for this item: keep the better estimate
    with transaction.atomic():
        write_consensus_rows(resolution)
        open_adjudications(project, resolution)
    return ConsensusLabel.objects.get(item=item)


def write_consensus_rows(resolution: Resolution) -> None:
    """Upsert the given items' consensus rows (small writes on the submit path)."""
    ConsensusLabel.objects.bulk_create(
        [
            ConsensusLabel(
                item_id=int(i), labels=labels, confidence=float(c), method=str(meth), annotator_count=int(n)
            )
            for i, labels, c, meth, n in zip(
                resolution.item_ids,
                resolution.labels,
                resolution.confidence,
                resolution.method,
                resolution.annotator_count,
                strict=True,
            )
        ],
        update_conflicts=True,
        unique_fields=["item"],
        update_fields=["labels", "confidence", "method", "annotator_count", "updated_at"],
    )


def load_item_ratings(item) -> Ratings:
    """Ratings of a single item, coded like ``load_ratings`` (for the submit path)."""
    rows = list(
        Annotation.objects.filter(item=item, retracted_at__isnull=True, annotator__isnull=False).values_list(
            "id", "item_id", "annotator_id", "labels", "guideline_version_id", "created_at"
        )
    )
    frame = pd.DataFrame(
        [(r[0], r[1], r[2], json.dumps(r[3]), r[4], r[5]) for r in rows],
        columns=["id", "item_id", "annotator_id", "labels", "version_id", "created_at"],
    )
    classes = list(LabelClass.objects.filter(project_id=item.project_id).values_list("name", flat=True))
    return ratings_from_frame(frame, classes, multi_label=item.project.multi_label)
