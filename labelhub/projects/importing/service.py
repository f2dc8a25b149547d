"""Import items into a project from JSONL, CSV or Label Studio task JSON, all-or-nothing.

The file is read once, as a stream: each record is validated and its row is written to a
temporary *staging* table (COPY on PostgreSQL, executemany elsewhere), so memory stays flat in
the file size. Duplicates and external-id clashes are then found with set-based SQL against the
staging table, and one short transaction moves the surviving rows into ``projects_item``. Because
nothing touches the real tables until every line has passed, a bad line rejects the whole file
with nothing written, while the ``ImportBatch`` row (created and updated outside that
transaction) records the progress for other connections to watch and, on failure, the errors.
"""

# ruff: noqa: S608 - table names below come from model meta and integer ids; values are always parameters.
from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, NamedTuple, TextIO

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from labelhub.projects.label_config import data_key_of
from labelhub.projects.models import Annotation, ImportBatch, Item, Project

MAX_ERRORS = 50  # enough to fix a file in one go without flooding the batch record
# Payload keys that are the item's content; everything else is metadata and not hashed.
CONTENT_KEYS = ("text", "image")
EXTERNAL_ID_KEYS = ("external_id", "id")
IMAGE_PREFIXES = ("http://", "https://", "data:image/", "/", "s3://", "gs://")
FORMAT_BY_EXTENSION = {
    ".jsonl": ImportBatch.Format.JSONL,
    ".ndjson": ImportBatch.Format.JSONL,
    ".csv": ImportBatch.Format.CSV,
    ".json": ImportBatch.Format.LABEL_STUDIO,
}

Progress = Callable[[int], None]
# Encoders built once: ``json.dumps`` with options builds a new encoder per call, which costs
# more than the encoding itself on short lines (a third of the import's CPU time at 1M lines).
_CANONICAL_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"))
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"))
# Seconds between progress writes to the ImportBatch row (each is a small commit).
PROGRESS_INTERVAL = 0.5


class ImportRejected(Exception):
    """The file was rejected and nothing of it written; ``errors`` says where and why."""

    def __init__(self, errors: list[dict], batch: ImportBatch | None = None):
        self.errors = errors
        self.batch = batch
        first = errors[0] if errors else {}
        super().__init__(
            f"import rejected with {len(errors)} error(s); first: line {first.get('line')}, "
            f"field {first.get('field')}: {first.get('message')}"
        )


class RecordError(Exception):
    def __init__(self, field: str, message: str):
        self.field = field
        self.message = message
        super().__init__(f"{field}: {message}")


def content_hash(payload: dict) -> str:
    """sha256 of the item's content (``text`` / ``image``), canonical JSON.

    Metadata is left out on purpose: the same sentence imported twice with a different ``source``
    column is still the same thing to label. A payload without a content key hashes whole.
    """
    content = {key: payload[key] for key in CONTENT_KEYS if key in payload} or payload
    canonical = _CANONICAL_JSON.encode(content)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def format_for_filename(filename: str) -> str | None:
    return FORMAT_BY_EXTENSION.get(os.path.splitext(filename or "")[1].lower())


class StagedRow(NamedTuple):
    """One validated record, in the staging table's column order (a tuple: COPY takes it as is)."""

    line: int
    external_id: str
    payload: str  # JSON text
    content_hash: str
    suggestion: str | None
    annotations: str | None  # JSON list of {"labels": [...], "time_spent": float}


