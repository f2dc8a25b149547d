"""Reads of guidelines: the current version and the acknowledgement gate the annotation flow
depends on, plus version history, class sections and impact for pages and the API.

Annotators' questions are queue flags, a layer above this app: they are read in
:mod:`labelhub.queues.questions`, which hands their counts to :func:`guideline_impact`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, QuerySet, Subquery

from annotators.qa.agreement import agreement_by_guideline_version
from labelhub.guidelines.errors import GuidelineError
from labelhub.guidelines.models import (
    ClassDefinition,
    GuidelineAcknowledgement,
    GuidelineExample,
    GuidelineVersion,
)
from labelhub.projects.models import Annotation, LabelClass, Project
from labelhub.projects.selectors import is_manager


def current_version(project) -> GuidelineVersion | None:
    """The latest published version of a project's guidelines, or None before the first."""
    return (
        GuidelineVersion.objects.filter(project=project, status=GuidelineVersion.Status.PUBLISHED)
        .select_related("published_by")
        .order_by("-number")
        .first()
    )


def class_definitions(project) -> dict[int, str]:
    """Each class's definition in the current published guidelines, by class id (empty before any)."""
    version = current_version(project)
    if version is None:
        return {}
    return dict(version.class_definitions.exclude(definition="").values_list("label_class_id", "definition"))


def current_version_id(project_ref: str = "pk") -> Subquery:
    """:func:`current_version`'s id as a subquery, for annotating rows that reach the project
    through ``project_ref`` (e.g. ``"pk"`` on projects, ``"entry__project_id"`` on leases)."""
    latest = GuidelineVersion.objects.filter(
        project=OuterRef(project_ref), status=GuidelineVersion.Status.PUBLISHED
    ).order_by("-number")
    return Subquery(latest.values("pk")[:1])


def with_acknowledgement(projects: QuerySet[Project], user) -> QuerySet[Project]:
    """Projects annotated with ``current_guideline_id`` and ``current_guideline_acknowledged`` (by
    ``user``): the :func:`pending_acknowledgement` gate for many projects, or inside a larger query."""
    return projects.annotate(current_guideline_id=current_version_id("pk")).annotate(
        current_guideline_acknowledged=Exists(
            GuidelineAcknowledgement.objects.filter(version_id=OuterRef("current_guideline_id"), user=user)
        )
    )


def pending_acknowledgement(user, project) -> GuidelineVersion | None:
    """The current version when ``user`` has not acknowledged it yet; None when they may go on.

    One query: "next item" asks this on every call.
    """
    version = (
        GuidelineVersion.objects.filter(project=project, status=GuidelineVersion.Status.PUBLISHED)
        .annotate(
            acknowledged=Exists(GuidelineAcknowledgement.objects.filter(version=OuterRef("pk"), user=user))
        )
        .order_by("-number")
        .first()
    )
    if version is None or version.acknowledged:
        return None
    return version


def versions_visible_to(user, project: Project | int) -> QuerySet[GuidelineVersion]:
    """Versions of a project a member may read: managers (and staff) also see drafts."""
    versions = GuidelineVersion.objects.filter(project=project).select_related("published_by", "created_by")
    if not is_manager(user, project):
        versions = versions.filter(status=GuidelineVersion.Status.PUBLISHED)
    return versions.order_by("-number", "-created_at")


def project_version(project: Project, version_id: int | None, *, field: str = "version") -> GuidelineVersion:
    """The version ``version_id`` of ``project``; a :class:`GuidelineError` on ``field`` otherwise."""
    version = GuidelineVersion.objects.filter(project=project, pk=version_id or 0).first()
    if version is None:
        raise GuidelineError(
            f"Version {version_id} is not in this project." if version_id else "Choose a version.",
            field=field,
            code="not_in_project" if version_id else "required",
        )
    return version


def published_versions(project: Project | int) -> QuerySet[GuidelineVersion]:
    return (
        GuidelineVersion.objects.filter(project=project, status=GuidelineVersion.Status.PUBLISHED)
        .select_related("published_by")
        .order_by("-number")
    )


