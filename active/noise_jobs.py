"""Label-noise checks as background jobs: request, claim, run (resumably), retry, sweep; and what a
reviewer's decision on a suspected label error does.

A check loads the project's resolved labels (gold answers in place of them for gold items), the
cached embeddings and every annotator's label; computes K-fold out-of-sample probabilities with the
project's head (``active.noise``), storing each fold as it finishes so a retried attempt resumes at
the first missing fold; then detects (cleanlab, CROWDLAB where items have several annotators,
near-duplicate conflicts, outliers) and sends the top suspects within the budget to adjudication
with reason ``label_error``. The bookkeeping follows the rounds' (``active.jobs``): pending →
running → done, a failure retried with a backoff until ``max_attempts``, a check whose worker
stopped heart-beating swept back to pending. Putting a check on the queue is the caller's
``enqueue`` (``active.tasks.enqueue_noise_check``), so this module never imports the tasks.
"""

from __future__ import annotations

import logging
import time
import traceback
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import numpy as np
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Max, Q
from django.utils import timezone

from active import noise
from active.devices import default_device, resolve_device
from active.embeddings import ensure_embedded
from active.jobs import DEAD_AFTER, retry_delay
from active.models import ModelRound, NoiseCheck, NoiseReview, NoiseScore
from active.pipeline import labelled_items
from annotators.qa.adjudication import send_suspected_errors
from annotators.qa.consensus import dawid_skene_posteriors
from annotators.qa.models import AdjudicationTask, ConsensusLabel, GoldItem
from labelhub.projects.labels import LabelSchema
from labelhub.projects.models import Annotation, Item, Project
from labelhub.projects.selectors import label_schema
from labelhub.queues.models import ItemFlag

logger = logging.getLogger(__name__)

#: Puts a check's task on the queue, to run at once or not before ``run_after``.
Enqueue = Callable[[NoiseCheck, datetime | None], None]

MIN_LABELS = 20  # below this a check has too little to fold: it finishes with nothing flagged
NEAR_DUPLICATES_KEPT = 100
OUTLIERS_KEPT = 20
WRITE_BATCH = 2000


class CheckSuperseded(Exception):
    """This attempt lost the check (a sweeper handed it on); it must write nothing more."""


# Requesting ---------------------------------------------------------------------------------
def active_check(project: Project) -> NoiseCheck | None:
    return NoiseCheck.objects.filter(
        project=project, state__in=[NoiseCheck.State.PENDING, NoiseCheck.State.RUNNING]
    ).first()


def request_check(
    project: Project,
    *,
    enqueue: Enqueue,
    trigger: str = NoiseCheck.Trigger.MANAGER,
    requested_by=None,
    model_round: ModelRound | None = None,
    device: str | None = None,
) -> tuple[NoiseCheck, bool]:
    """Create a pending check and enqueue its task, unless one is pending or running already.

    Folds and review budget come from the settings (``LABELHUB_NOISE_FOLDS``,
    ``LABELHUB_NOISE_REVIEW_BUDGET``) and are copied onto the check. Returns ``(check, created)``.
    """
    sweep_stale_checks(enqueue=enqueue, project=project)
    existing = active_check(project)
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            number = (NoiseCheck.objects.filter(project=project).aggregate(n=Max("number"))["n"] or 0) + 1
            check = NoiseCheck.objects.create(
                project=project,
                number=number,
                trigger=trigger,
                requested_by=requested_by,
                model_round=model_round,
                folds=max(2, settings.LABELHUB_NOISE_FOLDS),
                review_budget=max(0, settings.LABELHUB_NOISE_REVIEW_BUDGET),
                device=device or default_device(),
            )
            enqueue(check, None)
    except IntegrityError:
        existing = active_check(project)
        if existing is None:
            raise
        return existing, False
    return check, True


# Running ------------------------------------------------------------------------------------
def claim_check(check_id: int) -> NoiseCheck | None:
    """pending → running, counting the attempt; None when the check is not pending (a duplicate task)."""
    now = timezone.now()
    claimed = NoiseCheck.objects.filter(pk=check_id, state=NoiseCheck.State.PENDING).update(
        state=NoiseCheck.State.RUNNING, attempts=F("attempts") + 1, started_at=now, heartbeat_at=now
    )
    if not claimed:
        return None
    return NoiseCheck.objects.select_related("project").get(pk=check_id)


