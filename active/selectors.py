"""Reads of active-learning state for the API and pages (no torch here: web processes import this)."""

from __future__ import annotations

from statistics import median

from django.db.models import QuerySet

from active import forecast
from active.models import ActiveSettings, ModelRound, SimulationRun
from active.strategies import RANDOM
from labelhub.projects.models import Annotation, GroundTruth, Project

PACE_SAMPLE = 5000  # the latest labels whose median time is the project's pace


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
        {
            "round": r["number"],
            "labels": r["labels_used"],
            "accuracy": r["metrics"].get("accuracy"),
            "eval_size": r["metrics"].get("eval_size"),
        }
        for r in reversed(rows)
        if r["metrics"].get("accuracy") is not None
    ]


def control_slice(project: Project, limit: int = 20) -> list[dict]:
    """Per done round (model version), newest first: its accuracy on the random control slice with
    the 95 % interval, and active labels against random ones at the same count (``active.control``)."""
    rows = (
        ModelRound.objects.filter(project=project, state=ModelRound.State.DONE)
        .order_by("-number")
        .values("pk", "number", "labels_used", "strategy", "metrics")[:limit]
    )
    series = []
    for r in rows:
        slice_ = (r["metrics"] or {}).get("control") or {}
        if not slice_:
            continue
        series.append(
            {
                "model_version": r["pk"],
                "round": r["number"],
                "labels": r["labels_used"],
                "strategy": r["strategy"],
                "held_out_accuracy": r["metrics"].get("accuracy"),
                "share": slice_.get("share"),
                "labelled": slice_.get("labelled", 0),
                "queued": slice_.get("queued"),
                "accuracy": slice_.get("accuracy"),
                "interval": slice_.get("interval"),
                "vs_random": slice_.get("vs_random"),
            }
        )
    return series


def strategy_evidence(project: Project) -> dict | None:
    """The latest strategy choice a simulation on the project's own labels made (``metrics["strategy_evidence"]``)."""
    metrics = (
        ModelRound.objects.filter(
            project=project, state=ModelRound.State.DONE, metrics__has_key="strategy_evidence"
        )
        .order_by("-number")
        .values_list("metrics", flat=True)
        .first()
    )
    return metrics["strategy_evidence"] if metrics else None


def active_settings(project: Project) -> ActiveSettings:
    """The project's saved settings, or the defaults unsaved (a read never writes)."""
    return ActiveSettings.objects.filter(project=project).first() or ActiveSettings(project=project)


def seconds_per_label(project: Project) -> float | None:
    """Median seconds an annotator spent on each of the project's latest ``PACE_SAMPLE`` timed labels."""
    times = list(
        Annotation.objects.filter(item__project=project, retracted_at__isnull=True, time_spent__gt=0)
        .order_by("-id")
        .values_list("time_spent", flat=True)[:PACE_SAMPLE]
    )
    return float(median(times)) if times else None


def project_forecast(project: Project) -> forecast.Forecast:
    """Labels to the project's target accuracy from its rounds, with their hours and cost."""
    settings = active_settings(project)
    return forecast.forecast(
        accuracy_series(project),
        settings.target_accuracy,
        seconds_per_label=seconds_per_label(project),
        cost_per_hour=settings.cost_per_hour,
    )


def simulation_table(simulation: SimulationRun) -> list[dict]:
    """Per strategy: labels to reach random's accuracy at the budget (mean ± sd, seeds reached) and
    macro recall at the budget against random's. Empty for simulations from before these figures."""
    summary = simulation.summary or {}
    reach, at_budget = summary.get("labels_to_reach"), summary.get("at_budget")
    if not reach or not at_budget:
        return []
    random_recall = (at_budget.get(RANDOM) or {}).get("macro_recall", {}).get("mean")
    rows = []
    for name, reached in reach.items():
        recall = (at_budget.get(name) or {}).get("macro_recall", {})
        rows.append(
            {
                "strategy": name,
                "is_random": name == RANDOM,
                "labels_mean": reached.get("mean"),
                "labels_sd": reached.get("sd"),
                "reached": reached.get("reached", 0),
                "seeds": len(summary.get("seeds", [])),
                "macro_recall": recall.get("mean"),
                "macro_recall_sd": recall.get("sd"),
                "random_macro_recall": random_recall,
                "recall_better": None
                if recall.get("mean") is None or random_recall is None or name == RANDOM
                else recall["mean"] > random_recall,
            }
        )
    return rows
