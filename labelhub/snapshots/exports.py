"""Snapshot exports: JSONL, CSV, Parquet and Label Studio JSON, written as a stream of byte chunks
straight from a server-side cursor, plus the manifest that describes them and a file cache.

Each writer is a generator of ``bytes``; nothing holds the whole snapshot. The first complete
download of a format is teed into ``LABELHUB_DATA_DIR/exports/`` (a snapshot never changes, so the
file never goes stale); later downloads are served from there with a length, ranges and a checksum.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import tempfile
import xml.etree.ElementTree as ET  # noqa: S405 - parses the project's own label config, not user uploads
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import chain
from pathlib import Path

from django.conf import settings

from annotators.qa.resolved import parse_json_list
from labelhub.guidelines.models import GuidelineVersion
from labelhub.projects.label_config import display_fields_of, payload_key_of
from labelhub.projects.models import LabelClass
from labelhub.snapshots.canonical import FORMAT
from labelhub.snapshots.models import Snapshot, SnapshotWeakSource
from labelhub.snapshots.selectors import (
    CutAnnotation,
    annotations_at_cut,
    iter_export_rows,
    iter_jsonl_lines,
    iter_weak_rows,
)

PARQUET_ROW_GROUP = 20_000


@dataclass(frozen=True)
class ExportFormat:
    name: str
    extension: str
    media_type: str
    # Bumped when a writer changes what it writes for the same snapshot, so that files cached by the
    # earlier writer are never served again (the cache is keyed by snapshot and this).
    revision: int = 1


FORMATS: dict[str, ExportFormat] = {
    # Revision 2: confidence always written as a float (PostgreSQL wrote a whole 1.0 as 1).
    "jsonl": ExportFormat("jsonl", "jsonl", "application/x-ndjson", revision=2),
    # Revision 2: cells that would run as a spreadsheet formula are neutralised, and lines end in
    # CRLF (see csv_chunks).
    "csv": ExportFormat("csv", "csv", "text/csv; charset=utf-8", revision=2),
    "parquet": ExportFormat("parquet", "parquet", "application/vnd.apache.parquet"),
    # Revision 2: annotations carry lead_time and completed_by, tasks the suggestion shown as a
    # prediction, the generated config the classes' hotkeys and colours.
    "labelstudio": ExportFormat("labelstudio", "labelstudio.json", "application/json", revision=2),
}

# What one exported row holds (JSONL keys, CSV columns, Parquet fields).
SCHEMA: dict[str, str] = {
    "external_id": "string: the item's id in the project",
    "item_id": "int: labelhub's item id",
    "split": "string: train | val | test",
    "labels": "list of class names (CSV: a JSON list)",
    "confidence": "float in [0, 1]",
    "method": "string: single | majority | dawid_skene | adjudicated",
    "annotator_count": "int",
    "guideline_versions": "list of guideline version ids (CSV: a JSON list)",
    "payload_sha256": "string: sha256 of the item's content",
    "payload": 'object: the item, e.g. {"text": ...} (CSV and Parquet: JSON text)',
}


# --- manifest -----------------------------------------------------------------------------------


def label_studio_names(snapshot: Snapshot) -> tuple[str, str, str, dict[str, str]]:
    """(config XML, from_name, to_name, renames) for Label Studio: the project's own config when it
    has a Choices tag over one of its objects, else a generated one for its modality and classes.
    ``renames`` maps a payload key to the task field the config reads (``text`` → ``review`` for
    ``$review``), the importer's :func:`~labelhub.projects.label_config.payload_key_of` inverted."""
    project = snapshot.project
    content_key = "image" if project.modality == "image" else "text"
    shown = display_fields_of(project.label_config)
    labelled = next((f for f in shown if f.labelled), None)
    if labelled is not None:
        root = ET.fromstring(project.label_config)  # noqa: S314 - the project's own, parsed above
        choices = root.find(".//Choices")
        sources = {labelled.source_key, content_key} | {f.source_key for f in shown if f.source_key}
        renames = {payload_key_of(k, labelled.source_key, content_key): k for k in sources}
        renames = {stored: source for stored, source in renames.items() if stored != source}
        return project.label_config, choices.get("name"), labelled.name, renames
    tag = "Image" if content_key == "image" else "Text"
    choice = "multiple" if project.multi_label else "single"
    looks = {c.name: (c.key, c.colour) for c in LabelClass.objects.filter(project=project)}

    def option(name: str) -> str:
        key, colour = looks.get(name, ("", ""))
        hotkey = f' hotkey="{_xml_attr(key)}"' if key else ""
        background = f' background="{_xml_attr(colour)}"' if colour else ""
        return f'<Choice value="{_xml_attr(name)}"{hotkey}{background}/>'

    options = "".join(option(c) for c in snapshot.class_names)
    config = (
        f'<View><{tag} name="{content_key}" value="${content_key}"/>'
        f'<Choices name="label" toName="{content_key}" choice="{choice}" showInline="true">{options}</Choices></View>'
    )
    return config, "label", content_key, {}


