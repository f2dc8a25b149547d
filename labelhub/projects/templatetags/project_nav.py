"""``{% project_nav project "label" %}``: the sub-navigation every project page shows, by role.

The pages live in higher layers; they are reached here only by URL name (``reverse``), never
imported, so the projects app stays at the bottom of the layers contract.
"""

from __future__ import annotations

from django import template
from django.urls import NoReverseMatch, reverse

from labelhub.projects.models import ProjectMembership
from labelhub.projects.selectors import membership_of

register = template.Library()

MANAGER = ProjectMembership.Role.MANAGER
REVIEWER = ProjectMembership.Role.REVIEWER
EVERYONE = ("member",)

#: (id, label, URL name, who sees it): "member" is any member, "staff" the console's users.
PAGES = (
    ("label", "Label", "label", EVERYONE),
    ("guidelines", "Guidelines", "guidelines:project", EVERYONE),
    ("questions", "Questions", "guidelines:questions", (MANAGER,)),
    ("qa", "QA", "qa-dashboard", (MANAGER, REVIEWER)),
    ("adjudication", "Adjudication", "qa-adjudication", (MANAGER, REVIEWER)),
    ("snapshots", "Snapshots", "snapshots:project", (MANAGER,)),
    ("active", "Active learning", "active-project", (MANAGER,)),
    ("data-quality", "Data quality", "active-data-quality", (MANAGER,)),
    ("production", "Production", "production-project", (MANAGER, REVIEWER)),
    ("console", "Console", "admin:projects_project_change", ("staff",)),
)


def nav_links(user, project) -> list[dict]:
    """The project's pages this user may open, in a fixed order."""
    member = membership_of(user, project) if user.is_authenticated else None
    links = []
    for page_id, label, url_name, roles in PAGES:
        allowed = (
            user.is_staff
            or ("member" in roles and member is not None)
            or (member is not None and member.role in roles)
        )
        if not allowed:
            continue
        try:
            url = reverse(url_name, args=[project.pk])
        except NoReverseMatch:  # an app not mounted in this deployment
            continue
        links.append({"id": page_id, "label": label, "url": url})
    return links


@register.inclusion_tag("projects/_nav.html", takes_context=True)
def project_nav(context, project, current: str = ""):
    return {"project": project, "links": nav_links(context["request"].user, project), "current": current}
