"""The three file formats, read as a stream: each reader yields ``(line, record or RecordError)``.

A reader knows its format only: how a file splits into records and where each starts (the
physical line for JSONL and CSV, the task's 1-based position for Label Studio JSON). What a record
must contain is :class:`~labelhub.projects.importing.records.RecordValidator`'s job.

Each reader holds at most one record in memory, and refuses it once it passes
:class:`~labelhub.projects.importing.limits.ImportLimits` (a line is read with a length limit, a
Label Studio task is built event by event with its depth counted), so a hostile file costs
bounded memory whatever its size.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO, TextIO

import ijson

from labelhub.projects.importing.errors import RecordError
from labelhub.projects.importing.limits import ImportLimits, parse_int, too_deep, too_large
from labelhub.projects.models import ImportBatch

Numbered = Iterator[tuple[int, Any]]  # (line, a parsed record or the RecordError in its place)
Reader = Callable[..., Numbered]  # (fileobj, limits=None)

FORMAT_BY_EXTENSION = {
    ".jsonl": ImportBatch.Format.JSONL,
    ".ndjson": ImportBatch.Format.JSONL,
    ".csv": ImportBatch.Format.CSV,
    ".json": ImportBatch.Format.LABEL_STUDIO,
}
# Bytes read at a time while skipping the rest of a line that is over the limit.
SKIP_CHUNK = 1024 * 1024
# One decoder for every JSONL line: integers go through ``parse_int`` so a 5,000-digit literal is
# reported by field instead of raising inside ``json``.
_JSONL_DECODER = json.JSONDecoder(parse_int=parse_int)


def format_for_filename(filename: str) -> str | None:
    """The :class:`ImportBatch.Format` a file's extension stands for, or ``None``."""
    return FORMAT_BY_EXTENSION.get(os.path.splitext(filename or "")[1].lower())


class _TooLarge(Exception):
    """A line or record passed ``max_item_bytes``; raised through ``csv`` by :class:`_Lines`."""

    def __init__(self, error: RecordError):
        self.error = error


class _Lines:
    """The decoded lines of a file, each read with a length limit so one line costs bounded memory.

    A line longer than ``max_bytes`` is skipped to its end and raises :class:`_TooLarge`; so does
    a run of lines since :meth:`start_record` that passes it together (a multi-line CSV record).
    Bytes that are not UTF-8 raise ``UnicodeDecodeError``. ``number`` is the physical line read.
    """

    def __init__(self, fileobj: BinaryIO | TextIO, max_bytes: int):
        source = getattr(fileobj, "file", fileobj)  # Django's UploadedFile wraps the real file
        self.readline = source.readline
        self.is_text = isinstance(source, io.TextIOBase)
        self.max_bytes = max_bytes
        self.number = 0
        self.record_bytes = 0

    def __iter__(self) -> _Lines:
        return self

    def start_record(self) -> None:
        self.record_bytes = 0

    def __next__(self) -> str:
        raw = self.readline(self.max_bytes + 1)
        if not raw:
            raise StopIteration
        self.number += 1
        newline = "\n" if self.is_text else b"\n"
        if len(raw) > self.max_bytes:
            while not raw.endswith(newline):
                raw = self.readline(SKIP_CHUNK)
                if not raw:
                    break
            raise _TooLarge(too_large(self.max_bytes, "line"))
        self.record_bytes += len(raw)
        if self.record_bytes > self.max_bytes:
            raise _TooLarge(too_large(self.max_bytes))
        if self.is_text:
            return raw
        return raw.decode("utf-8-sig" if self.number == 1 else "utf-8")


def _encoding_error(exc: UnicodeDecodeError) -> RecordError:
    return RecordError(
        f"not UTF-8: {exc.reason} at byte {exc.start} of the line", field="encoding", code="invalid_encoding"
    )