class RecordValidator:
    """Turns one parsed record into a staged row, or raises :class:`RecordError` naming the field."""

    def __init__(self, project: Project):
        self.project = project
        self.content_key = "image" if project.modality == Project.Modality.IMAGE else "text"
        # A project made from a Label Studio config reads e.g. ``$review``: accept that field too.
        self.source_key = data_key_of(project.label_config) or self.content_key
        self.class_names = set(project.classes.values_list("name", flat=True))

    def payload_of(self, data: Any) -> dict:
        if not isinstance(data, dict):
            raise RecordError("data", f"expected a JSON object, got {type(data).__name__}")
        payload = dict(data)
        if self.content_key not in payload and self.source_key in payload:
            payload[self.content_key] = payload.pop(self.source_key)
        value = payload.get(self.content_key)
        if value is None or (isinstance(value, str) and not value.strip()):
            wanted = self.source_key
            raise RecordError(wanted, f"missing: a {self.project.modality} project needs a {wanted!r} field")
        if not isinstance(value, str):
            raise RecordError(self.content_key, f"must be a string, got {type(value).__name__}")
        if self.content_key == "image" and not value.startswith(IMAGE_PREFIXES):
            raise RecordError("image", f"must be a URL or a data:image/ URL, got {value[:40]!r}")
        return payload

    def external_id_of(self, payload: dict, fallback: Any, digest: str) -> str:
        external_id = None
        for key in EXTERNAL_ID_KEYS:
            if key in payload:
                external_id = payload.pop(key)
                break
        if external_id is None:
            external_id = fallback
        if external_id is None or external_id == "":
            # Derived from the content, so re-importing the same file maps to the same ids.
            return f"h{digest[:20]}"
        if not isinstance(external_id, str | int):
            raise RecordError("external_id", f"must be a string or integer, got {type(external_id).__name__}")
        external_id = str(external_id)
        if len(external_id) > 255:
            raise RecordError("external_id", "longer than 255 characters")
        return external_id

    def labels_of(self, choices: Any, field: str) -> list[str]:
        if isinstance(choices, str):
            choices = [choices]
        if not isinstance(choices, list) or not all(isinstance(c, str) for c in choices):
            raise RecordError(field, "must be a list of class names")
        unknown = [c for c in choices if c not in self.class_names]
        if unknown:
            raise RecordError(
                field, f"unknown class {unknown[0]!r}; the schema has {', '.join(sorted(self.class_names))}"
            )
        if len(choices) > 1 and not self.project.multi_label:
            raise RecordError(field, f"{len(choices)} classes given but the project is single-label")
        return choices

    def choices_of(self, result: Any, field: str) -> list[str]:
        """Class names out of a Label Studio ``result`` list (``choices`` regions only)."""
        if not isinstance(result, list):
            raise RecordError(field, "must be a list of regions")
        labels: list[str] = []
        for index, region in enumerate(result):
            region_field = f"{field}[{index}]"
            if not isinstance(region, dict):
                raise RecordError(region_field, "must be an object")
            if region.get("type", "choices") != "choices":
                raise RecordError(f"{region_field}.type", f"unsupported result type {region.get('type')!r}")
            value = region.get("value")
            if not isinstance(value, dict) or "choices" not in value:
                raise RecordError(f"{region_field}.value.choices", "missing")
            labels.extend(self.labels_of(value["choices"], f"{region_field}.value.choices"))
        return self.labels_of(labels, field) if len(labels) > 1 else labels

    def row(self, line: int, data: Any, *, fallback_id: Any = None, task: dict | None = None) -> StagedRow:
        payload = self.payload_of(data)
        digest = content_hash(payload)
        external_id = self.external_id_of(payload, fallback_id, digest)
        annotations = suggestion = None
        if task is not None:
            annotations = self._annotations(task.get("annotations"))
            suggestion = self._suggestion(task.get("predictions"))
        return StagedRow(
            line=line,
            external_id=external_id,
            payload=_COMPACT_JSON.encode(payload),
            content_hash=digest,
            suggestion=json.dumps(suggestion) if suggestion else None,
            annotations=json.dumps(annotations) if annotations else None,
        )

    def _annotations(self, annotations: Any) -> list[dict] | None:
        if annotations in (None, []):
            return None
        if not isinstance(annotations, list):
            raise RecordError("annotations", "must be a list")
        rows = []
        for index, annotation in enumerate(annotations):
            field = f"annotations[{index}]"
            if not isinstance(annotation, dict):
                raise RecordError(field, "must be an object")
            if annotation.get("was_cancelled"):
                continue  # a skipped task in Label Studio is not a label
            labels = self.choices_of(annotation.get("result", []), f"{field}.result")
            if not labels:
                continue
            lead_time = annotation.get("lead_time") or 0
            if not isinstance(lead_time, int | float):
                raise RecordError(f"{field}.lead_time", "must be a number of seconds")
            rows.append({"labels": labels, "time_spent": float(lead_time)})
        return rows or None

    def _suggestion(self, predictions: Any) -> dict | None:
        """The latest prediction (by ``created_at`` when given, else the last) becomes the suggestion."""
        if predictions in (None, []):
            return None
        if not isinstance(predictions, list):
            raise RecordError("predictions", "must be a list")
        indexed = [(index, p) for index, p in enumerate(predictions) if isinstance(p, dict)]
        if len(indexed) != len(predictions):
            raise RecordError("predictions", "every prediction must be an object")
        index, latest = max(indexed, key=lambda pair: (str(pair[1].get("created_at") or ""), pair[0]))
        field = f"predictions[{index}]"
        labels = self.choices_of(latest.get("result", []), f"{field}.result")
        score = latest.get("score")
        if score is not None and not isinstance(score, int | float):
            raise RecordError(f"{field}.score", "must be a number")
        return {
            "labels": labels,
            "confidence": float(score) if score is not None else None,
            "model_version": latest.get("model_version"),
        }


