"""Scoring captures on a worker: embed, uncertainty, novelty, disagreement with the current head.

One pass takes the deployment's unscored captures in batches (oldest first), so a crash loses at
most the batch in hand and the retry scores only what is still unscored. Vectors go into the same
kind of cache items use (:class:`~active.store.EmbeddingStore`), a store per project keyed by
capture id beside the item store, so drift checks and re-runs never embed a capture twice; a
capture that carries its own embedding (in the backbone's space) is not embedded at all.

The reference for novelty and drift is the deployed model's training data: the train split of
its :class:`~labelhub.snapshots.models.ModelRun`'s snapshot, embedded into the item cache.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
from django.db import connection, transaction
from django.utils import timezone

from active import embeddings
from active.heads import LogisticHead
from active.novelty import NoveltyScorer, energy, softmax, uncertainty
from active.pipeline import labelled_items
from active.store import EmbeddingStore
from labelhub.production.models import Capture, Deployment
from labelhub.projects.models import Item
from labelhub.projects.selectors import label_schema
from labelhub.snapshots.models import SnapshotItem

logger = logging.getLogger(__name__)

SCORE_BATCH = 2048
#: Labelled items the current head is trained on at most (a sample beyond): the head only has to
#: say where it disagrees with the deployed model, and a logistic fit on more adds little.
HEAD_SAMPLE = 20_000
#: Training vectors the references use at most; novelty then compares against this sample.
REFERENCE_MAX = 1_000_000


def capture_store(project) -> EmbeddingStore:
    backbone, dim = embeddings.backbone_for(project)
    return EmbeddingStore(project.pk, f"{backbone}-captures", dim)


def item_vectors(project, item_ids: np.ndarray, device: str) -> np.ndarray:
    """Vectors of ``item_ids`` from the item cache, embedding (and caching) those it lacks."""
    store = embeddings.store_for(project)
    missing = store.missing(item_ids)
    for start in range(0, len(missing), embeddings.EMBED_CHUNK_MAX):
        chunk = missing[start : start + embeddings.EMBED_CHUNK_MAX].tolist()
        rows = list(Item.objects.filter(pk__in=chunk).order_by("pk").values_list("id", "payload"))
        store.append([r[0] for r in rows], embeddings.embed_payloads(project, rows, device))
    return store.get(item_ids) if len(item_ids) else np.zeros((0, store.dim), np.float32)


@dataclass
class Reference:
    """The deployed model's training data: item ids, class index per item, and vectors."""

    item_ids: np.ndarray
    classes: np.ndarray
    vectors: np.ndarray

    @classmethod
    def of(cls, deployment: Deployment, device: str, *, seed: int = 0) -> Reference:
        schema = label_schema(deployment.project)
        rows = SnapshotItem.objects.filter(snapshot_id=deployment.model_run.snapshot_id)
        train = list(rows.filter(split=SnapshotItem.Split.TRAIN).values_list("item_id", "labels"))
        if len(train) < 10:  # a tiny snapshot: all of it is the reference
            train = list(rows.values_list("item_id", "labels"))
        if len(train) > REFERENCE_MAX:
            rng = np.random.default_rng(seed)
            train = [train[i] for i in np.sort(rng.choice(len(train), REFERENCE_MAX, replace=False))]
        train.sort()
        ids = np.array([item_id for item_id, _ in train], np.int64)
        classes = np.array(
            [schema.position(labels[0]) if labels and labels[0] in schema else -1 for _, labels in train],
            np.int64,
        )
        return cls(ids, classes, item_vectors(deployment.project, ids, device))


def capture_vectors(deployment: Deployment, captures: list[Capture], device: str) -> np.ndarray:
    """Vectors of ``captures`` (provided, cached, or embedded now and cached), in that order."""
    store = capture_store(deployment.project)
    ids = np.array([c.pk for c in captures], np.int64)
    missing = set(store.missing(ids).tolist())
    provided = [c for c in captures if c.pk in missing and c.embedding is not None]
    if provided:
        store.append(
            [c.pk for c in provided], np.stack([np.frombuffer(bytes(c.embedding), "<f4") for c in provided])
        )
    to_embed = [c for c in captures if c.pk in missing and c.embedding is None]
    if to_embed:
        vectors = embeddings.embed_payloads(deployment.project, [(c.pk, c.payload) for c in to_embed], device)
        store.append([c.pk for c in to_embed], vectors)
    return store.get(ids)


