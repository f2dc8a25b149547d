"""A large pool is scored in shards that several workers take from the task queue, after its round trained.

Scoring a million-row pool with the round's head is one long matrix product on one worker; split
into store-row ranges it spreads over every ``al_worker`` sharing the database and
``LABELHUB_DATA_DIR``. A running round whose store holds at least ``SCORE_SHARD_THRESHOLD`` rows
(or that is asked for shards) trains and evaluates as usual, then ``defer_scoring`` writes what the
shards and its own resumption need (the fitted head, the metrics, the random state, the timings:
``ScoringState`` with the training set it loaded, under ``rounds/round-<id>/attempt-<n>/`` of the data dir), queues one
``score_shard`` task per row range, and puts the round back to pending with ``scoring_attempt`` set,
its task queued again for ``shards.SHARD_POLL`` later: the worker is free to take a shard itself.

Every shard writes its range's probabilities to its own file, atomically (temporary file, fsync,
rename), and skips a range whose file is already there: a shard run twice or retried writes the
same result once. The poll, the lost-shard rule (no beat for ``shards.DEAD_AFTER``: queued again,
at most ``shards.SHARD_MAX_ATTEMPTS`` per range) and the last shard's wake-up are the embedding
shards' own (``active.shards``). Once none is live, the round resumes the same attempt
(``jobs.claim_round`` does not count a new one): it reloads its labels, pool and head instead of
loading and training again, reads the shard files, scores itself whatever no file covers (a range whose shards failed or were
lost too often, rows appended since), then selects and writes as an unsharded round would.

Files are per attempt: a retry (a new attempt) trains a new head and never reads an older
attempt's probabilities; the round's folder is removed when it is written, and an attempt's
start removes older attempts' folders.
"""

from __future__ import annotations

import logging
import pickle
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from django.conf import settings
from django.db import transaction
from django.utils import timezone

from active import shards
from active.embeddings import store_for
from active.heartbeat import HEARTBEAT_EVERY, Periodic
from active.models import ModelRound
from active.store import write_atomically

logger = logging.getLogger(__name__)

#: Fewer store rows than this are scored by the round itself (about a second on two CPU cores).
SCORE_SHARD_THRESHOLD = 200_000
#: Rows per shard: a few hundred milliseconds of a linear head on one core.
SCORE_SHARD_ROWS = 250_000
STATE_FILE = "scoring.pickle"


@dataclass
class ScoringState:
    """What a round that handed its scoring to shards needs to resume without training again."""

    training: object  # ``pipeline.TrainingSet`` without its store: labels, vectors and pool rows
    trained: object  # ``pipeline.Trained``: the head (and committee) the shards score with
    metrics: dict
    timings: dict
    rng_state: dict  # the round's generator after training, so a random pick matches an unsharded round
    rows: int  # store rows when the shards were planned: they score rows 0..rows-1
    ranges: list[tuple[int, int]]  # store-row ranges, both ends included
    elapsed_s: float  # seconds the attempt had run when it deferred
    deferred_at: float = field(default_factory=time.time)  # wall clock, shared by every machine


# Files ---------------------------------------------------------------------------------------
def round_dir(round_id: int) -> Path:
    return Path(settings.LABELHUB_DATA_DIR) / "rounds" / f"round-{round_id}"


def attempt_dir(round_id: int, attempt: int) -> Path:
    return round_dir(round_id) / f"attempt-{attempt}"


def result_path(round_id: int, attempt: int, first_row: int, last_row: int) -> Path:
    return attempt_dir(round_id, attempt) / f"proba-{first_row}-{last_row}.npy"


def save_state(round_id: int, attempt: int, state: ScoringState) -> None:
    write_atomically(attempt_dir(round_id, attempt) / STATE_FILE, lambda fh: pickle.dump(state, fh))


def load_state(round_id: int, attempt: int) -> ScoringState | None:
    """The state ``attempt`` deferred with, or None when that attempt never handed out its scoring."""
    path = attempt_dir(round_id, attempt) / STATE_FILE
    if not path.exists():
        return None
    with open(path, "rb") as fh:
        return pickle.load(fh)  # noqa: S301 - written by this project's own workers, under its data dir


def discard_older_attempts(round_id: int, attempt: int) -> None:
    """Remove the files of the round's attempts before ``attempt`` (a retry starts afresh)."""
    folder = round_dir(round_id)
    if not folder.exists():
        return
    for path in folder.glob("attempt-*"):
        if int(path.name.removeprefix("attempt-")) < attempt:
            shutil.rmtree(path, ignore_errors=True)


def discard(round_id: int) -> None:
    shutil.rmtree(round_dir(round_id), ignore_errors=True)


# Planning ------------------------------------------------------------------------------------
def score_shard_count(rows: int, requested: int | None = None) -> int:
    """How many score shards for a store of ``rows`` rows: 0 (the round scores it) below the threshold."""
    return shards.shard_count(rows, requested, threshold=SCORE_SHARD_THRESHOLD, per_shard=SCORE_SHARD_ROWS)


def plan_rows(rows: int, count: int) -> list[tuple[int, int]]:
    """``count`` near-equal store-row ranges covering ``0..rows-1``, both ends included."""
    return shards.plan_shards(np.arange(rows, dtype=np.int64), count)