# --- readers: yield (line number, record or exception) ------------------------------------


def _text_lines(fileobj: BinaryIO | TextIO) -> Iterable[str]:
    source = getattr(fileobj, "file", fileobj)  # Django's UploadedFile wraps the real file
    if isinstance(source, io.TextIOBase):
        return source
    return codecs.iterdecode(source, "utf-8-sig")


class _BytesReader:
    """A ``read(n)`` adapter over a text stream, for ijson (which wants bytes)."""

    def __init__(self, text: TextIO):
        self.text = text

    def read(self, size: int = -1) -> bytes:
        return self.text.read(size).encode("utf-8")


def _binary(fileobj: BinaryIO | TextIO):
    source = getattr(fileobj, "file", fileobj)
    return _BytesReader(source) if isinstance(source, io.TextIOBase) else source


def _numbered_lines(fileobj) -> Iterator[tuple[int, str | RecordError]]:
    """(line number, text) pairs; a line that is not UTF-8 ends the file with an error on it."""
    number = 0
    lines = iter(_text_lines(fileobj))
    while True:
        try:
            line = next(lines)
        except StopIteration:
            return
        except UnicodeDecodeError as exc:
            yield number + 1, RecordError("encoding", f"not UTF-8: {exc.reason} at byte {exc.start}")
            return
        number += 1
        yield number, line


def _read_jsonl(fileobj, validator: RecordValidator) -> Iterator[tuple[int, StagedRow | RecordError]]:
    for number, line in _numbered_lines(fileobj):
        if isinstance(line, RecordError):
            yield number, line
            return
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            yield number, RecordError("json", f"invalid JSON: {exc.msg} at column {exc.colno}")
            continue
        try:
            if isinstance(record, dict) and isinstance(record.get("data"), dict):
                # A Label Studio task on one line.
                yield number, validator.row(number, record["data"], fallback_id=record.get("id"), task=record)
            else:
                yield number, validator.row(number, record)
        except RecordError as exc:
            yield number, exc


# Image data URLs in a CSV cell easily pass the csv module's 128 KiB default.
CSV_FIELD_LIMIT = 64 * 1024 * 1024


def _read_csv(fileobj, validator: RecordValidator) -> Iterator[tuple[int, StagedRow | RecordError]]:
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.DictReader(_text_lines(fileobj), strict=True)  # a stray quote is an error, not data
    records = iter(reader)
    while True:
        try:
            record = next(records)
        except StopIteration:
            break
        except UnicodeDecodeError as exc:
            yield reader.line_num + 1, RecordError("encoding", f"not UTF-8: {exc.reason} at byte {exc.start}")
            return
        except csv.Error as exc:
            yield max(reader.line_num, 1), RecordError("csv", str(exc))
            return
        number = reader.line_num
        if None in record:
            extra = len(record[None])
            yield (
                number,
                RecordError(
                    "columns", f"{len(reader.fieldnames) + extra} values for {len(reader.fieldnames)} columns"
                ),
            )
            continue
        payload = {key: value for key, value in record.items() if key and value not in (None, "")}
        try:
            yield number, validator.row(number, payload)
        except RecordError as exc:
            yield number, exc
    if not reader.fieldnames:
        yield 1, RecordError("header", "the CSV file is empty; its first line must name the columns")


def _read_label_studio(fileobj, validator: RecordValidator) -> Iterator[tuple[int, StagedRow | RecordError]]:
    """Tasks of a Label Studio export (a JSON array); "line" is the task's position, 1-based."""
    import ijson

    number = 0
    try:
        for number, task in enumerate(ijson.items(_binary(fileobj), "item", use_float=True), start=1):
            if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
                yield number, RecordError("data", 'a Label Studio task needs a "data" object')
                continue
            try:
                yield number, validator.row(number, task["data"], fallback_id=task.get("id"), task=task)
            except RecordError as exc:
                yield number, exc
    except ijson.JSONError as exc:
        yield number + 1, RecordError("json", f"invalid JSON after task {number}: {exc}")
    if number == 0:
        yield 1, RecordError("json", "expected a JSON array of Label Studio tasks")


READERS = {
    ImportBatch.Format.JSONL: _read_jsonl,
    ImportBatch.Format.CSV: _read_csv,
    ImportBatch.Format.LABEL_STUDIO: _read_label_studio,
}


# --- staging table ------------------------------------------------------------------------


