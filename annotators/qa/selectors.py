"""Reads for the QA dashboard and APIs: per-annotator figures, volume, flags, queue sizes."""

from __future__ import annotations

import hashlib
import threading
import time
from datetime import UTC, datetime

import numpy as np
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.cache import cache
from django.db import connection, connections
from django.db.models import Count, Max
from django.db.models.functions import TruncDate

from annotators.qa.agreement import load_ratings, project_agreement
from annotators.qa.gold import wilson_interval
from annotators.qa.models import AdjudicationTask, AnnotatorFlag, AnnotatorStats, ConsensusLabel, GoldItem
from annotators.qa.timing import counted_seconds, counted_seconds_sql, finite_or_none
from labelhub.projects.models import Annotation, Item, LabelClass, Project, ProjectMembership


def _round(x: float | None, digits: int = 4) -> float | None:
    """Rounded for display; ``None`` for NaN and infinity, which JSON cannot carry."""
    x = finite_or_none(x)
    return None if x is None else round(x, digits)


_SPEED_SQL = (
    "SELECT a.annotator_id, count(*), percentile_cont(0.5) WITHIN GROUP (ORDER BY t.seconds), "
    "avg(t.seconds) FROM {annotation} a JOIN {item} i ON i.id = a.item_id "
    "CROSS JOIN LATERAL (SELECT {seconds} AS seconds) t "
    "WHERE i.project_id = %s AND a.retracted_at IS NULL AND a.annotator_id IS NOT NULL "
    "GROUP BY a.annotator_id"
)


def annotator_speed(project: Project) -> dict[int, tuple[int, float, float]]:
    """``{annotator_id: (annotations, median seconds, mean seconds)}`` over counted times.

    PostgreSQL aggregates in the query (one row per annotator comes back, however many labels);
    elsewhere the rows are read and aggregated here. Speed is over counted times only: one
    stored 1e308 or NaN must not make a mean infinite.
    """
    if connection.vendor == "postgresql":
        sql = _SPEED_SQL.format(
            annotation=Annotation._meta.db_table,
            item=Item._meta.db_table,
            seconds=counted_seconds_sql("a.time_spent"),
        )
        with connection.cursor() as cursor:
            cursor.execute(sql, [project.pk])
            return {who: (int(n), float(median), float(mean)) for who, n, median, mean in cursor.fetchall()}
    times: dict[int, list[float]] = {}
    for who, seconds in Annotation.objects.filter(
        item__project=project, retracted_at__isnull=True, annotator__isnull=False
    ).values_list("annotator_id", "time_spent"):
        times.setdefault(who, []).append(counted_seconds(seconds))
    return {who: (len(t), float(np.median(t)), float(np.mean(t))) for who, t in times.items()}


def annotator_overview(
    project: Project, speed: dict[int, tuple[int, float, float]] | None = None
) -> list[dict]:
    """One row per annotator: volume, speed, gold accuracy with its 95% CI, agreement, flags."""
    stats = {s.annotator_id: s for s in AnnotatorStats.objects.filter(project=project)}
    members = {m.user_id: m for m in ProjectMembership.objects.filter(project=project).select_related("user")}
    speed = annotator_speed(project) if speed is None else speed
    flags: dict[int, list[str]] = {}
    for flag in AnnotatorFlag.objects.filter(project=project, resolved_at__isnull=True):
        flags.setdefault(flag.annotator_id, []).append(flag.reason)
    who = set(stats) | set(speed)
    who |= {uid for uid, m in members.items() if m.role == ProjectMembership.Role.ANNOTATOR}
    users = get_user_model().objects.in_bulk(list(who))
    rows = []
    for uid in sorted(who, key=lambda u: users[u].get_username() if u in users else str(u)):
        s = stats.get(uid)
        member = members.get(uid)
        interval = wilson_interval(s.gold_correct, s.gold_seen) if s else None
        count, median, mean = speed.get(uid, (0, None, None))
        rows.append(
            {
                "annotator_id": uid,
                "username": users[uid].get_username() if uid in users else str(uid),
                "role": member.role if member else None,
                "is_paused": bool(member and member.is_paused),
                "paused_reason": member.paused_reason if member else "",
                "annotations": count,
                "seconds_per_item_median": _round(median, 2) if count else None,
                "seconds_per_item_mean": _round(mean, 2) if count else None,
                "gold_seen": s.gold_seen if s else 0,
                "gold_correct": s.gold_correct if s else 0,
                "gold_accuracy": _round(s.gold_accuracy) if s else None,
                "gold_ci_low": _round(interval[0]) if interval else None,
                "gold_ci_high": _round(interval[1]) if interval else None,
                "consensus_seen": s.consensus_seen if s else 0,
                "consensus_agreement": _round(s.consensus_agreement) if s else None,
                "flags": flags.get(uid, []),
            }
        )
    return rows


