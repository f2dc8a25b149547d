"""The error of one imported record, and the shape of one entry in an import's ``errors`` list.

Its own module so every stage (readers, limits, records, staging) can raise it without importing
another stage.
"""

from __future__ import annotations

from labelhub.errors import DomainError


class RecordError(DomainError):
    """What is wrong with one record; the importer adds the line (see :meth:`at_line`)."""

    default_code = "invalid"

    def at_line(self, line: int) -> dict:
        """This error as one entry of an import's ``errors`` list."""
        return line_error(line, self.field, self.code, self.message)


def line_error(line: int, field: str | None, code: str, detail: str) -> dict:
    """One entry of ``ImportRejected.errors`` and ``ImportBatch.errors``."""
    return {"line": line, "field": field, "code": code, "detail": detail}