class Staging:
    """A per-import temporary table; session-local, so invisible to every other connection."""

    COLUMNS = ("line", "external_id", "payload", "content_hash", "suggestion", "annotations")

    def __init__(self, batch: ImportBatch):
        self.name = f"import_stage_{batch.pk}"
        self.postgres = connection.vendor == "postgresql"
        self.has_annotations = False

    def __enter__(self) -> Staging:
        with connection.cursor() as cursor:
            if self.postgres:
                # Commits here are progress rows and the one final move; losing them in a crash
                # leaves a batch marked "running" and no items, which is consistent, so do not
                # wait for the WAL flush. Enough work_mem keeps the duplicate joins in memory.
                cursor.execute("SET synchronous_commit TO off")
                cursor.execute("SET work_mem TO '64MB'")
            # jsonb on PostgreSQL: the server parses payloads during COPY, while Python is still
            # reading the file, instead of in the final INSERT, which nothing overlaps.
            json_type = "jsonb" if self.postgres else "text"
            cursor.execute(
                f"CREATE TEMPORARY TABLE {self.name} (line integer NOT NULL, external_id varchar(255) "
                f"NOT NULL, payload {json_type} NOT NULL, content_hash varchar(64) NOT NULL, "
                f"suggestion {json_type}, annotations text)"
            )
        return self

    def __exit__(self, *exc_info) -> None:
        if connection.needs_rollback:
            return  # the enclosing transaction is broken and rolls the table back with it
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.name}")
            if self.postgres:
                cursor.execute("RESET synchronous_commit")
                cursor.execute("RESET work_mem")

    def write(self, rows: list[StagedRow]) -> None:
        self.has_annotations = self.has_annotations or any(row.annotations for row in rows)
        with connection.cursor() as cursor:
            if self.postgres:
                copy_sql = f"COPY {self.name} ({', '.join(self.COLUMNS)}) FROM STDIN"
                with cursor.cursor.copy(copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(f"INSERT INTO {self.name} VALUES (%s, %s, %s, %s, %s, %s)", rows)

    def drop_duplicates(self, project: Project, *, project_has_items: bool = True) -> int:
        """Delete rows whose content is repeated in the file (keeping the first) or already in the project.

        Grouping finds the (usually few) repeated hashes with one hash aggregate; that beat
        indexing the staging table and self-joining it by 3× at a million rows. A project without
        items needs no lookup per row (a first bulk import skips a million index probes).
        """
        item_table = Item._meta.db_table
        with connection.cursor() as cursor:
            if self.postgres:
                cursor.execute(f"ANALYZE {self.name}")  # temp tables are never auto-analysed
            cursor.execute(
                f"CREATE TEMPORARY TABLE {self.name}_dup AS SELECT content_hash, MIN(line) AS first_line "
                f"FROM {self.name} GROUP BY content_hash HAVING COUNT(*) > 1"
            )
            cursor.execute(
                f"DELETE FROM {self.name} WHERE EXISTS (SELECT 1 FROM {self.name}_dup dup "
                f"WHERE dup.content_hash = {self.name}.content_hash AND {self.name}.line > dup.first_line)"
            )
            in_file = max(cursor.rowcount, 0)
            cursor.execute(f"DROP TABLE {self.name}_dup")
            if not project_has_items:
                return in_file
            cursor.execute(
                f"DELETE FROM {self.name} WHERE EXISTS (SELECT 1 FROM {item_table} item "
                f"WHERE item.project_id = %s AND item.content_hash = {self.name}.content_hash)",
                [project.pk],
            )
            return in_file + max(cursor.rowcount, 0)

    def external_id_clashes(self, project: Project, *, project_has_items: bool = True) -> list[dict]:
        """Different content under one external id: in the file twice, or already in the project."""
        item_table = Item._meta.db_table
        errors = []
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT stage.line, stage.external_id FROM {self.name} stage JOIN (SELECT external_id, "
                f"MIN(line) AS first_line FROM {self.name} GROUP BY external_id HAVING COUNT(*) > 1) dup "
                "ON dup.external_id = stage.external_id AND stage.line > dup.first_line "
                f"ORDER BY stage.line LIMIT {MAX_ERRORS}"
            )
            for line, external_id in cursor.fetchall():
                errors.append(
                    _error(
                        line, "external_id", f"{external_id!r} is used by an earlier line with other content"
                    )
                )
            if not project_has_items:
                return errors[:MAX_ERRORS]
            cursor.execute(
                f"SELECT line, external_id FROM {self.name} WHERE EXISTS (SELECT 1 FROM {item_table} item "
                f"WHERE item.project_id = %s AND item.external_id = {self.name}.external_id) "
                f"ORDER BY line LIMIT {MAX_ERRORS}",
                [project.pk],
            )
            for line, external_id in cursor.fetchall():
                errors.append(
                    _error(line, "external_id", f"{external_id!r} already names another item in this project")
                )
        return sorted(errors, key=lambda e: e["line"])[:MAX_ERRORS]

    def move_into_items(self, project: Project, batch: ImportBatch) -> int:
        item_table = Item._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {item_table} (project_id, external_id, payload, content_hash, import_batch_id, "
                f"suggestion, created_at) SELECT %s, external_id, payload, content_hash, %s, "
                f"suggestion, %s FROM {self.name} WHERE 1 = 1 "
                "ON CONFLICT (project_id, content_hash) DO NOTHING",
                [project.pk, batch.pk, timezone.now()],
            )
            return cursor.rowcount

    def annotation_rows(self, batch: ImportBatch) -> Iterator[tuple[int, str]]:
        item_table = Item._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT item.id, stage.annotations FROM {self.name} stage JOIN {item_table} item "
                "ON item.project_id = %s AND item.content_hash = stage.content_hash "
                "WHERE stage.annotations IS NOT NULL AND item.import_batch_id = %s ORDER BY stage.line",
                [batch.project_id, batch.pk],
            )
            while chunk := cursor.fetchmany(2000):
                yield from chunk