def attempt_check(check_id: int, device: str | None = None, *, enqueue: Enqueue) -> dict:
    """One worker attempt at a check (the body of the ``run_noise_check`` task)."""
    sweep_stale_checks(enqueue=enqueue)
    check = claim_check(check_id)
    if check is None:
        return {"check": check_id, "skipped": True}
    attempt = check.attempts
    try:
        check = run_check(check, device)
    except CheckSuperseded:
        logger.warning("label-noise check %s: attempt %s was superseded", check_id, attempt)
        return {"check": check_id, "superseded": True}
    except Exception as exc:
        record_failure(
            check_id, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}", enqueue=enqueue
        )
        raise
    return {"check": check.pk, "state": check.state, "sent_to_review": check.sent_to_review}


@dataclass
class CheckData:
    """What a check scores: labelled items in the cache, their labels and vectors, and the crowd."""

    ids: np.ndarray
    y: np.ndarray
    gold: np.ndarray  # bool per row
    X: np.ndarray
    annotations: tuple[np.ndarray, np.ndarray, np.ndarray]  # (row, annotator code, class)
    annotator_ids: np.ndarray  # annotator code -> user id
    annotator_count: np.ndarray  # per row


def load_check_data(project: Project, schema: LabelSchema, store) -> CheckData:
    """Resolved labels (through the one resolved-label rule), gold answers in place of them for
    gold items (the arbiters), the items' cached vectors and each annotator's latest label."""
    index = {name: i for i, name in enumerate(schema.class_names)}
    ids, y = labelled_items(project, schema)
    labels = dict(zip(ids.tolist(), y.tolist(), strict=True))
    gold_ids = set()
    for item_id, answer in GoldItem.objects.filter(item__project=project).values_list("item_id", "labels"):
        known = [name for name in answer or [] if name in index]
        if known:
            labels[item_id] = index[known[0]]
            gold_ids.add(item_id)
    ids = np.array(sorted(labels), dtype=np.int64)
    ids = ids[np.isin(ids, store.ids)]
    y = np.array([labels[int(i)] for i in ids], dtype=np.int64)
    gold = np.isin(ids, np.array(sorted(gold_ids), dtype=np.int64))
    row_of = {int(item_id): r for r, item_id in enumerate(ids)}
    latest: dict[tuple[int, int], int] = {}
    annotations = (
        Annotation.objects.filter(item__project=project, retracted_at__isnull=True, annotator__isnull=False)
        .order_by("item_id", "id")
        .values_list("item_id", "annotator_id", "labels")
    )
    for item_id, who, given in annotations.iterator(chunk_size=5000):
        row = row_of.get(item_id)
        first = next((name for name in given or [] if name in index), None)
        if row is not None and first is not None:
            latest[(row, who)] = index[first]  # by id: the annotator's latest label wins
    rows = np.fromiter((r for r, _ in latest), np.int64, len(latest))
    who = np.fromiter((w for _, w in latest), np.int64, len(latest))
    cls = np.fromiter(latest.values(), np.int64, len(latest))
    annotator_ids, codes = np.unique(who, return_inverse=True)
    return CheckData(
        ids=ids,
        y=y,
        gold=gold,
        X=store.get(ids) if len(ids) else np.zeros((0, store.dim), np.float32),
        annotations=(rows, codes.astype(np.int64), cls),
        annotator_ids=annotator_ids,
        annotator_count=np.bincount(rows, minlength=len(ids)) if len(rows) else np.zeros(len(ids), np.int64),
    )


