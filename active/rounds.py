"""Active-learning rounds: request one, run it (embed → train → evaluate → score → select → write), retry it.

A round is one ``ModelRound`` row moving pending → running → done (or back to pending for a retry,
or failed). Everything a round changes in the database — queue entries, item suggestions and the
round's own "done" — is written in one transaction at the very end, so a crash anywhere leaves
nothing half-applied, and the queue write is idempotent by ``batch_key = "al-round-<id>"`` on top.

django-tasks-db does not retry failed tasks, and a worker killed mid-task leaves its task
"running" forever; so retries live here: a failure re-enqueues the round's task (with a backoff)
until ``max_attempts``, and ``sweep_stale_rounds`` turns rounds whose worker stopped heart-beating
into such failures.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max
from django.utils import timezone

from active.models import ModelRound
from labelhub.projects.models import Annotation, Item, Project

logger = logging.getLogger(__name__)

MIN_LABELS_TO_TRAIN = 4  # and at least two classes; fewer means a cold start (random batch)
EVAL_FRACTION = 0.2
MIN_EVAL_LABELS = 20  # below this the held-out slice is too small to say anything
SUGGESTION_LIMIT = 5000  # open queue items whose suggestion is refreshed each round
STALE_AFTER = timedelta(minutes=15)
RETRY_BACKOFF_SECONDS = (5, 30, 120)
COMMITTEE_SIZE = 5


class RoundSuperseded(Exception):
    """This attempt lost the round (a sweeper handed it to another attempt); it must write nothing."""


# Requesting ---------------------------------------------------------------------------------
def default_device() -> str:
    return getattr(settings, "LABELHUB_AL_DEVICE", "auto")


def request_round(
    project: Project,
    *,
    trigger: str = ModelRound.Trigger.MANAGER,
    requested_by=None,
    device: str | None = None,
) -> tuple[ModelRound, bool]:
    """Create a pending round and enqueue its task, unless one is already pending or running.

    The round row and its task row are written in one transaction (the task backend is the
    database), so there is never a pending round without a task to run it. Returns
    ``(round, created)``.
    """
    from active.strategies import normalise_strategy
    from active.tasks import run_model_round

    strategy = normalise_strategy(project.al_strategy)
    existing = active_round(project)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            number = (ModelRound.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
            model_round = ModelRound.objects.create(
                project=project,
                number=number,
                trigger=trigger,
                requested_by=requested_by,
                strategy=strategy,
                batch_size=project.al_batch_size,
                device=device or default_device(),
            )
            run_model_round.enqueue(model_round.pk, device=model_round.device)
    except IntegrityError:
        # Another process created the project's active round between our check and insert.
        existing = active_round(project)
        if existing is None:
            raise
        return existing, False
    return model_round, True


def active_round(project: Project) -> ModelRound | None:
    return ModelRound.objects.filter(
        project=project, state__in=[ModelRound.State.PENDING, ModelRound.State.RUNNING]
    ).first()


def labels_since_last_round(project: Project, *, up_to: int | None = None) -> int:
    """New (non-retracted) labels since the last round, counting at most ``up_to`` of them.

    Called after every submit: the cap keeps it a bounded ``LIMIT`` count instead of a scan of
    every label of a large project that has not had a round yet.
    """
    last = ModelRound.objects.filter(project=project).order_by("-created_at").values("created_at").first()
    labels = Annotation.objects.filter(item__project=project, retracted_at__isnull=True)
    if last is not None:
        labels = labels.filter(created_at__gt=last["created_at"])
    if up_to is not None:
        labels = labels[:up_to]
    return labels.count()


def maybe_trigger_round(project: Project) -> ModelRound | None:
    """Start a round when ``al_trigger_labels`` new labels arrived since the last one (0 disables)."""
    if not project.al_trigger_labels:
        return None
    sweep_stale_rounds(project=project)
    if active_round(project) is not None:
        return None
    if labels_since_last_round(project, up_to=project.al_trigger_labels) < project.al_trigger_labels:
        return None
    model_round, created = request_round(project, trigger=ModelRound.Trigger.LABELS)
    return model_round if created else None


# Running ------------------------------------------------------------------------------------
@dataclass
class StageClock:
    """Seconds per stage, and a heartbeat on the round at each stage boundary."""

    round_id: int
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
        ModelRound.objects.filter(pk=self.round_id).update(heartbeat_at=timezone.now())


def claim_round(round_id: int) -> ModelRound | None:
    """pending → running, counting the attempt; None when the round is not pending (a duplicate task)."""
    now = timezone.now()
    claimed = ModelRound.objects.filter(pk=round_id, state=ModelRound.State.PENDING).update(
        state=ModelRound.State.RUNNING, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return None
    return ModelRound.objects.select_related("project").get(pk=round_id)


def class_names_of(project: Project) -> list[str]:
    return list(project.classes.order_by("order", "id").values_list("name", flat=True))


def resolved_labels(project: Project, class_names: list[str]) -> tuple[np.ndarray, np.ndarray]:
    """``(item_ids, class_index)`` of every labelled item: its consensus label, else its latest annotation.

    Retracted annotations do not count. Labels outside the schema are skipped. A multi-label
    item contributes its first label (the heads here are single-label softmax heads).
    """
    index = {name: i for i, name in enumerate(class_names)}
    resolved: dict[int, list] = {}
    try:
        from annotators.qa.models import ConsensusLabel
    except ImportError:  # pragma: no cover - the QA app is part of the project
        ConsensusLabel = None
    consensus_ids: set[int] = set()
    if ConsensusLabel is not None:
        for item_id, labels in ConsensusLabel.objects.filter(item__project=project).values_list(
            "item_id", "labels"
        ):
            resolved[item_id] = labels
            consensus_ids.add(item_id)
    latest = (
        Annotation.objects.filter(item__project=project, retracted_at__isnull=True)
        .order_by("item_id", "created_at", "id")
        .values_list("item_id", "labels")
    )
    for item_id, labels in latest.iterator(chunk_size=10000):
        if item_id not in consensus_ids:
            resolved[item_id] = labels  # ordered by time: the last one wins
    ids, ys = [], []
    for item_id, labels in resolved.items():
        names = labels if isinstance(labels, list) else [labels]
        if names and names[0] in index:
            ids.append(item_id)
            ys.append(index[names[0]])
    order = np.argsort(ids)
    return np.asarray(ids, np.int64)[order], np.asarray(ys, np.int64)[order]


def evaluate(head, X: np.ndarray, y: np.ndarray, n_classes: int) -> dict:
    from sklearn.metrics import f1_score

    predicted = head.predict(X)
    return {
        "accuracy": round(float((predicted == y).mean()), 4),
        "macro_f1": round(float(f1_score(y, predicted, average="macro", labels=np.unique(y))), 4),
        "eval_size": len(y),
    }


def heads_config(device: str, dim: int) -> dict:
    """Head settings per backbone.

    On MiniLM vectors a linear head matches scikit-learn's balanced logistic regression (WordNet
    glosses, 1,000 labels: 0.86 vs 0.862 held-out) and keeps scoring a million items to one matrix
    product; weight decay 1e-2 beat 1e-4 there (0.86 vs 0.84). Pixel features gain from one hidden layer.
    """
    text = dim >= 384
    return {
        "hidden": 0 if text else 128,
        "epochs": 150,
        "lr": 0.01,
        "weight_decay": 1e-2 if text else 1e-4,
        "device": device,
    }


def run_round(round_id: int, device: str | None = None) -> ModelRound | None:
    """Run one claimed round to the end. Raises on failure (the task turns that into a retry)."""
    import torch

    from active import strategies
    from active.devices import resolve_device
    from active.embeddings import ensure_embedded
    from active.heads import TorchHeadClassifier, train_committee
    from labelhub.queues.sampling import class_deficit

    started = time.perf_counter()
    model_round = claim_round(round_id)
    if model_round is None:
        logger.info("round %s is not pending; nothing to do", round_id)
        return None
    attempt = model_round.attempts
    project = model_round.project
    clock = StageClock(model_round.pk)
    requested = device or model_round.device
    if requested == "auto":
        requested = default_device()  # the worker's own policy (al_worker --device / LABELHUB_AL_DEVICE)
    device = resolve_device(requested)
    class_names = class_names_of(project)
    n_classes = len(class_names)
    rng = np.random.default_rng(model_round.pk)

    with clock.stage("embed"):
        store, embedded = ensure_embedded(project, device, on_progress=clock.beat)
    with clock.stage("labels"):
        labelled_ids, y = resolved_labels(project, class_names)
        labelled_ids, y = labelled_ids[np.isin(labelled_ids, store.ids)], y[np.isin(labelled_ids, store.ids)]
        X = store.get(labelled_ids)
        pool_rows = np.nonzero(~np.isin(store.ids, labelled_ids))[0]
    metrics: dict = {
        "embedded_new": embedded,
        "class_counts": dict(zip(class_names, np.bincount(y, minlength=n_classes).tolist(), strict=True)),
    }
    proba_all = None
    k = min(model_round.batch_size, len(pool_rows))
    if len(y) < MIN_LABELS_TO_TRAIN or len(np.unique(y)) < 2 or n_classes < 2:
        metrics["cold_start"] = True
        with clock.stage("select"):
            selection = strategies.select_random(len(pool_rows), k, rng)
    else:
        config = heads_config(device, store.dim)
        with clock.stage("train"):
            n_eval = int(len(y) * EVAL_FRACTION) if len(y) >= MIN_EVAL_LABELS else 0
            order = rng.permutation(len(y))
            eval_rows, train_rows = order[:n_eval], order[n_eval:]
            if n_eval:
                probe = TorchHeadClassifier(n_classes, seed=model_round.pk, **config).fit(
                    X[train_rows], y[train_rows]
                )
        if n_eval:
            with clock.stage("evaluate"):
                metrics.update(evaluate(probe, X[eval_rows], y[eval_rows], n_classes))
                metrics["train_size"] = len(train_rows)
        with clock.stage("train"):
            # The queue is scored by a head refitted on every label: the held-out slice only measures.
            head = TorchHeadClassifier(n_classes, seed=model_round.pk, **config).fit(X, y)
            committee = None
            if model_round.strategy in strategies.COMMITTEE_STRATEGIES:
                committee = train_committee(X, y, n_classes, COMMITTEE_SIZE, seed=model_round.pk, **config)
        with clock.stage("score"):
            proba_all = head.predict_proba_tensor(store.vectors)
            pool_index = torch.from_numpy(pool_rows).to(proba_all.device)
            pool_proba = proba_all[pool_index]
        with clock.stage("select"):
            deficit_map = class_deficit(project, class_names)
            deficit = np.array([deficit_map[c] for c in class_names]) if deficit_map else None
            if model_round.strategy == strategies.RANDOM:
                selection = strategies.select_random(len(pool_rows), k, rng)
            elif device == "cpu" and len(pool_rows) <= strategies.MODAL_POOL_LIMIT:
                model = committee if committee is not None else head
                selection = strategies.select_modal(
                    model_round.strategy,
                    model,
                    store.vectors[pool_rows].astype(np.float32),
                    k,
                    X_training=X,
                    deficit=deficit,
                )
            else:
                selection = _select_on_device(
                    model_round.strategy, head, committee, store, pool_rows, pool_proba, X, k, deficit
                )
    selected_ids = store.ids[pool_rows[selection.indices]]
    written = write_round(
        model_round,
        attempt,
        selected_ids,
        proba_all,
        store,
        class_names,
        metrics,
        clock,
        len(y),
        len(pool_rows),
        started,
    )
    return written


def _select_on_device(strategy, head, committee, store, pool_rows, pool_proba, X_labelled, k, deficit):
    import torch

    from active import strategies

    device = pool_proba.device
    deficit_t = torch.from_numpy(deficit).to(device) if deficit is not None else None
    if strategy == strategies.RANKED_BATCH:
        X_pool = torch.from_numpy(np.asarray(store.vectors[pool_rows], dtype=np.float32)).to(device)
        X_train = torch.from_numpy(X_labelled).to(device)
        return strategies.select_torch(
            strategy, pool_proba, k, X_pool=X_pool, X_training=X_train, deficit=deficit_t
        )
    if committee is not None:
        member_proba = [
            m.predict_proba_tensor(store.vectors)[torch.from_numpy(pool_rows).to(device)]
            for m in committee.learner_list
        ]
        if strategy == strategies.VOTE_ENTROPY:
            votes = torch.stack([p.argmax(dim=1) for p in member_proba], dim=1)
            return strategies.select_torch(
                strategy, torch.stack(member_proba).mean(0), k, votes=votes, deficit=deficit_t
            )
        return strategies.select_torch(strategy, torch.stack(member_proba).mean(0), k, deficit=deficit_t)
    return strategies.select_torch(strategy, pool_proba, k, deficit=deficit_t)


def priorities_for(count: int) -> list[float]:
    """Queue priority by rank: in (1, 2], so the round's batch is served before default (0) entries, best first."""
    return [1.0 + (count - rank) / count for rank in range(count)]


