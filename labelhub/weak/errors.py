"""Errors about labeling functions a user can cause, in the one error shape of :mod:`labelhub.errors`."""

from __future__ import annotations

from labelhub.errors import DomainError


class InvalidLabelingFunction(DomainError):
    """A labeling-function definition that cannot be used; ``field`` names what to fix
    (``config.pattern``, ``config.keywords[2]``, ``label``)."""

    default_code = "invalid_labeling_function"
