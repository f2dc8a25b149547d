"""The model side of weak supervision: the labeling-function kinds that need embeddings or a head,
the apply job on the worker, weak labels as low-weight training data, and the ``weak`` queue reason.

``labelhub.weak`` owns the definitions, the label matrix and the label model and never imports this
app; this module hands it the evaluators of ``similar`` ("more like these": cosine similarity of an
item's cached embedding to the function's example items above a threshold) and ``model`` (the
project's head, trained on the current human labels, above a confidence) as arguments.
"""

from __future__ import annotations

import numpy as np

from active.embeddings import ensure_embedded
from active.heads import head_config, make_head, unit_rows
from active.pipeline import labelled_items
from active.store import EmbeddingStore
from labelhub.projects.labels import LabelSchema
from labelhub.projects.models import Project
from labelhub.projects.selectors import label_schema
from labelhub.queues.models import QueueEntry
from labelhub.queues.services import enqueue_items
from labelhub.weak import label_model
from labelhub.weak import services as weak_services
from labelhub.weak.apply import PoolEvaluator
from labelhub.weak.definitions import ABSTAIN, POOL_KINDS
from labelhub.weak.models import LabelingFunction, WeakLabel, WeakRun

MODEL_FOLDS = 3
UNSURE_QUEUE_LIMIT = 500
SCORE_CHUNK = 65536


def similarity_votes(
    vectors, anchors: np.ndarray, threshold: float, code: int, centre: np.ndarray
) -> np.ndarray:
    """``code`` where the best cosine similarity to an anchor ≥ ``threshold``, else ABSTAIN.

    Vectors are centred on the pool mean first: pixel features (white paper, dark ink) all point
    the same way, so raw cosines are ~0.9 for any two digits; centred, they measure the ink.
    """
    anchors = unit_rows((np.asarray(anchors, np.float32) - centre).astype(np.float32))
    votes = np.full(len(vectors), ABSTAIN, np.int16)
    for start in range(0, len(vectors), SCORE_CHUNK):
        chunk = unit_rows(
            (np.asarray(vectors[start : start + SCORE_CHUNK], np.float32) - centre).astype(np.float32)
        )
        best = (chunk @ anchors.T).max(axis=1)
        votes[start : start + SCORE_CHUNK][best >= threshold] = code
    return votes


def pool_mean(vectors) -> np.ndarray:
    total = np.zeros(vectors.shape[1], np.float64)
    for start in range(0, len(vectors), SCORE_CHUNK):
        total += np.asarray(vectors[start : start + SCORE_CHUNK], np.float64).sum(axis=0)
    return (total / max(len(vectors), 1)).astype(np.float32)


def similar_evaluator(store: EmbeddingStore, schema: LabelSchema) -> PoolEvaluator:
    """``similar`` functions: vote their class where the item is close to one of the examples."""
    centre: dict[str, np.ndarray] = {}

    def evaluate(function: LabelingFunction, item_ids: np.ndarray) -> np.ndarray:
        votes = np.full(len(item_ids), ABSTAIN, np.int16)
        held = set(store.ids.tolist())
        examples = [i for i in function.config["examples"] if i in held]
        inside = np.isin(item_ids, store.ids)
        if not examples or not inside.any():
            return votes
        vectors = store.get(item_ids[inside])
        if "pool" not in centre:
            centre["pool"] = pool_mean(vectors)
        anchors = store.get(np.asarray(examples, np.int64))
        code = schema.position(function.label)
        votes[inside] = similarity_votes(vectors, anchors, function.config["threshold"], code, centre["pool"])
        return votes

    return evaluate


def model_votes(probabilities: np.ndarray, min_confidence: float, code: int = ABSTAIN) -> np.ndarray:
    """The head's class where its probability ≥ ``min_confidence`` (only ``code`` when given)."""
    best = probabilities.argmax(axis=1)
    sure = probabilities.max(axis=1) >= min_confidence
    if code != ABSTAIN:
        sure &= best == code
    return np.where(sure, best, ABSTAIN).astype(np.int16)


