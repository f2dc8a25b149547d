"""QA pages: the managers' dashboard and the reviewers' adjudication queue (thin over services)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils.safestring import mark_safe
from django.views.decorators.http import require_POST

from annotators.qa import adjudication, consensus, policies, selectors, services
from annotators.qa import plots as qa_plots
from annotators.qa.models import AdjudicationTask, AnnotatorFlag
from labelhub.errors import DomainError
from labelhub.projects.models import Project, ProjectMembership
from labelhub.projects.selectors import has_role, project_page_or_deny

MANAGER = ProjectMembership.Role.MANAGER


def _project(request, project_id: int, *roles: str) -> Project:
    project = project_page_or_deny(request.user, project_id)
    if not has_role(request.user, project, *roles):
        raise PermissionDenied
    return project


@login_required
def dashboard(request, project_id: int):
    project = _project(request, project_id, MANAGER)
    data = selectors.dashboard(project)
    plots = {name: mark_safe(svg) for name, svg in qa_plots.all_plots(data).items()}  # noqa: S308 - our own SVG
    pairs = sorted(
        data["agreement"]["by_pair"], key=lambda p: (p["cohen_kappa"] is None, p["cohen_kappa"] or 0)
    )
    users = {row["annotator_id"]: row["username"] for row in data["annotators"]}
    for pair in pairs:
        pair["name_a"] = users.get(pair["annotator_a"], pair["annotator_a"])
        pair["name_b"] = users.get(pair["annotator_b"], pair["annotator_b"])
    return render(
        request,
        "qa/dashboard.html",
        {"project": project, "data": data, "plots": plots, "pairs": pairs[:50]},
    )


@login_required
@require_POST
def recompute_consensus(request, project_id: int):
    project = _project(request, project_id, MANAGER)
    result = consensus.compute_consensus(project)
    messages.info(
        request,
        f"Consensus ({result['method']}) written for {result['written']} items; "
        f"{result['adjudications_opened']} sent to adjudication.",
    )
    return redirect("qa-dashboard", project_id=project.pk)


@login_required
@require_POST
def evaluate(request, project_id: int):
    project = _project(request, project_id, MANAGER)
    results = policies.evaluate_project(project)
    failing = sum(1 for e, _ in results if not e.passed)
    messages.info(request, f"Policy checked for {len(results)} annotators; {failing} below a threshold.")
    return redirect("qa-dashboard", project_id=project.pk)


@login_required
@require_POST
def resolve_flag(request, project_id: int, flag_id: int):
    project = _project(request, project_id, MANAGER)
    flag = get_object_or_404(AnnotatorFlag, pk=flag_id, project=project, resolved_at__isnull=True)
    policies.resolve_flag(flag, request.user, unpause=request.POST.get("unpause", "1") == "1")
    messages.info(request, f"Flag on {flag.annotator} resolved.")
    return redirect("qa-dashboard", project_id=project.pk)


@login_required
def adjudication_queue(request, project_id: int):
    """The next open task in full (labels, form) plus the rest of the queue, paginated."""
    project = _project(request, project_id, *adjudication.REVIEW_ROLES)
    open_tasks = AdjudicationTask.objects.filter(
        project=project, status=AdjudicationTask.Status.OPEN
    ).select_related("item")
    requested = request.GET.get("task")
    current = (
        get_object_or_404(open_tasks, pk=requested)
        if requested and requested.isdigit()
        else open_tasks.first()
    )
    page = Paginator(open_tasks, 25).get_page(request.GET.get("page"))
    return render(
        request,
        "qa/adjudication.html",
        {
            "project": project,
            "task": current,
            "labels": adjudication.task_labels(current) if current else [],
            "classes": list(project.classes.all()),
            "page": page,
            "open_count": page.paginator.count,
            "can_promote": has_role(request.user, project, MANAGER),
        },
    )


@login_required
@require_POST
def adjudication_resolve(request, project_id: int, task_id: int):
    project = _project(request, project_id, *adjudication.REVIEW_ROLES)
    task = get_object_or_404(AdjudicationTask, pk=task_id, project=project)
    promote = request.POST.get("promote_to_gold") == "on" and has_role(request.user, project, MANAGER)
    ambiguous = request.POST.get("outcome") == "ambiguous"
    try:
        services.resolve_adjudication(
            task,
            request.user,
            request.POST.getlist("labels"),
            ambiguous=ambiguous,
            promote_to_gold=promote and not ambiguous,
            note=request.POST.get("note", ""),
        )
    except DomainError as error:  # presentation: the page shows the message above the form
        messages.error(request, error.message)
        return redirect(f"{reverse('qa-adjudication', args=[project.pk])}?task={task.pk}")
    if ambiguous:
        messages.info(
            request, f"Item {task.item.external_id} marked ambiguous: it is now a guideline question."
        )
    else:
        messages.info(
            request, f"Item {task.item.external_id} resolved" + (" and promoted to gold." if promote else ".")
        )
    return redirect("qa-adjudication", project_id=project.pk)
