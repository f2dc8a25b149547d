"""Reads of the production inbox: deployments, rules, what was captured, scored and selected."""

from __future__ import annotations

import hashlib
from datetime import timedelta

from django.db.models import Count, F, FloatField, QuerySet, Value
from django.db.models.functions import Floor, Least
from django.utils import timezone

from annotators.qa.resolved import resolved_labels
from labelhub.production.models import Capture, Deployment, DriftWindow, SamplingRules
from labelhub.projects.models import Project
from labelhub.projects.selectors import label_schema, managed_project_ids, projects_with_visible_labels


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def deployment_for_token(token: str) -> Deployment | None:
    return (
        Deployment.objects.select_related("project", "model_run__snapshot")
        .filter(token_hash=token_hash(token), is_active=True)
        .first()
    )


def deployments_for_user(user) -> QuerySet[Deployment]:
    """Deployments of the projects whose labels the user may see (managers, staff)."""
    return Deployment.objects.select_related("model_run__snapshot", "project").filter(
        project__in=projects_with_visible_labels(user)
    )


def managed_projects(user) -> QuerySet[Project]:
    ids = managed_project_ids(user)
    return Project.objects.all() if ids is None else Project.objects.filter(pk__in=ids)


def sampling_rules(project: Project) -> SamplingRules:
    """The project's rules, or the defaults (unsaved) when it never saved any: pages never write on GET."""
    return SamplingRules.objects.filter(project=project).first() or SamplingRules(project=project)


# The production page ---------------------------------------------------------------------------
PAGE_WINDOWS = 48  # drift windows drawn (the newest)
NOVELTY_BINS = 10


def recent_windows(project: Project, deployment: Deployment | None) -> list[DriftWindow]:
    rows = DriftWindow.objects.filter(deployment__project=project)
    if deployment is not None:
        rows = rows.filter(deployment=deployment)
    return list(reversed(rows.order_by("-window_start", "source")[:PAGE_WINDOWS]))


def novelty_histogram(project: Project, deployment: Deployment | None) -> tuple[list[int], list[float]]:
    """Scored captures (still kept) by novelty percentile, in ``NOVELTY_BINS`` equal bins."""
    rows = Capture.objects.filter(project=project, novelty_percentile__isnull=False)
    if deployment is not None:
        rows = rows.filter(deployment=deployment)
    bin_of = Least(
        Floor(F("novelty_percentile") * Value(float(NOVELTY_BINS))),
        Value(float(NOVELTY_BINS - 1)),
        output_field=FloatField(),
    )
    counts = [0] * NOVELTY_BINS
    for index, n in rows.annotate(bin=bin_of).values("bin").annotate(n=Count("id")).values_list("bin", "n"):
        counts[int(index)] += n
    return counts, [i / NOVELTY_BINS for i in range(NOVELTY_BINS + 1)]


def sent_to_labelling(project: Project, deployment: Deployment | None) -> list[dict]:
    """Per rule: captures it sent, how many are labelled, and how often the label matched the prediction."""
    rows = Capture.objects.filter(project=project, item__isnull=False).exclude(rule=Capture.Rule.DUPLICATE)
    if deployment is not None:
        rows = rows.filter(deployment=deployment)
    picked = list(rows.values_list("rule", "item_id", "prediction"))
    schema = label_schema(project)
    resolved = {}
    wanted = {item_id for _, item_id, _ in picked}
    if wanted:
        resolved = {
            item_id: labels for item_id, labels in resolved_labels(project, schema) if item_id in wanted
        }
    by_rule: dict[str, dict] = {}
    for rule, item_id, prediction in picked:
        row = by_rule.setdefault(
            rule, {"rule": rule, "label": Capture.Rule(rule).label, "sent": 0, "labelled": 0, "agree": 0}
        )
        row["sent"] += 1
        if item_id in resolved:
            row["labelled"] += 1
            row["agree"] += int(resolved[item_id] == prediction)
    for row in by_rule.values():
        row["agreement"] = row["agree"] / row["labelled"] if row["labelled"] else None
    return sorted(by_rule.values(), key=lambda r: r["rule"])


def volume(project: Project, deployment: Deployment | None) -> dict:
    rows = Capture.objects.filter(project=project)
    if deployment is not None:
        rows = rows.filter(deployment=deployment)
    since = timezone.now() - timedelta(days=1)
    return {
        "kept": rows.count(),
        "last_day": rows.filter(received_at__gte=since).count(),
        "unscored": rows.filter(scored_at__isnull=True).count(),
        "sent_last_day": rows.filter(triaged_at__gte=since)
        .exclude(rule__in=["", Capture.Rule.DUPLICATE])
        .count(),
    }
