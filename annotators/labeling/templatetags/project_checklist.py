"""``{% project_checklist project %}``: the first-run checklist on the console's project page."""

from __future__ import annotations

from django import template

from annotators.labeling.checklist import project_checklist as checklist_of

register = template.Library()


@register.inclusion_tag("projects/_checklist.html")
def project_checklist(project):
    steps = checklist_of(project)
    return {"steps": steps, "done": sum(s.done for s in steps), "total": len(steps)}
