"""A large pool is embedded in shards that several workers take from the task queue, before its round runs.

A round that finds at least ``SHARD_THRESHOLD`` items missing from the embedding cache (or is asked
for shards) does not embed them itself. Before it is claimed, ``wait_for_shards`` splits the
missing items into item-id ranges, queues one ``embed_shard`` task per range (django-tasks, so any
``al_worker`` on any machine sharing the database and ``LABELHUB_DATA_DIR`` takes them) and puts the
round's own task back on the queue for ``SHARD_POLL`` later; the round stays pending all along.
When it comes round again it runs once no shard task is ready or running. The shard that finishes
last queues the round at once, so the poll is only the safety net (two shards finishing together
may each see the other still running).

Every shard is idempotent: it embeds only what the cache lacks in its range, chunk by chunk, each
chunk an atomic append (``active.store`` serialises appenders). So a shard run twice, or retried
after its worker died, embeds nothing twice, and the vectors do not depend on which process or in
which order shards ran. Shards beat the pending round's ``heartbeat_at``; when no shard has beaten
for ``DEAD_AFTER`` the running shard rows are closed as lost and queued again (at most
``SHARD_MAX_ATTEMPTS`` per range; after that, or when a shard failed, the round's own embed stage
embeds what is left, and a payload error then fails the round where a manager sees it).

A large pool is scored in shards the same way, after the round trained its head
(``active.score_shards``): the queue, the row lookup, the poll, the lost-shard rule and the
last-shard wake-up here serve both kinds, told apart by their task's name (``SHARD_TASK_SUFFIX``,
``SCORE_TASK_SUFFIX``).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django_tasks import TaskResultStatus
from django_tasks_db.models import DBTaskResult

from active.devices import default_device, resolve_device
from active.embeddings import ensure_embedded, missing_item_ids, store_for
from active.heartbeat import HEARTBEAT_EVERY, Periodic, close_dead_task_rows
from active.models import ModelRound

logger = logging.getLogger(__name__)

#: Fewer missing items than this are embedded by the round itself (about a minute of MiniLM on CPU).
SHARD_THRESHOLD = 20_000
#: Items per shard: small enough that workers share the work evenly and a lost shard costs little.
SHARD_ITEMS = 5_000
SHARD_POLL = timedelta(seconds=5)
SHARD_MAX_ATTEMPTS = 3
DEAD_AFTER = timedelta(seconds=45)  # as for rounds (active.jobs): four heartbeats missed
SHARD_TASK_SUFFIX = ".embed_shard"
SCORE_TASK_SUFFIX = ".score_shard"
SHARD_SUFFIXES = (SHARD_TASK_SUFFIX, SCORE_TASK_SUFFIX)
LIVE = (TaskResultStatus.READY, TaskResultStatus.RUNNING)

#: Puts one shard task on the queue: ``(round, first, last)``, item ids (embedding) or store rows (scoring).
EnqueueShard = Callable[[ModelRound, int, int], None]
#: Puts the round's task on the queue, at once or not before the given time (``active.jobs.Enqueue``).
EnqueueRound = Callable[[ModelRound, datetime | None], None]


class ShardLost(Exception):
    """Recorded on the task row of a shard whose worker died running it."""


@dataclass(frozen=True)
class ShardTask:
    task_id: object
    status: str
    first_id: int
    last_id: int
    started_at: datetime | None
    attempt: int | None = None  # the round attempt a score shard serves (its fourth argument)


# Planning -----------------------------------------------------------------------------------
def shard_count(
    missing: int,
    requested: int | None = None,
    *,
    threshold: int = SHARD_THRESHOLD,
    per_shard: int = SHARD_ITEMS,
) -> int:
    """How many shards for ``missing`` items (or rows): 0 (the round does the work) below ``threshold``.

    ``requested`` overrides the threshold either way: that many shards, or none for 0.
    """
    if missing == 0:
        return 0
    if requested is not None:
        return min(requested, missing)
    if missing < threshold:
        return 0
    return math.ceil(missing / per_shard)


def plan_shards(missing_ids: np.ndarray, count: int) -> list[tuple[int, int]]:
    """``count`` item-id ranges ``(first, last)``, both included, holding near-equal shares of ``missing_ids``.

    The ranges are disjoint and in order, and every missing id lies in exactly one of them.
    """
    if count < 1:
        return []
    ids = np.sort(np.asarray(missing_ids, dtype=np.int64))
    return [(int(part[0]), int(part[-1])) for part in np.array_split(ids, count) if len(part)]


def shard_tasks(
    round_id: int, statuses=None, *, suffix: str = SHARD_TASK_SUFFIX, attempt: int | None = None
) -> list[ShardTask]:
    """The shard task rows of a round (``embed_shard`` unless ``suffix`` says otherwise; in
    ``statuses`` and for ``attempt`` when given), oldest first."""
    rows = DBTaskResult.objects.filter(task_path__endswith=suffix)
    if statuses is not None:
        rows = rows.filter(status__in=statuses)
    found = []
    for task_id, status, args_kwargs, started_at in rows.order_by("enqueued_at").values_list(
        "id", "status", "args_kwargs", "started_at"
    ):
        args = (args_kwargs or {}).get("args") or []
        if len(args) >= 3 and args[0] == round_id:
            shard = ShardTask(
                task_id, status, int(args[1]), int(args[2]), started_at, args[3] if len(args) > 3 else None
            )
            if attempt is None or shard.attempt == attempt:
                found.append(shard)
    return found


# The round's side ---------------------------------------------------------------------------
def wait_for_shards(
    round_id: int,
    *,
    enqueue_round: EnqueueRound,
    enqueue_shard: EnqueueShard,
    requested: int | None = None,
) -> int:
    """How many shards a pending round still waits for; 0 means run it now.

    The first call plans and queues the shards (when there are enough missing items); every call
    that returns more than 0 has put the round's task back on the queue for ``SHARD_POLL`` later.
    Safe against duplicate round tasks: the plan is made under the round's row lock.
    """
    now = timezone.now()
    with transaction.atomic():
        model_round = (
            ModelRound.objects.select_for_update().select_related("project").filter(pk=round_id).first()
        )
        if model_round is None or model_round.state != ModelRound.State.PENDING:
            return 0  # claim_round will say so
        if model_round.scoring_attempt is not None:
            return 0  # embedded and trained already: it waits for score shards (active.score_shards)
        tasks = shard_tasks(round_id)
        if not tasks:
            missing = missing_item_ids(model_round.project, store_for(model_round.project))
            ranges = plan_shards(missing, shard_count(len(missing), requested))
            if not ranges:
                return 0
            model_round.heartbeat_at = now
            model_round.save(update_fields=["heartbeat_at"])
            for first_id, last_id in ranges:
                enqueue_shard(model_round, first_id, last_id)
            enqueue_round(model_round, now + SHARD_POLL)
            logger.info("round %s: %d missing embeddings in %d shards", round_id, len(missing), len(ranges))
            return len(ranges)
        return poll_shards(
            model_round, tasks, enqueue_round=enqueue_round, enqueue_shard=enqueue_shard, now=now
        )


def poll_shards(
    model_round: ModelRound,
    tasks: list[ShardTask],
    *,
    enqueue_round: EnqueueRound,
    enqueue_shard: EnqueueShard,
    now: datetime,
    suffix: str = SHARD_TASK_SUFFIX,
    attempt: int | None = None,
) -> int:
    """How many of ``tasks`` (the round's shards of one kind) are still live, lost ones queued again;
    when any is, the round's task is put back on the queue for ``SHARD_POLL`` later.

    The caller holds the round's row lock (``wait_for_shards``, ``score_shards.wait_for_score_shards``).
    """
    live = [t for t in tasks if t.status in LIVE]
    lost = lost_shards(model_round, live, now)
    if lost:
        requeue_lost_shards(model_round, lost, tasks, enqueue_shard)
        live = shard_tasks(model_round.pk, LIVE, suffix=suffix, attempt=attempt)
    if not live:
        return 0
    enqueue_round(model_round, now + SHARD_POLL)
    return len(live)


def lost_shards(model_round: ModelRound, live: list[ShardTask], now: datetime) -> list[ShardTask]:
    """Running shards whose worker died: none of the round's shards beat for ``DEAD_AFTER``."""
    cutoff = now - DEAD_AFTER
    if model_round.heartbeat_at is not None and model_round.heartbeat_at >= cutoff:
        return []
    return [
        t
        for t in live
        if t.status == TaskResultStatus.RUNNING and (t.started_at is None or t.started_at < cutoff)
    ]


def requeue_lost_shards(
    model_round: ModelRound, lost: list[ShardTask], tasks: list[ShardTask], enqueue_shard: EnqueueShard
) -> None:
    """Close lost shard rows and queue their ranges again, up to ``SHARD_MAX_ATTEMPTS`` tasks per range."""
    close_shard_rows([t.task_id for t in lost], f"round {model_round.pk}: no shard heartbeat (worker died)")
    for shard in lost:
        tries = sum(1 for t in tasks if (t.first_id, t.last_id) == (shard.first_id, shard.last_id))
        if tries < SHARD_MAX_ATTEMPTS:
            enqueue_shard(model_round, shard.first_id, shard.last_id)
        else:
            logger.warning(
                "round %s: shard %s-%s lost %d times; the round does its work itself",
                model_round.pk,
                shard.first_id,
                shard.last_id,
                tries,
            )
    model_round.heartbeat_at = timezone.now()  # the new shards' grace period
    model_round.save(update_fields=["heartbeat_at"])


def close_shard_rows(task_ids: list, reason: str) -> int:
    """Mark running task rows failed with :class:`ShardLost`, so none stays "running" forever."""
    return close_dead_task_rows(task_ids, ShardLost, reason)


def close_orphaned_shards(cutoff: datetime) -> int:
    """Close shard rows running since before ``cutoff`` whose round no longer waits (done, failed, gone)."""
    running = [
        t
        for t in shard_tasks_running_before(cutoff)
        if not ModelRound.objects.filter(pk=t[1], state=ModelRound.State.PENDING).exists()
    ]
    return close_shard_rows([task_id for task_id, _ in running], "the round no longer waits for this shard")


def shard_tasks_running_before(cutoff: datetime) -> list[tuple[object, int]]:
    """``(task id, round id)`` of the shard rows of either kind running since before ``cutoff``."""
    of_a_shard = Q()
    for suffix in SHARD_SUFFIXES:
        of_a_shard |= Q(task_path__endswith=suffix)
    rows = (
        DBTaskResult.objects.filter(of_a_shard)
        .filter(status=TaskResultStatus.RUNNING, started_at__lt=cutoff)
        .values_list("id", "args_kwargs")
    )
    return [
        (task_id, args[0])
        for task_id, ak in rows
        if (args := (ak or {}).get("args") or []) and len(args) >= 3
    ]


# The shard's side ---------------------------------------------------------------------------
def beat_waiting_round(round_id: int, attempt: int | None = None) -> bool:
    """A shard's pulse: touch the pending round's ``heartbeat_at`` (False once it stopped waiting).

    A score shard passes the attempt it scores for: it must not keep a later attempt looking served.
    """
    waiting = ModelRound.objects.filter(pk=round_id, state=ModelRound.State.PENDING)
    if attempt is not None:
        waiting = waiting.filter(scoring_attempt=attempt)
    return bool(waiting.update(heartbeat_at=timezone.now()))


def wake_round_if_last(
    model_round: ModelRound,
    own_task_id,
    *,
    enqueue_round: EnqueueRound,
    suffix: str = SHARD_TASK_SUFFIX,
    attempt: int | None = None,
) -> bool:
    """The shard that finishes last queues the round at once (the poll is only the safety net)."""
    others = [
        t
        for t in shard_tasks(model_round.pk, LIVE, suffix=suffix, attempt=attempt)
        if str(t.task_id) != str(own_task_id)
    ]
    if not others and beat_waiting_round(model_round.pk, attempt):
        enqueue_round(model_round, None)
        return True
    return False


def run_shard(
    round_id: int,
    first_id: int,
    last_id: int,
    device: str | None = None,
    *,
    enqueue_round: EnqueueRound,
    own_task_id=None,
) -> dict:
    """Embed what the cache lacks among the round's items ``first_id..last_id`` (the ``embed_shard`` task).

    Does nothing when the round no longer waits (it ran, or failed, and embedded what it needed).
    The last shard of the round to finish queues the round at once.
    """
    model_round = ModelRound.objects.select_related("project").filter(pk=round_id).first()
    if model_round is None or model_round.state != ModelRound.State.PENDING:
        return {"round": round_id, "shard": [first_id, last_id], "skipped": True}
    requested = device or model_round.device
    resolved = resolve_device(default_device() if requested in (None, "auto") else requested)
    with Periodic(HEARTBEAT_EVERY, lambda: beat_waiting_round(round_id), name=f"heartbeat-shard-{round_id}"):
        _, added = ensure_embedded(
            model_round.project,
            resolved,
            on_progress=lambda: beat_waiting_round(round_id),
            id_range=(first_id, last_id),
        )
    wake_round_if_last(model_round, own_task_id, enqueue_round=enqueue_round)
    return {"round": round_id, "shard": [first_id, last_id], "embedded": added}