def json_error_detail(exc: json.JSONDecodeError) -> str:
    """ "invalid JSON: <why> at column N". Some of json's reasons already end in "at" ("Unterminated
    string starting at", "Invalid control character at"): that "at" is the one before the column."""
    return f"invalid JSON: {exc.msg.removesuffix(' at')} at column {exc.colno}"


def first_line(exc: Exception) -> str:
    """The reason of an ijson error without the multi-line excerpt and "(right here) ---^" caret
    that yajl appends (the error's line already says where)."""
    return str(exc).strip().splitlines()[0].strip() if str(exc).strip() else type(exc).__name__


def read_jsonl(fileobj: BinaryIO | TextIO, limits: ImportLimits | None = None) -> Numbered:
    """One JSON value per line (an item's fields, or a Label Studio task); blank lines skipped.

    A line over the size limit is an error on it and reading goes on; a line that is not UTF-8
    ends the file with an error on it.
    """
    limits = limits or ImportLimits.from_settings()
    lines = _Lines(fileobj, limits.max_item_bytes)
    while True:
        lines.start_record()
        try:
            line = next(lines)
        except StopIteration:
            return
        except _TooLarge as exc:
            yield lines.number, exc.error
            continue
        except UnicodeDecodeError as exc:
            yield lines.number, _encoding_error(exc)
            return
        if not line.strip():
            continue
        try:
            yield lines.number, _JSONL_DECODER.decode(line)
        except json.JSONDecodeError as exc:
            yield (
                lines.number,
                RecordError(json_error_detail(exc), field="json", code="invalid_json"),
            )
        except RecursionError:
            # json's scanner gives up near a thousand levels, well past the limit: still too deep.
            yield lines.number, too_deep(limits.max_depth)


def _csv_header_error(fieldnames: list[str] | None) -> RecordError | None:
    if not fieldnames:
        return RecordError(
            "the CSV file is empty; its first line must name the columns",
            field="header",
            code="missing_header",
        )
    seen: set[str] = set()
    for name in fieldnames:
        if name and name in seen:
            # DictReader would keep the last column of that name and drop the others silently.
            return RecordError(
                f"column {name!r} appears more than once in the header", field=name, code="duplicate_column"
            )
        seen.add(name)
    return None


def read_csv(fileobj: BinaryIO | TextIO, limits: ImportLimits | None = None) -> Numbered:
    """A header row naming each column once, then one record per row; empty cells are left out.

    A record over the size limit, a stray quote or bytes that are not UTF-8 end the file with an
    error on that line (after a broken record the CSV cannot be resynchronised).
    """
    limits = limits or ImportLimits.from_settings()
    csv.field_size_limit(limits.max_item_bytes)  # no single cell past the record limit either
    lines = _Lines(fileobj, limits.max_item_bytes)
    reader = csv.DictReader(lines, strict=True)  # a stray quote is an error, not data

    def failure(exc: Exception) -> tuple[int, RecordError]:
        if isinstance(exc, _TooLarge):
            return lines.number, exc.error
        if isinstance(exc, UnicodeDecodeError):
            return lines.number, _encoding_error(exc)
        if "field larger than field limit" in str(exc):
            return max(lines.number, 1), too_large(limits.max_item_bytes, "csv")
        return max(lines.number, 1), RecordError(str(exc), field="csv", code="invalid_csv")

    try:
        fieldnames = reader.fieldnames
    except (_TooLarge, UnicodeDecodeError, csv.Error) as exc:
        yield failure(exc)
        return
    header_error = _csv_header_error(fieldnames)
    if header_error is not None:
        yield 1, header_error
        return
    records = iter(reader)
    while True:
        lines.start_record()
        try:
            record = next(records)
        except StopIteration:
            return
        except (_TooLarge, UnicodeDecodeError, csv.Error) as exc:
            yield failure(exc)
            return
        number = lines.number
        if None in record:
            columns = len(fieldnames)
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