def with_content(versions: QuerySet[GuidelineVersion]) -> QuerySet[GuidelineVersion]:
    """Prefetch class definitions and examples (with their classes) in three queries, whatever the count."""
    return versions.prefetch_related(
        Prefetch("class_definitions", queryset=ClassDefinition.objects.select_related("label_class")),
        Prefetch("examples", queryset=GuidelineExample.objects.select_related("label_class")),
    )


@dataclass
class ClassSection:
    """One class as a guideline page shows it: its definition, then examples for and against."""

    label_class: LabelClass
    definition: str = ""
    positives: list[GuidelineExample] = field(default_factory=list)
    negatives: list[GuidelineExample] = field(default_factory=list)


def class_sections(version: GuidelineVersion) -> list[ClassSection]:
    """The version's classes in schema order, from prefetched rows when :func:`with_content` was used.

    A class with examples but no definition row still gets a section, so nothing written is lost.
    """
    sections: dict[int, ClassSection] = {}
    for definition in version.class_definitions.all():
        sections[definition.label_class_id] = ClassSection(definition.label_class, definition.definition)
    for example in version.examples.all():
        section = sections.setdefault(example.label_class_id, ClassSection(example.label_class))
        (section.positives if example.kind == GuidelineExample.Kind.POSITIVE else section.negatives).append(
            example
        )
    return sorted(sections.values(), key=lambda s: (s.label_class.order, s.label_class.pk))


@dataclass
class VersionImpact:
    """What happened under one guideline version. ``version`` None: annotations made before any."""

    version: GuidelineVersion | None
    annotations: int = 0
    annotators: int = 0
    questions_answered: int = 0
    agreement_before: dict[str, Any] | None = None
    agreement_after: dict[str, Any] | None = None

    @property
    def alpha_change(self) -> float | None:
        before = (self.agreement_before or {}).get("krippendorff_alpha")
        after = (self.agreement_after or {}).get("krippendorff_alpha")
        return None if before is None or after is None else after - before

    @property
    def percent_change(self) -> float | None:
        before = (self.agreement_before or {}).get("percent_agreement")
        after = (self.agreement_after or {}).get("percent_agreement")
        return None if before is None or after is None else after - before


@dataclass
class GuidelineImpact:
    rows: list[VersionImpact]
    agreement_available: bool


def _agreement_by_version(project: Project) -> dict | None:
    """The QA app's agreement per guideline version: the one place impact asks for it."""
    return agreement_by_guideline_version(project)


def guideline_impact(
    project: Project, *, questions_answered: Mapping[int, int] | None = None
) -> GuidelineImpact:
    """Per published version (oldest first): annotations and annotators under it, questions it
    answered, and agreement under the version before it vs under it.

    "Before" for v1 is the annotations made with no guideline at all. Retracted annotations do not
    count. Agreement comes from the QA app; it is never computed here. ``questions_answered``
    (``{version id: count}``) comes from the questions feature above this layer
    (:func:`labelhub.queues.questions.answered_per_version`); without it every count is 0.
    """
    answered = questions_answered or {}
    versions = list(published_versions(project).order_by("number"))
    counts = {
        row["guideline_version"]: row
        for row in Annotation.objects.filter(item__project=project, retracted_at__isnull=True)
        .values("guideline_version")
        .annotate(n=Count("id"), people=Count("annotator", distinct=True))
        .order_by()
    }
    agreement = _agreement_by_version(project)
    rows: list[VersionImpact] = []
    before_key = None
    unversioned = counts.get(None)
    if unversioned:
        rows.append(
            VersionImpact(
                None,
                annotations=unversioned["n"],
                annotators=unversioned["people"],
                agreement_after=(agreement or {}).get(None),
            )
        )
    for version in versions:
        row = counts.get(version.pk, {"n": 0, "people": 0})
        rows.append(
            VersionImpact(
                version,
                annotations=row["n"],
                annotators=row["people"],
                questions_answered=answered.get(version.pk, 0),
                agreement_before=None if agreement is None else agreement.get(before_key),
                agreement_after=None if agreement is None else agreement.get(version.pk),
            )
        )
        before_key = version.pk
    return GuidelineImpact(rows=rows, agreement_available=agreement is not None)