def run_check(check: NoiseCheck, device: str | None = None) -> NoiseCheck:
    """Run a claimed check to the end. Raises on failure (the job turns that into a retry)."""
    started = time.perf_counter()
    timings: dict[str, float] = {}
    project = check.project
    requested = device or check.device
    device = resolve_device(default_device() if requested == "auto" else requested)
    schema = label_schema(project)
    class_names = schema.class_names
    clock = time.perf_counter()
    store, _ = ensure_embedded(project, device, on_progress=lambda: beat(check))
    data = load_check_data(project, schema, store)
    timings["load"] = round(time.perf_counter() - clock, 3)
    if len(data.y) < MIN_LABELS or len(np.unique(data.y)) < 2 or len(class_names) < 2:
        return finish(
            check, data, None, None, [], class_names, timings, started, device, note="too few labels"
        )
    folds = noise.effective_folds(len(data.y), check.folds)
    assignment = noise.fold_assignment(data.y, folds, check.pk)
    done = stored_folds(check, data, assignment)

    def store_fold(fold: int, rows: np.ndarray, proba: np.ndarray) -> None:
        write_fold(check, data, class_names, fold, rows, proba)

    clock = time.perf_counter()
    oos = noise.out_of_sample_proba(
        data.X,
        data.y,
        len(class_names),
        folds=folds,
        seed=check.pk,
        device=device,
        done=done,
        on_fold=store_fold,
    )
    # Detection reads the probabilities as stored, so a resumed check scores exactly as a fresh one.
    oos.proba = as_stored(oos.proba).astype(np.float32)
    timings["folds"] = round(time.perf_counter() - clock, 3)
    timings["fold_seconds"] = oos.fold_seconds
    beat(check)
    clock = time.perf_counter()
    detection = noise.detect(data.y, oos.proba, arbiter=data.gold, annotations=data.annotations)
    pairs = noise.near_duplicate_conflicts(
        data.X, data.y, similarity=settings.LABELHUB_NOISE_DUPLICATE_SIMILARITY, seed=check.pk
    )
    timings["detect"] = round(time.perf_counter() - clock, 3)
    check.head = oos.head
    return finish(check, data, oos, detection, pairs, class_names, timings, started, device)


def beat(check: NoiseCheck) -> None:
    """Heartbeat of the attempt; :class:`CheckSuperseded` when it no longer owns the check."""
    alive = NoiseCheck.objects.filter(
        pk=check.pk, state=NoiseCheck.State.RUNNING, attempts=check.attempts
    ).update(heartbeat_at=timezone.now())
    if not alive:
        raise CheckSuperseded(f"label-noise check {check.pk} attempt {check.attempts} was superseded")


def stored_folds(check: NoiseCheck, data: CheckData, assignment: np.ndarray) -> dict[int, np.ndarray]:
    """Folds an earlier attempt stored, as ``{fold: probabilities in the fold's row order}``.

    Used only when a fold's stored items are exactly the fold's items now; labels that changed
    since (new labels, a fix) make the earlier folds stale, and they are dropped and recomputed.
    """
    stored: dict[int, dict[int, list]] = {}
    for item_id, fold, proba in NoiseScore.objects.filter(noise_check=check).values_list(
        "item_id", "fold", "proba"
    ):
        stored.setdefault(fold, {})[item_id] = proba
    if not stored:
        return {}
    done = {}
    for fold, by_item in stored.items():
        wanted = data.ids[assignment == fold]
        if set(by_item) != set(wanted.tolist()):
            NoiseScore.objects.filter(noise_check=check).delete()
            NoiseCheck.objects.filter(pk=check.pk).update(folds_done=0)
            return {}
        done[fold] = np.array([by_item[int(i)] for i in wanted], dtype=np.float32)
    return done


def as_stored(proba: np.ndarray) -> np.ndarray:
    """Probabilities as a check stores them: five decimals."""
    return np.round(np.asarray(proba, np.float64), 5)


def write_fold(
    check: NoiseCheck, data: CheckData, class_names, fold: int, rows: np.ndarray, proba: np.ndarray
) -> None:
    """Store one fold's probabilities (one row per item: a repeated write changes nothing) and beat."""
    stored = as_stored(proba)
    with transaction.atomic():
        beat(check)
        NoiseScore.objects.bulk_create(
            [
                NoiseScore(
                    noise_check=check,
                    item_id=int(data.ids[r]),
                    fold=fold,
                    given=class_names[int(data.y[r])],
                    proba=stored[i].tolist(),
                    is_gold=bool(data.gold[r]),
                    annotators=int(data.annotator_count[r]),
                )
                for i, r in enumerate(rows)
            ],
            batch_size=WRITE_BATCH,
            ignore_conflicts=True,
        )
        NoiseCheck.objects.filter(pk=check.pk).update(folds_done=F("folds_done") + 1)