def _task_data(payload: str, external_id: str, renames: dict[str, str]) -> str:
    """The task's ``data``: the payload plus ``external_id`` (which labelhub's importer reads back
    as the item's id), each field under the key the label config reads (see ``renames``)."""
    if renames:
        stored = json.loads(payload)
        fields = {key: value for key, value in stored.items() if key not in renames}
        fields.update((renames[key], value) for key, value in stored.items() if key in renames)
        payload = json.dumps(fields, ensure_ascii=False)
    body = payload.strip()[1:].lstrip()
    if body.startswith("}"):
        return f'{{"external_id":{_quote(external_id)}}}'
    return f'{{"external_id":{_quote(external_id)},{body}'


def _xml_attr(value: str) -> str:
    return value.replace("&", "&amp;").replace('"', "&quot;").replace("<", "&lt;").replace(">", "&gt;")


def build_manifest(snapshot: Snapshot, *, base_path: str = "") -> dict:
    """Everything a training job needs to trust and interpret the rows, without the rows."""
    project = snapshot.project
    versions = GuidelineVersion.objects.filter(pk__in=snapshot.guideline_versions).order_by("number")
    config, _, _, _ = label_studio_names(snapshot)
    exports = {}
    for fmt in FORMATS.values():
        cached = cached_export(snapshot, fmt.name)
        exports[fmt.name] = {
            "url": f"{base_path}export/{fmt.name}/",
            "media_type": fmt.media_type,
            "size": cached.size if cached else None,
            "sha256": cached.sha256 if cached else None,
        }
    manifest = {
        "snapshot_id": snapshot.content_hash,
        "content_hash": snapshot.content_hash,
        "hash_format": FORMAT,
        "hash_algorithm": "sha256 over canonical rows sorted by external_id (labelhub.snapshots.canonical)",
        "name": snapshot.name,
        "created_at": snapshot.created_at.isoformat(),
        "project": {
            "id": project.pk,
            "name": project.name,
            "modality": project.modality,
            "multi_label": project.multi_label,
        },
        "class_names": snapshot.class_names,
        "label_config": config,
        "item_count": snapshot.item_count,
        "counts": {
            "items": snapshot.item_count,
            "splits": snapshot.stats.get("splits", {}),
            "classes": snapshot.stats.get("classes", {}),
            "methods": snapshot.stats.get("methods", {}),
        },
        "split_ratios": snapshot.split_ratios,
        "stratified": snapshot.stratified,
        "split_key": snapshot.split_key,
        "guideline_versions": [
            {
                "id": v.pk,
                "number": v.number,
                "published_at": v.published_at.isoformat() if v.published_at else None,
                "change_summary": v.change_summary,
            }
            for v in versions
        ],
        "schema": SCHEMA,
        "exports": exports,
    }
    source = SnapshotWeakSource.objects.filter(snapshot=snapshot).first()
    if source is not None:
        method, _ = weak_marks(source)
        manifest["weak"] = {
            "method": method,
            "function_versions": source.function_versions,
            "label_count": source.label_count,
            "columns": WEAK_COLUMNS,
            "exports": {
                fmt.name: {
                    "url": f"{base_path}export/{fmt.name}/?include=weak",
                    "media_type": fmt.media_type,
                    "size": cached.size if (cached := cached_export(snapshot, f"{fmt.name}_weak")) else None,
                    "sha256": cached.sha256 if cached else None,
                }
                for fmt in FORMATS.values()
            },
        }
    return manifest


# --- writers ------------------------------------------------------------------------------------


# The C string encoder behind json.dumps(..., ensure_ascii=False), without building an encoder per
# call: the hot path of every export.
_quote = json.encoder.encode_basestring


