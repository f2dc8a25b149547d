"""Reads for the QA dashboard and APIs: per-annotator figures, volume, flags, queue sizes."""

from __future__ import annotations

import numpy as np
from django.contrib.auth import get_user_model
from django.db.models import Count
from django.db.models.functions import TruncDate

from annotators.qa.agreement import load_ratings, project_agreement
from annotators.qa.gold import wilson_interval
from annotators.qa.models import AdjudicationTask, AnnotatorFlag, AnnotatorStats, ConsensusLabel, GoldItem
from annotators.qa.timing import counted_seconds, finite_or_none
from labelhub.projects.models import Annotation, Project, ProjectMembership


def _round(x: float | None, digits: int = 4) -> float | None:
    """Rounded for display; ``None`` for NaN and infinity, which JSON cannot carry."""
    x = finite_or_none(x)
    return None if x is None else round(x, digits)


def annotator_overview(project: Project) -> list[dict]:
    """One row per annotator: volume, speed, gold accuracy with its 95% CI, agreement, flags."""
    import pandas as pd  # heavy: ~75 MB; only the dashboard reads need it

    stats = {s.annotator_id: s for s in AnnotatorStats.objects.filter(project=project)}
    members = {m.user_id: m for m in ProjectMembership.objects.filter(project=project).select_related("user")}
    # Speed over counted times only: one stored 1e308 or NaN must not make a mean infinite.
    timing = pd.DataFrame(
        [
            (who, counted_seconds(seconds))
            for who, seconds in Annotation.objects.filter(
                item__project=project, retracted_at__isnull=True, annotator__isnull=False
            ).values_list("annotator_id", "time_spent")
        ],
        columns=["annotator_id", "time_spent"],
    )
    speed = (
        timing.groupby("annotator_id")["time_spent"].agg(["count", "median", "mean"]) if len(timing) else None
    )
    flags: dict[int, list[str]] = {}
    for flag in AnnotatorFlag.objects.filter(project=project, resolved_at__isnull=True):
        flags.setdefault(flag.annotator_id, []).append(flag.reason)
    who = set(stats) | (set(speed.index) if speed is not None else set())
    who |= {uid for uid, m in members.items() if m.role == ProjectMembership.Role.ANNOTATOR}
    users = get_user_model().objects.in_bulk(list(who))
    rows = []
    for uid in sorted(who, key=lambda u: users[u].get_username() if u in users else str(u)):
        s = stats.get(uid)
        member = members.get(uid)
        interval = wilson_interval(s.gold_correct, s.gold_seen) if s else None
        count = int(speed.loc[uid, "count"]) if speed is not None and uid in speed.index else 0
        rows.append(
            {
                "annotator_id": uid,
                "username": users[uid].get_username() if uid in users else str(uid),
                "role": member.role if member else None,
                "is_paused": bool(member and member.is_paused),
                "paused_reason": member.paused_reason if member else "",
                "annotations": count,
                "seconds_per_item_median": _round(speed.loc[uid, "median"], 2) if count else None,
                "seconds_per_item_mean": _round(speed.loc[uid, "mean"], 2) if count else None,
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


def qa_counts(project: Project) -> dict:
    by_method = dict(
        ConsensusLabel.objects.filter(item__project=project)
        .values_list("method")
        .annotate(n=Count("item_id"))
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


def dashboard(project: Project) -> dict:
    """Everything the QA dashboard shows, as JSON-ready data (the page draws it, the API returns it)."""
    ratings = load_ratings(project)
    return {
        "project": {"id": project.pk, "name": project.name, "consensus_method": project.consensus_method},
        "policy": {
            "min_gold_accuracy": project.qa_min_gold_accuracy,
            "min_agreement": project.qa_min_agreement,
            "min_count": project.qa_min_count,
            "pause_on_fail": project.qa_pause_on_fail,
            "gold_rate": project.gold_rate,
        },
        "agreement": project_agreement(project, ratings),
        "annotators": annotator_overview(project),
        "volume_by_day": volume_by_day(project),
        "flags": open_flags(project),
        "counts": qa_counts(project),
        "ratings": int(len(ratings)),
        "items_rated": int(len(np.unique(ratings.item))) if len(ratings) else 0,
    }