def train_current_head(deployment: Deployment, device: str, *, seed: int = 0):
    """The project's current head: a logistic head on today's resolved labels (None with under two classes)."""
    project = deployment.project
    schema = label_schema(project)
    ids, ys = labelled_items(project, schema)
    if len(np.unique(ys)) < 2:
        return None
    if len(ids) > HEAD_SAMPLE:
        keep = np.sort(np.random.default_rng(seed).choice(len(ids), HEAD_SAMPLE, replace=False))
        ids, ys = ids[keep], ys[keep]
    return LogisticHead(len(schema.class_names), seed=seed).fit(item_vectors(project, ids, device), ys)


def vector_column(captures: list[Capture], field: str, n_classes: int) -> tuple[np.ndarray, np.ndarray]:
    """``(has, values)``: which captures carry ``field`` and its rows (zeros where absent)."""
    has = np.array([getattr(c, field) is not None for c in captures], bool)
    values = np.zeros((len(captures), n_classes), np.float32)
    for row, capture in enumerate(captures):
        raw = getattr(capture, field)
        if raw is not None:
            values[row] = np.frombuffer(bytes(raw), "<f4")
    return has, values


def score_batch(
    captures: list[Capture], vectors: np.ndarray, novelty: NoveltyScorer, head, n_classes: int
) -> None:
    """Set the scores of ``captures`` in place (saved by the caller)."""
    has_p, P = vector_column(captures, "probabilities", n_classes)
    has_z, Z = vector_column(captures, "logits", n_classes)
    from_logits = has_z & ~has_p
    P[from_logits] = softmax(Z[from_logits]) if from_logits.any() else P[from_logits]
    margin, entropy = uncertainty(P)
    energies = energy(Z) if has_z.any() else np.zeros(len(captures))
    distances, percentiles = novelty.score(vectors)
    head_classes = head.predict(vectors) if head is not None else None
    for row, capture in enumerate(captures):
        known = bool(has_p[row] or has_z[row])
        capture.margin = float(margin[row]) if known else None
        capture.entropy = float(entropy[row]) if known else None
        capture.energy = float(energies[row]) if has_z[row] else None
        capture.novelty = float(distances[row])
        capture.novelty_percentile = float(percentiles[row])
        capture.head_class = int(head_classes[row]) if head_classes is not None else None


SCORE_FIELDS = ["margin", "entropy", "energy", "novelty", "novelty_percentile", "head_class", "scored_at"]
_SCORE_TYPES = ["float8", "float8", "float8", "float8", "float8", "int2", "timestamptz"]


def save_scores(captures: list[Capture]) -> None:
    """Write the scores of ``captures``: one ``UPDATE … FROM unnest(arrays)`` on PostgreSQL (Django's
    ``bulk_update`` builds a CASE per column per row, which cost more than the scoring itself)."""
    if connection.vendor != "postgresql":
        with transaction.atomic():
            Capture.objects.bulk_update(captures, SCORE_FIELDS, batch_size=1000)
        return
    table = Capture._meta.db_table
    arrays = ", ".join(f"%s::{kind}[]" for kind in ["int8", *_SCORE_TYPES])
    assignments = ", ".join(f"{name} = v.{name}" for name in SCORE_FIELDS)
    columns = [[c.pk for c in captures]] + [[getattr(c, name) for c in captures] for name in SCORE_FIELDS]
    with connection.cursor() as cursor:
        cursor.execute(
            f"UPDATE {table} SET {assignments} FROM unnest({arrays}) AS v(id, {', '.join(SCORE_FIELDS)}) "  # noqa: S608
            f"WHERE {table}.id = v.id",
            columns,
        )


@dataclass
class Scorers:
    reference: Reference
    novelty: NoveltyScorer
    head: object | None


def scorers_for(deployment: Deployment, device: str) -> Scorers:
    reference = Reference.of(deployment, device)
    novelty = NoveltyScorer(reference.vectors, device=device)
    return Scorers(reference, novelty, train_current_head(deployment, device))


def score_pending(
    deployment: Deployment, device: str = "cpu", *, batch: int = SCORE_BATCH, scorers=None
) -> int:
    """Score every unscored capture of ``deployment``; returns how many were scored."""
    unscored = Capture.objects.filter(deployment=deployment, scored_at__isnull=True).order_by("id")
    if not unscored.exists():
        return 0
    scorers = scorers or scorers_for(deployment, device)
    n_classes = len(label_schema(deployment.project).class_names)
    scored, last_id = 0, 0
    while True:
        captures = list(unscored.filter(id__gt=last_id).defer("outcome")[:batch])
        if not captures:
            break
        last_id = captures[-1].pk
        vectors = capture_vectors(deployment, captures, device)
        score_batch(captures, vectors, scorers.novelty, scorers.head, n_classes)
        now = timezone.now()
        for capture in captures:
            capture.scored_at = now
        save_scores(captures)
        scored += len(captures)
    logger.info("deployment %s: scored %d captures", deployment.pk, scored)
    return scored
