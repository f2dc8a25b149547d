"""One parsed record → one staged row: the item's payload, external id, hash, labels, suggestion.

A record is a dict as a reader (or :func:`~labelhub.projects.importing.import_records`) hands it
over: an item's fields (``{"text": …, "id": …, …}``) or a Label Studio task (``{"data": {…},
"annotations": […], "predictions": […]}``). Every label in it goes through
:func:`~labelhub.projects.labels.clean_labels`; anything wrong raises :class:`RecordError` naming
the field, which the importer reports with the record's line.
"""

from __future__ import annotations

import json
from typing import Any, NamedTuple

from labelhub.projects.content import payload_sha256
from labelhub.projects.importing.errors import RecordError
from labelhub.projects.importing.label_studio import LABEL_COLUMN_KEY
from labelhub.projects.importing.limits import ImportLimits, check_record
from labelhub.projects.label_config import schema_of
from labelhub.projects.labels import InvalidLabels, LabelSchema, clean_labels
from labelhub.projects.models import Project
from labelhub.projects.selectors import label_schema

MAX_ERRORS = 50  # enough to fix a file in one go without flooding the batch record
EXTERNAL_ID_KEYS = ("external_id", "id")
IMAGE_PREFIXES = ("http://", "https://", "data:image/", "/", "s3://", "gs://")
# Paths that only mean something inside a Label Studio server (its uploads, local files, storage
# proxies): accepted as references, but the labeling page cannot show them. Said at import.
LABEL_STUDIO_SERVER_PATHS = ("/data/upload/", "/data/local-files/", "/tasks/", "/storage-data/")

# Encoders built once: ``json.dumps`` with options builds a new encoder per call, which costs
# more than the encoding itself on short lines (a third of the import's CPU time at 1M lines).
# ``allow_nan=False``: :func:`check_record` refuses NaN first; should one slip past, it fails here
# rather than as text PostgreSQL's jsonb refuses.
_COMPACT_JSON = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def content_hash(payload: dict) -> str:
    """sha256 of the item's content (``text`` / ``image``), canonical JSON: see
    :func:`labelhub.projects.content.payload_sha256`, which the training client checks too."""
    return payload_sha256(payload)


