"""Consensus labels: one resolved label per item, by majority vote or Dawid–Skene.

The project's ``consensus_method`` picks the aggregator. Majority vote treats every annotator
alike; Dawid–Skene estimates each annotator's confusion matrix by EM and weighs them by it, so a
careless annotator stops outvoting two careful ones. It is crowd-kit's ``DawidSkene`` algorithm,
re-expressed over integer codes for speed; crowd-kit stays the reference the tests compare with. Items labelled once get method
``single``; adjudicated labels are never overwritten by a recomputation.
"""

from __future__ import annotations

import json
import logging

import numpy as np
from django.db import connection, transaction
from django.db.models import Exists, OuterRef

from annotators.qa.adjudication import open_adjudications
from annotators.qa.agreement import Ratings, load_ratings
from annotators.qa.models import ConsensusLabel
from annotators.qa.resolution import Resolution
from annotators.qa.signals import still_collecting
from labelhub.projects.models import Annotation, LabelClass, Project

logger = logging.getLogger(__name__)

# crowd-kit's defaults: EM stops when the per-answer evidence lower bound gains less than this.
DS_MAX_ITERATIONS = 100
DS_TOLERANCE = 1e-5


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
        labels = [[ratings.classes[c] for c in np.flatnonzero(row)] for row in chosen]  # schema order
    else:
        set_counts = _item_set_counts(ratings)
        winner = set_counts.argmax(axis=1)
        top = set_counts[np.arange(len(winner)), winner]
        tie = (set_counts == top[:, None]).sum(axis=1) > 1
        confidence = top / m
        as_lists = [list(labels) for labels in ratings.sets]  # shared per set: never mutated
        labels = [as_lists[s] for s in winner.tolist()]
    method = np.where(m == 1, ConsensusLabel.Method.SINGLE, ConsensusLabel.Method.MAJORITY)
    return Resolution(
        ratings.item_ids, labels, confidence.astype(float), m, method, tie & (m > 1), disagreement
    )


_EPS = 1e-10  # crowd-kit's floor for probabilities before taking logs


