"""Errors of the core domain's changes (imports have theirs in ``importing.errors``)."""

from __future__ import annotations

from labelhub.errors import DomainError


class DuplicateLabelClass(DomainError):
    """A class name or hotkey the project already uses; ``field`` is ``name`` or ``key``."""

    default_code = "unique"
