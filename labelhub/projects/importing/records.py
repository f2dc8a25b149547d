"""One parsed record → one staged row: the item's payload, external id, hash, labels, suggestion.

A record is a dict as a reader (or :func:`~labelhub.projects.importing.import_records`) hands it
over: an item's fields (``{"text": …, "id": …, …}``) or a Label Studio task (``{"data": {…},
"annotations": […], "predictions": […]}``). Every label in it goes through
:func:`~labelhub.projects.labels.clean_labels`; anything wrong raises :class:`RecordError` naming
the field, which the importer reports with the record's line.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any, NamedTuple

from labelhub.projects.importing.errors import RecordError
from labelhub.projects.importing.limits import ImportLimits, check_record
from labelhub.projects.label_config import data_key_of
from labelhub.projects.labels import InvalidLabels, LabelSchema, clean_labels
from labelhub.projects.models import Project
from labelhub.projects.selectors import label_schema

MAX_ERRORS = 50  # enough to fix a file in one go without flooding the batch record
# Payload keys that are the item's content; everything else is metadata and not hashed.
CONTENT_KEYS = ("text", "image")
EXTERNAL_ID_KEYS = ("external_id", "id")
IMAGE_PREFIXES = ("http://", "https://", "data:image/", "/", "s3://", "gs://")

# Encoders built once: ``json.dumps`` with options builds a new encoder per call, which costs
# more than the encoding itself on short lines (a third of the import's CPU time at 1M lines).
# ``allow_nan=False``: :func:`check_record` refuses NaN first; should one slip past, it fails here
# rather than as text PostgreSQL's jsonb refuses.
_CANONICAL_JSON = json.JSONEncoder(ensure_ascii=False, sort_keys=True, separators=(",", ":"), allow_nan=False)
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def content_hash(payload: dict) -> str:
    """sha256 of the item's content (``text`` / ``image``), canonical JSON.

    Metadata is left out on purpose: the same sentence imported twice with a different ``source``
    column is still the same thing to label. A payload without a content key hashes whole.
    """
    content = {key: payload[key] for key in CONTENT_KEYS if key in payload} or payload
    canonical = _CANONICAL_JSON.encode(content)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


class StagedRow(NamedTuple):
    """One validated record, in the staging table's column order (a tuple: COPY takes it as is)."""

    line: int
    external_id: str
    payload: str  # JSON text
    content_hash: str
    suggestion: str | None
    annotations: str | None  # JSON list of {"labels": [...], "time_spent": float}