def jsonl_chunks(snapshot: Snapshot) -> Iterator[bytes]:
    """One JSON object per line; JSON columns are spliced as stored, never decoded."""
    database_lines = iter_jsonl_lines(snapshot)
    if database_lines is not None:
        for lines in database_lines:
            yield "".join(lines).encode()
        return
    dumps = _quote
    for rows in iter_export_rows(snapshot):
        lines = [
            f'{{"external_id":{dumps(ext)},"item_id":{item_id},"split":"{split}",'
            f'"labels":{labels},"confidence":{conf!r},"method":"{method}","annotator_count":{count},'
            f'"guideline_versions":{versions},"payload_sha256":"{sha}","payload":{payload}}}\n'
            for item_id, ext, sha, labels, conf, method, count, versions, split, payload in rows
        ]
        yield "".join(lines).encode()


CSV_COLUMNS = list(SCHEMA)

# What makes a spreadsheet (Excel, LibreOffice, Google Sheets) read a cell as a formula, which can
# run commands or leak data when a CSV is opened (OWASP: "CSV Injection").
FORMULA_STARTS = frozenset("=+-@\t\r")


def neutralise_formula(cell: str) -> str:
    """The cell with a leading ``'`` when a spreadsheet would run it as a formula, as OWASP
    recommends; spreadsheets show the rest as text. Every other cell is returned as it is."""
    return "'" + cell if cell[:1] in FORMULA_STARTS else cell


#: The columns a weak export adds after the human ones (CSV and Parquet): ``source`` is ``human``
#: or ``weak``; a weak row's classes are under ``weak_labels``, its ``labels`` stay empty.
WEAK_COLUMNS = ["source", "weak_labels", "function_versions"]


def weak_marks(source: SnapshotWeakSource) -> tuple[str, str]:
    """(method, function versions as JSON) of a weak source, as every weak export writes them: the
    method prefixed ``weak:`` so it never reads as a human method or a model version."""
    return "weak:" + source.method, json.dumps(source.function_versions, sort_keys=True)


def csv_chunks(
    snapshot: Snapshot, *, neutralise_formulas: bool = True, weak: bool = False
) -> Iterator[bytes]:
    """The rows as CSV. Of the text cells only ``external_id`` is free text (labels, guideline
    versions and payload are JSON, which starts with ``[`` or ``{``; split, method and sha256 come
    from fixed alphabets): it is neutralised unless ``neutralise_formulas`` is False. JSONL and
    Parquet always keep the value exact. ``weak`` adds :data:`WEAK_COLUMNS` and, after the human
    rows, one row per frozen weak label (no split, labels or annotators of its own)."""
    guard = neutralise_formula if neutralise_formulas else str
    buffer = io.StringIO()
    # RFC 4180's CRLF: the writer then quotes every cell holding a CR or LF. With "\n" alone, a
    # bare CR in an external id went out unquoted and readers split the row there.
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_COLUMNS + (WEAK_COLUMNS if weak else []))
    human = ("human", "", "") if weak else ()

    def drain() -> bytes:
        text = buffer.getvalue()
        buffer.seek(0)
        buffer.truncate()
        return text.encode()

    for rows in iter_export_rows(snapshot):
        writer.writerows(
            (guard(ext), item_id, split, labels, conf, method, count, versions, sha, payload, *human)
            for item_id, ext, sha, labels, conf, method, count, versions, split, payload in rows
        )
        yield drain()
    if not weak:
        return
    method, function_versions = weak_marks(snapshot.weak_source)
    for rows in iter_weak_rows(snapshot):
        writer.writerows(
            (
                guard(ext),
                item_id,
                "",
                "",
                conf,
                method,
                "",
                "",
                sha,
                payload,
                "weak",
                labels,
                function_versions,
            )
            for item_id, ext, sha, labels, conf, payload in rows
        )
        yield drain()


class _ChunkSink(io.RawIOBase):
    """A write-only file that keeps what pyarrow wrote until the stream takes it."""

    def __init__(self) -> None:
        self.parts: list[bytes] = []
        self.position = 0

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        data = bytes(b)
        self.parts.append(data)
        self.position += len(data)
        return len(data)

    def tell(self) -> int:
        return self.position

    def drain(self) -> bytes:
        data = b"".join(self.parts)
        self.parts.clear()
        return data


