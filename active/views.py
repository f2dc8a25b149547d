"""The project's active-learning page: rounds, their metrics, the learning curve, the simulation's
verdict and the forecast; start a round or a simulation, set the forecast's target and cost."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import FileResponse, Http404
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from active import noise_plots, noise_selectors, selectors, services
from active.control import MIN_COMPARE
from active.models import ModelRound, NoiseCheck
from active.plots import accuracy_by_labels
from active.strategies import AUTO_COLD_START_LABELS, EVIDENCE_MIN_LABELS, STRATEGIES
from labelhub import charts
from labelhub.errors import DomainError
from labelhub.projects.selectors import is_manager, project_page_or_deny


def _project_for(request, project_id: int):
    return project_page_or_deny(request.user, project_id)


@login_required
def project_page(request, project_id: int):
    """GET: the page. POST (managers): save the forecast's target accuracy, cost per hour and the
    control slice's share."""
    project = _project_for(request, project_id)
    if request.method == "POST":
        return _save_settings(request, project)
    page = Paginator(selectors.rounds_of(project), 20).get_page(request.GET.get("page"))
    simulation = selectors.simulations_of(project).first()
    series = selectors.accuracy_series(project)
    control_slice = selectors.control_slice(project)
    active_settings = selectors.active_settings(project)
    return render(
        request,
        "active/project.html",
        {
            "project": project,
            "page": page,
            "active_round": selectors.active_round(project),
            "latest": selectors.rounds_of(project).filter(state=ModelRound.State.DONE).first(),
            "simulation": simulation,
            "simulation_table": selectors.simulation_table(simulation) if simulation else [],
            "chart": mark_safe(charts.responsive(accuracy_by_labels, series)),  # noqa: S308 - our own SVG
            "chart_points": len(series),
            "forecast": selectors.project_forecast(project),
            "control_slice": control_slice,
            "latest_control": next((c for c in control_slice if c["accuracy"] is not None), None),
            "min_compare": MIN_COMPARE,
            "control_percent": round(active_settings.control_share * 100, 2),
            "evidence": selectors.strategy_evidence(project),
            "evidence_min_labels": EVIDENCE_MIN_LABELS,
            "cold_start_labels": AUTO_COLD_START_LABELS,
            "settings": active_settings,
            "can_manage": is_manager(request.user, project),
            "strategies": [s for s in STRATEGIES if s != "random"],
            "can_simulate": is_manager(request.user, project) and selectors.has_ground_truth(project),
        },
    )


def _save_settings(request, project):
    if not is_manager(request.user, project):
        messages.error(request, "Only project managers change these settings.")
        return redirect("active-project", project_id=project.pk)
    # Two forms post here: the forecast's (target and cost) and the control slice's (its share).
    which = "Control slice" if "control_share" in request.POST else "Forecast settings"
    try:
        services.update_settings(
            project,
            target_accuracy=_optional_number(request.POST, "target_accuracy"),
            cost_per_hour=_optional_number(request.POST, "cost_per_hour"),
            control_share=_percent(request.POST, "control_share"),
        )
    except DomainError as error:
        messages.error(request, f"{which}: {error.message}")
    else:
        messages.success(request, f"{which} saved.")
    return redirect("active-project", project_id=project.pk)


@login_required
@require_POST
def start_round(request, project_id: int):
    project = _project_for(request, project_id)
    if not is_manager(request.user, project):
        messages.error(request, "Only project managers start active-learning rounds.")
        return redirect("active-project", project_id=project.pk)
    try:
        model_round, created = services.request_round(
            project, trigger=ModelRound.Trigger.MANAGER, requested_by=request.user
        )
    except DomainError as error:
        messages.error(request, f"Project setting {error.message}")
        return redirect("active-project", project_id=project.pk)
    if created:
        messages.success(request, f"Round {model_round.number} queued; a worker will pick it up.")
    else:
        messages.info(request, f"Round {model_round.number} is already {model_round.state}.")
    return redirect("active-project", project_id=project.pk)


