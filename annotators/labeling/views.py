"""Pages of the annotation interface: thin views over the queue selectors (the page's JS talks to
the queue API for everything that changes state)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.csrf import ensure_csrf_cookie

from annotators.labeling import routing
from annotators.labeling.picker import PickerClass, build_picker
from labelhub.guidelines.selectors import class_definitions
from labelhub.projects.label_config import display_fields_of
from labelhub.projects.models import ProjectMembership
from labelhub.projects.selectors import project_page_or_deny, projects_for_user
from labelhub.queues import selectors
from labelhub.queues.services import MAX_PREFETCH

#: Items the labeling page keeps leased ahead of the one on screen.
PREFETCH = 3
#: Reversed in place of an id, then swapped for ``{lease}`` / ``{version}``: the number appears
#: nowhere else in these paths, so the swap cannot touch another part of the URL.
URL_SENTINEL = 987654321
#: How much of a class's guideline definition the picker shows on hover (the panel has the rest).
DEFINITION_CHARS = 400


@login_required
def home(request):
    """The project picker, with each project's progress."""
    projects = selectors.projects_with_progress(projects_for_user(request.user), request.user)
    managed = set(
        ProjectMembership.objects.filter(user=request.user, role=ProjectMembership.Role.MANAGER).values_list(
            "project_id", flat=True
        )
    )
    for project in projects:
        project.can_manage = request.user.is_staff or project.pk in managed
    return render(request, "annotators/home.html", {"projects": projects})


def page_urls(project_id: int) -> dict[str, str]:
    """Every URL the labeling page's script calls, reversed here so the script builds no path.

    Per-lease and per-version URLs are templates: the script fills ``{lease}`` / ``{version}``.
    """

    def template(name: str, placeholder: str) -> str:
        return reverse(name, args=[URL_SENTINEL]).replace(str(URL_SENTINEL), f"{{{placeholder}}}")

    return {
        "next": reverse("queue-next", args=[project_id]),
        "status": reverse("queue-status", args=[project_id]),
        "undo": reverse("queue-undo", args=[project_id]),
        "releaseMany": reverse("queue-release", args=[project_id]),
        "submit": template("lease-submit", "lease"),
        "skip": template("lease-skip", "lease"),
        "flag": template("lease-flag", "lease"),
        "renew": template("lease-renew", "lease"),
        "acknowledge": template("api-guideline-acknowledge", "version"),
        "panel": reverse("guidelines:panel", args=[project_id]),
        "socket": reverse("queue-socket", urlconf=routing, kwargs={"project_id": project_id}),
    }


@login_required
@ensure_csrf_cookie
def label(request, project_id: int):
    """The labeling page; its script (static/labeling/label.js) reads ``config`` and drives the queue API."""
    project = project_page_or_deny(request.user, project_id)
    definitions = class_definitions(project)
    groups = build_picker(
        PickerClass(
            name=c.name,
            key=c.key,
            colour=c.colour,
            description=c.description,
            definition=definitions.get(c.pk, "")[:DEFINITION_CHARS],
            order=c.order,
        )
        for c in project.classes.all()
    )
    classes = [c for g in groups for c in g.classes]
    shown = display_fields_of(project.label_config)
    config = {
        "projectId": project.pk,
        "userId": request.user.pk,
        "multiLabel": project.multi_label,
        "modality": project.modality,
        "leaseMinutes": project.lease_minutes,
        # Server time: undo on this page reaches back no further than this (the page's session).
        "openedAt": timezone.now().isoformat(),
        "prefetch": min(PREFETCH, MAX_PREFETCH - 1),
        "classes": [c.as_config() for c in classes],
        "urls": page_urls(project.pk),
    }
    return render(
        request,
        "annotators/label.html",
        {
            "project": project,
            "classes": classes,
            "groups": groups,
            "config": config,
            # More than the labelled text or image alone: the page lays out every field in order.
            "display_fields": shown if any(not f.labelled for f in shown) else [],
            "progress": selectors.annotator_progress(request.user, project),
        },
    )
