"""Background jobs (Django Tasks API, run by ``manage.py db_worker``)."""

from __future__ import annotations

import logging
import traceback

from django_tasks import task

logger = logging.getLogger(__name__)


@task()
def run_model_round(round_id: int, device: str | None = None) -> dict:
    """Run an active-learning round; a failure schedules the round's retry, then re-raises for the record."""
    from active import rounds

    rounds.sweep_stale_rounds()
    try:
        model_round = rounds.run_round(round_id, device=device)
    except rounds.RoundSuperseded:
        logger.warning("round %s: a newer attempt owns it; this one wrote nothing", round_id)
        return {"round": round_id, "superseded": True}
    except Exception as exc:
        rounds.record_failure(round_id, f"{type(exc).__name__}: {exc}\n{traceback.format_exc(limit=8)}")
        raise
    if model_round is None:
        return {"round": round_id, "skipped": True}
    return {"round": model_round.pk, "state": model_round.state, "selected": model_round.selected_count}


@task()
def run_simulation(
    project_id: int, strategies: list[str], rounds: int, batch: int, seed: int = 0, device: str | None = None
) -> dict:
    """A simulation started from the project page (the same code as ``manage.py al_simulate``)."""
    from active.rounds import default_device
    from active.simulation import simulate
    from labelhub.projects.models import Project

    project = Project.objects.get(pk=project_id)
    run = simulate(
        project, strategies, rounds=rounds, batch=batch, seed=seed, device=device or default_device()
    )
    return {"simulation": run.pk, "summary": run.summary}