def parquet_chunks(snapshot: Snapshot, *, weak: bool = False) -> Iterator[bytes]:
    """Parquet written row group by row group into a sink drained after each group: the file
    streams out as it is built. The manifest rides in the schema metadata (key ``labelhub``).
    ``weak`` adds :data:`WEAK_COLUMNS` and the frozen weak labels after the human rows (their
    split, labels, annotator count and guideline versions null)."""
    # heavy: pyarrow loads only in the process that writes a Parquet export
    import pyarrow as pa
    import pyarrow.parquet as pq

    fields = [
        ("external_id", pa.string()),
        ("item_id", pa.int64()),
        ("split", pa.string()),
        ("labels", pa.list_(pa.string())),
        ("confidence", pa.float64()),
        ("method", pa.string()),
        ("annotator_count", pa.int32()),
        ("guideline_versions", pa.list_(pa.int64())),
        ("payload_sha256", pa.string()),
        ("payload", pa.string()),
    ]
    if weak:
        fields += [
            ("source", pa.string()),
            ("weak_labels", pa.list_(pa.string())),
            ("function_versions", pa.string()),
        ]
    schema = pa.schema(fields, metadata={"labelhub": json.dumps(_embedded_manifest(snapshot, weak=weak))})
    sink = _ChunkSink()
    writer = pq.ParquetWriter(sink, schema, compression="zstd")
    columns: list[list] = [[] for _ in fields]

    def flush() -> None:
        table = pa.Table.from_arrays(
            [pa.array(col, type=f.type) for col, f in zip(columns, schema, strict=True)], schema=schema
        )
        writer.write_table(table, row_group_size=PARQUET_ROW_GROUP)
        for col in columns:
            col.clear()

    def add(values: tuple) -> None:
        for col, value in zip(columns, values, strict=True):
            col.append(value)

    loads = parse_json_list
    human = ("human", None, None) if weak else ()
    for rows in iter_export_rows(snapshot):
        for item_id, ext, sha, labels, conf, method, count, versions, split, payload in rows:
            add(
                (
                    ext,
                    item_id,
                    split,
                    loads(labels),
                    conf,
                    method,
                    count,
                    loads(versions),
                    sha,
                    payload,
                    *human,
                )
            )
        if len(columns[0]) >= PARQUET_ROW_GROUP:
            flush()
            yield sink.drain()
    if weak:
        method, function_versions = weak_marks(snapshot.weak_source)
        for rows in iter_weak_rows(snapshot):
            for item_id, ext, sha, labels, conf, payload in rows:
                weak_row = ("weak", loads(labels), function_versions)
                add((ext, item_id, None, None, conf, method, None, None, sha, payload, *weak_row))
            if len(columns[0]) >= PARQUET_ROW_GROUP:
                flush()
                yield sink.drain()
    if columns[0]:
        flush()
    writer.close()
    yield sink.drain()


