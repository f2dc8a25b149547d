"""The first-run checklist of a project: the five things a new project needs before its team can
label (members, items, guidelines, QA and balance, the first labels), each ticked from the
project's real state, never from a flag someone sets.

It reads every layer (members and items, guidelines, QA's gold items, annotations), so it lives
with the pages; the console's project page shows it through ``{% project_checklist %}``.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.urls import reverse

from annotators.qa.models import GoldItem
from labelhub.guidelines.models import GuidelineVersion
from labelhub.projects.admin import ProjectAdmin
from labelhub.projects.models import Annotation, Item, Project, ProjectMembership


@dataclass(frozen=True)
class Step:
    key: str
    title: str
    done: bool
    detail: str  # what the project has now, or what is missing
    url: str
    action: str  # the link's text


def _fieldset_anchor(name: str) -> str:
    """The id Django's admin gives the heading of the project form's fieldset ``name``."""
    index = [title for title, _ in ProjectAdmin.fieldsets].index(name)
    return f"fieldset-0-{index}-heading"


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def project_checklist(project: Project) -> list[Step]:
    """The project's set-up steps in the order a manager takes them."""
    labellers = ProjectMembership.objects.filter(
        project=project, role__in=[ProjectMembership.Role.ANNOTATOR, ProjectMembership.Role.REVIEWER]
    ).count()
    items = Item.objects.filter(project=project).count()
    published = GuidelineVersion.objects.filter(
        project=project, status=GuidelineVersion.Status.PUBLISHED
    ).count()
    gold = GoldItem.objects.filter(item__project=project).count()
    labelled = Annotation.objects.filter(item__project=project, source=Annotation.Source.HUMAN).exists()
    change = reverse("admin:projects_project_change", args=[project.pk])

    gold_ok = project.gold_rate == 0 or gold > 0
    balance_ok = bool(project.balance_target)
    qa_missing = [
        *([] if balance_ok else ["no balance target"]),
        *([] if gold_ok else [f"gold rate {project.gold_rate:.0%} but no gold items"]),
    ]
    qa_have = [
        *(["balance target set"] if balance_ok else []),
        ("no gold checks (gold rate 0)" if project.gold_rate == 0 else _plural(gold, "gold item")),
    ]
    return [
        Step(
            "members",
            "Add members",
            labellers > 0,
            _plural(labellers, "annotator or reviewer")
            if labellers
            else "only managers so far: annotators see only the projects they are members of",
            f"{reverse('admin:projects_projectmembership_add')}?project={project.pk}",
            "Add a member",
        ),
        Step(
            "items",
            "Import items",
            items > 0,
            _plural(items, "item") if items else "no items yet",
            reverse("admin:projects_project_import", args=[project.pk]),
            "Import a file",
        ),
        Step(
            "guidelines",
            "Publish guidelines",
            published > 0,
            _plural(published, "published version")
            if published
            else "nothing published: annotators have no guidelines to read",
            reverse("guidelines:manage", args=[project.pk]),
            "Edit guidelines",
        ),
        Step(
            "qa",
            "Set QA and balance",
            not qa_missing,
            "; ".join(qa_missing or qa_have),
            f"{change}#{_fieldset_anchor('Quality assurance')}",
            "QA and queue settings",
        ),
        Step(
            "labelling",
            "Start labelling",
            labelled,
            "labels are coming in" if labelled else "no labels yet",
            reverse("label", args=[project.pk]),
            "Open the labeling page",
        ),
    ]
