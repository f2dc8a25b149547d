"""Capture batches: validate every record, then write the batch in one statement, or nothing.

A record is what a deployed model saw and said::

    {"key": "req-8812", "input": {"text": "…"}, "prediction": "dog",
     "probabilities": [0.1, 0.8, 0.1] | {"dog": 0.8, …}, "logits": […], "embedding": […],
     "model_version": "v3", "timestamp": "2026-12-02T01:00:00Z", "source": "web", "outcome": "cat"}

Only ``key``, ``input`` and ``prediction`` are required. The input is an item's payload, checked
by the importer's own rules (:class:`~labelhub.projects.importing.RecordValidator`), labels by
:func:`~labelhub.projects.labels.clean_labels`. Probabilities and embeddings are checked as columns
(one float32 matrix per batch); only a batch whose column fails is walked record by record, to
name the bad ones. On PostgreSQL the rows are COPYed into a
transaction-local table and moved with one ``INSERT … ON CONFLICT DO NOTHING``, so a key sent
twice (a client's retry) is stored once and the batch costs one round trip of rows.
"""

# ruff: noqa: S608 - table names come from model meta; values are always parameters.
from __future__ import annotations

import json
import math
from array import array
from datetime import UTC, datetime
from typing import Any

import numpy as np
from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from labelhub.production.errors import CaptureRejected
from labelhub.production.models import Capture, Deployment
from labelhub.projects.content import canonical_payload
from labelhub.projects.importing import ImportLimits, RecordError, RecordValidator
from labelhub.projects.importing.limits import check_record
from labelhub.projects.labels import InvalidLabels, LabelSchema, clean_labels

MAX_BATCH = 10_000
MAX_ERRORS = 50
KEY_MAX = 128
SHORT_TEXT_MAX = 100
#: How far probabilities may sum from 1 (float32 softmax outputs, rounding in the client's JSON).
PROBABILITY_TOLERANCE = 1e-3
FIELDS = {
    "key",
    "input",
    "prediction",
    "probabilities",
    "logits",
    "embedding",
    "model_version",
    "timestamp",
    "source",
    "outcome",
}
_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


class Invalid(Exception):
    """One bad field of one record (internal: collected into :class:`CaptureRejected`)."""

    def __init__(self, field: str, code: str, detail: str):
        super().__init__(detail)
        self.field, self.code, self.detail = field, code, detail


def float32_bytes(values: Any, field: str, length: int) -> bytes:
    """``values`` (a list of ``length`` finite numbers) as little-endian float32 bytes."""
    if not isinstance(values, list):
        raise Invalid(field, "invalid_type", f"must be a list of {length} numbers")
    if len(values) != length:
        raise Invalid(field, "invalid_length", f"must hold {length} numbers, got {len(values)}")
    try:
        packed = array("f", values)  # C speed: refuses strings, None and nested lists
    except (TypeError, OverflowError) as exc:
        raise Invalid(field, "invalid_type", "must hold numbers only") from exc
    # A value past float32's range became inf here; JSON has no NaN (the parser refuses it).
    # (Per-call numpy overhead beats a Python loop only on long vectors such as embeddings.)
    finite = (
        all(map(math.isfinite, packed)) if length <= 64 else np.isfinite(np.frombuffer(packed, "<f4")).all()
    )
    if not finite:
        raise Invalid(field, "invalid_number", "must hold finite numbers (float32 range)")
    return packed.tobytes()