class StagedRow(NamedTuple):
    """One validated record, in the staging table's column order (a tuple: COPY takes it as is)."""

    line: int
    external_id: str
    payload: str  # JSON text
    content_hash: str
    suggestion: str | None
    annotations: str | None  # JSON list of {"labels": [...], "time_spent": float, "annotator": key}


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
        config = schema_of(project.label_config)
        # A project made from a Label Studio config reads e.g. ``$review``: accept that field too.
        self.source_key = config.data_key if config is not None else self.content_key
        # Every other task field the config shows (texts, headers): required, kept in the payload.
        self.shown_fields = [f for f in config.bound_fields if not f.labelled] if config is not None else []
        # The label column of Label Studio's flat exports (None: not made from a config).
        self.choices_name = config.choices_name if config is not None else None
        # What was read but left out ({reason: count}) and what will not show (import warnings).
        self.skipped: dict[str, int] = {}
        self.warnings: list[dict] = []

    def row(self, line: int, record: Any) -> StagedRow:
        """The staged row of ``record``: a Label Studio task when it has a ``data`` object."""
        check_record(record, self.limits.max_depth)
        if isinstance(record, dict) and isinstance(record.get("data"), dict):
            return self._row(line, record["data"], fallback_id=record.get("id"), task=record)
        return self._row(line, record)

    def _row(self, line: int, data: Any, *, fallback_id: Any = None, task: dict | None = None) -> StagedRow:
        payload = self.payload_of(data)
        self._warn_unshowable(line, payload)
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
        if self.source_key != self.content_key and self.source_key in payload:
            # The config reads ``$title``: that is the content, even when the task also has a
            # ``text`` field, which is kept as metadata under another name (never shown instead).
            if self.content_key in payload:
                payload[f"unread_{self.content_key}"] = payload.pop(self.content_key)
            payload[self.content_key] = payload.pop(self.source_key)
        # A Label Studio task names fields as the config reads them; a record already in the
        # payload's own shape (a labelhub export, read back) names them where the payload keeps them.
        as_task = self.source_key in data
        for shown in self.shown_fields:
            key = shown.source_key if as_task else shown.payload_key
            shown_value = data.get(key)  # from the record as given: the renames above moved fields
            if not isinstance(shown_value, str):
                raise RecordError(
                    f"missing: the label config shows ${shown.source_key}, so every task needs it"
                    if shown_value is None
                    else f"must be a string, got {type(shown_value).__name__}",
                    field=key,
                    code="required" if shown_value is None else "invalid_type",
                )
            payload[shown.payload_key] = shown_value
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

    def _warn_unshowable(self, line: int, payload: dict) -> None:
        value = payload.get(self.content_key)
        if self.content_key == "image" and value.startswith(LABEL_STUDIO_SERVER_PATHS):
            self.skip("images_not_shown")
            if len(self.warnings) < MAX_ERRORS:
                self.warnings.append(
                    RecordError(
                        f"{value[:80]!r} is a path on the Label Studio server, which the labeling page "
                        "cannot load: the item is imported but shows no image; import a full URL or a "
                        "data:image/ URL instead",
                        field="image",
                        code="image_not_shown",
                    ).at_line(line)
                )

    def skip(self, reason: str, count: int = 1) -> None:
        """Count something the import read and left out on purpose (``ImportBatch.skipped``)."""
        self.skipped[reason] = self.skipped.get(reason, 0) + count

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
        """One row per annotation, each with its Label Studio annotator (see :func:`annotator_key`);
        cancelled (skipped) annotations and ones that chose nothing are left out and counted."""
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
                self.skip("cancelled_annotations")  # a skipped task in Label Studio is not a label
                continue
            column = annotation.get(LABEL_COLUMN_KEY)
            try:
                labels = self.labels_of(annotation.get("result", []), f"{field}.result")
            except RecordError as exc:
                if column is None:
                    raise
                raise RecordError(exc.message, field=column, code=exc.code) from exc
            if not labels:
                self.skip("empty_annotations")
                continue
            lead_time = annotation.get("lead_time") or 0
            if not isinstance(lead_time, int | float):
                raise RecordError(
                    "must be a number of seconds", field=f"{field}.lead_time", code="invalid_type"
                )
            rows.append(
                {
                    "labels": labels,
                    "time_spent": float(lead_time),
                    "annotator": annotator_key(annotation.get("completed_by"), f"{field}.completed_by"),
                }
            )
        return rows or None

    def _suggestion(self, predictions: Any) -> dict | None:
        """The latest prediction (by ``created_at`` when given, else the last) becomes the suggestion."""
        if predictions in (None, []):
            return None
        if not isinstance(predictions, list):
            raise RecordError("must be a list", field="predictions", code="invalid_type")
        indexed = [(index, p) for index, p in enumerate(predictions) if isinstance(p, dict)]
        # Label Studio 1.23 exports predictions as their ids unless ``predictions.only_id=false``
        # is sent: nothing to suggest from an id, so it is counted and left out.
        id_only = [p for p in predictions if isinstance(p, int) and not isinstance(p, bool)]
        if len(indexed) + len(id_only) != len(predictions):
            bad = next(
                i for i, p in enumerate(predictions) if not isinstance(p, dict | int) or isinstance(p, bool)
            )
            raise RecordError(
                "must be an object (or, as Label Studio exports by default, a prediction id)",
                field=f"predictions[{bad}]",
                code="invalid_type",
            )
        if id_only:
            self.skip("predictions_id_only", len(id_only))
        if not indexed:
            return None
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


def annotator_key(completed_by: Any, field: str) -> str | None:
    """The identity of a Label Studio annotator, as the username of its imported account.

    Label Studio exports ``completed_by`` as a user id (the default; ids are per server), or as
    ``{"id", "email", …}`` with ``annotations__completed_by.only_id=false``; JSON_MIN and CSV
    write the id in ``annotator``. An email is the better key (the same person across servers and
    exports); the ``ls:`` prefix keeps these accounts apart from labelhub's own usernames.
    """
    if completed_by in (None, ""):
        return None
    if isinstance(completed_by, dict):
        email = completed_by.get("email")
        if isinstance(email, str) and email.strip():
            return f"ls:{email.strip().lower()}"[:150]
        completed_by = completed_by.get("id")
        if completed_by in (None, ""):
            return None
    if isinstance(completed_by, bool):
        raise RecordError("must be a user id or email", field=field, code="invalid_type")
    if isinstance(completed_by, int):
        return f"ls:user-{completed_by}"
    if isinstance(completed_by, str):
        value = completed_by.strip()
        if value.isdigit():
            return f"ls:user-{int(value)}"
        return f"ls:{value.lower()}"[:150]
    raise RecordError("must be a user id or email", field=field, code="invalid_type")
