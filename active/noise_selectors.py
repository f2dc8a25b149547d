"""Reads behind the data-quality page and the label-noise API: checks, their suspects, and how
review went (no torch or cleanlab here: web processes import this)."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.db.models import QuerySet

from active.models import NoiseCheck, NoiseReview, NoiseScore
from annotators.qa.policies import review_error_counts
from labelhub.projects.models import Project

HISTORY = 20  # checks the page plots, newest last


def checks_of(project: Project) -> QuerySet[NoiseCheck]:
    return NoiseCheck.objects.filter(project=project).order_by("-created_at", "-id")


def latest_done(project: Project) -> NoiseCheck | None:
    return checks_of(project).filter(state=NoiseCheck.State.DONE).first()


def suspects_of(check: NoiseCheck) -> QuerySet[NoiseScore]:
    """A check's scored items, most suspect first (gold items, which have no rank, last)."""
    return (
        NoiseScore.objects.filter(noise_check=check, rank__isnull=False)
        .select_related("item")
        .order_by("rank")
    )


def review_rates(checks: list[NoiseCheck]) -> list[dict]:
    """Per check (oldest first): suspects reviewed, fixed (confirmed errors), confirmed right,
    ambiguous, waiting; and the confirmed-error rate, fixed / (fixed + confirmed right)."""
    counts: dict[int, dict[str, int]] = {c.pk: dict.fromkeys(NoiseReview.Outcome.values, 0) for c in checks}
    for check_id, outcome in NoiseReview.objects.filter(noise_check__in=checks).values_list(
        "noise_check_id", "outcome"
    ):
        counts[check_id][outcome] += 1
    rows = []
    for check in sorted(checks, key=lambda c: c.number):
        c = counts[check.pk]
        decided = c[NoiseReview.Outcome.FIXED] + c[NoiseReview.Outcome.CONFIRMED]
        rows.append(
            {
                "check": check.number,
                "round": check.model_round.number if check.model_round_id else None,
                "created_at": check.created_at.isoformat(),
                "labelled": check.labelled,
                "issues_found": check.issues_found,
                "sent_to_review": check.sent_to_review,
                "fixed": c[NoiseReview.Outcome.FIXED],
                "confirmed": c[NoiseReview.Outcome.CONFIRMED],
                "ambiguous": c[NoiseReview.Outcome.AMBIGUOUS],
                "pending": c[NoiseReview.Outcome.PENDING],
                "confirmed_error_rate": round(c[NoiseReview.Outcome.FIXED] / decided, 4) if decided else None,
            }
        )
    return rows


def annotator_rows(check: NoiseCheck) -> list[dict]:
    """Suspects among each annotator's labels, CROWDLAB's annotator quality beside Dawid–Skene's, and
    the labels review found wrong (from this project's resolved label-error reviews)."""
    metrics = check.metrics or {}
    by_annotator = metrics.get("suspects_by_annotator", {})
    crowd = metrics.get("crowdlab", {})
    ds = metrics.get("dawid_skene", {})
    reviewed = review_error_counts(check.project)
    names = dict(
        get_user_model().objects.filter(pk__in=[int(k) for k in by_annotator]).values_list("pk", "username")
    )
    rows = []
    for key, figures in by_annotator.items():
        seen, wrong = reviewed.get(int(key), (0, 0))
        rows.append(
            {
                "annotator_id": int(key),
                "username": names.get(int(key), key),
                "labels": figures["labels"],
                "suspects": figures["suspects"],
                "suspect_rate": round(figures["suspects"] / figures["labels"], 4)
                if figures["labels"]
                else None,
                "crowdlab_quality": (crowd.get(key) or {}).get("quality"),
                "dawid_skene_accuracy": ds.get(key),
                "reviewed": seen,
                "found_wrong": wrong,
            }
        )
    return sorted(rows, key=lambda r: (-(r["suspect_rate"] or 0), r["username"]))


def class_rows(check: NoiseCheck) -> list[dict]:
    return [
        {
            "class": name,
            "labelled": figures["labelled"],
            "suspects": figures["suspects"],
            "suspect_rate": round(figures["suspects"] / figures["labelled"], 4)
            if figures["labelled"]
            else None,
        }
        for name, figures in (check.metrics or {}).get("suspects_by_class", {}).items()
    ]


def data_quality(project: Project) -> dict:
    """Everything the data-quality page shows, JSON-ready (the API answers the same)."""
    latest = latest_done(project)
    history = list(
        checks_of(project).filter(state=NoiseCheck.State.DONE).select_related("model_round")[:HISTORY]
    )
    result = {
        "latest": None,
        "history": review_rates(history),
        "by_class": [],
        "by_annotator": [],
        "near_duplicates": [],
        "near_duplicate_conflicts": 0,
        "outliers": [],
    }
    if latest is None:
        return result
    metrics = latest.metrics or {}
    result.update(
        latest={
            "id": latest.pk,
            "number": latest.number,
            "finished_at": latest.finished_at.isoformat() if latest.finished_at else None,
            "labelled": latest.labelled,
            "folds": latest.folds,
            "head": latest.head,
            "issues_found": latest.issues_found,
            "sent_to_review": latest.sent_to_review,
            "gold_items": metrics.get("gold_items", 0),
            "multi_annotator_items": metrics.get("multi_annotator_items", 0),
            "seconds": (metrics.get("timings") or {}).get("total"),
            "note": metrics.get("note", ""),
        },
        by_class=class_rows(latest),
        by_annotator=annotator_rows(latest),
        near_duplicates=metrics.get("near_duplicates", []),
        near_duplicate_conflicts=metrics.get("near_duplicate_conflicts", 0),
        outliers=metrics.get("outliers", []),
    )
    return result
