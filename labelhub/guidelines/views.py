"""Guideline pages: the project's guidelines with history and diffs, the labeling page's side panel,
the managers' impact and editing pages, and the staff-only markdown preview of the admin editor.

Views are thin: they find the project among the user's own (404 for outsiders), check the role,
and call selectors and services. The questions page lives with the questions feature, above the
queues (:mod:`labelhub.queues.question_views`); the two pages here that show its counts take them
as view arguments from the root URLconf.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from django import forms
from django.contrib import messages
from django.contrib.admin.views.decorators import staff_member_required
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from labelhub.errors import DomainError
from labelhub.guidelines import selectors, services
from labelhub.guidelines.errors import GuidelineError, page_message
from labelhub.guidelines.models import GuidelineVersion
from labelhub.guidelines.presentation import cached_diff, impact_chart, version_html
from labelhub.guidelines.rendering import render_markdown
from labelhub.guidelines.widgets import MarkdownEditor
from labelhub.projects.models import Project
from labelhub.projects.selectors import is_manager, projects_for_user

HISTORY_PAGE_SIZE = 25
PREVIEW_MAX_CHARS = 200_000


def project_for(request: HttpRequest, project_id: int) -> Project:
    """One of the user's projects; 404 for any other, so outsiders learn nothing."""
    return get_object_or_404(projects_for_user(request.user), pk=project_id)


def require_manager(request: HttpRequest, project: Project) -> None:
    if not is_manager(request.user, project):
        raise PermissionDenied("Only the project's managers may see this page.")


def _readable_version(request: HttpRequest, project: Project, version_id: str | int) -> GuidelineVersion:
    versions = selectors.with_content(selectors.versions_visible_to(request.user, project))
    try:
        return get_object_or_404(versions, pk=int(version_id))
    except (TypeError, ValueError) as error:
        raise Http404(f"'{version_id}' is not a version id.") from error