# The round's side ----------------------------------------------------------------------------
def defer_scoring(
    model_round: ModelRound,
    attempt: int,
    state: ScoringState,
    *,
    enqueue_round: shards.EnqueueRound,
    enqueue_shard: shards.EnqueueShard,
) -> bool:
    """Hand the round's scoring to shard tasks: running → pending with ``scoring_attempt``.

    The state file is written first, then the round row, its shard tasks and its own next poll in
    one transaction (the task backend is the database). False, writing nothing, when ``attempt`` no
    longer runs the round (the caller treats it as superseded).
    """
    save_state(model_round.pk, attempt, state)
    now = timezone.now()
    with transaction.atomic():
        current = ModelRound.objects.select_for_update().select_related("project").get(pk=model_round.pk)
        if current.state != ModelRound.State.RUNNING or current.attempts != attempt:
            return False
        current.state = ModelRound.State.PENDING
        current.scoring_attempt = attempt
        current.heartbeat_at = now
        current.save(update_fields=["state", "scoring_attempt", "heartbeat_at"])
        for first_row, last_row in state.ranges:
            enqueue_shard(current, first_row, last_row)
        enqueue_round(current, now + shards.SHARD_POLL)
    logger.info("round %s: %d store rows scored in %d shards", model_round.pk, state.rows, len(state.ranges))
    return True


def wait_for_score_shards(
    round_id: int, *, enqueue_round: shards.EnqueueRound, enqueue_shard: shards.EnqueueShard
) -> int:
    """How many score shards a round that deferred its scoring still waits for; 0 means resume it
    now (or it does not wait for any). As ``shards.wait_for_shards``, under the round's row lock."""
    with transaction.atomic():
        model_round = (
            ModelRound.objects.select_for_update().select_related("project").filter(pk=round_id).first()
        )
        if (
            model_round is None
            or model_round.state != ModelRound.State.PENDING
            or model_round.scoring_attempt is None
        ):
            return 0
        attempt = model_round.scoring_attempt
        tasks = shards.shard_tasks(round_id, suffix=shards.SCORE_TASK_SUFFIX, attempt=attempt)
        return shards.poll_shards(
            model_round,
            tasks,
            enqueue_round=enqueue_round,
            enqueue_shard=enqueue_shard,
            now=timezone.now(),
            suffix=shards.SCORE_TASK_SUFFIX,
            attempt=attempt,
        )


def gather_scores(round_id: int, attempt: int, state: ScoringState, vectors):
    """The head's probabilities over every row of ``vectors`` (the store, now), as the unsharded round
    computes them: from the shards' files where they are, scored here where none is.

    Returns ``(probabilities tensor on the head's device, rows read from shard files)``.
    """
    import torch  # heavy: keeps torch out of web processes

    head = state.trained.head
    n = len(vectors)
    proba = np.empty((n, head.n_classes), np.float32)
    covered = np.zeros(n, bool)
    for first_row, last_row in state.ranges:
        path = result_path(round_id, attempt, first_row, last_row)
        if path.exists() and last_row < n:
            proba[first_row : last_row + 1] = np.load(path)
            covered[first_row : last_row + 1] = True
    for first_row, stop in uncovered_spans(covered):
        proba[first_row:stop] = head.predict_proba_tensor(vectors[first_row:stop]).float().cpu().numpy()
    return torch.from_numpy(proba).to(head.device), int(covered.sum())


def uncovered_spans(covered: np.ndarray) -> list[tuple[int, int]]:
    """``(start, stop)`` of each run of False in ``covered``."""
    edges = np.diff(np.concatenate([[True], covered, [True]]).astype(np.int8))
    return list(zip(np.nonzero(edges == -1)[0].tolist(), np.nonzero(edges == 1)[0].tolist(), strict=True))


# The shard's side ----------------------------------------------------------------------------
def run_score_shard(
    round_id: int,
    first_row: int,
    last_row: int,
    attempt: int,
    *,
    enqueue_round: shards.EnqueueRound,
    own_task_id=None,
) -> dict:
    """Score store rows ``first_row..last_row`` with the head ``attempt`` trained (the ``score_shard`` task).

    Does nothing when the round no longer waits for this attempt's shards, or the range's file is
    already written. The last shard of the attempt to finish queues the round at once.
    """
    shard = {"round": round_id, "attempt": attempt, "rows": [first_row, last_row]}
    model_round = ModelRound.objects.select_related("project").filter(pk=round_id).first()
    if (
        model_round is None
        or model_round.state != ModelRound.State.PENDING
        or model_round.scoring_attempt != attempt
    ):
        return {**shard, "skipped": True}
    path = result_path(round_id, attempt, first_row, last_row)
    scored = 0
    if not path.exists():
        state = load_state(round_id, attempt)
        vectors = store_for(model_round.project).vectors[first_row : last_row + 1]
        beat = lambda: shards.beat_waiting_round(round_id, attempt)  # noqa: E731
        with Periodic(HEARTBEAT_EVERY, beat, name=f"heartbeat-score-shard-{round_id}"):
            proba = state.trained.head.predict_proba_tensor(vectors).float().cpu().numpy()
        write_atomically(path, lambda fh: np.save(fh, proba))
        scored = len(proba)
    shards.wake_round_if_last(
        model_round,
        own_task_id,
        enqueue_round=enqueue_round,
        suffix=shards.SCORE_TASK_SUFFIX,
        attempt=attempt,
    )
    return {**shard, "scored": scored}
