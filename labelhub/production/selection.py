"""The sampling rules at work: which scored captures become items and enter the queues.

Every scored capture is triaged once (``triaged_at``), under a lock of its deployment's row, so
two workers never select the same stream twice. In order:

1. the **control slice**: a capture is in it when a hash of its id falls below ``control_share``
   — uniform over the stream and blind to every score, so its labels measure the real accuracy;
2. the **novel** (``novelty_percentile``), the **uncertain** (``uncertainty_margin``) and, when
   asked, the **disagreements** with the current head: strongest first, taken round-robin over
   the predicted classes so a rare class is not drowned, each class capped at ``class_quota`` a day;
3. the **daily budget** bounds the total of both, per UTC day.

Picked captures already in the pool (same content hash, or an embedding within
``near_duplicate_distance`` of a cached pool item) are not imported again: an unlabelled pool item
is queued in their place, a labelled one (or a repeat of an earlier pick) marks them ``duplicate``.
The rest are imported (the importer's own validation and dedupe) and queued with reason
``production``. Captures nobody picked stay for the statistics until the retention purge.
"""

from __future__ import annotations

import hashlib
import logging
from collections import defaultdict
from datetime import datetime, time, timedelta

import numpy as np
from django.db import transaction
from django.utils import timezone

from active.embeddings import store_for
from active.novelty import unit
from labelhub.production import scoring
from labelhub.production.models import Capture, Deployment, SamplingRules
from labelhub.production.selectors import sampling_rules
from labelhub.projects.importing import import_records
from labelhub.projects.models import Annotation, Item
from labelhub.queues.models import QueueEntry
from labelhub.queues.services import enqueue_items

logger = logging.getLogger(__name__)

SENT = (Capture.Rule.CONTROL, Capture.Rule.NOVELTY, Capture.Rule.UNCERTAINTY, Capture.Rule.DISAGREEMENT)


