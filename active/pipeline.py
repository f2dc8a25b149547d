"""The round pipeline: embed → load labels → train and evaluate → score and select → write.

``run_round`` takes a claimed round (``jobs.claim_round``) and runs one stage after another; each
stage is its own function and is timed by :class:`StageClock`. A background thread beats the
round's heartbeat all along (``active.heartbeat``); the clock's own beats, at every stage and
embedding chunk, also notice when the sweeper gave the round to another attempt, and stop this one.
Everything a round changes in the database — queue entries, item suggestions and the round's own
"done" — is written by ``write_round`` in one transaction at the very end, so a crash anywhere
leaves nothing half-applied; the queue write is idempotent by ``batch_key = "al-round-<id>"`` on top.
A large pool's scoring may go to shard tasks between training and selection
(``active.score_shards``): the attempt then stops after training and a later call resumes it there.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace

import numpy as np
from django.db import transaction
from django.db.models import Min
from django.utils import timezone

from active import control, score_shards, shards, strategies
from active.devices import default_device, resolve_device
from active.embeddings import ensure_embedded, store_for
from active.heads import (
    KERNEL,
    HeadCommittee,
    KernelHead,
    LogisticHead,
    TorchHeadClassifier,
    fit_head,
    head_config,
    kernel_affordable,
    make_head,
    train_committee,
)
from active.heartbeat import beat_round, heartbeat
from active.models import ModelRound
from active.selectors import active_settings
from active.simulation import EVIDENCE_MIN_LABELS, evidence_due, strategy_evidence
from active.store import EmbeddingStore
from active.weak_training import choose_weak_weight, fit_with_weak, weak_training_rows
from annotators.qa.resolved import resolved_labels
from labelhub.projects.labels import LabelSchema
from labelhub.projects.models import Annotation, Item, Project
from labelhub.projects.push import announce_queue_update
from labelhub.projects.selectors import label_schema
from labelhub.queues.models import QueueEntry
from labelhub.queues.sampling import class_deficit
from labelhub.queues.services import enqueue_items

logger = logging.getLogger(__name__)

MIN_LABELS_TO_TRAIN = 4  # and at least two classes; fewer means a cold start (no head)
EVAL_FRACTION = 0.2
MIN_EVAL_LABELS = 20  # below this the held-out slice is too small to say anything
SUGGESTION_LIMIT = 5000  # open queue items whose suggestion is refreshed each round
COMMITTEE_SIZE = 5


class RoundSuperseded(Exception):
    """This attempt lost the round (a sweeper handed it to another attempt); it must write nothing."""


@dataclass
class StageClock:
    """Seconds per stage, and a heartbeat of the attempt at each stage boundary."""

    round_id: int
    attempt: int
    timings: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self.beat()
        start = time.perf_counter()
        try:
            yield
        finally:
            self.timings[name] = round(self.timings.get(name, 0.0) + time.perf_counter() - start, 4)

    def beat(self) -> None:
        """Beat; :class:`RoundSuperseded` when this attempt no longer owns the round (it stops early)."""
        if not beat_round(self.round_id, self.attempt):
            raise RoundSuperseded(f"round {self.round_id} attempt {self.attempt} was superseded")


@dataclass
class RoundRun:
    """One attempt at a round: what every stage reads, and the metrics the stages add to."""

    model_round: ModelRound
    attempt: int
    device: str
    schema: LabelSchema
    rng: np.random.Generator
    clock: StageClock
    started: float
    control_share: float = 0.0
    metrics: dict = field(default_factory=dict)

    @property
    def project(self) -> Project:
        return self.model_round.project

    @property
    def class_names(self) -> tuple[str, ...]:
        return self.schema.class_names


@dataclass
class TrainingSet:
    """The labelled items the store holds (``ids``, vectors ``X``, class indices ``y``) and the pool.

    Control items (``active.control``) are in neither: the labelled ones are ``control_*``, kept
    for the round's unbiased estimate; the unlabelled ones are ``control_pool_rows``, which only the
    control draw picks from. ``order`` lists the training rows in the order they were labelled.
    """

    store: EmbeddingStore
    ids: np.ndarray
    X: np.ndarray
    y: np.ndarray
    pool_rows: np.ndarray  # store rows of the unlabelled, non-control items
    control_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    control_X: np.ndarray | None = None
    control_y: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    control_pool_rows: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))
    order: np.ndarray | None = None


@dataclass
class Trained:
    head: TorchHeadClassifier | LogisticHead | KernelHead
    committee: HeadCommittee | None
    kind: str = ""
    config: dict = field(default_factory=dict)


class PoolVectors:
    """The pool's vectors as float32, read from the store only at the positions a strategy indexes.

    The strategies beyond modAL cluster a sample (typicality) or the uncertain candidates
    (cluster-margin), so a million-row pool is never copied whole out of the memory-mapped store.
    """

    def __init__(self, store: EmbeddingStore, pool_rows: np.ndarray):
        self.store, self.pool_rows = store, pool_rows

    def __len__(self) -> int:
        return len(self.pool_rows)

    def __getitem__(self, positions) -> np.ndarray:
        return np.asarray(self.store.vectors[self.pool_rows[positions]], dtype=np.float32)


@dataclass
class Selected:
    item_ids: np.ndarray  # most informative first
    proba_all: object | None  # the head's probabilities over the whole store (a tensor); None on a cold start
    control_ids: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))  # queued as ``control``


@dataclass(frozen=True)
class ScoreSharding:
    """How a round may hand its pool scoring to shard tasks (``active.score_shards``): the ways onto
    the queue, and a shard count to force (None: by ``score_shards.SCORE_SHARD_THRESHOLD``)."""

    enqueue_round: shards.EnqueueRound
    enqueue_shard: shards.EnqueueShard
    requested: int | None = None


def run_round(
    model_round: ModelRound, device: str | None = None, *, sharding: ScoreSharding | None = None
) -> ModelRound:
    """Run a claimed round to the end and write it. Raises on failure (the job turns that into a retry).

    With ``sharding``, a large pool's scoring goes to shard tasks: the round comes back pending
    (``scoring_attempt`` set) and a later call for the same attempt resumes it after its training.
    """
    run = start_run(model_round, device)
    with heartbeat(model_round.pk, run.attempt):
        deferred = score_shards.load_state(model_round.pk, run.attempt)
        if deferred is not None:
            training, trained, proba_all = resume_scoring(run, deferred)
        else:
            score_shards.discard_older_attempts(model_round.pk, run.attempt)
            training = load_labels(run, embed(run))
            trained = train_and_evaluate(run, training)
            measure_control(run, training, trained)
            if (
                trained is not None
                and sharding is not None
                and defer_scoring(run, training, trained, sharding)
            ):
                return ModelRound.objects.get(pk=model_round.pk)
            proba_all = None
        selected = score_and_select(run, training, trained, proba_all)
        selected.control_ids = draw_controls(run, training, len(selected.item_ids))
        written = write_round(run, training, selected)
    score_shards.discard(model_round.pk)
    return written


def defer_scoring(run: RoundRun, training: TrainingSet, trained: Trained, sharding: ScoreSharding) -> bool:
    """Queue the pool's scoring as shard tasks when the store is large enough (or shards are asked
    for), keeping what the resumption needs; False when the round scores the pool itself.

    Raises :class:`RoundSuperseded` when another attempt owns the round by now.
    """
    rows = len(training.store)
    count = score_shards.score_shard_count(rows, sharding.requested)
    if not count:
        return False
    state = score_shards.ScoringState(
        training=replace(training, store=None),  # the store is the project's cache: reopened on resume
        trained=trained,
        metrics=run.metrics,
        timings=run.clock.timings,
        rng_state=run.rng.bit_generator.state,
        rows=rows,
        ranges=score_shards.plan_rows(rows, count),
        elapsed_s=time.perf_counter() - run.started,
    )
    if not score_shards.defer_scoring(
        run.model_round,
        run.attempt,
        state,
        enqueue_round=sharding.enqueue_round,
        enqueue_shard=sharding.enqueue_shard,
    ):
        raise RoundSuperseded(f"round {run.model_round.pk} attempt {run.attempt} was superseded")
    return True


def resume_scoring(run: RoundRun, deferred: score_shards.ScoringState):
    """The attempt's training set, head, metrics and random state as it deferred them, and the pool's
    probabilities from its score shards (the rows no shard file covers scored here):
    ``(training, trained, probabilities)``.

    The labels and pool are those the head was trained on, as in a round that scores the pool
    itself; rows the store gained meanwhile are scored too (suggestions may reach them).
    """
    waited = time.time() - deferred.deferred_at
    run.started = time.perf_counter() - deferred.elapsed_s - waited  # "total" spans the whole attempt
    run.clock.timings = {**deferred.timings, "score_shards_wait": round(waited, 4)}
    run.metrics = deferred.metrics
    run.rng.bit_generator.state = deferred.rng_state
    with run.clock.stage("score"):
        training = replace(deferred.training, store=store_for(run.project))
        proba_all, from_shards = score_shards.gather_scores(
            run.model_round.pk, run.attempt, deferred, training.store.vectors
        )
    run.metrics["score_shards"] = {
        "shards": len(deferred.ranges),
        "rows_from_shards": from_shards,
        "rows_scored_by_round": len(proba_all) - from_shards,
    }
    return training, deferred.trained, proba_all


# Stages -------------------------------------------------------------------------------------
def start_run(model_round: ModelRound, device: str | None = None) -> RoundRun:
    requested = device or model_round.device
    if requested == "auto":
        requested = default_device()  # the worker's own policy (al_worker --device / LABELHUB_AL_DEVICE)
    return RoundRun(
        model_round=model_round,
        attempt=model_round.attempts,
        device=resolve_device(requested),
        schema=label_schema(model_round.project),
        rng=np.random.default_rng(model_round.pk),
        clock=StageClock(model_round.pk, model_round.attempts),
        started=time.perf_counter(),
        control_share=active_settings(model_round.project).control_share,
    )


def embed(run: RoundRun) -> EmbeddingStore:
    """Embed the items the cache does not hold yet (heart-beating after every chunk)."""
    with run.clock.stage("embed"):
        store, embedded = ensure_embedded(run.project, run.device, on_progress=run.clock.beat)
    run.metrics["embedded_new"] = embedded
    return store


def load_labels(run: RoundRun, store: EmbeddingStore) -> TrainingSet:
    """The resolved labels of the items in the store, their vectors, and the unlabelled pool,
    with the control slice (``active.control``) set apart from both."""
    with run.clock.stage("labels"):
        ids, y = labelled_items(run.project, run.schema)
        in_store = np.isin(ids, store.ids)
        ids, y = ids[in_store], y[in_store]
        held_out = control.is_control(run.project.pk, ids, run.control_share)
        unlabelled = ~np.isin(store.ids, ids)
        control_rows = control.is_control(run.project.pk, store.ids, run.control_share)
        train_ids, train_y = ids[~held_out], y[~held_out]
        training = TrainingSet(
            store=store,
            ids=train_ids,
            X=store.get(train_ids),
            y=train_y,
            pool_rows=np.nonzero(unlabelled & ~control_rows)[0],
            control_ids=ids[held_out],
            control_X=store.get(ids[held_out]),
            control_y=y[held_out],
            control_pool_rows=np.nonzero(unlabelled & control_rows)[0],
            order=labelling_order(run.project, train_ids),
        )
    counts = np.bincount(training.y, minlength=len(run.class_names)).tolist()
    run.metrics["class_counts"] = dict(zip(run.class_names, counts, strict=True))
    return training


def labelling_order(project: Project, item_ids: np.ndarray) -> np.ndarray:
    """Positions of ``item_ids`` sorted by when each was first labelled (its first counting annotation)."""
    first = dict(
        Annotation.objects.filter(item__project=project, retracted_at__isnull=True)
        .values("item_id")
        .annotate(first=Min("pk"))
        .values_list("item_id", "first")
    )
    keys = np.fromiter((first.get(int(i), 0) for i in item_ids), np.int64, len(item_ids))
    return np.argsort(keys, kind="stable")


def labelled_items(project: Project, schema: LabelSchema) -> tuple[np.ndarray, np.ndarray]:
    """``(item_ids, class_index)`` of every labelled item by its resolved label, in item-id order.

    The labels come from the one resolved-label selector (consensus, else the latest annotation;
    classes outside the schema already dropped). A multi-label item contributes its first label:
    the heads here are single-label softmax heads.
    """
    index = {name: i for i, name in enumerate(schema.class_names)}
    pairs = sorted((item_id, index[labels[0]]) for item_id, labels in resolved_labels(project, schema))
    ids = np.fromiter((item_id for item_id, _ in pairs), np.int64, len(pairs))
    ys = np.fromiter((y for _, y in pairs), np.int64, len(pairs))
    return ids, ys


def is_cold_start(training: TrainingSet, n_classes: int) -> bool:
    """Too few labels (or classes) to train a head: the round queues a random batch instead."""
    return len(training.y) < MIN_LABELS_TO_TRAIN or len(np.unique(training.y)) < 2 or n_classes < 2


def train_and_evaluate(run: RoundRun, training: TrainingSet) -> Trained | None:
    """Fit the round's one head (chosen by cross-validation, ``heads.fit_head``), measure it, keep it.

    With ``MIN_EVAL_LABELS`` or more labels a random ``EVAL_FRACTION`` is held out: the head is fitted
    on the rest, measured on it, and that same head scores the pool and writes the suggestions, so
    the accuracy recorded is the accuracy of this model version (issue 13: one fit per round, as
    the simulation does). None on a cold start.
    """
    n_classes = len(run.class_names)
    if is_cold_start(training, n_classes):
        run.metrics["cold_start"] = True
        return None
    X, y = training.X, training.y
    config = head_config(run.device, training.store.dim)
    seed = run.model_round.pk
    n_eval = int(len(y) * EVAL_FRACTION) if len(y) >= MIN_EVAL_LABELS else 0
    order = run.rng.permutation(len(y))
    eval_rows, train_rows = np.sort(order[:n_eval]), np.sort(order[n_eval:])
    if len(np.unique(y[train_rows])) < 2:  # the held-out draw took a class's only labels: train on all
        eval_rows, train_rows = eval_rows[:0], np.arange(len(y))
    with run.clock.stage("train"):
        head, choice = fit_head(
            X[train_rows],
            y[train_rows],
            n_classes,
            config,
            seed=seed,
            pool_rows=len(training.store),
            active=strategies.chooses_actively(run.model_round.strategy),
        )
        head = with_weak_labels(run, training, train_rows, head, choice.kind, config, seed)
        committee = None
        if run.model_round.strategy in strategies.COMMITTEE_STRATEGIES:
            committee = train_committee(
                X[train_rows], y[train_rows], n_classes, COMMITTEE_SIZE, seed=seed, **config
            )
    run.metrics.update(choice.as_metrics())
    run.metrics["train_size"] = len(train_rows)
    if len(eval_rows):
        with run.clock.stage("evaluate"):
            run.metrics.update(evaluate(head, X[eval_rows], y[eval_rows]))
    return Trained(head, committee, choice.kind, config)


def measure_control(run: RoundRun, training: TrainingSet, trained: Trained | None) -> None:
    """This model version's accuracy on the labelled control items (an unbiased estimate, with its
    Wilson interval), and active labels against random ones at the same count (``control.compare_with_random``).

    Recorded as ``metrics["control"]``; nothing on a cold start or without labelled control items.
    """
    if trained is None or not len(training.control_y):
        run.metrics["control"] = {"share": run.control_share, "labelled": len(training.control_y)}
        return
    n_classes = len(run.class_names)
    seed = run.model_round.pk
    with run.clock.stage("control"):
        estimate = control.accuracy_estimate(training.control_y, trained.head.predict(training.control_X))
        order = training.order if training.order is not None else np.arange(len(training.y))
        comparison = control.compare_with_random(
            training.control_X,
            training.control_y,
            training.X[order],
            training.y[order],
            lambda: make_head(trained.kind, n_classes, trained.config, seed),
            seed=seed,
        )
    run.metrics["control"] = {
        "share": run.control_share,
        **estimate,
        "vs_random": comparison.as_metrics(seed) if comparison is not None else None,
    }


def draw_controls(run: RoundRun, training: TrainingSet, batch: int) -> np.ndarray:
    """Item ids of the unlabelled control items this round queues, drawn uniformly (never by the model).

    Enough for control items to be ``control_share`` of what is labelled or queued once this
    round's ``batch`` is in the queue.
    """
    if run.control_share <= 0 or not len(training.control_pool_rows):
        return np.zeros(0, np.int64)
    open_ids = np.fromiter(
        QueueEntry.objects.filter(project=run.project, is_open=True).values_list("item_id", flat=True),
        np.int64,
    )
    open_controls = control.is_control(run.project.pk, open_ids, run.control_share)
    needed = control.controls_needed(
        run.control_share,
        served_other=len(training.y) + int((~open_controls).sum()) + batch,
        served_controls=len(training.control_y) + int(open_controls.sum()),
    )
    candidates = training.store.ids[training.control_pool_rows]
    candidates = candidates[~np.isin(candidates, open_ids)]
    needed = min(needed, len(candidates))
    rng = np.random.default_rng([run.model_round.pk, 0xC0])
    return np.sort(rng.choice(candidates, size=needed, replace=False)) if needed else np.zeros(0, np.int64)


def with_weak_labels(
    run: RoundRun, training: TrainingSet, train_rows, head, kind: str, config: dict, seed: int
):
    """The head refitted with the project's weak labels at the weight that cross-validates best on
    the human training labels, or ``head`` itself when weight 0 wins (or there are none).

    The weak labels were derived with every human label as an anchor, so the cross-validation is
    somewhat optimistic for them; the margin and the every-fold rule of ``choose_weak_weight`` are
    what keeps a weight that does not help out. The held-out slice measures the result.
    """
    X_weak, y_weak, confidence = weak_training_rows(
        run.project, training.store, run.schema, exclude=training.ids
    )
    if not len(y_weak):
        return head
    if kind == KERNEL and not kernel_affordable(len(train_rows) + len(y_weak), len(training.store)):
        # Every weak row could become a support vector: the kernel head stays on the human labels.
        run.metrics.update({"weak_rows": len(y_weak), "weak_weight": 0.0, "weak_skipped": "kernel head"})
        return head
    X, y = training.X[train_rows], training.y[train_rows]
    weak_choice = choose_weak_weight(
        X, y, (X_weak, y_weak, confidence), len(run.class_names), kind, config, seed=seed
    )
    run.metrics.update(
        {
            "weak_rows": len(y_weak),
            "weak_weight": weak_choice.weight,
            "weak_cv": {str(w): s for w, s in weak_choice.scores.items()},
        }
    )
    if weak_choice.weight == 0:
        return head
    return fit_with_weak(
        X, y, X_weak, y_weak, confidence, weak_choice.weight, len(run.class_names), kind, config, seed
    )


def evaluate(head: TorchHeadClassifier | LogisticHead | KernelHead, X: np.ndarray, y: np.ndarray) -> dict:
    """Accuracy and macro F1 (over the classes present in ``y``) of ``head`` on a held-out slice."""
    from sklearn.metrics import f1_score  # heavy: scikit-learn stays out of web processes

    predicted = head.predict(X)
    return {
        "accuracy": round(float((predicted == y).mean()), 4),
        "macro_f1": round(float(f1_score(y, predicted, average="macro", labels=np.unique(y))), 4),
        "eval_size": len(y),
    }


def score_and_select(
    run: RoundRun, training: TrainingSet, trained: Trained | None, proba_all=None
) -> Selected:
    """Score the pool with the head (unless ``proba_all``, the head's probabilities over the whole
    store, came from score shards) and pick ``batch_size`` items by the round's strategy.

    A cold start (no head) picks the most typical items for a strategy that has a cold start of its
    own (``auto``, ``typicality``) and uniformly otherwise, as the random strategy does. The
    strategies beyond modAL run in numpy on every path; the modAL ones go through modAL itself on
    CPU pools up to ``MODAL_POOL_LIMIT`` and take the torch path otherwise.
    """
    store, pool_rows = training.store, training.pool_rows
    strategy, seed = run.model_round.strategy, run.model_round.pk
    k = min(run.model_round.batch_size, len(pool_rows))
    if trained is None:
        with run.clock.stage("select"):
            if strategy in strategies.COLD_START_STRATEGIES:
                selection = strategies.select_typical(
                    PoolVectors(store, pool_rows), k, n_labelled=len(training.y), seed=seed
                )
                run.metrics["strategy_used"] = strategies.TYPICALITY
            else:
                selection = strategies.select_random(len(pool_rows), k, run.rng)
                run.metrics["strategy_used"] = strategies.RANDOM
        run.metrics["selection_path"] = selection.path
        return Selected(store.ids[pool_rows[selection.indices]], None)
    import torch  # heavy: keeps torch out of web processes

    with run.clock.stage("score"):
        if proba_all is None:
            proba_all = trained.head.predict_proba_tensor(store.vectors)
        pool_proba = proba_all[torch.from_numpy(pool_rows).to(proba_all.device)]
    with run.clock.stage("select"):
        deficit_map = class_deficit(run.project, run.schema)
        deficit = np.array([deficit_map[c] for c in run.class_names]) if deficit_map else None
        run.metrics["strategy_used"] = strategy
        if strategy == strategies.RANDOM:
            selection = strategies.select_random(len(pool_rows), k, run.rng)
        elif strategy in strategies.BEYOND_MODAL:
            evidence = strategy_by_evidence(run, training, trained) if strategy == strategies.AUTO else None
            selection = select_beyond_modal(run, training, pool_proba, k, deficit, evidence)
        elif run.device == "cpu" and len(pool_rows) <= strategies.MODAL_POOL_LIMIT:
            selection = strategies.select_modal(
                strategy,
                trained.committee if trained.committee is not None else trained.head,
                store.vectors[pool_rows].astype(np.float32),
                k,
                X_training=training.X,
                deficit=deficit,
            )
        else:
            selection = select_on_device(strategy, trained, training, pool_proba, k, deficit)
    run.metrics["selection_path"] = selection.path
    return Selected(store.ids[pool_rows[selection.indices]], proba_all)


def strategy_by_evidence(run: RoundRun, training: TrainingSet, trained: Trained) -> str | None:
    """The strategy ``auto`` takes from the latest simulation on the project's own labelled items,
    or None when none has run yet (or below ``EVIDENCE_MIN_LABELS`` labels).

    The simulation is not run here: it would not fit the round's time budget. When one is due (none
    asked for yet, or the labels grew by ``EVIDENCE_GROWTH`` since the last ask), the round records
    ``metrics["evidence_requested"]`` and, once done, the worker queues :func:`record_strategy_evidence`
    as a job of its own, which records ``metrics["strategy_evidence"]`` on the asking round; the
    next rounds use its choice and record it as ``metrics["strategy_evidence_used"]``.
    """
    n = len(training.y)
    if n < EVIDENCE_MIN_LABELS:
        return None
    done = ModelRound.objects.filter(project=run.project, state=ModelRound.State.DONE).order_by("-number")
    asked = done.filter(metrics__has_key="evidence_requested").values_list("metrics", flat=True).first()
    if asked is None or evidence_due(n, asked["evidence_requested"]):
        run.metrics["evidence_requested"] = n
    latest = done.filter(metrics__has_key="strategy_evidence").values_list("metrics", flat=True).first()
    if latest is None:
        return None
    run.metrics["strategy_evidence_used"] = latest["strategy_evidence"]
    return latest["strategy_evidence"]["chosen"]


def record_strategy_evidence(model_round: ModelRound, device: str = "cpu") -> dict | None:
    """Run the strategy simulation a done round asked for and record it on that round (a job).

    On the round's own training labels (control items left out), read from the embedding cache,
    with the head kind the round chose. Idempotent: a round that has its evidence keeps it.
    """
    metrics = model_round.metrics or {}
    if "evidence_requested" not in metrics or "head" not in metrics:
        return None
    if metrics.get("strategy_evidence", {}).get("model_version") == model_round.pk:
        return metrics["strategy_evidence"]
    project = model_round.project
    schema = label_schema(project)
    store = store_for(project)
    ids, y = labelled_items(project, schema)
    keep = np.isin(ids, store.ids) & ~control.is_control(
        project.pk, ids, active_settings(project).control_share
    )
    ids, y = ids[keep], y[keep]
    started = time.perf_counter()
    evidence = strategy_evidence(
        store.get(ids),
        y,
        len(schema.class_names),
        metrics["head"],
        head_config(device, store.dim),
        seed=model_round.pk,
    )
    evidence.update(
        labels_at=len(y), model_version=model_round.pk, seconds=round(time.perf_counter() - started, 2)
    )
    with transaction.atomic():
        current = ModelRound.objects.select_for_update().get(pk=model_round.pk)
        current.metrics = {**current.metrics, "strategy_evidence": evidence}
        current.save(update_fields=["metrics"])
    return evidence


def select_beyond_modal(
    run: RoundRun,
    training: TrainingSet,
    pool_proba,
    k: int,
    deficit: np.ndarray | None,
    evidence: str | None = None,
) -> strategies.Selection:
    """``auto``, ``typicality``, ``balanced_margin``, ``cluster_margin`` on any pool size and device.

    ``auto`` becomes what :func:`strategies.resolve_auto` says (``evidence``: the strategy the
    project's own simulation chose), recorded as ``metrics["strategy_used"]``.

    Quotas read every label the project has (``class_counts``); the vector strategies read only the
    pool rows they cluster (:class:`PoolVectors`). ``strategies.select_torch`` would take the same
    route but wants the whole pool's vectors as a tensor, copied twice over (fp16 → float32, device
    → host): 3 GB for a million MiniLM vectors.
    """
    n_classes = pool_proba.shape[1]
    proba = pool_proba.float().cpu().numpy()
    strategy = run.model_round.strategy
    if strategy == strategies.AUTO:
        strategy = strategies.resolve_auto(
            proba,
            len(training.y),
            class_counts=np.bincount(training.y, minlength=n_classes),
            deficit=deficit,
            evidence=evidence,
        )
    run.metrics["strategy_used"] = strategy
    return strategies.select_beyond_modal(
        strategy,
        proba,
        PoolVectors(training.store, training.pool_rows) if strategy in strategies.VECTOR_STRATEGIES else None,
        k,
        n_labelled=len(training.y),
        class_counts=np.bincount(training.y, minlength=n_classes),
        deficit=deficit,
        seed=run.model_round.pk,
    )


def select_on_device(
    strategy: str, trained: Trained, training: TrainingSet, pool_proba, k: int, deficit: np.ndarray | None
) -> strategies.Selection:
    """The torch path of ``score_and_select``: utilities on the head's device, for pools in the millions."""
    import torch  # heavy: keeps torch out of web processes

    device = pool_proba.device
    store, pool_rows = training.store, training.pool_rows
    deficit_t = torch.from_numpy(deficit).to(device) if deficit is not None else None
    if strategy == strategies.RANKED_BATCH:
        X_pool = torch.from_numpy(np.asarray(store.vectors[pool_rows], dtype=np.float32)).to(device)
        X_train = torch.from_numpy(training.X).to(device)
        return strategies.select_torch(
            strategy, pool_proba, k, X_pool=X_pool, X_training=X_train, deficit=deficit_t
        )
    if trained.committee is not None:
        pool_index = torch.from_numpy(pool_rows).to(device)
        member_proba = [
            m.predict_proba_tensor(store.vectors)[pool_index] for m in trained.committee.learner_list
        ]
        mean_proba = torch.stack(member_proba).mean(0)
        if strategy == strategies.VOTE_ENTROPY:
            votes = torch.stack([p.argmax(dim=1) for p in member_proba], dim=1)
            return strategies.select_torch(strategy, mean_proba, k, votes=votes, deficit=deficit_t)
        return strategies.select_torch(strategy, mean_proba, k, deficit=deficit_t)
    return strategies.select_torch(strategy, pool_proba, k, deficit=deficit_t)