def _error(line: int, field: str, message: str) -> dict:
    return {"line": line, "field": field, "message": message}


# --- the service --------------------------------------------------------------------------


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

    ``fmt`` is one of :class:`ImportBatch.Format` (``None``: guessed from ``filename``).
    ``progress`` is called with the number of lines read after each chunk (for a progress bar);
    ``ImportBatch.lines_read`` is committed at the same moments, so other connections see it
    unless the caller holds an outer transaction. Raises :class:`ImportRejected` (its batch saved
    as failed, with the errors) when any line is bad; nothing of the file is written then.
    """
    fmt = fmt or format_for_filename(filename)
    if fmt not in READERS:
        problem = (
            f"unknown format {fmt!r}" if fmt else f"cannot tell the format of {filename!r} from its name"
        )
        raise ImportRejected([_error(0, "format", f"{problem}; use one of {', '.join(READERS)}")])
    batch = ImportBatch.objects.create(
        project=project, created_by=user, source=source, filename=filename[:255], format=fmt
    )
    validator = RecordValidator(project)
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
            for number, outcome in READERS[fmt](fileobj, validator):
                lines_read = number
                if isinstance(outcome, RecordError):
                    errors.append(_error(number, outcome.field, outcome.message))
                    chunk = []
                    if len(errors) >= MAX_ERRORS:
                        break
                    continue
                if errors:
                    continue  # still validating to report more errors; nothing more to stage
                chunk.append(outcome)
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
                    batch.duplicate_count = duplicates + (_staged_count(staging) - imported)
                    batch.annotation_count = annotation_count
                    batch.finished_at = timezone.now()
                    batch.save()
            except IntegrityError as exc:
                raise ImportRejected(
                    [_error(0, "external_id", f"another import wrote a clashing item meanwhile: {exc}")],
                    batch,
                ) from exc
    except ImportRejected as rejected:
        _mark_failed(batch, rejected.errors, lines_read)
        rejected.batch = batch
        raise
    return batch


def _staged_count(staging: Staging) -> int:
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COUNT(*) FROM {staging.name}")
        return cursor.fetchone()[0]


def _create_annotations(staging: Staging, batch: ImportBatch) -> int:
    """Imported annotations: ``source=import`` and no annotator (nobody here made them)."""
    count = 0
    pending: list[Annotation] = []
    if not staging.has_annotations:
        return 0
    for item_id, annotations_json in staging.annotation_rows(batch):
        for annotation in json.loads(annotations_json):
            pending.append(
                Annotation(
                    item_id=item_id,
                    annotator=None,
                    labels=annotation["labels"],
                    time_spent=annotation["time_spent"],
                    source=Annotation.Source.IMPORT,
                )
            )
        if len(pending) >= 2000:
            count += len(Annotation.objects.bulk_create(pending))
            pending = []
    if pending:
        count += len(Annotation.objects.bulk_create(pending))
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


def _mark_failed(batch: ImportBatch, errors: list[dict], lines_read: int) -> None:
    batch.status = ImportBatch.Status.FAILED
    batch.errors = errors
    batch.lines_read = lines_read
    batch.finished_at = timezone.now()
    batch.save(update_fields=["status", "errors", "lines_read", "finished_at"])