def finish(
    check: NoiseCheck,
    data: CheckData,
    oos: noise.OutOfSample | None,
    detection: noise.Detection | None,
    pairs: list[tuple[int, int, float]],
    class_names: tuple[str, ...],
    timings: dict,
    started: float,
    device: str,
    note: str = "",
) -> NoiseCheck:
    """Write detection onto the scores, send the top suspects to review, close the check — all or nothing."""
    project = check.project
    clock = time.perf_counter()
    metrics: dict = {"classes": list(class_names)}
    if note:
        metrics["note"] = note
    suspects: dict[int, tuple[float, str]] = {}
    ranking = np.zeros(0, np.int64)
    if detection is not None:
        ranking = noise.ranked_suspects(detection, data.gold)
        metrics.update(summarise(data, detection, pairs, class_names, ranking))
    with transaction.atomic():
        current = NoiseCheck.objects.select_for_update().get(pk=check.pk)
        if current.state != NoiseCheck.State.RUNNING or current.attempts != check.attempts:
            raise CheckSuperseded(f"label-noise check {check.pk} attempt {check.attempts} was superseded")
        if detection is not None:
            write_detection(check, data, detection, ranking, class_names)
            suspects = pick_suspects(project, data, detection, ranking, class_names, check.review_budget)
        opened = send_suspected_errors(project, suspects) if suspects else {}
        NoiseReview.objects.bulk_create(
            [
                NoiseReview(
                    noise_check=check,
                    item_id=item_id,
                    task_id=task_id,
                    given=[class_names[int(data.y[row_of])]],
                    suggested=class_names[int(detection.suggestion[row_of])],
                    confidence=round(float(detection.confidence[row_of]), 4),
                    quality=round(float(detection.quality[row_of]), 4),
                )
                for item_id, task_id in opened.items()
                for row_of in [int(np.searchsorted(data.ids, item_id))]
            ],
            ignore_conflicts=True,
        )
        timings["write"] = round(time.perf_counter() - clock, 3)
        timings["total"] = round(time.perf_counter() - started, 3)
        metrics["timings"] = timings
        current.state = NoiseCheck.State.DONE
        current.finished_at = timezone.now()
        current.labelled = len(data.y)
        current.head = check.head
        current.device_used = device
        current.issues_found = int(detection.is_issue.sum()) if detection is not None else 0
        current.sent_to_review = len(opened)
        current.metrics = metrics
        current.error = ""
        current.save()
    return current


def write_detection(
    check, data: CheckData, detection: noise.Detection, ranking: np.ndarray, class_names
) -> None:
    rank = np.zeros(len(data.y), np.int64)
    rank[ranking] = np.arange(1, len(ranking) + 1)
    pks = dict(NoiseScore.objects.filter(noise_check=check).values_list("item_id", "pk"))
    rows = [
        NoiseScore(
            pk=pks[int(item_id)],
            quality=round(float(detection.quality[r]), 5),
            is_issue=bool(detection.is_issue[r]),
            suggested=class_names[int(detection.suggestion[r])],
            confidence=round(float(detection.confidence[r]), 5),
            outlier=round(float(detection.outlier[r]), 5),
            rank=int(rank[r]) or None,
        )
        for r, item_id in enumerate(data.ids)
        if int(item_id) in pks
    ]
    NoiseScore.objects.bulk_update(
        rows, ["quality", "is_issue", "suggested", "confidence", "outlier", "rank"], batch_size=WRITE_BATCH
    )