def labelstudio_chunks(snapshot: Snapshot, *, weak: bool = False) -> Iterator[bytes]:
    """A JSON array of Label Studio tasks, each with its resolved label as one annotation.

    The annotation carries the time spent (``lead_time``) and, for a label one person gave
    (method ``single``), who gave it (``completed_by``, see :func:`_completed_by`); a label that
    QA resolved from several people is nobody's own: it carries their summed time, and
    ``meta.annotations`` lists each person's label. The suggestion shown with the latest
    annotation becomes the task's prediction (``model_version``, ``score``). Annotations are read
    as they stood at the cut, so the file of a snapshot never changes.

    ``weak`` adds, after the human tasks, one task per frozen weak label with no annotation and
    the weak label as its prediction (``model_version`` ``weak:<method>``, the label model's
    confidence as ``score``, ``meta.source`` ``weak``); a human task then also carries the weak
    suggestion its annotator was shown, as a prediction before the model's.
    """
    _, from_name, to_name, renames = label_studio_names(snapshot)
    known = set(snapshot.class_names)
    dumps = _quote

    def result(choices: list) -> list[dict]:
        return [
            {"from_name": from_name, "to_name": to_name, "type": "choices", "value": {"choices": choices}}
        ]

    def human_tasks() -> Iterator[list[str]]:
        for rows in iter_export_rows(snapshot):
            behind = annotations_at_cut(snapshot, [row[0] for row in rows])
            tasks = []
            for item_id, ext, sha, labels, conf, method, count, versions, split, payload in rows:
                people = behind.get(item_id, [])
                annotation: dict = {"result": result(json.loads(labels)), "ground_truth": False}
                meta_extra = ""
                if method == "single" and people:
                    annotation["lead_time"] = people[-1].time_spent
                    who = _completed_by(people[-1])
                    if who is not None:
                        annotation["completed_by"] = who
                else:
                    annotation["lead_time"] = sum(p.time_spent for p in people)
                    votes = [
                        {"completed_by": _completed_by(p), "choices": p.labels, "lead_time": p.time_spent}
                        for p in people
                    ]
                    meta_extra = f',"annotations":{json.dumps(votes, ensure_ascii=False)}'
                predictions = _predictions(people, known, result, weak=weak)
                tasks.append(
                    f'{{"data":{_task_data(payload, ext, renames)},'
                    f'"annotations":[{json.dumps(annotation, ensure_ascii=False)}],'
                    f'"predictions":{json.dumps(predictions, ensure_ascii=False)},'
                    f'"meta":{{"external_id":{dumps(ext)},"split":"{split}","confidence":{conf!r},'
                    f'"method":"{method}","annotator_count":{count},"guideline_versions":{versions},'
                    f'"payload_sha256":"{sha}","item_id":{item_id}{meta_extra}}}}}'
                )
            yield tasks

    def weak_tasks() -> Iterator[list[str]]:
        method, function_versions = weak_marks(snapshot.weak_source)
        for rows in iter_weak_rows(snapshot):
            tasks = []
            for item_id, ext, sha, labels, conf, payload in rows:
                prediction = {"result": result(json.loads(labels)), "model_version": method, "score": conf}
                tasks.append(
                    f'{{"data":{_task_data(payload, ext, renames)},"annotations":[],'
                    f'"predictions":[{json.dumps(prediction, ensure_ascii=False)}],'
                    f'"meta":{{"external_id":{dumps(ext)},"source":"weak","method":{dumps(method)},'
                    f'"confidence":{conf!r},"function_versions":{function_versions},'
                    f'"payload_sha256":"{sha}","item_id":{item_id}}}}}'
                )
            yield tasks

    yield b"["
    first = True
    for tasks in chain(human_tasks(), weak_tasks() if weak else ()):
        if tasks:
            yield (b"\n" if first else b",\n") + ",\n".join(tasks).encode()
            first = False
    yield b"\n]\n"


def _completed_by(annotation: CutAnnotation) -> int | dict | None:
    """Who made an annotation, as Label Studio's import reads it (a member's email, or an id).

    An annotator imported from Label Studio goes back as it came (``ls:user-7`` as id 7,
    ``ls:<email>`` as that email); a labelhub user as their email, or
    ``<username>@labelhub.invalid`` when they have none (Label Studio wants an email; it refuses
    unknown ones unless ``ALLOW_IMPORT_TASKS_WITH_UNKNOWN_EMAILS`` is set).
    """
    username = annotation.username
    if username is None:
        return None
    if username.startswith("ls:user-") and username[8:].isdigit():
        return int(username[8:])
    if username.startswith("ls:"):
        return {"email": username[3:]}
    return {"email": annotation.email or f"{username}@labelhub.invalid", "username": username}


def _predictions(people: list[CutAnnotation], known: set[str], result, *, weak: bool = False) -> list[dict]:
    """The suggestion shown with the item's latest annotation, as a Label Studio prediction; with
    ``weak``, the weak suggestion shown beside it too, first (Label Studio and labelhub's importer
    take the last prediction for the model's), its ``model_version`` ``weak:<method>``."""
    shown = next((p.suggestion_shown for p in reversed(people) if p.suggestion_shown), None)
    if not isinstance(shown, dict):
        return []
    suggestions = [shown]
    if weak and isinstance(shown.get("weak"), dict):
        weak_shown = shown["weak"]
        suggestions.insert(0, {**weak_shown, "model_version": f"weak:{weak_shown.get('method', '')}"})
    predictions = []
    for suggestion in suggestions:
        choices = [name for name in suggestion.get("labels") or [] if name in known]
        if not choices:
            continue
        version = suggestion.get("model_version")
        prediction: dict = {
            "result": result(choices),
            "model_version": version if version is not None else "",
        }
        if isinstance(suggestion.get("confidence"), int | float):
            prediction["score"] = float(suggestion["confidence"])
        predictions.append(prediction)
    return predictions


