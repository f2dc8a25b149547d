"""Errors about guidelines a user can cause, in the one error shape of :mod:`labelhub.errors`."""

from __future__ import annotations

from django.urls import reverse

from labelhub.errors import NON_FIELD, Conflict, DomainError


class GuidelineError(DomainError):
    """A request about guidelines that cannot be honoured; ``field`` names what to fix."""


class GuidelineAckRequired(Conflict):
    """The current guideline version must be acknowledged before anything else is served (409).

    The body carries the version and the URL that acknowledges it, so a client can show the change
    summary and go on without building a path.
    """

    default_code = "guideline_ack_required"

    def __init__(self, version):
        super().__init__(
            f"Guideline v{version.number} was published; read its change summary and acknowledge it.",
            field=None,
            version={"id": version.pk, "number": version.number, "change_summary": version.change_summary},
            acknowledge_url=reverse("api-guideline-acknowledge", args=[version.pk]),
        )
        self.version = version


def page_message(error: DomainError) -> str:
    """How an HTML page or the admin shows ``error``: the field it is about, then what to do."""
    return f"{error.field}: {error.message}" if error.field and error.field != NON_FIELD else error.message