def head_probabilities(
    X_labelled: np.ndarray,
    y: np.ndarray,
    X_pool: np.ndarray,
    n_classes: int,
    config: dict,
    seed: int = 0,
    kind: str | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``(pool probabilities, out-of-fold probabilities of the labelled rows)`` of the head.

    Out of fold, so a model LF's accuracy on human labels is that on items it did not train on.
    ``kind`` defaults to the backbone's head (logistic on text vectors, the MLP on pixels).
    """
    from sklearn.model_selection import StratifiedKFold  # heavy: scikit-learn stays out of web processes

    kind = kind or ("logistic" if config["hidden"] == 0 else "mlp")
    head = make_head(kind, n_classes, config, seed).fit(X_labelled, y)
    pool = head.predict_proba(X_pool)
    own = np.zeros((len(y), n_classes))
    folds = min(MODEL_FOLDS, int(np.bincount(y)[np.bincount(y) > 0].min()))
    if folds >= 2:
        for train, test in StratifiedKFold(folds, shuffle=True, random_state=seed).split(X_labelled, y):
            own[test] = (
                make_head(kind, n_classes, config, seed)
                .fit(X_labelled[train], y[train])
                .predict_proba(X_labelled[test])
            )
    else:
        own = head.predict_proba(X_labelled)
    return pool, own


def model_evaluator(
    project: Project, store: EmbeddingStore, schema: LabelSchema, device: str
) -> PoolEvaluator:
    """``model`` functions: the head's class where its probability ≥ ``min_confidence``.

    One head serves every model function of the run (trained once, on first use).
    """
    cache: dict[str, np.ndarray] = {}

    def probabilities(item_ids: np.ndarray) -> np.ndarray | None:
        if "p" not in cache:
            ids, y = labelled_items(project, schema)
            keep = np.isin(ids, store.ids)
            ids, y = ids[keep], y[keep]
            if len(y) < 4 or len(np.unique(y)) < 2:
                cache["p"] = None
                return None
            inside = np.isin(item_ids, store.ids)
            p = np.zeros((len(item_ids), len(schema.class_names)))
            pool, own = head_probabilities(
                store.get(ids),
                y,
                store.get(item_ids[inside]),
                len(schema.class_names),
                head_config(device, store.dim),
            )
            p[np.flatnonzero(inside)] = pool
            own_rows = np.searchsorted(item_ids, ids)
            p[own_rows] = own
            cache["p"] = p
        return cache["p"]

    def evaluate(function: LabelingFunction, item_ids: np.ndarray) -> np.ndarray:
        p = probabilities(item_ids)
        if p is None:
            return np.full(len(item_ids), ABSTAIN, np.int16)
        code = schema.position(function.label) if function.label else ABSTAIN
        return model_votes(p, function.config["min_confidence"], code)

    return evaluate


def pool_evaluators(project: Project, device: str) -> dict[str, PoolEvaluator]:
    """Evaluators of the pool kinds, embedding the pool first when a function of such a kind exists."""
    kinds = set(
        LabelingFunction.objects.filter(project=project, is_active=True, kind__in=POOL_KINDS).values_list(
            "kind", flat=True
        )
    )
    if not kinds:
        return {}
    store, _ = ensure_embedded(project, device)
    schema = label_schema(project)
    evaluators = {}
    if LabelingFunction.Kind.SIMILAR in kinds:
        evaluators[LabelingFunction.Kind.SIMILAR] = similar_evaluator(store, schema)
    if LabelingFunction.Kind.MODEL in kinds:
        evaluators[LabelingFunction.Kind.MODEL] = model_evaluator(project, store, schema, device)
    return evaluators


def run_weak(run_id: int, device: str = "cpu", *, method: str | None = None, full: bool = False) -> dict:
    """The apply job: functions applied (incrementally), label model fitted, weak labels written,
    and the items where functions conflict or the label model is unsure queued for humans first."""
    run = WeakRun.objects.select_related("project").get(pk=run_id)
    project = run.project
    run = weak_services.execute_run(
        run,
        method=method or label_model.DEFAULT_METHOD,
        pool_evaluators=pool_evaluators(project, device),
        full=full,
    )
    queued = queue_unsure(project, run)
    run.summary["queued_weak"] = queued
    run.save(update_fields=["summary"])
    return {"run": run.pk, **run.summary}


def queue_unsure(project: Project, run: WeakRun, limit: int = UNSURE_QUEUE_LIMIT) -> int:
    """Queue (reason ``weak``) the unlabelled items whose functions conflict or whose weak label is
    unsure, least sure first; items already in an open entry keep their place and reason."""
    labelled = set(labelled_items(project, label_schema(project))[0].tolist())
    already = QueueEntry.objects.filter(project=project, is_open=True).values_list("item_id", flat=True)
    unsure = (
        WeakLabel.objects.filter(project=project, run=run)
        .exclude(item_id__in=already)
        .filter(conflict=True)
        .union(
            WeakLabel.objects.filter(
                project=project, run=run, confidence__lt=weak_services.UNSURE_BELOW
            ).exclude(item_id__in=already)
        )
        .values_list("item_id", "confidence")
    )
    chosen = sorted(((c, i) for i, c in unsure if i not in labelled))[:limit]
    if not chosen:
        return 0
    # Priorities in (0, 1): under an active-learning batch (whose priorities run from its size
    # down to 1), above the random fill (0).
    return enqueue_items(
        project,
        [(item_id, round(1 - confidence, 6)) for confidence, item_id in chosen],
        reason=QueueEntry.Reason.WEAK,
        batch_key=f"weak-{run.pk}",
    )