class _BytesReader:
    """A ``read(n)`` adapter over a text stream, for ijson (which wants bytes)."""

    def __init__(self, text: TextIO):
        self.text = text

    def read(self, size: int = -1) -> bytes:
        return self.text.read(size).encode("utf-8")


def _binary(fileobj: BinaryIO | TextIO):
    source = getattr(fileobj, "file", fileobj)
    return _BytesReader(source) if isinstance(source, io.TextIOBase) else source


_OPEN = {"start_map", "start_array"}
_CLOSE = {"end_map", "end_array"}


def _next_task(events: Iterator[tuple[str, Any]], first: tuple[str, Any], limits: ImportLimits):
    """The task that starts with event ``first``, built event by event, or the RecordError in its place.

    ijson's own ``items`` keeps a prefix string per level (quadratic in the depth: 100,000 nested
    ``[`` took 19.5 GB); here only a depth counter and the task being built are kept, and a task
    over the limits is skipped to its end unbuilt.
    """
    event, value = first
    if event not in _OPEN:
        return value
    builder = ijson.ObjectBuilder()
    builder.event(event, value)
    depth, size, error = 1, 2, None
    for event, value in events:
        if event in _OPEN:
            depth += 1
            if error is None and depth > limits.max_depth:
                error = too_deep(limits.max_depth)
        elif event in _CLOSE:
            depth -= 1
        if error is None:
            size += len(value) if isinstance(value, str) else 8
            if size > limits.max_item_bytes:
                error = too_large(limits.max_item_bytes)
        if error is None:
            builder.event(event, value)
        if depth == 0:
            return error if error is not None else builder.value
    raise ijson.IncompleteJSONError("the file ends inside a task")


def read_label_studio(fileobj: BinaryIO | TextIO, limits: ImportLimits | None = None) -> Numbered:
    """Tasks of a Label Studio export (a JSON array); "line" is the task's position, 1-based.

    The elements are tasks (``{"data": {…}, …}``, the JSON export) or flat objects (the JSON_MIN
    export, one per annotation, or plain items); what they hold is the later stages' business.
    """
    limits = limits or ImportLimits.from_settings()
    number = 0
    read = 0  # tasks read to their end: a syntax error lies in task ``read + 1``
    not_an_array = RecordError(
        "expected a JSON array of Label Studio tasks", field="json", code="invalid_json"
    )
    events = iter(ijson.basic_parse(_binary(fileobj), use_float=True))
    try:
        first = next(events, None)
        if first is None or first[0] != "start_array":
            yield 1, not_an_array
            return
        for event, value in events:
            if event == "end_array":
                break  # the end of the file's array
            number += 1
            task = _next_task(events, (event, value), limits)
            if isinstance(task, RecordError):
                yield number, task
            elif not isinstance(task, dict) or ("data" in task and not isinstance(task["data"], dict)):
                yield (
                    number,
                    RecordError(
                        'a Label Studio task must be an object with a "data" object, or a flat row of '
                        "its JSON_MIN export",
                        field="data",
                        code="required",
                    ),
                )
            else:
                # A task, or a flat JSON_MIN row (regrouped into tasks by the label_studio stage).
                yield number, task
            read = number
        for _ in events:  # anything after the array is an error ijson raises
            pass
    except ijson.JSONError as exc:
        yield (
            read + 1,
            RecordError(
                f"invalid JSON after task {read}: {first_line(exc)}", field="json", code="invalid_json"
            ),
        )
        return
    if number == 0:
        yield 1, not_an_array


READERS: dict[str, Reader] = {
    ImportBatch.Format.JSONL: read_jsonl,
    ImportBatch.Format.CSV: read_csv,
    ImportBatch.Format.LABEL_STUDIO: read_label_studio,
}
#: The formats a file can be in (``ImportBatch.Format`` also has ``records``: no file at all).
FILE_FORMAT_CHOICES = [(value, label) for value, label in ImportBatch.Format.choices if value in READERS]