def in_control_slice(capture_id: int, share: float) -> bool:
    """Whether a capture belongs to the control slice: a hash of its id, uniform in [0, 1), below ``share``."""
    digest = hashlib.blake2b(str(capture_id).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64 < share


def rule_of(capture: Capture, rules: SamplingRules) -> tuple[str, float] | None:
    """The rule that picks ``capture`` (besides the control slice) and how strongly, or None."""
    if rules.novelty_percentile < 1 and (capture.novelty_percentile or 0) >= rules.novelty_percentile:
        return Capture.Rule.NOVELTY, 1.0 + (capture.novelty_percentile or 0)
    if capture.margin is not None and capture.margin < rules.uncertainty_margin:
        return Capture.Rule.UNCERTAINTY, 1.0 - capture.margin
    if (
        rules.select_disagreements
        and capture.head_class is not None
        and capture.head_class != capture.predicted_class
    ):
        return Capture.Rule.DISAGREEMENT, 0.5
    return None


def day_start(now: datetime) -> datetime:
    return datetime.combine(now.date(), time.min, tzinfo=now.tzinfo)


def choose(
    captures: list[Capture], rules: SamplingRules, *, budget: int, taken_per_class: dict[int, int]
) -> list[tuple[Capture, str, float]]:
    """``(capture, rule, strength)`` of the picks among ``captures``, within ``budget`` and the class quotas."""
    picks: list[tuple[Capture, str, float]] = []
    rest = []
    for capture in captures:
        if in_control_slice(capture.pk, rules.control_share):
            if len(picks) < budget:
                picks.append((capture, Capture.Rule.CONTROL, 0.5))
        else:
            rest.append(capture)
    by_class: dict[int, list[tuple[float, Capture, str]]] = defaultdict(list)
    for capture in rest:
        picked = rule_of(capture, rules)
        if picked is not None:
            by_class[capture.predicted_class].append((picked[1], capture, picked[0]))
    for candidates in by_class.values():
        candidates.sort(key=lambda c: (-c[0], c[1].pk))
    taken = dict(taken_per_class)
    cursor = dict.fromkeys(by_class, 0)
    while len(picks) < budget and cursor:
        for cls in sorted(cursor):
            if len(picks) >= budget:
                break
            quota_left = rules.class_quota == 0 or taken.get(cls, 0) < rules.class_quota
            if not quota_left or cursor[cls] >= len(by_class[cls]):
                del cursor[cls]
                continue
            strength, capture, rule = by_class[cls][cursor[cls]]
            cursor[cls] += 1
            taken[cls] = taken.get(cls, 0) + 1
            picks.append((capture, rule, strength))
    return picks


def near_duplicates(project, vectors: np.ndarray, max_distance: float) -> tuple[np.ndarray, np.ndarray]:
    """For each vector: the nearest cached pool item within ``max_distance`` (-1: none), and whether an
    earlier vector of the same list is that close (a repeat within the picks)."""

    nearest = np.full(len(vectors), -1, np.int64)
    repeat = np.zeros(len(vectors), bool)
    if len(vectors) == 0 or max_distance <= 0:
        return nearest, repeat
    V = unit(vectors)
    store = store_for(project)
    pool = store.vectors
    for start in range(0, len(pool), 200_000):
        block = unit(np.asarray(pool[start : start + 200_000], np.float32))
        sims = V @ block.T
        best = sims.argmax(axis=1)
        close = 1 - sims[np.arange(len(V)), best] <= max_distance
        nearest[close & (nearest < 0)] = store.ids[start + best[close & (nearest < 0)]]
    own = V @ V.T
    for i in range(1, len(V)):
        repeat[i] = bool((1 - own[i, :i] <= max_distance).any())
    return nearest, repeat


def triage(deployment: Deployment, device: str = "cpu", *, now: datetime | None = None) -> dict:
    """Apply the project's rules to the deployment's scored, untriaged captures; returns counts by rule."""
    now = now or timezone.now()
    project = deployment.project
    rules = sampling_rules(project)
    with transaction.atomic():
        Deployment.objects.select_for_update().filter(pk=deployment.pk).first()
        pending = list(
            Capture.objects.filter(deployment=deployment, scored_at__isnull=False, triaged_at__isnull=True)
            .defer("probabilities", "logits", "embedding")
            .order_by("id")
        )
        if not pending:
            return {}
        picks: list[tuple[Capture, str, float]] = []
        if rules.enabled:
            today = Capture.objects.filter(project=project, rule__in=SENT, triaged_at__gte=day_start(now))
            per_class: dict[int, int] = defaultdict(int)
            for cls in today.exclude(rule=Capture.Rule.CONTROL).values_list("predicted_class", flat=True):
                per_class[cls] += 1
            budget = max(rules.daily_budget - today.count(), 0)
            picks = choose(pending, rules, budget=budget, taken_per_class=per_class)
        counts = place(deployment, picks, rules, device)
        Capture.objects.filter(pk__in=[c.pk for c in pending], triaged_at__isnull=True).update(triaged_at=now)
    return counts


def place(
    deployment: Deployment, picks: list[tuple[Capture, str, float]], rules: SamplingRules, device: str
) -> dict:
    """Turn picks into items (or mark them duplicates of pool items) and queue the new ones."""
    project = deployment.project
    counts: dict[str, int] = defaultdict(int)
    if not picks:
        return counts
    captures = [c for c, _, _ in picks]
    existing = dict(
        Item.objects.filter(project=project, content_hash__in={c.content_hash for c in captures}).values_list(
            "content_hash", "id"
        )
    )
    vectors = scoring.capture_vectors(deployment, captures, device)
    nearest, repeat = near_duplicates(project, vectors, rules.near_duplicate_distance)
    duplicate_of = [
        existing.get(capture.content_hash) or (int(nearest[i]) if nearest[i] >= 0 else None)
        for i, capture in enumerate(captures)
    ]
    labelled = set(
        Annotation.objects.filter(
            item_id__in=[i for i in duplicate_of if i is not None], retracted_at__isnull=True
        ).values_list("item_id", flat=True)
    )
    fresh: list[tuple[Capture, str, float]] = []
    reused: list[tuple[Capture, str, float]] = []  # already in the pool, unlabelled: queue that item
    seen_hashes: set[str] = set()
    seen_items: set[int] = set()
    for index, (capture, rule, strength) in enumerate(picks):
        pool_item = duplicate_of[index]
        if (
            repeat[index]
            or capture.content_hash in seen_hashes
            or pool_item in labelled
            or pool_item in seen_items
        ):
            capture.rule, capture.item_id = Capture.Rule.DUPLICATE, pool_item
            counts[Capture.Rule.DUPLICATE] += 1
        elif pool_item is not None:
            capture.rule, capture.item_id = rule, pool_item
            reused.append((capture, rule, strength))
            seen_items.add(pool_item)
            counts[rule] += 1
        else:
            capture.rule = rule
            fresh.append((capture, rule, strength))
            seen_hashes.add(capture.content_hash)
    if fresh:
        import_records(
            project,
            (
                {
                    **capture.payload,
                    "external_id": f"production-{capture.pk}",
                    "production": {
                        "deployment": deployment.name,
                        "capture": capture.pk,
                        "rule": rule,
                        "source": capture.source,
                    },
                }
                for capture, rule, _ in fresh
            ),
            source="production",
            filename=f"deployment {deployment.name}",
        )
        items = dict(
            Item.objects.filter(
                project=project, content_hash__in=[c.content_hash for c, _, _ in fresh]
            ).values_list("content_hash", "id")
        )
        for capture, rule, _ in fresh:
            capture.item_id = items[capture.content_hash]
            counts[rule] += 1
        # Vectors of the new items are the captures' own: the next round never embeds them again.
        rows = [i for i, (c, _, _) in enumerate(picks) if any(c is f for f, _, _ in fresh)]
        store_for(project).append([picks[i][0].item_id for i in rows], vectors[rows])
    queued = fresh + reused
    if queued:
        enqueue_items(
            project,
            [(capture.item_id, 1.0 + min(strength, 2.0) / 2) for capture, _, strength in queued],
            reason=QueueEntry.Reason.PRODUCTION,
            batch_key=f"production-{deployment.pk}-{queued[0][0].pk}",
        )
    Capture.objects.bulk_update(captures, ["rule", "item"], batch_size=1000)
    return dict(counts)


def purge_expired(retention: timedelta, *, now: datetime | None = None) -> int:
    """Delete captures older than ``retention`` that no rule sent to labelling (drift rows keep their figures)."""
    cutoff = (now or timezone.now()) - retention
    deleted, _ = Capture.objects.filter(
        received_at__lt=cutoff, item__isnull=True, triaged_at__isnull=False
    ).delete()
    return deleted
