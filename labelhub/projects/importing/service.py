"""The import service: records in, items (and imported annotations) out, all of a file or nothing.

:func:`import_file` reads a file with one of the :mod:`readers`; :func:`import_records` takes
records already parsed (the demo data sets, tests). Both run the same pipeline: validate each
record (:class:`~labelhub.projects.importing.records.RecordValidator`), stage the rows, drop
duplicates, check external ids, and move the survivors into ``projects_item`` in one short
transaction. The ``ImportBatch`` row is written outside that transaction, so other connections
can watch the progress and, on failure, read the errors. A batch never stays ``running`` after
its import returned or raised: an error that is not the file's fault (a bug, a lost connection)
still closes it as failed, with the error kept, before it propagates.

After an import that added items commits, ``labelhub.projects.signals.items_imported`` is sent
(the queues app clears a project's "nothing left to serve" state on it).
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import Any, BinaryIO, TextIO

from django.conf import settings
from django.db import DatabaseError, IntegrityError, transaction
from django.utils import timezone

from labelhub.errors import DomainError
from labelhub.projects.importing.annotators import imported_annotator_ids
from labelhub.projects.importing.errors import RecordError, line_error
from labelhub.projects.importing.label_studio import regroup_flat_tasks
from labelhub.projects.importing.readers import READERS, Numbered, format_for_filename
from labelhub.projects.importing.records import MAX_ERRORS, RecordValidator, StagedRow
from labelhub.projects.importing.staging import Staging
from labelhub.projects.models import Annotation, ImportBatch, Item, Project
from labelhub.projects.signals import items_imported

logger = logging.getLogger(__name__)

Progress = Callable[[int], None]
# Seconds between progress writes to the ImportBatch row (each is a small commit).
PROGRESS_INTERVAL = 0.5


class ImportRejected(DomainError):
    """The file was rejected and nothing of it written; ``errors`` says where (line, field) and why.

    The API body carries ``batch``: the failed :class:`ImportBatch`'s id (``None`` when the file
    was refused before a batch existed, e.g. an unknown format).
    """

    default_code = "import_rejected"

    def __init__(self, errors: list[dict], batch: ImportBatch | None = None):
        first = errors[0] if errors else {}
        super().__init__(
            f"import rejected with {len(errors)} error(s); first: line {first.get('line')}, "
            f"field {first.get('field')}: {first.get('detail')}",
            field=first.get("field"),
            errors=errors,
        )
        self.batch = batch

    @property
    def batch(self) -> ImportBatch | None:
        return self._batch

    @batch.setter
    def batch(self, batch: ImportBatch | None) -> None:
        self._batch = batch
        self.extra["batch"] = batch.pk if batch is not None else None


def import_file(
    project: Project,
    fileobj: BinaryIO | TextIO,
    fmt: str | None,
    *,
    user=None,
    source: str = "api",
    filename: str = "",
    progress: Progress | None = None,
) -> ImportBatch:
    """Import every record of ``fileobj`` into ``project``, or nothing.

    ``fmt`` is one of :class:`ImportBatch.Format`'s file formats (``None``: guessed from
    ``filename``). ``progress`` is called with the number of lines read after each chunk (for a
    progress bar); ``ImportBatch.lines_read`` is committed at the same moments, so other
    connections see it unless the caller holds an outer transaction. Raises
    :class:`ImportRejected` (its batch saved as failed, with the errors) when any line is bad;
    nothing of the file is written then.
    """
    fmt = fmt or format_for_filename(filename)
    if fmt not in READERS:
        problem = (
            f"unknown format {fmt!r}" if fmt else f"cannot tell the format of {filename!r} from its name"
        )
        raise ImportRejected(
            [line_error(0, "format", "unknown_format", f"{problem}; use one of {', '.join(READERS)}")]
        )
    return _import(
        project, READERS[fmt](fileobj), fmt, user=user, source=source, filename=filename, progress=progress
    )


def import_records(
    project: Project,
    records: Iterable[Any],
    *,
    user=None,
    source: str = "api",
    filename: str = "",
    progress: Progress | None = None,
) -> ImportBatch:
    """Import already-parsed records (dicts, as one JSONL line each would be), all or nothing.

    The same validation, atomicity, batch bookkeeping and deduplication as :func:`import_file`;
    a record's "line" is its 1-based position in ``records``. ``records`` is consumed once, as a
    stream. A caller that finds a record bad itself yields a :class:`RecordError` in its place,
    as the readers do: it is reported at that line like any other.
    """
    numbered = enumerate(records, start=1)
    return _import(
        project,
        numbered,
        ImportBatch.Format.RECORDS,
        user=user,
        source=source,
        filename=filename,
        progress=progress,
    )


def _import(
    project: Project,
    numbered: Numbered,
    fmt: str,
    *,
    user,
    source: str,
    filename: str,
    progress: Progress | None,
) -> ImportBatch:
    batch = ImportBatch.objects.create(
        project=project, created_by=user, source=source, filename=filename[:255], format=fmt
    )
    validator = RecordValidator(project)  # reads the label schema, once for the whole file
    # Label Studio's JSON_MIN and CSV rows (one per annotation) become one task each.
    numbered = regroup_flat_tasks(numbered, validator.choices_name)
    reporter = _ProgressReporter(batch, progress)
    # Asked before reading: a concurrent first import still cannot slip rows in unnoticed, as the
    # final INSERT skips repeated content and fails (rejecting this file) on a clashing id.
    project_has_items = Item.objects.filter(project=project).exists()
    chunk_size = settings.IMPORT_BATCH_SIZE
    errors: list[dict] = []
    lines_read = 0
    try:
        with Staging(batch) as staging:
            chunk: list[StagedRow] = []
            for number, record in numbered:
                lines_read = number
                row = _validated(validator, number, record)
                if isinstance(row, RecordError):
                    errors.append(row.at_line(number))
                    chunk = []
                    if len(errors) >= MAX_ERRORS:
                        break
                    continue
                if errors:
                    continue  # still validating to report more errors; nothing more to stage
                chunk.append(row)
                if len(chunk) >= chunk_size:
                    staging.write(chunk)
                    chunk = []
                    reporter(lines_read)
            if errors:
                raise ImportRejected(errors, batch)
            if chunk:
                staging.write(chunk)
            reporter(lines_read, final=True)

            duplicates = staging.drop_duplicates(project, project_has_items=project_has_items)
            errors = staging.external_id_clashes(project, project_has_items=project_has_items)
            if errors:
                raise ImportRejected(errors, batch)
            try:
                with transaction.atomic():
                    imported = staging.move_into_items(project, batch)
                    annotation_count = _create_annotations(staging, batch)
                    batch.status = ImportBatch.Status.DONE
                    batch.lines_read = lines_read
                    batch.imported_count = imported
                    # Rows a concurrent import inserted first are duplicates too.
                    batch.duplicate_count = duplicates + (staging.count() - imported)
                    batch.annotation_count = annotation_count
                    batch.skipped = validator.skipped
                    batch.warnings = validator.warnings
                    batch.finished_at = timezone.now()
                    batch.save()
                    if imported:
                        _announce_on_commit(project.pk, batch.pk)
            except IntegrityError as exc:
                raise ImportRejected(
                    [
                        line_error(
                            0,
                            "external_id",
                            "external_id_taken",
                            f"another import wrote a clashing item meanwhile: {exc}",
                        )
                    ],
                    batch,
                ) from exc
    except ImportRejected as rejected:
        _mark_failed(batch, rejected.errors, lines_read)
        rejected.batch = batch
        raise
    except BaseException as exc:
        _close_after_crash(batch, exc, lines_read)
        raise
    return batch


def _announce_on_commit(project_id: int, batch_id: int) -> None:
    # robust: the items are committed whatever a receiver does; its failure is logged, not raised.
    transaction.on_commit(
        lambda: items_imported.send(sender=ImportBatch, project_id=project_id, batch_id=batch_id),
        robust=True,
    )


def _validated(validator: RecordValidator, line: int, record: Any) -> StagedRow | RecordError:
    """The record's staged row, or the error a reader or the validator found in it."""
    if isinstance(record, RecordError):
        return record
    try:
        return validator.row(line, record)
    except RecordError as exc:
        return exc


