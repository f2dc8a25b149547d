"""Reads of guidelines that the annotation flow depends on."""

from __future__ import annotations

from labelhub.guidelines.models import GuidelineAcknowledgement, GuidelineVersion


def current_version(project) -> GuidelineVersion | None:
    """The latest published version of a project's guidelines, or None before the first."""
    return (
        GuidelineVersion.objects.filter(project=project, status=GuidelineVersion.Status.PUBLISHED)
        .order_by("-number")
        .first()
    )


def pending_acknowledgement(user, project) -> GuidelineVersion | None:
    """The current version when ``user`` has not acknowledged it yet; None when they may go on."""
    version = current_version(project)
    if version is None:
        return None
    if GuidelineAcknowledgement.objects.filter(version=version, user=user).exists():
        return None
    return version