@login_required
@require_GET
def project_guidelines(
    request: HttpRequest,
    project_id: int,
    open_question_count: Callable[[Project], int] | None = None,
) -> HttpResponse:
    """The guideline a member reads: current (or ``?version=``), its history, and a diff picker.

    Managers also see how many questions are open when ``open_question_count`` is given.
    """
    project = project_for(request, project_id)
    manager = is_manager(request.user, project)
    current = selectors.current_version(project)
    if request.GET.get("version"):
        version = _readable_version(request, project, request.GET["version"])
    elif current is not None:
        version = _readable_version(request, project, current.pk)
    else:
        version = None
    history = Paginator(selectors.versions_visible_to(request.user, project), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    pending = selectors.pending_acknowledgement(request.user, project)
    return render(
        request,
        "guidelines/project.html",
        {
            "project": project,
            "version": version,
            "version_html": version_html(version) if version else "",
            "current": current,
            "history": history,
            "published": list(selectors.published_versions(project)),
            "pending": pending,
            "is_manager": manager,
            "open_questions": open_question_count(project) if manager and open_question_count else 0,
        },
    )


@login_required
@require_GET
def panel(request: HttpRequest, project_id: int) -> HttpResponse:
    """The current version as an HTML fragment for the labeling page's side panel (key G)."""
    project = project_for(request, project_id)
    current = selectors.current_version(project)
    if current is None:
        raise Http404("This project has no published guideline yet.")
    # No prefetch here: on a cache hit the rendered HTML is all the fragment needs.
    return render(
        request,
        "guidelines/panel.html",
        {"project": project, "version": current, "version_html": version_html(current)},
    )


@login_required
@require_GET
def diff_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """Rendered differences between ``?from=`` and ``?to=`` (default: the two latest versions)."""
    project = project_for(request, project_id)
    published = list(selectors.published_versions(project)[:2])
    to_id = request.GET.get("to") or (published[0].pk if published else None)
    from_id = request.GET.get("from") or (published[1].pk if len(published) > 1 else None)
    if to_id is None or from_id is None:
        raise Http404("A diff needs two versions; this project has fewer.")
    old = _readable_version(request, project, from_id)
    new = _readable_version(request, project, to_id)
    return render(
        request,
        "guidelines/diff.html",
        {
            "project": project,
            "old": old,
            "new": new,
            "diffs": cached_diff(old, new),
            "choices": selectors.versions_visible_to(request.user, project),
        },
    )


@login_required
@require_GET
def impact_page(
    request: HttpRequest,
    project_id: int,
    questions_answered: Callable[[Project], Mapping[int, int]] | None = None,
) -> HttpResponse:
    """Managers: per version, annotations under it, questions it answered (``questions_answered``
    counts them per version) and agreement before vs after."""
    project = project_for(request, project_id)
    require_manager(request, project)
    answered = questions_answered(project) if questions_answered else None
    impact = selectors.guideline_impact(project, questions_answered=answered)
    return render(
        request,
        "guidelines/impact.html",
        {"project": project, "impact": impact, "chart": impact_chart(impact.rows)},
    )


class DraftForm(forms.Form):
    """The text of a draft on the managers' page (class definitions: console or API)."""

    change_summary = forms.CharField(
        required=False,
        widget=forms.Textarea(attrs={"rows": 2, "cols": 80}),
        help_text="What changed and why; annotators read it before their next item. Required to publish.",
    )
    body = forms.CharField(
        required=False, strip=False, widget=MarkdownEditor(rows=20, preview_url_name="api-guideline-preview")
    )
    ambiguous_cases = forms.CharField(
        required=False, strip=False, widget=MarkdownEditor(rows=8, preview_url_name="api-guideline-preview")
    )


@login_required
@require_http_methods(["GET", "POST"])
def manage_page(request: HttpRequest, project_id: int) -> HttpResponse:
    """Managers who are not staff edit drafts here: text with live preview, save, publish, start a
    new draft from the current version, discard a draft. Staff have the fuller console editor."""
    project = project_for(request, project_id)
    require_manager(request, project)
    drafts = GuidelineVersion.objects.filter(project=project, status=GuidelineVersion.Status.DRAFT).order_by(
        "-created_at"
    )
    if request.method == "POST":
        return _manage_post(request, project, drafts)
    draft = None
    if request.GET.get("draft"):
        draft = get_object_or_404(selectors.with_content(drafts), pk=request.GET["draft"])
    elif drafts:
        draft = selectors.with_content(drafts).first()
    form = DraftForm(
        initial={
            "body": draft.body,
            "ambiguous_cases": draft.ambiguous_cases,
            "change_summary": draft.change_summary,
        }
        if draft
        else None
    )
    return render(
        request,
        "guidelines/manage.html",
        {
            "project": project,
            "drafts": drafts,
            "draft": draft,
            "sections": selectors.class_sections(draft) if draft else [],
            "form": form,
            "current": selectors.current_version(project),
        },
    )


def _manage_post(request: HttpRequest, project: Project, drafts) -> HttpResponse:
    action = request.POST.get("action", "save")
    page = reverse("guidelines:manage", args=[project.pk])
    try:
        if action == "new_draft":
            source = selectors.current_version(project)
            draft = (
                services.start_draft_from(source, request.user)
                if source
                else services.create_draft(project, request.user)
            )
            messages.success(
                request, f"Started {draft.label}" + (f" from {source.label}." if source else ".")
            )
            return redirect(f"{page}?draft={draft.pk}")
        draft = get_object_or_404(drafts, pk=request.POST.get("draft") or 0)
        if action == "delete":
            services.delete_draft(draft)
            messages.success(request, f"Discarded {draft.label}.")
            return redirect(page)
        form = DraftForm(request.POST)
        if not form.is_valid():
            raise GuidelineError(form.errors.as_text(), field="form")
        services.update_draft(draft, **form.cleaned_data)
        if action == "publish":
            published = services.publish_version(draft, request.user)
            messages.success(
                request, f"Published v{published.number}; annotators acknowledge it before their next item."
            )
            return redirect(reverse("guidelines:project", args=[project.pk]))
        messages.success(request, f"Saved {draft.label}.")
        return redirect(f"{page}?draft={draft.pk}")
    except DomainError as error:
        messages.error(request, page_message(error))
        return redirect(
            f"{page}?draft={request.POST.get('draft', '')}" if request.POST.get("draft") else page
        )


@staff_member_required
@require_POST
def preview(request: HttpRequest) -> JsonResponse:
    """The admin editor's live preview: markdown in, the same sanitised HTML a page would show."""
    markdown_text = request.POST.get("markdown", "")
    if len(markdown_text) > PREVIEW_MAX_CHARS:
        # Not a DRF view, so the error is shaped here, in the one shape of the API's handler.
        error = GuidelineError(
            f"Longer than {PREVIEW_MAX_CHARS} characters.", field="markdown", code="max_length"
        )
        return JsonResponse(error.body(), status=error.status_code)
    return JsonResponse({"html": render_markdown(markdown_text)})