def _create_annotations(staging: Staging, batch: ImportBatch) -> int:
    """Imported annotations: ``source=import``, each by its imported annotator's account (see
    :mod:`.annotators`) when the file says who made it, else by nobody."""
    if not staging.has_annotations:
        return 0
    count = 0
    accounts: dict[str, int] = {}
    pending: list[tuple[int, dict]] = []

    def flush() -> int:
        names = {a["annotator"] for _, a in pending if a.get("annotator")} - set(accounts)
        accounts.update(imported_annotator_ids(names))
        created = Annotation.objects.bulk_create(
            [
                Annotation(
                    item_id=item_id,
                    annotator_id=accounts.get(annotation.get("annotator")),
                    labels=annotation["labels"],
                    time_spent=annotation["time_spent"],
                    source=Annotation.Source.IMPORT,
                )
                for item_id, annotation in pending
            ]
        )
        pending.clear()
        return len(created)

    for item_id, annotations_json in staging.annotation_rows(batch):
        pending.extend((item_id, annotation) for annotation in json.loads(annotations_json))
        if len(pending) >= 2000:
            count += flush()
    if pending:
        count += flush()
    return count


class _ProgressReporter:
    """Calls ``progress`` per chunk; commits ``lines_read`` to the batch row at most twice a second."""

    def __init__(self, batch: ImportBatch, progress: Progress | None):
        self.batch = batch
        self.progress = progress
        self.last_write = time.monotonic()
        self.written = 0  # the count the batch row holds
        self.reported = 0  # the count ``progress`` last got

    def __call__(self, lines_read: int, *, final: bool = False) -> None:
        now = time.monotonic()
        due = final or now - self.last_write >= PROGRESS_INTERVAL
        if due and lines_read != self.written:
            ImportBatch.objects.filter(pk=self.batch.pk).update(lines_read=lines_read)
            self.last_write, self.written = now, lines_read
        self.batch.lines_read = lines_read
        if self.progress is not None and lines_read != self.reported:
            self.progress(lines_read)
            self.reported = lines_read


def _close_after_crash(batch: ImportBatch, exc: BaseException, lines_read: int) -> None:
    """Mark the batch failed with the error that was not the file's fault (it then propagates)."""
    detail = f"the import stopped on an unexpected error, nothing was written: {type(exc).__name__}: {exc}"
    try:
        _mark_failed(batch, [line_error(lines_read, None, "internal_error", detail[:1000])], lines_read)
    except DatabaseError:
        # The caller's transaction is broken and rolls the batch back with it; the original
        # error is the one that matters and is raised on.
        logger.exception("could not mark import batch %s failed", batch.pk)


def _mark_failed(batch: ImportBatch, errors: list[dict], lines_read: int) -> None:
    batch.status = ImportBatch.Status.FAILED
    batch.errors = errors
    batch.lines_read = lines_read
    batch.finished_at = timezone.now()
    batch.save(update_fields=["status", "errors", "lines_read", "finished_at"])