# Writing ------------------------------------------------------------------------------------
def priorities_for(count: int) -> list[float]:
    """Queue priority by rank: in (1, 2], so the round's batch is served before default (0) entries, best first."""
    return [1.0 + (count - rank) / count for rank in range(count)]


def write_round(run: RoundRun, training: TrainingSet, selected: Selected) -> ModelRound:
    """Queue the selection, refresh suggestions and close the round — all or nothing.

    Raises :class:`RoundSuperseded` (writing nothing) when another attempt owns the round by now.
    """
    model_round, project = run.model_round, run.project
    run.clock.beat()
    started = time.perf_counter()
    with transaction.atomic():
        current = ModelRound.objects.select_for_update().get(pk=model_round.pk)
        if current.state != ModelRound.State.RUNNING or current.attempts != run.attempt:
            raise RoundSuperseded(f"round {model_round.pk} attempt {run.attempt} was superseded")
        existing = set(
            Item.objects.filter(project=project, pk__in=selected.item_ids.tolist()).values_list(
                "id", flat=True
            )
        )
        chosen = [
            int(i) for i in selected.item_ids if int(i) in existing
        ]  # items deleted since embedding drop out
        enqueue_items(
            project,
            list(zip(chosen, priorities_for(len(chosen)), strict=True)),
            reason="active",
            batch_key=model_round.batch_key,
        )
        controls = queue_controls(run, selected.control_ids)
        run.metrics.setdefault("control", {})["queued"] = len(controls)
        suggestions = 0
        if selected.proba_all is not None:
            suggestions = write_suggestions(
                project,
                model_round,
                chosen,
                selected.proba_all,
                training.store,
                run.class_names,
                control_share=run.control_share,
            )
        current.state = ModelRound.State.DONE
        current.finished_at = timezone.now()
        current.labels_used = len(training.y)
        current.pool_size = len(training.pool_rows)
        current.selected_count = len(chosen)
        current.suggestions_written = suggestions
        current.metrics = run.metrics
        current.device_used = str(selected.proba_all.device) if selected.proba_all is not None else ""
        run.clock.timings["write"] = round(time.perf_counter() - started, 4)
        # Wall time of the whole attempt (stages plus the glue between them), measured up to the commit.
        run.clock.timings["total"] = round(time.perf_counter() - run.started, 4)
        current.timings = run.clock.timings
        current.error = ""
        current.save()
        transaction.on_commit(
            lambda: announce_queue_update(
                project.pk, reason="active", round=current.pk, model_version=current.pk, count=len(chosen)
            )
        )
    return current