def dawid_skene_posteriors(
    items: np.ndarray,
    workers: np.ndarray,
    labels: np.ndarray,
    *,
    n_iter: int = DS_MAX_ITERATIONS,
    tol: float = DS_TOLERANCE,
) -> tuple[np.ndarray, np.ndarray]:
    """Dawid–Skene EM: ``(label values, posteriors[item code, value index])``.

    The same algorithm, step for step, as crowd-kit's ``DawidSkene.fit`` (majority-vote start,
    M-step error matrices floored at 1e-10, E-step in log2, stop when the per-answer evidence
    lower bound gains less than ``tol``); the tests check it against crowd-kit to 1e-6.
    crowd-kit runs each step through pandas joins and group-bys (~1 s per EM round on a
    million answers); here each step is a handful of ``bincount`` calls over integer codes.
    """
    items = np.asarray(items, dtype=np.int64)
    workers = np.asarray(workers, dtype=np.int64)
    values, lab = np.unique(np.asarray(labels), return_inverse=True)
    n_items, n_workers, k = int(items.max()) + 1, int(workers.max()) + 1, len(values)
    answer = workers * k + lab  # row of (worker, observed label) in the error table
    present = np.bincount(answer, minlength=n_workers * k) > 0
    counts = np.bincount(items * k + lab, minlength=n_items * k).reshape(n_items, k).astype(np.float64)
    probas = counts / counts.sum(axis=1, keepdims=True)

    def m_step(probas: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Error matrices, and the unnormalised expected counts they came from (for the bound)."""
        per_answer = probas[items]
        expected = np.empty((n_workers * k, k))
        for true in range(k):
            expected[:, true] = np.bincount(answer, weights=per_answer[:, true], minlength=n_workers * k)
        errors = np.maximum(expected, _EPS)
        errors[~present] = 0.0  # crowd-kit's table only has the (worker, label) pairs seen
        errors = errors.reshape(n_workers, k, k)
        errors /= errors.sum(axis=1, keepdims=True)
        return errors.reshape(n_workers * k, k), expected

    def e_step(priors: np.ndarray, errors: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore"):
            log_errors = np.log2(errors)[answer]
        log_likelihood = np.empty((n_items, k))
        for true in range(k):
            log_likelihood[:, true] = np.bincount(items, weights=log_errors[:, true], minlength=n_items)
        log_likelihood += np.log2(np.maximum(priors, _EPS))
        log_likelihood -= log_likelihood.max(axis=1, keepdims=True)
        scaled = np.exp2(log_likelihood)
        return scaled / scaled.sum(axis=1, keepdims=True)

    def evidence_lower_bound(
        probas: np.ndarray, priors: np.ndarray, errors: np.ndarray, expected: np.ndarray
    ) -> tuple[float, np.ndarray]:
        # sum over answers r and classes c of p[item_r, c] · (ln e[answer_r, c] + ln prior_c),
        # regrouped by answer row: the M-step's expected counts already hold sum_r p[item_r, c].
        log_errors = np.log(errors[present])
        expectation = float((expected[present] * log_errors).sum())
        expectation += float(expected.sum(axis=0) @ np.log(np.maximum(priors, _EPS)))
        floored = np.maximum(probas, _EPS)
        entropy = -float((np.log(floored) * floored).sum())
        return (expectation + entropy) / len(items), floored

    priors = probas.mean(axis=0)
    errors, _ = m_step(probas)
    loss = -np.inf
    for _ in range(n_iter):
        probas = e_step(priors, errors)
        priors = probas.mean(axis=0)
        errors, expected = m_step(probas)
        new_loss, probas = evidence_lower_bound(probas, priors, errors, expected)
        if new_loss - loss < tol:
            break
        loss = new_loss
    return values, probas


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
            values, probas = dawid_skene_posteriors(ratings.item, ratings.annotator, chosen)
            p_yes = probas[:, int(np.flatnonzero(values == 1)[0])]
            decided[:, c] = p_yes > 0.5
            certainty[:, c] = np.maximum(p_yes, 1 - p_yes)
        labels = [[ratings.classes[c] for c in np.flatnonzero(row)] for row in decided]  # schema order
        confidence = certainty.mean(axis=1) if certainty.shape[1] else np.ones(n_items)
    else:
        values, probas = dawid_skene_posteriors(ratings.item, ratings.annotator, ratings.label_set)
        best = probas.argmax(axis=1)
        confidence = probas[np.arange(n_items), best]
        as_lists = [list(labels) for labels in ratings.sets]  # shared per set: never mutated
        labels = [as_lists[v] for v in values[best].tolist()]
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
        keep = np.array([int(i) not in adjudicated for i in resolution.item_ids], dtype=bool)
        if connection.vendor == "postgresql":
            _copy_upsert(resolution, keep)
        else:
            _bulk_upsert(resolution, keep)
        written = int(keep.sum())
        live = Annotation.objects.filter(
            item_id=OuterRef("item_id"), retracted_at__isnull=True, annotator__isnull=False
        )
        stale = (
            ConsensusLabel.objects.filter(item__project=project)
            .exclude(method=ConsensusLabel.Method.ADJUDICATED)
            .filter(~Exists(live))
        )
        removed, _ = stale.delete()
    return {"written": written, "kept_adjudicated": len(adjudicated), "removed": removed}


def compute_consensus(project: Project, *, method: str | None = None, ratings: Ratings | None = None) -> dict:
    """Recompute and store the consensus of every labelled item; open adjudication for disputes.

    Returns figures for the caller (command, API): items written, ties, disagreements, method.
    """
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
    A dispute goes to adjudication only once no more labels of the item are on the way (see
    :data:`annotators.qa.signals.item_collecting_labels`): the next overlap label may settle it.
    """
    existing = ConsensusLabel.objects.filter(item=item).first()
    if existing is not None and existing.method == ConsensusLabel.Method.ADJUDICATED:
        return existing
    resolution = item_majority(item)
    if resolution is None:
        if existing is not None:
            existing.delete()
        return None
    if (
        existing is not None
        and existing.method == ConsensusLabel.Method.DAWID_SKENE
        and existing.annotator_count == int(resolution.annotator_count[0])
    ):
        return existing  # nothing new for this item: keep the better estimate
    with transaction.atomic():
        write_consensus_rows(resolution)
        disputed = bool(resolution.disagreement[0] or resolution.tie[0])
        if disputed and not still_collecting(item):
            open_adjudications(item.project, resolution)
    return ConsensusLabel.objects.get(item=item)


def item_majority(item) -> Resolution | None:
    """``majority_vote`` of one item, computed straight from the item's few annotations.

    The submit path runs this for every label, so it skips the data-frame coding the
    project-wide paths need; a test holds it equal to the general one on random items. None
    when the item has no (non-retracted) annotation.
    """
    rows = Annotation.objects.filter(item=item, retracted_at__isnull=True, annotator__isnull=False)
    latest: dict[int, tuple[int, tuple[str, ...]]] = {}
    for row_id, annotator_id, labels in rows.values_list("id", "annotator_id", "labels"):
        if annotator_id not in latest or row_id > latest[annotator_id][0]:
            latest[annotator_id] = (row_id, tuple(sorted({str(x) for x in (labels or [])})))
    if not latest:
        return None
    votes = [labels for _, labels in sorted(latest.values())]  # each annotator's latest, by id
    m = len(votes)
    set_counts: dict[tuple[str, ...], int] = {}
    for labels in votes:  # insertion order = first appearance: the general path's set codes
        set_counts[labels] = set_counts.get(labels, 0) + 1
    if item.project.multi_label:
        classes = list(LabelClass.objects.filter(project_id=item.project_id).values_list("name", flat=True))
        classes += sorted({name for labels in votes for name in labels} - set(classes))
        class_counts = {name: sum(name in labels for labels in votes) for name in classes}
        winner = [name for name, count in class_counts.items() if count * 2 > m]  # schema order
        tie = any(count * 2 == m for count in class_counts.values())
        shares = [count / m for count in class_counts.values()]
        confidence = float(np.mean([max(share, 1 - share) for share in shares])) if shares else 1.0
    else:
        top = max(set_counts.values())
        winner = list(next(labels for labels, count in set_counts.items() if count == top))
        if len(winner) > 1:  # a multi-class set on a single-label project (the schema changed)
            winner = _in_schema_order(item.project_id, winner)
        tie = sum(count == top for count in set_counts.values()) > 1
        confidence = top / m
    method = ConsensusLabel.Method.SINGLE if m == 1 else ConsensusLabel.Method.MAJORITY
    return Resolution(
        item_ids=np.array([item.pk], dtype=np.int64),
        labels=[winner],
        confidence=np.array([confidence], dtype=float),
        annotator_count=np.array([m], dtype=np.int64),
        method=np.array([method]),
        tie=np.array([tie and m > 1]),
        disagreement=np.array([len(set_counts) > 1]),
    )


def _in_schema_order(project_id: int, names: list[str]) -> list[str]:
    """``names`` in the project's class order, classes no longer in the schema last (by name)."""
    classes = LabelClass.objects.filter(project_id=project_id).order_by("order", "id")
    position = {name: index for index, name in enumerate(classes.values_list("name", flat=True))}
    return sorted(names, key=lambda name: (position.get(name, len(position)), name))


def _rows(resolution: Resolution, keep: np.ndarray | None = None):
    """(item_id, labels JSON, confidence, method, annotator_count) per item to write."""
    json_of: dict[tuple[str, ...], str] = {}  # a project has few distinct label sets
    for index, (item_id, labels, confidence, method, count) in enumerate(
        zip(
            resolution.item_ids,
            resolution.labels,
            resolution.confidence,
            resolution.method,
            resolution.annotator_count,
            strict=True,
        )
    ):
        if keep is not None and not keep[index]:
            continue
        key = tuple(labels)
        text = json_of.get(key)
        if text is None:
            text = json_of[key] = json.dumps(list(labels))
        yield int(item_id), text, round(float(confidence), 6), str(method), int(count)


def _rows_csv(resolution: Resolution, keep: np.ndarray) -> str:
    """The rows to write as one CSV text (pandas' writer; no Python loop per row beyond a lookup)."""
    import pandas as pd  # heavy: only a project-wide recompute on PostgreSQL writes through it

    json_of: dict[tuple[str, ...], str] = {}
    texts = [
        json_of.get(key) or json_of.setdefault(key, json.dumps(list(key)))
        for key in map(tuple, resolution.labels)
    ]
    frame = pd.DataFrame(
        {
            "item_id": resolution.item_ids,
            "labels": texts,
            "confidence": np.round(resolution.confidence, 6),
            "method": resolution.method,
            "annotator_count": resolution.annotator_count,
        }
    )[keep]
    return frame.to_csv(index=False, header=False)


def _bulk_upsert(resolution: Resolution, keep: np.ndarray | None = None) -> None:
    ConsensusLabel.objects.bulk_create(
        [
            ConsensusLabel(item_id=i, labels=json.loads(text), confidence=c, method=m, annotator_count=n)
            for i, text, c, m, n in _rows(resolution, keep)
        ],
        batch_size=5000,
        update_conflicts=True,
        unique_fields=["item"],
        update_fields=["labels", "confidence", "method", "annotator_count", "updated_at"],
    )


def _copy_upsert(resolution: Resolution, keep: np.ndarray) -> None:
    """PostgreSQL: COPY the rows into a temporary table, then one INSERT … ON CONFLICT.

    200,000 rows through ``bulk_create`` cost ~20 s of SQL text and parameter binding; COPY
    streams them in well under a second. Adjudicated rows are protected twice: filtered out
    here, and by the ``WHERE`` of the conflict update in case one was adjudicated meanwhile.
    """
    table = ConsensusLabel._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE TEMPORARY TABLE IF NOT EXISTS qa_consensus_in (item_id bigint, labels jsonb, "
            "confidence double precision, method varchar(15), annotator_count integer) ON COMMIT DROP"
        )
        cursor.execute("TRUNCATE qa_consensus_in")
        with cursor.cursor.copy("COPY qa_consensus_in FROM STDIN WITH (FORMAT CSV)") as copy:
            copy.write(_rows_csv(resolution, keep))
        cursor.execute(
            f"INSERT INTO {table} (item_id, labels, confidence, method, annotator_count, updated_at) "  # noqa: S608
            "SELECT item_id, labels, confidence, method, annotator_count, now() FROM qa_consensus_in "
            "ON CONFLICT (item_id) DO UPDATE SET labels = EXCLUDED.labels, confidence = EXCLUDED.confidence, "
            "method = EXCLUDED.method, annotator_count = EXCLUDED.annotator_count, updated_at = EXCLUDED.updated_at "
            f"WHERE {table}.method <> 'adjudicated'"
        )


def write_consensus_rows(resolution: Resolution) -> None:
    """Upsert the given items' consensus rows (small writes on the submit path)."""
    _bulk_upsert(resolution)