def write_round(
    model_round: ModelRound,
    attempt: int,
    selected_ids: np.ndarray,
    proba_all,
    store,
    class_names: list[str],
    metrics: dict,
    clock: StageClock,
    labels_used: int,
    pool_size: int,
    run_started: float | None = None,
) -> ModelRound:
    """Queue the selection, refresh suggestions and close the round — all or nothing."""
    from labelhub.projects.push import announce_queue_update
    from labelhub.queues.services import enqueue_items

    project = model_round.project
    clock.beat()
    started = time.perf_counter()
    with transaction.atomic():
        current = ModelRound.objects.select_for_update().get(pk=model_round.pk)
        if current.state != ModelRound.State.RUNNING or current.attempts != attempt:
            raise RoundSuperseded(f"round {model_round.pk} attempt {attempt} was superseded")
        existing = set(
            Item.objects.filter(project=project, pk__in=selected_ids.tolist()).values_list("id", flat=True)
        )
        chosen = [
            int(i) for i in selected_ids if int(i) in existing
        ]  # items deleted since embedding drop out
        enqueue_items(
            project,
            list(zip(chosen, priorities_for(len(chosen)), strict=True)),
            reason="active",
            batch_key=model_round.batch_key,
        )
        suggestions = 0
        if proba_all is not None:
            suggestions = write_suggestions(project, model_round, chosen, proba_all, store, class_names)
        current.state = ModelRound.State.DONE
        current.finished_at = timezone.now()
        current.labels_used = labels_used
        current.pool_size = pool_size
        current.selected_count = len(chosen)
        current.suggestions_written = suggestions
        current.metrics = metrics
        current.device_used = str(proba_all.device) if proba_all is not None else ""
        clock.timings["write"] = round(time.perf_counter() - started, 4)
        # Wall time of the whole attempt (stages plus the glue between them), measured up to the commit.
        clock.timings["total"] = round(time.perf_counter() - (run_started or started), 4)
        current.timings = clock.timings
        current.error = ""
        current.save()
        transaction.on_commit(
            lambda: announce_queue_update(
                project.pk, reason="active", round=current.pk, model_version=current.pk, count=len(chosen)
            )
        )
    return current