class RecordValidator:
    """Turns one parsed record into a :class:`StagedRow`, or raises :class:`RecordError`.

    Built once per file: the project's label schema is read here, once, and reused for every line.
    Every record first passes :func:`~labelhub.projects.importing.limits.check_record` (depth,
    NUL, lone surrogates, NaN, huge integers), whichever reader or caller it came from.
    """

    def __init__(
        self, project: Project, schema: LabelSchema | None = None, limits: ImportLimits | None = None
    ):
        self.project = project
        self.limits = limits or ImportLimits.from_settings()
        self.schema = schema if schema is not None else label_schema(project)
        self.content_key = "image" if project.modality == Project.Modality.IMAGE else "text"
        # A project made from a Label Studio config reads e.g. ``$review``: accept that field too.
        self.source_key = data_key_of(project.label_config) or self.content_key

    def row(self, line: int, record: Any) -> StagedRow:
        """The staged row of ``record``: a Label Studio task when it has a ``data`` object."""
        check_record(record, self.limits.max_depth)
        if isinstance(record, dict) and isinstance(record.get("data"), dict):
            return self._row(line, record["data"], fallback_id=record.get("id"), task=record)
        return self._row(line, record)

    def _row(self, line: int, data: Any, *, fallback_id: Any = None, task: dict | None = None) -> StagedRow:
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

    def payload_of(self, data: Any) -> dict:
        if not isinstance(data, dict):
            raise RecordError(
                f"expected a JSON object, got {type(data).__name__}", field="data", code="invalid_type"
            )
        payload = dict(data)
        if self.content_key not in payload and self.source_key in payload:
            payload[self.content_key] = payload.pop(self.source_key)
        value = payload.get(self.content_key)
        if value is None or (isinstance(value, str) and not value.strip()):
            wanted = self.source_key
            raise RecordError(
                f"missing: a {self.project.modality} project needs a {wanted!r} field",
                field=wanted,
                code="required",
            )
        if not isinstance(value, str):
            raise RecordError(
                f"must be a string, got {type(value).__name__}", field=self.content_key, code="invalid_type"
            )
        if self.content_key == "image" and not value.startswith(IMAGE_PREFIXES):
            raise RecordError(
                f"must be a URL or a data:image/ URL, got {value[:40]!r}", field="image", code="invalid_image"
            )
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
            raise RecordError(
                f"must be a string or integer, got {type(external_id).__name__}",
                field="external_id",
                code="invalid_type",
            )
        external_id = str(external_id)
        if len(external_id) > 255:
            raise RecordError("longer than 255 characters", field="external_id", code="max_length")
        return external_id

    def labels_of(self, result: Any, field: str) -> list[str]:
        """The labels of a Label Studio ``result`` list (``choices`` regions), canonical; ``[]`` if none.

        Two conveniences of the Label Studio format come first, then :func:`clean_labels` decides:
        a bare string ``choices`` is one class name, and the choices of several regions merge into
        one list (a class already named by an earlier region is not repeated; first-seen order).
        """
        if not isinstance(result, list):
            raise RecordError("must be a list of regions", field=field, code="invalid_type")
        chosen: list[Any] = []
        for index, region in enumerate(result):
            region_field = f"{field}[{index}]"
            if not isinstance(region, dict):
                raise RecordError("must be an object", field=region_field, code="invalid_type")
            if region.get("type", "choices") != "choices":
                raise RecordError(
                    f"unsupported result type {region.get('type')!r}",
                    field=f"{region_field}.type",
                    code="unsupported_result_type",
                )
            value = region.get("value")
            if not isinstance(value, dict) or "choices" not in value:
                raise RecordError("missing", field=f"{region_field}.value.choices", code="required")
            choices = value["choices"]
            if isinstance(choices, str):
                choices = [choices]
            elif not isinstance(choices, list):
                raise RecordError(
                    "must be a class name or a list of class names",
                    field=f"{region_field}.value.choices",
                    code="invalid_type",
                )
            earlier = list(chosen)
            chosen.extend(name for name in choices if name not in earlier)
        if not chosen:
            return []  # nothing chosen: a skip, not a label
        # One region: its choices are where the labels were given; several: the merged result.
        label_field = f"{field}[0].value.choices" if len(result) == 1 else field
        try:
            return clean_labels(self.schema, chosen, field=label_field)
        except InvalidLabels as exc:
            raise RecordError(exc.message, field=exc.field, code=exc.code) from exc

    def _annotations(self, annotations: Any) -> list[dict] | None:
        if annotations in (None, []):
            return None
        if not isinstance(annotations, list):
            raise RecordError("must be a list", field="annotations", code="invalid_type")
        rows = []
        for index, annotation in enumerate(annotations):
            field = f"annotations[{index}]"
            if not isinstance(annotation, dict):
                raise RecordError("must be an object", field=field, code="invalid_type")
            if annotation.get("was_cancelled"):
                continue  # a skipped task in Label Studio is not a label
            labels = self.labels_of(annotation.get("result", []), f"{field}.result")
            if not labels:
                continue
            lead_time = annotation.get("lead_time") or 0
            if not isinstance(lead_time, int | float):
                raise RecordError(
                    "must be a number of seconds", field=f"{field}.lead_time", code="invalid_type"
                )
            rows.append({"labels": labels, "time_spent": float(lead_time)})
        return rows or None

    def _suggestion(self, predictions: Any) -> dict | None:
        """The latest prediction (by ``created_at`` when given, else the last) becomes the suggestion."""
        if predictions in (None, []):
            return None
        if not isinstance(predictions, list):
            raise RecordError("must be a list", field="predictions", code="invalid_type")
        indexed = [(index, p) for index, p in enumerate(predictions) if isinstance(p, dict)]
        if len(indexed) != len(predictions):
            raise RecordError("every prediction must be an object", field="predictions", code="invalid_type")
        index, latest = max(indexed, key=lambda pair: (str(pair[1].get("created_at") or ""), pair[0]))
        field = f"predictions[{index}]"
        labels = self.labels_of(latest.get("result", []), f"{field}.result")
        score = latest.get("score")
        if score is not None and not isinstance(score, int | float):
            raise RecordError("must be a number", field=f"{field}.score", code="invalid_type")
        if not labels:
            return None  # a prediction that chose nothing suggests nothing
        return {
            "labels": labels,
            "confidence": float(score) if score is not None else None,
            "model_version": latest.get("model_version"),
        }
