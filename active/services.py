"""The app's entry points for views, the API, the admin, commands and receivers: start, retry and
sweep rounds (``active.jobs`` bound to the task queue), queue simulations, save the forecast's settings."""

from __future__ import annotations

import math
from datetime import timedelta

from active import jobs, noise_jobs
from active.errors import ActiveLearningError, SimulationError
from active.models import ActiveSettings, ModelRound, NoiseCheck
from active.selectors import has_ground_truth
from active.strategies import normalise_strategy
from active.tasks import enqueue_noise_check, enqueue_round, run_simulation, run_weak_labels
from labelhub.projects.models import Project
from labelhub.weak import label_model
from labelhub.weak import services as weak_services
from labelhub.weak.models import WeakRun

SIMULATION_ROUNDS = range(1, 201)
SIMULATION_BATCH = range(1, 10001)


def request_round(
    project: Project,
    *,
    trigger: str = ModelRound.Trigger.MANAGER,
    requested_by=None,
    device: str | None = None,
) -> tuple[ModelRound, bool]:
    """A pending round for the project and whether it is new (see ``jobs.request_round``)."""
    return jobs.request_round(
        project, enqueue=enqueue_round, trigger=trigger, requested_by=requested_by, device=device
    )


def maybe_trigger_round(project: Project) -> ModelRound | None:
    """The round that enough new labels started, if they did (see ``jobs.maybe_trigger_round``)."""
    return jobs.maybe_trigger_round(project, enqueue=enqueue_round)


def record_failure(round_id: int, error: str) -> ModelRound:
    """A failed attempt: retried after a backoff while attempts remain, else failed."""
    return jobs.record_failure(round_id, error, enqueue=enqueue_round)


def sweep_stale_rounds(
    stale_after: timedelta = jobs.DEAD_AFTER, project: Project | None = None
) -> list[ModelRound]:
    """Rounds whose worker died, recorded as failed attempts (and so retried); their task rows closed."""
    return jobs.sweep_stale_rounds(enqueue=enqueue_round, stale_after=stale_after, project=project)


def retry_failed_round(model_round: ModelRound) -> ModelRound:
    """One more attempt for a failed round, queued now."""
    return jobs.retry_failed_round(model_round, enqueue=enqueue_round)


def request_noise_check(
    project: Project,
    *,
    trigger: str = NoiseCheck.Trigger.MANAGER,
    requested_by=None,
    device: str | None = None,
) -> tuple[NoiseCheck, bool]:
    """A pending label-noise check for the project and whether it is new (``noise_jobs.request_check``)."""
    return noise_jobs.request_check(
        project, enqueue=enqueue_noise_check, trigger=trigger, requested_by=requested_by, device=device
    )


def request_simulation(project: Project, strategy: str, *, rounds: int, batch: int) -> str:
    """Queue a simulation of ``strategy`` against random on the project's ground truth.

    Returns the canonical strategy name; :class:`~active.errors.UnknownStrategy` or
    :class:`~active.errors.SimulationError` (naming the field) when it cannot be simulated as asked.
    """
    name = normalise_strategy(strategy)
    if rounds not in SIMULATION_ROUNDS:
        raise SimulationError("rounds must be 1–200.", field="rounds")
    if batch not in SIMULATION_BATCH:
        raise SimulationError("batch must be 1–10000.", field="batch")
    if not has_ground_truth(project):
        raise SimulationError("This project has no ground truth to simulate against.")
    run_simulation.enqueue(project.pk, [name], rounds, batch)
    return name


def update_settings(
    project: Project,
    *,
    target_accuracy: float | None = None,
    cost_per_hour: float | None = None,
    control_share: float | None = None,
) -> ActiveSettings:
    """Save what is given of: the forecast's target accuracy (strictly between 0 and 1), its cost
    per annotator-hour (≥ 0), and the control slice's share of served items (0–0.5; 0 turns it off).

    All are checked before anything is written.
    """
    defaults = {}
    if target_accuracy is not None:
        if not 0 < target_accuracy < 1:
            raise ActiveLearningError(
                f"target_accuracy: {target_accuracy} is not between 0 and 1 (e.g. 0.9).",
                field="target_accuracy",
            )
        defaults["target_accuracy"] = target_accuracy
    if cost_per_hour is not None:
        if not (math.isfinite(cost_per_hour) and cost_per_hour >= 0):
            raise ActiveLearningError(
                f"cost_per_hour: {cost_per_hour} is not a cost (a number, 0 or more).", field="cost_per_hour"
            )
        defaults["cost_per_hour"] = cost_per_hour
    if control_share is not None:
        if not (math.isfinite(control_share) and 0 <= control_share <= 0.5):
            raise ActiveLearningError(
                f"control_share: {control_share:.4g} is not a share between 0 and 0.5 (e.g. 0.05).",
                field="control_share",
            )
        defaults["control_share"] = control_share
    settings, _ = ActiveSettings.objects.update_or_create(project=project, defaults=defaults)
    return settings


def request_weak_run(
    project: Project, *, requested_by=None, method: str | None = None
) -> tuple[WeakRun, bool]:
    """A queued apply + label-model run of the project, and whether it is new: a run already queued
    or running is returned instead of a second one (the job is incremental, one at a time is enough)."""
    pending = WeakRun.objects.filter(
        project=project, status__in=[WeakRun.Status.QUEUED, WeakRun.Status.RUNNING]
    ).first()
    if method is not None and method not in label_model.METHODS:
        raise ActiveLearningError(
            f"{method!r} is not a label model (expected one of {', '.join(label_model.METHODS)}).",
            field="method",
        )
    if pending is not None:
        return pending, False
    run = weak_services.start_run(project, requested_by)
    run_weak_labels.enqueue(run.pk, method=method)
    return run, True