class CaptureValidator:
    """Turns records into rows of ``production_capture``; built once per batch (reads the schema once)."""

    def __init__(self, deployment: Deployment, schema: LabelSchema, embedding_dim: int):
        project = deployment.project
        self.deployment = deployment
        self.schema = schema
        self.n_classes = len(schema.class_names)
        self.embedding_dim = embedding_dim
        self.items = RecordValidator(project, schema=schema, limits=ImportLimits.from_settings())
        self.max_depth = self.items.limits.max_depth
        self.now = timezone.now()
        self._labels: dict[Any, list[str]] = {}  # predictions repeat: clean each distinct one once
        self._encoded: dict[tuple, str] = {}

    def labels(self, raw: Any, field: str) -> list[str]:
        """Canonical labels of ``raw``: a class name, or a list of them (``clean_labels`` decides)."""
        if isinstance(raw, str):
            raw = [raw]
        cache_key = tuple(raw) if isinstance(raw, list) and all(isinstance(v, str) for v in raw) else raw
        if isinstance(cache_key, str | tuple) and cache_key in self._labels:
            return self._labels[cache_key]
        try:
            cleaned = clean_labels(self.schema, raw, field=field)
        except InvalidLabels as exc:
            raise Invalid(field, exc.code, exc.message) from exc
        if isinstance(cache_key, str | tuple):
            self._labels[cache_key] = cleaned
        return cleaned

    def row(self, index: int, record: Any) -> list:
        """The record's row; its probabilities and embedding may still be lists (see :func:`pack_vectors`)."""
        at = f"records[{index}]"
        if not isinstance(record, dict):
            raise Invalid(at, "invalid_type", "must be an object")
        unknown = record.keys() - FIELDS
        if unknown:
            name = sorted(unknown)[0]
            raise Invalid(
                f"{at}.{name}", "unknown_field", f"unknown field; fields are {', '.join(sorted(FIELDS))}"
            )
        key = record.get("key")
        if not isinstance(key, str) or not key or len(key) > KEY_MAX:
            raise Invalid(
                f"{at}.key", "invalid_key", f"must be a non-empty string of at most {KEY_MAX} characters"
            )
        payload = self.payload(record.get("input"), f"{at}.input")
        prediction = self.labels(record.get("prediction"), f"{at}.prediction")
        predicted_class = self.schema.position(prediction[0])
        encoded_prediction = self._encoded.get(tuple(prediction))
        if encoded_prediction is None:
            encoded_prediction = self._encoded.setdefault(tuple(prediction), _JSON.encode(prediction))
        probabilities = record.get("probabilities")
        if isinstance(probabilities, dict):
            probabilities = self.probability_list(probabilities, f"{at}.probabilities")
        elif probabilities is not None and not isinstance(probabilities, list):
            raise Invalid(
                f"{at}.probabilities", "invalid_type", f"must be a list of {self.n_classes} numbers"
            )
        logits = record.get("logits")
        if logits is not None:
            logits = float32_bytes(logits, f"{at}.logits", self.n_classes)
        embedding = record.get("embedding")
        if embedding is not None and not isinstance(embedding, list):
            raise Invalid(
                f"{at}.embedding", "invalid_type", f"must be a list of {self.embedding_dim} numbers"
            )
        outcome = record.get("outcome")
        if outcome is not None:
            outcome = _JSON.encode(self.labels(outcome, f"{at}.outcome"))
        encoded_payload, payload_hash = canonical_payload(payload)
        return [
            self.deployment.pk,
            self.deployment.project_id,
            key,
            encoded_payload,
            payload_hash,
            encoded_prediction,
            predicted_class,
            probabilities,
            logits,
            embedding,
            self.short_text(record.get("model_version"), f"{at}.model_version"),
            self.short_text(record.get("source"), f"{at}.source"),
            self.timestamp(record.get("timestamp"), f"{at}.timestamp"),
            self.now,
            outcome,
            self.now if outcome is not None else None,
            "",
        ]

    def payload(self, data: Any, field: str) -> dict:
        try:
            check_record(data, self.max_depth)
            return self.items.payload_of(data)
        except RecordError as exc:
            inner = f"{field}.{exc.field}" if exc.field and exc.field != "data" else field
            raise Invalid(inner, exc.code, exc.message) from exc

    def probability_list(self, raw: dict, field: str) -> list:
        """``{class name: probability}`` as a list in the schema's class order."""
        unknown = [name for name in raw if name not in self.schema]
        if unknown:
            raise Invalid(f"{field}.{unknown[0]}", "unknown_label", "is not a class of the project")
        return [raw.get(name, 0.0) for name in self.schema.class_names]

    def probabilities(self, raw: Any, field: str) -> bytes:
        """One record's probabilities as float32 bytes, or :class:`Invalid` saying what is wrong."""
        packed = float32_bytes(raw, field, self.n_classes)
        values = array("f")
        values.frombytes(packed)
        if min(values) < 0 or max(values) > 1 or abs(sum(values) - 1) > PROBABILITY_TOLERANCE:
            raise Invalid(field, "invalid_probabilities", "must be numbers in [0, 1] summing to 1")
        return packed

    @staticmethod
    def short_text(value: Any, field: str) -> str:
        if value is None:
            return ""
        if not isinstance(value, str) or len(value) > SHORT_TEXT_MAX:
            raise Invalid(field, "invalid_type", f"must be a string of at most {SHORT_TEXT_MAX} characters")
        return value

    def timestamp(self, value: Any, field: str) -> datetime:
        if value is None:
            return self.now
        if not isinstance(value, str):
            raise Invalid(field, "invalid_type", "must be an ISO 8601 date-time string")
        try:
            parsed = datetime.fromisoformat(value)
        except ValueError as exc:
            raise Invalid(field, "invalid_timestamp", f"not an ISO 8601 date-time: {value[:40]!r}") from exc
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