def weak_jsonl_chunks(snapshot: Snapshot) -> Iterator[bytes]:
    """The JSONL export, then one line per frozen weak label: ``"source": "weak"``, the labels
    under ``weak_labels`` (never ``labels``, so no reader takes them for human ones), the label
    model's method and confidence and the function versions."""
    yield from jsonl_chunks(snapshot)
    method, function_versions = weak_marks(snapshot.weak_source)
    marks = f'"source":"weak","method":{_quote(method)},"function_versions":{function_versions}'
    for rows in iter_weak_rows(snapshot):
        yield "".join(
            f'{{"external_id":{_quote(ext)},"item_id":{item_id},{marks},"weak_labels":{labels},'
            f'"confidence":{conf!r},"payload_sha256":"{sha}","payload":{payload}}}\n'
            for item_id, ext, sha, labels, conf, payload in rows
        ).encode()


def csv_weak_chunks(snapshot: Snapshot) -> Iterator[bytes]:
    return csv_chunks(snapshot, weak=True)


def parquet_weak_chunks(snapshot: Snapshot) -> Iterator[bytes]:
    return parquet_chunks(snapshot, weak=True)


def labelstudio_weak_chunks(snapshot: Snapshot) -> Iterator[bytes]:
    return labelstudio_chunks(snapshot, weak=True)


#: Each export with the snapshot's weak labels added: only on request (``?include=weak``), each
#: its own bytes (own cache file and ETag), and not in the manifest's list of plain exports.
WEAK_FORMATS: dict[str, ExportFormat] = {
    f"{fmt.name}_weak": ExportFormat(f"{fmt.name}_weak", f"weak.{fmt.extension}", fmt.media_type)
    for fmt in FORMATS.values()
}

WRITERS = {
    "jsonl": jsonl_chunks,
    "csv": csv_chunks,
    "parquet": parquet_chunks,
    "labelstudio": labelstudio_chunks,
    "jsonl_weak": weak_jsonl_chunks,
    "csv_weak": csv_weak_chunks,
    "parquet_weak": parquet_weak_chunks,
    "labelstudio_weak": labelstudio_weak_chunks,
}


def _embedded_manifest(snapshot: Snapshot, *, weak: bool = False) -> dict:
    manifest = build_manifest(snapshot)
    manifest.pop("exports")  # sizes and checksums of files cannot sit inside those files
    if weak:
        manifest["weak"].pop("exports")
    else:
        manifest.pop("weak", None)  # a plain export is the same bytes with or without a weak source
    return manifest


# --- cache --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class CachedExport:
    path: Path
    size: int
    sha256: str


def export_dir() -> Path:
    return Path(settings.LABELHUB_DATA_DIR) / "exports"


def format_spec(fmt: str) -> ExportFormat:
    return WEAK_FORMATS[fmt] if fmt in WEAK_FORMATS else FORMATS[fmt]


def _cache_path(snapshot: Snapshot, fmt: str) -> Path:
    spec = format_spec(fmt)
    revision = f".r{spec.revision}" if spec.revision > 1 else ""
    return export_dir() / f"{snapshot.content_hash}{revision}.{spec.extension}"


def cached_export(snapshot: Snapshot, fmt: str) -> CachedExport | None:
    path = _cache_path(snapshot, fmt)
    digest_path = path.with_name(path.name + ".sha256")
    if not (path.exists() and digest_path.exists()):
        return None
    return CachedExport(path, path.stat().st_size, digest_path.read_text().strip())


def stream_and_cache(snapshot: Snapshot, fmt: str) -> Iterator[bytes]:
    """The export's chunks, also written to a temporary file that becomes the cached export
    (with its sha256 beside it) only when the stream finished; an aborted download leaves nothing."""
    directory = export_dir()
    directory.mkdir(parents=True, exist_ok=True)
    target = _cache_path(snapshot, fmt)
    digest = hashlib.sha256()
    handle = tempfile.NamedTemporaryFile(dir=directory, prefix=f".{target.name}.", delete=False)  # noqa: SIM115
    finished = False
    try:
        for chunk in WRITERS[fmt](snapshot):
            if chunk:
                handle.write(chunk)
                digest.update(chunk)
                yield chunk
        handle.close()
        target.with_name(target.name + ".sha256").write_text(digest.hexdigest() + "\n")
        os.replace(handle.name, target)
        finished = True
    finally:
        if not finished:
            handle.close()
            Path(handle.name).unlink(missing_ok=True)