def pick_suspects(
    project: Project, data: CheckData, detection: noise.Detection, ranking, class_names, budget: int
) -> dict[int, tuple[float, str]]:
    """The most suspect flagged issues, up to ``budget``, that no reviewer has settled or is looking at."""
    if budget <= 0:
        return {}
    busy = set(
        AdjudicationTask.objects.filter(project=project, status=AdjudicationTask.Status.OPEN).values_list(
            "item_id", flat=True
        )
    ) | set(
        ConsensusLabel.objects.filter(
            item__project=project, method=ConsensusLabel.Method.ADJUDICATED
        ).values_list("item_id", flat=True)
    )
    chosen: dict[int, tuple[float, str]] = {}
    for position, r in enumerate(ranking, start=1):
        item_id = int(data.ids[r])
        if not detection.is_issue[r] or item_id in busy:
            continue
        given, suggested = class_names[int(data.y[r])], class_names[int(detection.suggestion[r])]
        judged = (
            f" Judged by CROWDLAB over {int(data.annotator_count[r])} annotators."
            if data.annotator_count[r] >= 2
            else ""
        )
        chosen[item_id] = (
            float(detection.quality[r]),
            f"Given label: {given}. The model suggests {suggested} "
            f"(confidence {detection.confidence[r]:.0%}, out of sample); label quality "
            f"{detection.quality[r]:.3f}, suspect {position} of {len(ranking)}.{judged}",
        )
        if len(chosen) >= budget:
            break
    return chosen


def summarise(data: CheckData, detection: noise.Detection, pairs, class_names, ranking) -> dict:
    """The figures the data-quality page shows: suspects by class and annotator, CROWDLAB beside
    Dawid–Skene, near-duplicate conflicts and outliers."""
    issues = detection.is_issue
    by_class = {
        name: {"labelled": int((data.y == c).sum()), "suspects": int((issues & (data.y == c)).sum())}
        for c, name in enumerate(class_names)
    }
    rows, codes, cls = data.annotations
    by_annotator: dict[str, dict[str, int]] = {}
    for code, user_id in enumerate(data.annotator_ids.tolist()):
        mine = codes == code
        suspected = mine & issues[rows] & (cls == data.y[rows])
        by_annotator[str(user_id)] = {"labels": int(mine.sum()), "suspects": int(suspected.sum())}
    crowd = {}
    if detection.crowdlab:
        crowd = {
            str(int(data.annotator_ids[code])): figures
            for code, figures in detection.crowdlab.get("annotators", {}).items()
        }
    external = dict(
        Item.objects.filter(
            pk__in=[int(data.ids[r]) for p in pairs[:NEAR_DUPLICATES_KEPT] for r in p[:2]]
        ).values_list("id", "external_id")
    )
    near = [
        {
            "a": external.get(int(data.ids[a]), str(int(data.ids[a]))),
            "b": external.get(int(data.ids[b]), str(int(data.ids[b]))),
            "a_label": class_names[int(data.y[a])],
            "b_label": class_names[int(data.y[b])],
            "similarity": round(similarity, 4),
        }
        for a, b, similarity in pairs[:NEAR_DUPLICATES_KEPT]
    ]
    outlier_rows = np.argsort(detection.outlier, kind="stable")[:OUTLIERS_KEPT]
    outlier_ext = dict(
        Item.objects.filter(pk__in=[int(data.ids[r]) for r in outlier_rows]).values_list("id", "external_id")
    )
    return {
        "suspects_by_class": by_class,
        "suspects_by_annotator": by_annotator,
        "crowdlab": crowd,
        "crowdlab_items": int(detection.crowdlab.get("items", 0)) if detection.crowdlab else 0,
        "dawid_skene": dawid_skene_accuracy(data),
        "near_duplicate_conflicts": len(pairs),
        "near_duplicates": near,
        "outliers": [
            {
                "item": outlier_ext.get(int(data.ids[r]), str(int(data.ids[r]))),
                "label": class_names[int(data.y[r])],
                "score": round(float(detection.outlier[r]), 4),
            }
            for r in outlier_rows
        ],
        "gold_items": int(data.gold.sum()),
        "multi_annotator_items": int((data.annotator_count >= 2).sum()),
    }


