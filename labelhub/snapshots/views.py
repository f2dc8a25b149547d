"""Snapshot pages: a project's snapshots (cut, compare), one snapshot (statistics, plots, lineage,
downloads, rows), and the diff between two. Thin: selectors and services do the work."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_http_methods

from labelhub.errors import DomainError
from labelhub.projects.selectors import is_manager, projects_with_visible_labels
from labelhub.snapshots import charts, selectors, services
from labelhub.snapshots.exports import FORMATS
from labelhub.snapshots.splits import DEFAULT_RATIOS, form_ratios


@login_required
@require_http_methods(["GET", "POST"])
def project_snapshots(request: HttpRequest, project_id: int) -> HttpResponse:
    project = get_object_or_404(projects_with_visible_labels(request.user), pk=project_id)
    manager = is_manager(request.user, project)
    if request.method == "POST":
        if not manager:
            raise Http404("only managers cut snapshots")
        try:
            snapshot, created = services.cut_snapshot(
                project,
                name=request.POST.get("name", "").strip()[:200],
                # As typed: the service checks they are numbers and names the one that is not.
                ratios={name: request.POST.get(name, DEFAULT_RATIOS[name]) for name in DEFAULT_RATIOS},
                ratios_are_fractions=True,
                stratify=request.POST.get("stratify") == "on",
                user=request.user,
            )
        except DomainError as error:
            messages.error(request, error.message)
            return redirect("snapshots:project", project_id=project.pk)
        if not created:
            messages.info(request, "Nothing changed since this snapshot was cut: here it is again.")
        return redirect("snapshots:detail", snapshot_id=snapshot.content_hash)
    snapshots = selectors.snapshots_for_user(request.user).filter(project=project)
    page = Paginator(snapshots, 25).get_page(request.GET.get("page"))
    latest = selectors.latest_snapshot(project)
    return render(
        request,
        "snapshots/project.html",
        {
            "project": project,
            "page": page,
            "is_manager": manager,
            "defaults": form_ratios(DEFAULT_RATIOS if latest is None else latest.split_ratios),
            "all_snapshots": snapshots[:200],
        },
    )


@login_required
def snapshot_detail(request: HttpRequest, snapshot_id: str) -> HttpResponse:
    snapshot = selectors.snapshot_for(request.user, snapshot_id)
    statistics = selectors.snapshot_statistics(snapshot)
    class_bars = [
        charts.Bar(c["name"], c["share"], f"{c['count']} ({c['share']:.1%})", c["target"])
        for c in statistics["classes"]
    ]
    method_bars = [
        charts.Bar(m, n, str(n)) for m, n in sorted(statistics["methods"].items(), key=lambda kv: -kv[1])
    ]
    split_chart = charts.stacked_bar([(s, statistics["splits"].get(s, 0)) for s in ("train", "val", "test")])
    split = request.GET.get("split", "")
    page = Paginator(selectors.snapshot_rows(snapshot, split), 50).get_page(request.GET.get("page"))
    others = (
        selectors.snapshots_for_user(request.user).filter(project=snapshot.project).exclude(pk=snapshot.pk)
    )
    previous = others.filter(created_at__lt=snapshot.created_at).order_by("-created_at").first()
    return render(
        request,
        "snapshots/detail.html",
        {
            "snapshot": snapshot,
            "project": snapshot.project,
            "statistics": statistics,
            "class_chart": charts.horizontal_bars(class_bars, title="Class distribution vs target"),
            "method_chart": charts.horizontal_bars(method_bars, title="Label sources"),
            "split_chart": split_chart,
            "split_table": [
                {
                    "split": s,
                    "count": statistics["splits"].get(s, 0),
                    "classes": [c["by_split"][s] for c in statistics["classes"]],
                }
                for s in ("train", "val", "test")
            ],
            "model_runs": snapshot.model_runs.select_related("created_by"),
            "formats": list(FORMATS),
            "page": page,
            "split": split,
            "others": others[:200],
            "previous": previous,
            "guideline_versions": selectors.guideline_versions_of(snapshot),
            "row_text_chars": selectors.ROW_TEXT_CHARS,
        },
    )


@login_required
def snapshot_diff(request: HttpRequest, snapshot_id: str, other_id: str) -> HttpResponse:
    before = selectors.snapshot_for(request.user, snapshot_id)
    after = selectors.snapshot_for(request.user, other_id)
    per_page = 50
    try:
        page = max(int(request.GET.get("page", 1)), 1)
    except ValueError:
        page = 1
    diff = selectors.diff_snapshots(before, after, offset=(page - 1) * per_page, limit=per_page)
    largest = max([diff.added, diff.removed, diff.relabelled]) or 0
    class_bars = [
        charts.Bar(
            name,
            abs(c["delta"]),
            f"{c['before']} → {c['after']} ({c['delta']:+d})",
            colour="#54a24b" if c["delta"] >= 0 else "#e45756",
        )
        for name, c in diff.class_counts.items()
    ]
    return render(
        request,
        "snapshots/diff.html",
        {
            "before": before,
            "after": after,
            "project": after.project,
            "diff": diff,
            "class_chart": charts.horizontal_bars(class_bars, title="Change per class"),
            "page": page,
            "has_next": page * per_page < largest,
        },
    )


@login_required
def compare(request: HttpRequest) -> HttpResponse:
    """The compare form's target: redirect to the diff page of the two chosen snapshots."""
    before, after = request.GET.get("before", ""), request.GET.get("after", "")
    if not before or not after:
        raise Http404("choose two snapshots")
    return redirect("snapshots:diff", snapshot_id=before, other_id=after)
