"""Errors of the queue a user or client can cause, in the one error shape of :mod:`labelhub.errors`.

The guideline gate raises :class:`labelhub.guidelines.errors.GuidelineAckRequired` (its body
carries the version and the URL that acknowledges it); invalid labels raise
:class:`labelhub.projects.labels.InvalidLabels`. Both are domain errors like these.
"""

from __future__ import annotations

from rest_framework import status

from labelhub.errors import DomainError, NotFound


class QueueError(DomainError):
    """A request the annotator or client caused; the handler turns it into a 4xx naming ``field``."""

    default_code = "invalid"


class AnnotatorPaused(QueueError):
    """A QA policy paused the annotator on this project: nothing is served until a manager lifts it."""

    status_code = status.HTTP_403_FORBIDDEN
    default_code = "annotator_paused"

    def __init__(self, reason: str = ""):
        detail = "You are paused on this project by a QA policy"
        super().__init__(f"{detail}: {reason}" if reason else detail + ".", field=None)


class LeaseNotVisible(NotFound):
    """The lease is in no project the user may see: answered exactly like any unknown URL."""
