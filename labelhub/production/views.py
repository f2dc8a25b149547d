"""The production page of a project: volume, drift over time, class mix, novelty, control accuracy,
what the rules sent to labelling; managers edit the sampling rules here."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, redirect, render

from active.drift import MIN_CLASS_TVD, wilson_interval
from labelhub.errors import DomainError
from labelhub.production import charts, selectors, services
from labelhub.production.models import Capture
from labelhub.projects.selectors import is_manager, projects_with_visible_labels
from labelhub.snapshots.charts import Bar, horizontal_bars

BOOLEAN_RULES = ("enabled", "select_disagreements")
WHOLE_RULES = ("class_quota", "daily_budget")


def _stamp(window) -> str:
    return f"{window.window_start:%m-%d %H:%M}{' ' + window.source if window.source else ''}"


def class_mix_bars(window) -> list[Bar]:
    """Production's predicted mix (bars) against the mix it is judged by (ticks): the deployed model's
    first traffic, or the training labels while a source has no baseline yet."""
    training = window.class_mix.get("reference") or window.class_mix.get("training", {})
    production = window.class_mix.get("production", {})
    total_t, total_p = sum(training.values()) or 1, sum(production.values()) or 1
    return [
        Bar(
            label=name,
            value=production.get(name, 0) / total_p,
            caption=f"{production.get(name, 0) / total_p:.0%} vs {count / total_t:.0%}",
            marker=count / total_t,
        )
        for name, count in training.items()
    ]


@login_required
def production_page(request, project_id: int):
    project = get_object_or_404(projects_with_visible_labels(request.user), pk=project_id)
    can_manage = is_manager(request.user, project)
    if request.method == "POST":
        return _save_rules(request, project, can_manage)
    deployments = list(selectors.deployments_for_user(request.user).filter(project=project))
    chosen = request.GET.get("deployment", "")
    deployment = next((d for d in deployments if str(d.pk) == chosen), None)
    windows = selectors.recent_windows(project, deployment)
    rules = selectors.sampling_rules(project)
    latest = windows[-1] if windows else None
    alarm = next((w for w in reversed(windows) if w.alarm), None)
    production_like = []
    if alarm is not None and alarm.production_like:
        found = {
            c.pk: c
            for c in Capture.objects.filter(pk__in=alarm.production_like).only(
                "id", "payload", "prediction", "source"
            )
        }
        production_like = [found[pk] for pk in alarm.production_like if pk in found]
    control_rows = []
    for window in windows:
        if window.control_total:
            low, high = wilson_interval(window.control_correct, window.control_total)
            control_rows.append(
                {
                    "window": _stamp(window),
                    "n": window.control_total,
                    "accuracy": window.control_correct / window.control_total,
                    "low": low,
                    "high": high,
                }
            )
    counts, edges = selectors.novelty_histogram(project, deployment)
    return render(
        request,
        "production/project.html",
        {
            "project": project,
            "deployments": deployments,
            "deployment": deployment,
            "volume": selectors.volume(project, deployment),
            "windows": list(reversed(windows)),
            "latest": latest,
            "alarm": alarm,
            "production_like": production_like,
            "domain_chart": charts.series_with_thresholds(
                [(_stamp(w), w.domain_auc, w.domain_threshold, "embeddings" in w.reasons) for w in windows],
                title="Domain classifier ROC-AUC per window, with its permutation threshold",
                low=0.4,
                high=1.0,
            ),
            "mix_chart": charts.series_with_thresholds(
                [(_stamp(w), w.class_tvd, MIN_CLASS_TVD, "class_mix" in w.reasons) for w in windows],
                title="Predicted-class mix against the model's first traffic (total variation distance)",
                low=0.0,
                high=1.0,
            ),
            "mix_bars": horizontal_bars(
                class_mix_bars(latest), maximum=1.0, title="Class mix, production (bars) vs reference (ticks)"
            )
            if latest
            else "",
            "novelty_chart": charts.histogram(
                counts,
                edges,
                title="Novelty percentile of scored captures",
                mark_from=rules.novelty_percentile,
            ),
            "control_rows": control_rows,
            "test_accuracy": (deployment.model_run.metrics or {}).get("accuracy") if deployment else None,
            "sent": selectors.sent_to_labelling(project, deployment),
            "rules": rules,
            "can_manage": can_manage,
            "socket_path": f"/ws/projects/{project.pk}/production/",
        },
    )


def _save_rules(request, project, can_manage: bool):
    if not can_manage:
        messages.error(request, "Only project managers change the sampling rules.")
        return redirect("production-project", project_id=project.pk)
    changes: dict = {name: name in request.POST for name in BOOLEAN_RULES}
    try:
        for name in services.RULE_FIELDS:
            if name in BOOLEAN_RULES or name not in request.POST:
                continue
            raw = request.POST[name].strip()
            changes[name] = int(raw) if name in WHOLE_RULES else float(raw)
        services.update_rules(project, changes)
    except ValueError:
        messages.error(request, f"{name}: not a number.")
    except DomainError as exc:
        messages.error(request, f"{exc.field}: {exc.message}")
    else:
        messages.info(request, "Sampling rules saved.")
    return redirect("production-project", project_id=project.pk)