def volume_by_day(project: Project) -> list[dict]:
    """Annotations submitted per day (non-retracted), for the volume plot."""
    return [
        {"day": row["day"].isoformat(), "annotations": row["n"]}
        for row in Annotation.objects.filter(item__project=project, retracted_at__isnull=True)
        .annotate(day=TruncDate("created_at"))
        .values("day")
        .annotate(n=Count("id"))
        .order_by("day")
    ]


def open_flags(project: Project) -> list[dict]:
    return [
        {
            "id": f.pk,
            "annotator_id": f.annotator_id,
            "username": f.annotator.get_username(),
            "kind": f.kind,
            "reason": f.reason,
            "value": _round(f.value),
            "threshold": f.threshold,
            "sample_size": f.sample_size,
            "paused": f.paused,
            "sent_to_review": f.sent_to_review,
            "created_at": f.created_at.isoformat(),
        }
        for f in AnnotatorFlag.objects.filter(project=project, resolved_at__isnull=True).select_related(
            "annotator"
        )
    ]


def qa_counts(project: Project, consensus_by_method: dict[str, int] | None = None) -> dict:
    """Gold items, consensus labels by method (unless the caller counted them) and adjudications."""
    by_method = (
        dict(
            ConsensusLabel.objects.filter(item__project=project)
            .values_list("method")
            .annotate(n=Count("item_id"))
        )
        if consensus_by_method is None
        else consensus_by_method
    )
    by_status = dict(
        AdjudicationTask.objects.filter(project=project).values_list("status").annotate(n=Count("id"))
    )
    return {
        "gold_items": GoldItem.objects.filter(item__project=project).count(),
        "consensus_by_method": by_method,
        "adjudication_open": by_status.get(AdjudicationTask.Status.OPEN, 0),
        "adjudication_resolved": by_status.get(AdjudicationTask.Status.RESOLVED, 0),
    }


def _set_name(labels) -> str:
    """How a label set reads on a confusion axis: the class, several joined by "+", or "(none)"."""
    return " + ".join(labels) if labels else "(none)"


def _confusion(pairs, classes: list[str]) -> dict:
    """A row-normalised confusion table from ``(row labels, column labels, count)`` triples.

    Axes list the schema's classes first (those that occur), then any other sets as they read.
    """
    cells: dict[tuple[str, str], int] = {}
    for row, column, n in pairs:
        key = (_set_name(sorted(row or [])), _set_name(sorted(column or [])))
        cells[key] = cells.get(key, 0) + int(n)
    seen = {name for key in cells for name in key}
    order = [c for c in classes if c in seen] + sorted(seen - set(classes))
    index = {name: i for i, name in enumerate(order)}
    counts = np.zeros((len(order), len(order)), dtype=np.int64)
    for (row, column), n in cells.items():
        counts[index[row], index[column]] += n
    totals = counts.sum(axis=1, keepdims=True)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(totals > 0, counts / np.maximum(totals, 1), 0.0)
    return {"classes": order, "counts": counts.tolist(), "row_share": np.round(share, 4).tolist()}


def gold_confusion(project: Project, classes: list[str]) -> dict:
    """Gold answer (rows) against the label annotators gave on gold items (columns)."""
    pairs = (
        Annotation.objects.filter(
            item__project=project,
            item__gold__isnull=False,
            retracted_at__isnull=True,
            annotator__isnull=False,
        )
        .values_list("item__gold__labels", "labels")
        .annotate(n=Count("id"))
        .order_by()
    )
    return _confusion(pairs, classes)


def consensus_summary(project: Project, classes: list[str]) -> tuple[dict[str, int], dict]:
    """Consensus labels by method, and consensus (rows) against the current model's suggestion
    (columns) on the items that have both: one pass over the project's consensus labels."""
    rows = (
        ConsensusLabel.objects.filter(item__project=project)
        .values_list("method", "labels", "item__suggestion__labels")
        .annotate(n=Count("item_id"))
        .order_by()
    )
    by_method: dict[str, int] = {}
    pairs = []
    for method, labels, suggested, n in rows:
        by_method[method] = by_method.get(method, 0) + n
        if suggested is not None:
            pairs.append((labels, suggested, n))
    return by_method, _confusion(pairs, classes)


def annotation_fingerprint(project: Project) -> tuple:
    """What moves whenever a figure computed from the project's labels can: a new, undone or
    removed label changes the count, the newest id or the newest retraction. One indexed query."""
    return tuple(
        Annotation.objects.filter(item__project=project)
        .aggregate(n=Count("id"), newest=Max("id"), retracted=Max("retracted_at"))
        .values()
    )


