"""The three file formats, read as a stream: each reader yields ``(line, record or RecordError)``.

A reader knows its format only: how a file splits into records and where each starts (the
physical line for JSONL and CSV, the task's 1-based position for Label Studio JSON). What a record
must contain is :class:`~labelhub.projects.importing.records.RecordValidator`'s job.
"""

from __future__ import annotations

import codecs
import csv
import io
import json
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any, BinaryIO, TextIO

import ijson

from labelhub.projects.importing.records import RecordError
from labelhub.projects.models import ImportBatch

Numbered = Iterator[tuple[int, Any]]  # (line, a parsed record or the RecordError in its place)
Reader = Callable[[BinaryIO | TextIO], Numbered]

FORMAT_BY_EXTENSION = {
    ".jsonl": ImportBatch.Format.JSONL,
    ".ndjson": ImportBatch.Format.JSONL,
    ".csv": ImportBatch.Format.CSV,
    ".json": ImportBatch.Format.LABEL_STUDIO,
}
# Image data URLs in a CSV cell easily pass the csv module's 128 KiB default.
CSV_FIELD_LIMIT = 64 * 1024 * 1024


def format_for_filename(filename: str) -> str | None:
    """The :class:`ImportBatch.Format` a file's extension stands for, or ``None``."""
    return FORMAT_BY_EXTENSION.get(os.path.splitext(filename or "")[1].lower())


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


def _encoding_error(exc: UnicodeDecodeError) -> RecordError:
    return RecordError(
        f"not UTF-8: {exc.reason} at byte {exc.start}", field="encoding", code="invalid_encoding"
    )


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
            yield number + 1, _encoding_error(exc)
            return
        number += 1
        yield number, line


def read_jsonl(fileobj: BinaryIO | TextIO) -> Numbered:
    """One JSON value per line (an item's fields, or a Label Studio task); blank lines skipped."""
    for number, line in _numbered_lines(fileobj):
        if isinstance(line, RecordError):
            yield number, line
            return
        if not line.strip():
            continue
        try:
            yield number, json.loads(line)
        except json.JSONDecodeError as exc:
            yield (
                number,
                RecordError(
                    f"invalid JSON: {exc.msg} at column {exc.colno}", field="json", code="invalid_json"
                ),
            )


def read_csv(fileobj: BinaryIO | TextIO) -> Numbered:
    """A header row naming the columns, then one record per row; empty cells are left out."""
    csv.field_size_limit(CSV_FIELD_LIMIT)
    reader = csv.DictReader(_text_lines(fileobj), strict=True)  # a stray quote is an error, not data
    records = iter(reader)
    while True:
        try:
            record = next(records)
        except StopIteration:
            break
        except UnicodeDecodeError as exc:
            yield reader.line_num + 1, _encoding_error(exc)
            return
        except csv.Error as exc:
            yield max(reader.line_num, 1), RecordError(str(exc), field="csv", code="invalid_csv")
            return
        number = reader.line_num
        if None in record:
            columns = len(reader.fieldnames)
            yield (
                number,
                RecordError(
                    f"{columns + len(record[None])} values for {columns} columns",
                    field="columns",
                    code="extra_columns",
                ),
            )
            continue
        yield number, {key: value for key, value in record.items() if key and value not in (None, "")}
    if not reader.fieldnames:
        yield (
            1,
            RecordError(
                "the CSV file is empty; its first line must name the columns",
                field="header",
                code="missing_header",
            ),
        )


def read_label_studio(fileobj: BinaryIO | TextIO) -> Numbered:
    """Tasks of a Label Studio export (a JSON array); "line" is the task's position, 1-based."""
    number = 0
    try:
        for number, task in enumerate(ijson.items(_binary(fileobj), "item", use_float=True), start=1):
            if not isinstance(task, dict) or not isinstance(task.get("data"), dict):
                yield (
                    number,
                    RecordError('a Label Studio task needs a "data" object', field="data", code="required"),
                )
                continue
            yield number, task
    except ijson.JSONError as exc:
        yield (
            number + 1,
            RecordError(f"invalid JSON after task {number}: {exc}", field="json", code="invalid_json"),
        )
    if number == 0:
        yield 1, RecordError("expected a JSON array of Label Studio tasks", field="json", code="invalid_json")


READERS: dict[str, Reader] = {
    ImportBatch.Format.JSONL: read_jsonl,
    ImportBatch.Format.CSV: read_csv,
    ImportBatch.Format.LABEL_STUDIO: read_label_studio,
}
#: The formats a file can be in (``ImportBatch.Format`` also has ``records``: no file at all).
FILE_FORMAT_CHOICES = [(value, label) for value, label in ImportBatch.Format.choices if value in READERS]