def queue_controls(run: RoundRun, control_ids: np.ndarray) -> list[int]:
    """Queue the drawn control items (reason ``control``) at uniformly random priorities within the
    round's band, so they are served mixed in with its batch; their old suggestions are cleared."""
    project = run.project
    ids = list(
        Item.objects.filter(project=project, pk__in=control_ids.tolist())
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not ids:
        return []
    rng = np.random.default_rng([run.model_round.pk, 0xC1])
    priorities = (2.0 - rng.random(len(ids))).tolist()  # in (1, 2], like the batch's
    enqueue_items(
        project,
        list(zip(ids, priorities, strict=True)),
        reason=QueueEntry.Reason.CONTROL,
        batch_key=f"{run.model_round.batch_key}-control",
    )
    Item.objects.filter(pk__in=ids, suggestion__isnull=False).update(suggestion=None)
    return ids


def write_suggestions(
    project: Project,
    model_round: ModelRound,
    selected_ids: list[int],
    proba_all,
    store: EmbeddingStore,
    class_names: tuple[str, ...],
    *,
    control_share: float = 0.0,
) -> int:
    """Attach the new head's prediction to the selected items and to what the queue will serve soon.

    Control items get none: their labels must not lean on the model they are there to judge.
    """
    upcoming = list(
        QueueEntry.objects.filter(project=project, is_open=True)
        .order_by("-priority", "id")
        .values_list("item_id", flat=True)[:SUGGESTION_LIMIT]
    )
    item_ids = np.unique(np.asarray(selected_ids + upcoming, dtype=np.int64))
    item_ids = item_ids[np.isin(item_ids, store.ids)]
    item_ids = item_ids[~control.is_control(project.pk, item_ids, control_share)]
    if not len(item_ids):
        return 0
    rows = store.positions(item_ids)
    proba = proba_all[rows].float().cpu().numpy() if hasattr(proba_all, "cpu") else proba_all[rows]
    best = proba.argmax(axis=1)
    items = [
        Item(
            pk=int(item_id),
            suggestion={
                "labels": [class_names[int(b)]],
                "confidence": round(float(p[b]), 4),
                "model_version": model_round.pk,
            },
        )
        for item_id, b, p in zip(item_ids, best, proba, strict=True)
    ]
    Item.objects.bulk_update(items, ["suggestion"], batch_size=1000)
    return len(items)
