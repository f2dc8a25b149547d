"""Reads of active-learning state for the API and pages (no torch here: web processes import this)."""

from __future__ import annotations

from django.db.models import QuerySet

from active.models import ModelRound, SimulationRun
from labelhub.projects.models import Annotation, GroundTruth, Project


def active_round(project: Project) -> ModelRound | None:
    """The project's pending or running round (at most one: a constraint says so), if any."""
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


def rounds_of(project) -> QuerySet[ModelRound]:
    return ModelRound.objects.filter(project=project).select_related("requested_by")


def simulations_of(project) -> QuerySet[SimulationRun]:
    return SimulationRun.objects.filter(project=project)


def has_ground_truth(project) -> bool:
    return GroundTruth.objects.filter(item__project=project).exists()


def accuracy_series(project, limit: int = 50) -> list[dict]:
    """Held-out accuracy of the last ``limit`` done rounds, oldest first, for the page's chart."""
    rows = (
        ModelRound.objects.filter(project=project, state=ModelRound.State.DONE)
        .order_by("-number")
        .values("number", "labels_used", "metrics")[:limit]
    )
    return [
        {"round": r["number"], "labels": r["labels_used"], "accuracy": r["metrics"].get("accuracy")}
        for r in reversed(rows)
        if r["metrics"].get("accuracy") is not None
    ]


def svg_polyline(points: list[dict], width: int = 520, height: int = 140, pad: int = 24) -> dict | None:
    """Screen coordinates of accuracy against labels, for an inline SVG (None when there is nothing to draw)."""
    if not points:
        return None
    xs = [p["labels"] for p in points]
    lo_x, hi_x = min(xs), max(xs)
    span_x = (hi_x - lo_x) or 1

    def to_screen(p):
        x = pad + (p["labels"] - lo_x) / span_x * (width - 2 * pad)
        y = height - pad - p["accuracy"] * (height - 2 * pad)
        return round(x, 1), round(y, 1)

    coords = [to_screen(p) for p in points]
    return {
        "width": width,
        "height": height,
        "pad": pad,
        "points": " ".join(f"{x},{y}" for x, y in coords),
        "dots": [{"x": x, "y": y, **p} for (x, y), p in zip(coords, points, strict=True)],
        "min_labels": lo_x,
        "max_labels": hi_x,
    }