def write_suggestions(project, model_round, selected_ids: list[int], proba_all, store, class_names) -> int:
    """Attach the new head's prediction to the selected items and to what the queue will serve soon."""
    from labelhub.queues.models import QueueEntry

    upcoming = list(
        QueueEntry.objects.filter(project=project, is_open=True)
        .order_by("-priority", "id")
        .values_list("item_id", flat=True)[:SUGGESTION_LIMIT]
    )
    item_ids = np.unique(np.asarray(selected_ids + upcoming, dtype=np.int64))
    item_ids = item_ids[np.isin(item_ids, store.ids)]
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


# Failures and retries -----------------------------------------------------------------------
def record_failure(round_id: int, error: str) -> ModelRound:
    """After a failed attempt: back to pending with a delayed retry, or failed once attempts are spent."""
    from active.tasks import run_model_round

    with transaction.atomic():
        model_round = ModelRound.objects.select_for_update().get(pk=round_id)
        if model_round.state in (ModelRound.State.DONE, ModelRound.State.FAILED):
            return model_round
        model_round.error = error[:4000]
        model_round.heartbeat_at = timezone.now()
        if model_round.attempts < model_round.max_attempts:
            model_round.state = ModelRound.State.PENDING
            delay = RETRY_BACKOFF_SECONDS[min(max(model_round.attempts, 1), len(RETRY_BACKOFF_SECONDS)) - 1]
            run_model_round.using(run_after=timezone.now() + timedelta(seconds=delay)).enqueue(
                model_round.pk, device=model_round.device
            )
        else:
            model_round.state = ModelRound.State.FAILED
            model_round.finished_at = timezone.now()
        model_round.save(update_fields=["state", "error", "heartbeat_at", "finished_at"])
    return model_round