CACHE_SECONDS = 3600  # an entry outlives its use only until its fingerprint moves, then ages out


def _compute_label_figures(project: Project) -> dict:
    ratings = load_ratings(project)
    return {
        "agreement": project_agreement(project, ratings),
        "speed": annotator_speed(project),
        "volume_by_day": volume_by_day(project),
        "ratings": int(len(ratings)),
        "items_rated": int(len(np.unique(ratings.item))) if len(ratings) else 0,
        "as_of": time.time(),
    }


#: Projects whose label figures a background thread of this process is recomputing.
_refreshing: set[int] = set()
_refreshing_lock = threading.Lock()


def _refresh_in_background(
    project_pk: int, key: str, latest_key: str, schema: tuple
) -> threading.Thread | None:
    """Recompute a project's label figures in a thread of this process (one at a time per project)
    and cache them under ``key`` and as the project's latest; the thread closes its own database
    connection. None when one is already running."""
    with _refreshing_lock:
        if project_pk in _refreshing:
            return None
        _refreshing.add(project_pk)

    def run() -> None:
        try:
            figures = _compute_label_figures(Project.objects.get(pk=project_pk))
            cache.set(key, figures, CACHE_SECONDS)
            cache.set(latest_key, (schema, figures), CACHE_SECONDS)
        finally:
            connections["default"].close()
            with _refreshing_lock:
                _refreshing.discard(project_pk)

    threading.Thread(target=run, name=f"qa-figures-{project_pk}", daemon=True).start()


def _label_figures(project: Project) -> dict:
    """The figures that read every label (agreement, speed, volume), cached on the fingerprint.

    At 100,000 labels they take most of a second; a dashboard reloaded while nothing was labelled,
    or opened by a second manager, gets them in a millisecond. Anything else that can change them
    (the schema's classes, single/multi-label) is in the key too.

    While people label, the fingerprint moves with every label. Then the last figures of the same
    schema, if younger than ``LABELHUB_QA_STALE_SECONDS``, are shown at once (``as_of`` says when
    they were computed, ``refreshing`` that newer ones are on their way) and a background thread
    recomputes them: the page never waits for a full recomputation it can show a second later.
    With the setting at 0 (and for the first render, or after a schema change) it computes in the
    request.
    """
    classes = list(
        LabelClass.objects.filter(project=project).order_by("order", "id").values_list("name", flat=True)
    )
    schema = (project.multi_label, tuple(classes))
    key = (
        "qa-label-figures:"
        + hashlib.sha256(repr((project.pk, schema, annotation_fingerprint(project))).encode()).hexdigest()
    )
    latest_key = f"qa-label-figures-latest:{project.pk}"
    figures = cache.get(key)
    refreshing = False
    if figures is None:
        stale_seconds = settings.LABELHUB_QA_STALE_SECONDS
        latest = cache.get(latest_key) if stale_seconds > 0 else None
        if latest is not None and latest[0] == schema and time.time() - latest[1]["as_of"] < stale_seconds:
            figures, refreshing = latest[1], True
            _refresh_in_background(project.pk, key, latest_key, schema)
        else:
            figures = _compute_label_figures(project)
            cache.set(key, figures, CACHE_SECONDS)
            cache.set(latest_key, (schema, figures), CACHE_SECONDS)
    return {**figures, "classes": classes, "refreshing": refreshing}  # the cache hands back its own copy


def dashboard(project: Project) -> dict:
    """Everything the QA dashboard shows, as JSON-ready data (the page draws it, the API returns it)."""
    figures = _label_figures(project)
    by_method, model_table = consensus_summary(project, figures["classes"])
    return {
        "project": {"id": project.pk, "name": project.name, "consensus_method": project.consensus_method},
        "policy": {
            "min_gold_accuracy": project.qa_min_gold_accuracy,
            "min_agreement": project.qa_min_agreement,
            "min_count": project.qa_min_count,
            "pause_on_fail": project.qa_pause_on_fail,
            "gold_rate": project.gold_rate,
        },
        "agreement": figures["agreement"],
        "annotators": annotator_overview(project, figures["speed"]),
        "volume_by_day": figures["volume_by_day"],
        "gold_confusion": gold_confusion(project, figures["classes"]),
        "model_confusion": model_table,
        "flags": open_flags(project),
        "counts": qa_counts(project, by_method),
        "ratings": figures["ratings"],
        "items_rated": figures["items_rated"],
        "figures_as_of": datetime.fromtimestamp(figures["as_of"], tz=UTC).isoformat(timespec="seconds"),
        "figures_refreshing": figures["refreshing"],
    }
