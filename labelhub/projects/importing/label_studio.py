"""Label Studio's flat exports (JSON_MIN and CSV) regrouped into the tasks of its JSON export.

Both flat formats write one row per annotation: the task's data fields, its ``id``, the label in
a column named after the config's ``<Choices name=…>``, and ``annotator``, ``annotation_id``,
``lead_time``, ``created_at``, ``updated_at``. The rows of one task come one after another (as
Label Studio writes them); :func:`regroup_flat_tasks` turns each run of them into one task with
one annotation per row, so the records stage sees every format the same way. Rows are regrouped
only when the project was made from a Label Studio config: the label column's name comes from it.
"""

from __future__ import annotations

import json
from typing import Any

from labelhub.projects.importing.errors import RecordError
from labelhub.projects.importing.readers import Numbered

# The columns Label Studio adds to a flat row besides the task's data and the label column.
ANNOTATION_COLUMNS = ("annotator", "annotation_id", "created_at", "updated_at", "lead_time")
# The marker of a flat row (a plain JSONL/CSV item has neither).
FLAT_MARKERS = ("annotation_id", "annotator")
# Set on an annotation built from a flat row: the column errors on its labels should name.
LABEL_COLUMN_KEY = "_label_column"


def is_flat_row(record: Any) -> bool:
    return isinstance(record, dict) and "data" not in record and any(key in record for key in FLAT_MARKERS)


def regroup_flat_tasks(numbered: Numbered, choices_name: str | None) -> Numbered:
    """The records of ``numbered`` with each run of flat rows of one task merged into one task.

    A task's "line" is that of its first row. Other records pass through unchanged. Without a
    ``choices_name`` (the project was not made from a Label Studio config) the first flat row is
    refused once, saying what to do, and the file is rejected.
    """
    pending: tuple[int, dict, str | None] | None = None
    refused = False
    for line, record in numbered:
        flat = isinstance(record, dict) and "data" not in record and choices_name and choices_name in record
        if not flat and is_flat_row(record):
            if refused:
                continue
            refused = True
            yield line, _no_label_column(choices_name)
            continue
        if not flat:
            if pending is not None:
                yield pending[0], pending[1]
                pending = None
            yield line, record
            continue
        try:
            key, task = _task_of_row(record, choices_name)
        except RecordError as exc:
            if pending is not None:
                yield pending[0], pending[1]
                pending = None
            yield line, exc
            continue
        if (
            pending is not None
            and key is not None
            and pending[2] == key
            and pending[1]["data"] == task["data"]
        ):
            pending[1]["annotations"].extend(task["annotations"])
            continue
        if pending is not None:
            yield pending[0], pending[1]
        pending = (line, task, key)
    if pending is not None:
        yield pending[0], pending[1]


def _no_label_column(choices_name: str | None) -> RecordError:
    if choices_name:
        return RecordError(
            f"this looks like Label Studio's JSON_MIN or CSV export, but it has no {choices_name!r} "
            f"column, the <Choices name> of this project's config: export from a Label Studio project "
            "with the same config, or export JSON",
            field=choices_name,
            code="label_studio_flat_export",
        )
    return RecordError(
        "this looks like Label Studio's JSON_MIN or CSV export: its labels sit in a column named after "
        "the config's <Choices name>, which a project not made from a Label Studio config cannot read; "
        "create the project from the same labeling config, or export JSON from Label Studio",
        field="label_config",
        code="label_studio_flat_export",
    )


def _task_of_row(row: dict, choices_name: str) -> tuple[str | None, dict]:
    """(the task's key, a one-annotation Label Studio task) for one flat row."""
    data = {k: v for k, v in row.items() if k not in ANNOTATION_COLUMNS and k not in ("id", choices_name)}
    task: dict[str, Any] = {"data": data, "annotations": []}
    task_id = row.get("id")
    if task_id not in (None, ""):
        task["id"] = task_id
    choices = _choices_of(row[choices_name], choices_name)
    lead_time = row.get("lead_time")
    if isinstance(lead_time, str):
        try:
            lead_time = float(lead_time) if lead_time.strip() else None
        except ValueError:
            raise RecordError("must be a number of seconds", field="lead_time", code="invalid_type") from None
    if choices is not None:
        task["annotations"].append(
            {
                "result": [{"type": "choices", "from_name": choices_name, "value": {"choices": choices}}],
                "completed_by": row.get("annotator"),
                "lead_time": lead_time,
                LABEL_COLUMN_KEY: choices_name,
            }
        )
    return (str(task_id) if task_id not in (None, "") else None), task


def _choices_of(value: Any, column: str) -> list | None:
    """The class names of one label cell: ``"pos"``, or (several) ``{"choices": [...]}`` as an
    object (JSON_MIN) or as its JSON text (CSV)."""
    if value is None or value == "":
        return None
    if isinstance(value, str) and value.lstrip().startswith("{"):
        try:
            value = json.loads(value)
        except ValueError:
            raise RecordError(
                'not a class name nor a JSON {"choices": [...]}', field=column, code="invalid_type"
            ) from None
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict) and isinstance(value.get("choices"), list):
        return value["choices"]
    if isinstance(value, list):
        return value
    raise RecordError('must be a class name or {"choices": [...]}', field=column, code="invalid_type")