def dawid_skene_accuracy(data: CheckData) -> dict[str, float]:
    """Each annotator's mean Dawid–Skene posterior of their own labels on items with 2+ annotators
    (the project's aggregation model's view of them, shown beside CROWDLAB's annotator quality)."""
    rows, codes, cls = data.annotations
    multi = data.annotator_count[rows] >= 2
    if not multi.any():
        return {}
    rows, codes, cls = rows[multi], codes[multi], cls[multi]
    _, item_codes = np.unique(rows, return_inverse=True)
    values, posteriors = dawid_skene_posteriors(item_codes, codes, cls)
    own = posteriors[item_codes, np.searchsorted(values, cls)]
    result = {}
    for code in np.unique(codes):
        result[str(int(data.annotator_ids[code]))] = round(float(own[codes == code].mean()), 4)
    return result


# Failures and sweeping ----------------------------------------------------------------------
def record_failure(check_id: int, error: str, *, enqueue: Enqueue) -> NoiseCheck:
    """Back to pending with a delayed retry (resuming at the first missing fold), or failed for good."""
    with transaction.atomic():
        check = NoiseCheck.objects.select_for_update().get(pk=check_id)
        if check.state != NoiseCheck.State.RUNNING:
            return check
        now = timezone.now()
        check.error = error[:4000]
        check.heartbeat_at = now
        if check.attempts < check.max_attempts:
            check.state = NoiseCheck.State.PENDING
            enqueue(check, now + retry_delay(check.attempts))
        else:
            check.state = NoiseCheck.State.FAILED
            check.finished_at = now
        check.save(update_fields=["state", "error", "heartbeat_at", "finished_at"])
    return check


def sweep_stale_checks(
    *, enqueue: Enqueue, stale_after: timedelta = DEAD_AFTER, project: Project | None = None
) -> list[NoiseCheck]:
    """Checks whose worker stopped heart-beating: a failed attempt each (retried while attempts remain)."""
    cutoff = timezone.now() - stale_after
    checks = NoiseCheck.objects.filter(state=NoiseCheck.State.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    )
    if project is not None:
        checks = checks.filter(project=project)
    return [
        record_failure(
            pk, f"no heartbeat since {cutoff:%Y-%m-%d %H:%M:%S} UTC (worker died)", enqueue=enqueue
        )
        for pk in checks.values_list("pk", flat=True)
    ]


# Review outcomes ----------------------------------------------------------------------------
def record_review_outcome(task: AdjudicationTask, outcome: str) -> NoiseReview | None:
    """A reviewer decided a suspected label error: confirmed, fixed, or ambiguous (→ a guideline question).

    Runs inside the transaction that closed the task (``adjudication_resolved``). A fix has already
    become the item's consensus (method ``adjudicated``) through the one resolved-label rule.
    """
    if task.reason != AdjudicationTask.Reason.LABEL_ERROR:
        return None
    review = NoiseReview.objects.filter(task=task).first()
    if review is None:
        return None  # a label-error task a manager opened by hand: nothing of ours to update
    now = timezone.now()
    if outcome == "ambiguous":
        review.outcome = NoiseReview.Outcome.AMBIGUOUS
        if task.resolved_by_id is not None:
            ItemFlag.objects.create(
                item_id=task.item_id,
                annotator_id=task.resolved_by_id,
                comment=(
                    f"Suspected label error found ambiguous in review: given {', '.join(review.given)}, "
                    f"the model suggests {review.suggested}. {task.note}".strip()
                ),
            )
    else:
        fixed = sorted(task.resolved_labels or []) != sorted(review.given)
        review.outcome = NoiseReview.Outcome.FIXED if fixed else NoiseReview.Outcome.CONFIRMED
        review.fixed_to = task.resolved_labels if fixed else None
    review.resolved_at = now
    review.save(update_fields=["outcome", "fixed_to", "resolved_at"])
    return review


def outcome_counts(checks) -> dict[int, Counter]:
    """``{check id: Counter(outcome)}`` for the given checks."""
    counts: dict[int, Counter] = {}
    for check_id, outcome in NoiseReview.objects.filter(noise_check__in=checks).values_list(
        "noise_check_id", "outcome"
    ):
        counts.setdefault(check_id, Counter())[outcome] += 1
    return counts