@login_required
@require_POST
def start_simulation(request, project_id: int):
    """Queue a simulation (oracle = the project's ground truth) with the project's strategy against random."""
    project = _project_for(request, project_id)
    if not is_manager(request.user, project):
        messages.error(request, "Only project managers start simulations.")
        return redirect("active-project", project_id=project.pk)
    try:
        rounds_count = _whole_number(request.POST, "rounds", 18)
        batch = _whole_number(request.POST, "batch", 25)
        strategy = services.request_simulation(
            project, request.POST.get("strategy") or project.al_strategy, rounds=rounds_count, batch=batch
        )
    except DomainError as error:
        messages.error(request, f"Simulation settings: {error.message}")
        return redirect("active-project", project_id=project.pk)
    messages.success(
        request,
        f"Simulation of {strategy} vs random queued ({rounds_count} rounds of {batch}); reload in a minute.",
    )
    return redirect("active-project", project_id=project.pk)


def _whole_number(form, name: str, default: int) -> int:
    """A form's integer field (parsing is the view's job; the range is the service's)."""
    raw = form.get(name) or default
    try:
        return int(raw)
    except ValueError:
        raise DomainError(f"{name}: {raw!r} is not a whole number.", field=name) from None


def _percent(form, name: str) -> float | None:
    """A form's optional percentage field as a share (``5`` → 0.05); None when the form leaves it out."""
    share = _optional_number(form, name)
    return None if share is None else share / 100


def _optional_number(form, name: str) -> float | None:
    return _number(form, name) if name in form else None


def _number(form, name: str) -> float:
    """A form's decimal field (parsing is the view's job; the range is the service's)."""
    raw = (form.get(name) or "").strip()
    try:
        return float(raw)
    except ValueError:
        raise DomainError(f"{name}: {raw!r} is not a number.", field=name) from None


@login_required
def simulation_file(request, project_id: int, simulation_id: int, kind: str):
    """The curve PNG or CSV of a simulation, streamed from LABELHUB_DATA_DIR."""
    if kind not in ("png", "csv"):
        raise Http404("Simulations have a .png curve and a .csv table.")
    project = _project_for(request, project_id)
    simulation = get_object_or_404(selectors.simulations_of(project), pk=simulation_id)
    relative = simulation.png_path if kind == "png" else simulation.csv_path
    root = Path(settings.LABELHUB_DATA_DIR).resolve()
    path = (root / relative).resolve()
    if not relative or root not in path.parents or not path.is_file():
        raise Http404("This simulation's file is no longer on disk.")
    content_type = "image/png" if kind == "png" else "text/csv"
    return FileResponse(
        open(path, "rb"),  # noqa: SIM115 - FileResponse closes it
        content_type=content_type,
        as_attachment=kind == "csv",
        filename=path.name,
    )


@login_required
def data_quality(request, project_id: int):
    """The project's data-quality page (managers): suspected label errors by class and annotator,
    the confirmed-error rate over checks, near-duplicate conflicts, outliers, the top suspects."""
    project = _project_for(request, project_id)
    if not is_manager(request.user, project):
        raise PermissionDenied
    data = noise_selectors.data_quality(project)
    latest = noise_selectors.latest_done(project)
    suspects = (
        Paginator(noise_selectors.suspects_of(latest), 25).get_page(request.GET.get("page"))
        if latest
        else None
    )
    plots = {name: mark_safe(svg) for name, svg in noise_plots.all_plots(data).items()}  # noqa: S308 - our own SVG
    return render(
        request,
        "active/data_quality.html",
        {
            "project": project,
            "data": data,
            "plots": plots,
            "suspects": suspects,
            "running": noise_selectors.checks_of(project)
            .filter(state__in=[NoiseCheck.State.PENDING, NoiseCheck.State.RUNNING])
            .first(),
        },
    )


@login_required
@require_POST
def start_noise_check(request, project_id: int):
    project = _project_for(request, project_id)
    if not is_manager(request.user, project):
        raise PermissionDenied
    check, created = services.request_noise_check(project, requested_by=request.user)
    if created:
        messages.success(request, f"Label-noise check {check.number} queued; a worker will pick it up.")
    else:
        messages.info(request, f"Label-noise check {check.number} is already {check.state}.")
    return redirect("active-data-quality", project_id=project.pk)