def sweep_stale_rounds(
    stale_after: timedelta = STALE_AFTER, project: Project | None = None
) -> list[ModelRound]:
    """Turn rounds that stopped making progress into failed attempts, which retry while attempts remain.

    Two ways a round gets stuck: its worker died mid-run (running, heartbeat older than
    ``stale_after``), or its task row vanished or failed without the round hearing of it
    (pending for longer than ``stale_after`` with no ready or running task naming it).
    """
    from django_tasks import TaskResultStatus
    from django_tasks_db.models import DBTaskResult

    cutoff = timezone.now() - stale_after
    rounds_qs = ModelRound.objects.all() if project is None else ModelRound.objects.filter(project=project)
    stale = list(
        rounds_qs.filter(state=ModelRound.State.RUNNING, heartbeat_at__lt=cutoff).values_list("pk", flat=True)
    )
    waiting = list(
        rounds_qs.filter(state=ModelRound.State.PENDING, created_at__lt=cutoff)
        .exclude(heartbeat_at__gte=cutoff)
        .values_list("pk", flat=True)
    )
    if waiting:
        live = DBTaskResult.objects.filter(
            task_path__endswith=".run_model_round",
            status__in=[TaskResultStatus.READY, TaskResultStatus.RUNNING],
        ).values_list("args_kwargs", flat=True)
        queued = {ak["args"][0] for ak in live if ak.get("args")}
        stale += [pk for pk in waiting if pk not in queued]
    return [
        record_failure(
            pk, f"no progress since {cutoff:%Y-%m-%d %H:%M} UTC (worker died or its task was lost)"
        )
        for pk in stale
    ]


def retry_failed_round(model_round: ModelRound) -> ModelRound:
    """A manager's "try once more" on a failed round: one extra attempt, queued now."""
    from active.tasks import run_model_round

    with transaction.atomic():
        model_round = ModelRound.objects.select_for_update().get(pk=model_round.pk)
        if model_round.state != ModelRound.State.FAILED:
            return model_round
        model_round.state = ModelRound.State.PENDING
        model_round.max_attempts = model_round.attempts + 1
        model_round.finished_at = None
        model_round.save(update_fields=["state", "max_attempts", "finished_at"])
        run_model_round.enqueue(model_round.pk, device=model_round.device)
    return model_round
