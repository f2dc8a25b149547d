"""Import items into a project from JSONL, CSV, Label Studio task JSON or parsed records, all-or-nothing.

A pipeline, one stage per module:

- :mod:`.readers` split a file into numbered records (a stream: memory stays flat in the file size);
- :mod:`.limits` bounds a record's depth and size and refuses values no store accepts;
- :mod:`.records` validates one record into a staged row (labels through ``clean_labels``);
- :mod:`.staging` holds the rows in a temporary table (COPY on PostgreSQL), finds duplicates and
  external-id clashes with set-based SQL, and moves the survivors into ``projects_item``;
- :mod:`.service` runs it: :func:`import_file` and :func:`import_records`.

A bad line rejects the whole file with nothing written (:class:`ImportRejected`), while the
``ImportBatch`` row records the progress and, on failure, the errors.
"""

from labelhub.projects.importing.errors import RecordError, line_error
from labelhub.projects.importing.limits import ImportLimits
from labelhub.projects.importing.readers import (
    FILE_FORMAT_CHOICES,
    FORMAT_BY_EXTENSION,
    READERS,
    format_for_filename,
)
from labelhub.projects.importing.records import MAX_ERRORS, RecordValidator, StagedRow, content_hash
from labelhub.projects.importing.service import ImportRejected, import_file, import_records

__all__ = [
    "FILE_FORMAT_CHOICES",
    "FORMAT_BY_EXTENSION",
    "ImportLimits",
    "MAX_ERRORS",
    "READERS",
    "ImportRejected",
    "RecordError",
    "RecordValidator",
    "StagedRow",
    "content_hash",
    "format_for_filename",
    "import_file",
    "import_records",
    "line_error",
]