COLUMNS = (
    "deployment_id",
    "project_id",
    "key",
    "payload",
    "content_hash",
    "prediction",
    "predicted_class",
    "probabilities",
    "logits",
    "embedding",
    "model_version",
    "source",
    "captured_at",
    "received_at",
    "outcome",
    "outcome_at",
    "rule",
)


PROBABILITIES = COLUMNS.index("probabilities")
EMBEDDING = COLUMNS.index("embedding")


def probabilities_valid(matrix: np.ndarray) -> bool:
    """Every row in [0, 1] and summing to 1 (within :data:`PROBABILITY_TOLERANCE`)."""
    sums = matrix.sum(axis=1, dtype=np.float64)
    return bool(
        (matrix >= 0).all() and (matrix <= 1).all() and (np.abs(sums - 1) <= PROBABILITY_TOLERANCE).all()
    )


def column_bytes(values: list, length: int, *, probabilities: bool) -> list[bytes] | None:
    """The lists as float32 bytes each, checked as one matrix; None when any of them is bad."""
    try:
        matrix = np.array(values, dtype="<f4")
    except (TypeError, ValueError, OverflowError):  # a string, None, a ragged or nested list
        return None
    if matrix.ndim != 2 or matrix.shape[1] != length or not np.isfinite(matrix).all():
        return None
    if probabilities and not probabilities_valid(matrix):
        return None
    packed, width = matrix.tobytes(), 4 * length
    return [packed[start : start + width] for start in range(0, len(packed), width)]


def pack_vectors(
    validator: CaptureValidator, indexed_rows: list[tuple[int, list]]
) -> list[tuple[int, Invalid]]:
    """Probabilities and embeddings of ``(record index, row)`` pairs as bytes, in place: a column at
    a time, and record by record only when the column is bad, to name the records; returns those."""
    bad: dict[int, Invalid] = {}
    for position, field, length in (
        (PROBABILITIES, "probabilities", validator.n_classes),
        (EMBEDDING, "embedding", validator.embedding_dim),
    ):
        holding = [
            (index, row)
            for index, row in indexed_rows
            if isinstance(row[position], list) and index not in bad
        ]
        if not holding:
            continue
        packed = column_bytes(
            [row[position] for _, row in holding], length, probabilities=field == "probabilities"
        )
        if packed is not None:
            for (_, row), value in zip(holding, packed, strict=True):
                row[position] = value
            continue
        for index, row in holding:  # the failure path: find the bad records
            at = f"records[{index}].{field}"
            try:
                if field == "probabilities":
                    row[position] = validator.probabilities(row[position], at)
                else:
                    row[position] = float32_bytes(row[position], at, length)
            except Invalid as exc:
                bad[index] = exc
    return sorted(bad.items())


