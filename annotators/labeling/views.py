"""Pages of the annotation interface: thin views over the queue selectors (the page's JS talks to
the queue API for everything that changes state)."""

from django.contrib.auth.decorators import login_required
from django.shortcuts import get_object_or_404, render
from django.views.decorators.csrf import ensure_csrf_cookie

from labelhub.projects.models import ProjectMembership
from labelhub.projects.selectors import projects_for_user
from labelhub.queues import selectors
from labelhub.queues.services import MAX_PREFETCH

#: Items the labeling page keeps leased ahead of the one on screen.
PREFETCH = 3


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


@login_required
@ensure_csrf_cookie
def label(request, project_id: int):
    project = get_object_or_404(projects_for_user(request.user), pk=project_id)
    classes = list(project.classes.all())
    page_config = {
        "projectId": project.pk,
        "multiLabel": project.multi_label,
        "modality": project.modality,
        "leaseMinutes": project.lease_minutes,
        "prefetch": min(PREFETCH, MAX_PREFETCH - 1),
        "classes": [
            {"name": c.name, "key": c.key, "colour": c.colour, "description": c.description} for c in classes
        ],
        "urls": {
            "next": f"/api/projects/{project.pk}/queue/next/",
            "status": f"/api/projects/{project.pk}/queue/",
            "undo": f"/api/projects/{project.pk}/queue/undo/",
            "releaseMany": f"/api/projects/{project.pk}/queue/release/",
            "lease": "/api/leases/",
            "panel": f"/guidelines/projects/{project.pk}/panel/",
            "socket": f"/ws/projects/{project.pk}/queue/",
        },
    }
    return render(
        request,
        "annotators/label.html",
        {
            "project": project,
            "classes": classes,
            "page_config": page_config,
            "progress": selectors.annotator_progress(request.user, project),
        },
    )