def validate_batch(validator: CaptureValidator, records: Any) -> list[list]:
    """Every record as a row, the first of each key kept; :class:`CaptureRejected` naming the bad ones."""
    if not isinstance(records, list) or not records:
        raise CaptureRejected(
            [{"field": "records", "code": "required", "detail": "a non-empty list of records"}]
        )
    if len(records) > MAX_BATCH:
        raise CaptureRejected(
            [{"field": "records", "code": "too_many", "detail": f"at most {MAX_BATCH} records per batch"}]
        )
    rows: list[tuple[int, list]] = []
    errors: list[tuple[int, Invalid]] = []
    for index, record in enumerate(records):
        try:
            rows.append((index, validator.row(index, record)))
        except Invalid as exc:
            errors.append((index, exc))
            if len(errors) >= MAX_ERRORS:
                break
    errors = sorted(errors + pack_vectors(validator, rows), key=lambda error: error[0])
    if errors:
        raise CaptureRejected(
            [{"field": exc.field, "code": exc.code, "detail": exc.detail} for _, exc in errors[:MAX_ERRORS]]
        )
    first: dict[str, list] = {}
    for _, row in rows:
        first.setdefault(row[2], row)
    return list(first.values())


def write_rows(rows: list[list]) -> int:
    """Insert the rows, skipping keys the deployment already sent; returns how many were new.

    On PostgreSQL the keys already stored are looked up first (the unique index), and the new rows
    are COPYed straight into the table. Should a concurrent batch store one of the same keys in
    between, the COPY fails on the unique constraint and the rows go through a staging table and
    ``INSERT … ON CONFLICT DO NOTHING`` instead. Unless ``LABELHUB_CAPTURE_DURABLE``, the commit
    does not wait for the WAL flush (a third of a 10,000-record batch's time): a crash of the
    database server can then lose the last moment of acknowledged captures, never half a batch.
    """
    table = Capture._meta.db_table
    columns = ", ".join(COLUMNS)
    deployment_id = rows[0][0]
    with transaction.atomic(), connection.cursor() as cursor:
        if connection.vendor != "postgresql":
            marks = ", ".join(["%s"] * len(COLUMNS))
            before = Capture.objects.filter(deployment_id=deployment_id).count()
            cursor.executemany(f"INSERT OR IGNORE INTO {table} ({columns}) VALUES ({marks})", rows)
            return Capture.objects.filter(deployment_id=deployment_id).count() - before
        if not settings.LABELHUB_CAPTURE_DURABLE:
            cursor.execute("SET LOCAL synchronous_commit TO off")
        stored = stored_keys(cursor, table, deployment_id, [row[2] for row in rows])
        fresh = [row for row in rows if row[2] not in stored]
        if not fresh:
            return 0
        try:
            with transaction.atomic():
                _copy(cursor, table, fresh)
            return len(fresh)
        except IntegrityError:
            return _insert_through_staging(cursor, table, fresh)


def stored_keys(cursor, table: str, deployment_id: int, keys: list[str]) -> set[str]:
    cursor.execute(
        f"SELECT key FROM {table} WHERE deployment_id = %s AND key = ANY(%s)", [deployment_id, keys]
    )
    return {key for (key,) in cursor.fetchall()}


def _copy(cursor, table: str, rows: list[list]) -> None:
    # The raw psycopg COPY raises the driver's errors: wrapped, a unique violation is IntegrityError.
    with (
        connection.wrap_database_errors,
        cursor.cursor.copy(f"COPY {table} ({', '.join(COLUMNS)}) FROM STDIN") as copy,
    ):
        for row in rows:
            copy.write_row(row)


def _insert_through_staging(cursor, table: str, rows: list[list]) -> int:
    columns = ", ".join(COLUMNS)
    cursor.execute(f"CREATE TEMPORARY TABLE capture_stage (LIKE {table} INCLUDING DEFAULTS) ON COMMIT DROP")
    cursor.execute("ALTER TABLE capture_stage DROP COLUMN id")
    _copy(cursor, "capture_stage", rows)
    cursor.execute(
        f"INSERT INTO {table} ({columns}) SELECT {columns} FROM capture_stage "
        "ON CONFLICT (deployment_id, key) DO NOTHING"
    )
    created = cursor.rowcount
    # ON COMMIT DROP covers a failure; dropped here too, for a caller's enclosing transaction.
    cursor.execute("DROP TABLE capture_stage")
    return created
