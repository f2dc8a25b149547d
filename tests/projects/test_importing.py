"""The importer: each format, line-by-line validation, atomicity, duplicates, progress."""

import io
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from labelhub.projects.importing import ImportRejected, content_hash, import_file, import_records
from labelhub.projects.models import Annotation, ImportBatch, Item
from labelhub.projects.services import create_project_from_label_config
from tests import factories

pytestmark = pytest.mark.django_db


def jsonl(*records) -> io.BytesIO:
    return io.BytesIO("".join(json.dumps(r) + "\n" for r in records).encode())


def ls_task(text, *, task_id=None, annotations=(), predictions=()):
    def result(labels):
        return [{"type": "choices", "from_name": "c", "to_name": "t", "value": {"choices": list(labels)}}]

    task = {"data": {"text": text}}
    if task_id is not None:
        task["id"] = task_id
    task["annotations"] = [{"result": result(a), "lead_time": 4.5} for a in annotations]
    task["predictions"] = [
        {"result": result(labels), "score": score, "model_version": version, "created_at": created}
        for labels, score, version, created in predictions
    ]
    return task


def test_jsonl_import_creates_items_with_metadata_and_batch(project):
    batch = import_file(
        project,
        jsonl({"id": "a", "text": "first", "source": "web"}, {"external_id": 7, "text": "second"}),
        "jsonl",
        source="command",
        filename="x.jsonl",
    )
    assert (batch.status, batch.imported_count, batch.lines_read) == ("done", 2, 2)
    first = Item.objects.get(project=project, external_id="a")
    assert first.payload == {"text": "first", "source": "web"}
    assert first.import_batch == batch
    assert first.content_hash == content_hash({"text": "first"})
    assert Item.objects.filter(project=project, external_id="7").exists()


def test_missing_external_id_is_derived_from_content(project):
    import_file(project, jsonl({"text": "no id here"}), "jsonl")
    item = Item.objects.get(project=project)
    assert item.external_id == "h" + content_hash({"text": "no id here"})[:20]


def test_csv_import_reads_header_and_keeps_other_columns(project):
    csv_text = 'external_id,text,lang\nr1,"Hello, world",en\nr2,"multi\nline",de\n'
    batch = import_file(project, io.StringIO(csv_text), "csv")
    assert batch.imported_count == 2
    assert Item.objects.get(external_id="r1").payload == {"text": "Hello, world", "lang": "en"}
    assert Item.objects.get(external_id="r2").payload["text"] == "multi\nline"


def test_csv_error_names_physical_line(project):
    csv_text = "id,text\n1,ok\n2,\n"
    with pytest.raises(ImportRejected) as rejected:
        import_file(project, io.BytesIO(csv_text.encode()), "csv")
    assert rejected.value.errors[0] == {
        "line": 3,
        "field": "text",
        "code": "required",
        "detail": "missing: a text project needs a 'text' field",
    }


def test_label_studio_json_imports_annotations_and_latest_prediction(project):
    tasks = [
        ls_task(
            "a cat on a mat",
            task_id=11,
            annotations=[["cat"], ["dog"]],
            predictions=[
                (["dog"], 0.4, "v1", "2024-01-01T00:00:00Z"),
                (["cat"], 0.9, "v2", "2024-02-01T00:00:00Z"),
            ],
        ),
        ls_task("a lone wolf", task_id=12),
    ]
    batch = import_file(project, io.BytesIO(json.dumps(tasks).encode()), "label_studio")
    assert (batch.imported_count, batch.annotation_count) == (2, 2)
    item = Item.objects.get(project=project, external_id="11")
    assert item.suggestion == {"labels": ["cat"], "confidence": 0.9, "model_version": "v2"}
    annotations = Annotation.objects.filter(item=item).order_by("id")
    assert [a.labels for a in annotations] == [["cat"], ["dog"]]
    assert all(a.source == "import" and a.annotator is None and a.time_spent == 4.5 for a in annotations)
    assert Item.objects.get(external_id="12").suggestion is None


def test_label_studio_annotation_with_unknown_class_is_rejected(project):
    tasks = [ls_task("fine"), ls_task("bad", annotations=[["zebra"]])]
    with pytest.raises(ImportRejected) as rejected:
        import_file(project, io.BytesIO(json.dumps(tasks).encode()), "label_studio")
    error = rejected.value.errors[0]
    assert (error["line"], error["field"]) == (2, "annotations[0].result[0].value.choices")
    assert error["code"] == "unknown_label"
    assert "zebra" in error["detail"]
    assert not Item.objects.filter(project=project).exists()


def test_label_studio_data_key_from_the_project_config_is_accepted():
    config = '<View><Text name="t" value="$review"/><Choices name="c" toName="t"><Choice value="pos"/></Choices></View>'
    project = create_project_from_label_config("Reviews", config)
    import_file(project, io.BytesIO(json.dumps([{"data": {"review": "great"}}]).encode()), "label_studio")
    assert Item.objects.get(project=project).payload == {"text": "great"}


def test_image_project_needs_an_image_field():
    project = factories.make_project(modality="image")
    with pytest.raises(ImportRejected) as rejected:
        import_file(project, jsonl({"image": "https://x/1.png"}, {"text": "not an image"}), "jsonl")
    assert (rejected.value.errors[0]["line"], rejected.value.errors[0]["field"]) == (2, "image")


def test_bad_line_in_middle_of_10000_lines_rejects_whole_file(project):
    lines = [json.dumps({"id": f"i{n}", "text": f"sentence number {n}"}) for n in range(1, 10_001)]
    lines[5_000 - 1] = json.dumps({"id": "i5000", "txet": "typo in the field name"})
    body = io.BytesIO(("\n".join(lines) + "\n").encode())
    with pytest.raises(ImportRejected) as rejected:
        import_file(project, body, "jsonl", filename="big.jsonl")
    assert rejected.value.errors == [
        {
            "line": 5000,
            "field": "text",
            "code": "required",
            "detail": "missing: a text project needs a 'text' field",
        }
    ]
    assert Item.objects.filter(project=project).count() == 0
    batch = ImportBatch.objects.get(project=project)
    assert batch.status == "failed"
    assert batch.errors[0]["line"] == 5000
    assert batch.imported_count == 0


def test_invalid_json_line_is_reported_with_its_number(project):
    body = io.BytesIO(b'{"text": "ok"}\n{"text": oops}\n')
    with pytest.raises(ImportRejected) as rejected:
        import_file(project, body, "jsonl")
    assert (rejected.value.errors[0]["line"], rejected.value.errors[0]["field"]) == (2, "json")


def test_duplicates_within_file_and_against_database_are_skipped_and_counted(project, settings):
    settings.IMPORT_BATCH_SIZE = 2  # several staging chunks
    import_file(project, jsonl({"id": "old", "text": "already here"}), "jsonl")
    batch = import_file(
        project,
        jsonl(
            {"id": "n1", "text": "new one"},
            {"id": "n2", "text": "already here"},
            {"id": "n3", "text": "new one", "note": "metadata does not make it new"},
            {"id": "n4", "text": "new two"},
        ),
        "jsonl",
    )
    assert (batch.imported_count, batch.duplicate_count, batch.lines_read) == (2, 2, 4)
    assert set(Item.objects.filter(import_batch=batch).values_list("external_id", flat=True)) == {"n1", "n4"}


def test_external_id_reused_with_other_content_is_rejected(project):
    import_file(project, jsonl({"id": "same", "text": "one"}), "jsonl")
    with pytest.raises(ImportRejected) as rejected:
        import_file(project, jsonl({"id": "x", "text": "two"}, {"id": "same", "text": "three"}), "jsonl")
    assert rejected.value.errors[0]["line"] == 2
    assert rejected.value.errors[0]["field"] == "external_id"
    assert Item.objects.filter(project=project).count() == 1


def test_single_label_project_rejects_two_classes(project):
    tasks = [ls_task("both", annotations=[["cat", "dog"]])]
    with pytest.raises(ImportRejected, match="single-label"):
        import_file(project, io.BytesIO(json.dumps(tasks).encode()), "label_studio")


def test_progress_is_reported_per_chunk_and_stored_on_batch(project, settings):
    settings.IMPORT_BATCH_SIZE = 10
    seen = []
    batch = import_file(
        project, jsonl(*({"text": f"t{n}"} for n in range(25))), "jsonl", progress=seen.append
    )
    assert seen == [10, 20, 25]
    assert ImportBatch.objects.get(pk=batch.pk).lines_read == 25


def test_unknown_format_is_rejected_before_reading(project):
    with pytest.raises(ImportRejected, match="unknown format"):
        import_file(project, io.BytesIO(b""), "xml")


@pytest.mark.django_db(transaction=True)
def test_progress_is_visible_to_other_connections_while_importing(monkeypatch, settings):
    """Another connection (a thread has its own) sees lines_read grow during the import."""
    import threading

    from django.db import connections

    from labelhub.projects.importing import service

    monkeypatch.setattr(service, "PROGRESS_INTERVAL", 0)
    settings.IMPORT_BATCH_SIZE = 10
    project = factories.make_project()
    seen_elsewhere = []

    def look_from_another_connection(_lines):
        def read():
            seen_elsewhere.append(ImportBatch.objects.get(project=project).lines_read)
            connections.close_all()

        thread = threading.Thread(target=read)
        thread.start()
        thread.join()

    import_file(
        project,
        jsonl(*({"text": f"t{n}"} for n in range(30))),
        "jsonl",
        progress=look_from_another_connection,
    )
    assert seen_elsewhere == [10, 20, 30]


def test_file_that_is_not_utf8_is_rejected_at_the_bad_line(project):
    body = io.BytesIO(b'{"text": "fine"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(ImportRejected) as rejected:
        import_file(project, body, "jsonl")
    assert rejected.value.errors[0]["field"] == "encoding"
    assert not Item.objects.filter(project=project).exists()


def test_csv_with_an_unterminated_quote_is_rejected(project):
    with pytest.raises(ImportRejected) as rejected:
        import_file(project, io.StringIO('id,text\n1,"open quote\n'), "csv")
    assert rejected.value.errors[0]["field"] == "csv"


def test_empty_csv_is_rejected_naming_the_header(project):
    with pytest.raises(ImportRejected, match="header"):
        import_file(project, io.StringIO(""), "csv")


def test_csv_cells_may_hold_large_image_data_urls():
    project = factories.make_project(modality="image")
    image = "data:image/png;base64," + "A" * 300_000
    batch = import_file(project, io.StringIO(f'id,image\npic,"{image}"\n'), "csv")
    assert batch.imported_count == 1


def test_external_id_repeated_in_file_with_other_content_is_rejected(project):
    with pytest.raises(ImportRejected) as rejected:
        import_file(project, jsonl({"id": "a", "text": "one"}, {"id": "a", "text": "two"}), "jsonl")
    assert (rejected.value.errors[0]["line"], rejected.value.errors[0]["field"]) == (2, "external_id")
    assert not Item.objects.filter(project=project).exists()


def test_import_records_takes_parsed_dicts_with_the_same_rules(project):
    batch = import_records(
        project,
        [{"id": "a", "text": "one"}, {"id": "b", "text": "one"}, {"data": {"text": "two"}, "id": "c"}],
        source="demo",
        filename="records",
    )
    assert (batch.format, batch.status, batch.lines_read) == ("records", "done", 3)
    assert (batch.imported_count, batch.duplicate_count) == (2, 1)
    assert set(Item.objects.filter(project=project).values_list("external_id", flat=True)) == {"a", "c"}


def test_import_records_rejects_all_on_a_bad_record_at_its_position(project):
    with pytest.raises(ImportRejected) as rejected:
        import_records(project, iter([{"text": "fine"}, {"text": ""}, {"text": "also fine"}]))
    assert rejected.value.errors == [
        {
            "line": 2,
            "field": "text",
            "code": "required",
            "detail": "missing: a text project needs a 'text' field",
        }
    ]
    assert rejected.value.batch.status == "failed"
    assert not Item.objects.filter(project=project).exists()


def test_rejection_is_a_domain_error_in_the_one_shape(project):
    with pytest.raises(ImportRejected) as rejected:
        import_file(project, jsonl({"text": "fine"}, {"nope": 1}), "jsonl")
    body = rejected.value.body()
    assert (rejected.value.status_code, body["code"], body["field"]) == (400, "import_rejected", "text")
    assert body["batch"] == rejected.value.batch.pk
    assert body["errors"][0]["line"] == 2
    assert "line 2, field text" in body["detail"]


def test_unknown_format_rejection_has_no_batch(project):
    with pytest.raises(ImportRejected) as rejected:
        import_file(project, io.BytesIO(b""), "xml")
    assert rejected.value.body()["batch"] is None
    assert (rejected.value.field, rejected.value.errors[0]["code"]) == ("format", "unknown_format")


def test_label_studio_duplicate_class_in_an_annotation_is_rejected():
    project = factories.make_project(multi_label=True)
    tasks = [ls_task("twice", annotations=[["cat", "cat"]])]
    with pytest.raises(ImportRejected) as rejected:
        import_file(project, io.BytesIO(json.dumps(tasks).encode()), "label_studio")
    assert rejected.value.errors[0]["code"] == "duplicate_label"
    assert not Item.objects.filter(project=project).exists()


def test_an_unexpected_error_still_closes_the_batch_as_failed_with_the_error_kept(project, monkeypatch):
    from labelhub.projects.importing import records

    def broken_row(self, line, record):
        raise RuntimeError("a bug in validation")

    monkeypatch.setattr(records.RecordValidator, "row", broken_row)
    with pytest.raises(RuntimeError):
        import_file(project, jsonl({"text": "a"}), "jsonl")
    batch = ImportBatch.objects.get(project=project)
    assert batch.status == "failed" and batch.finished_at is not None
    assert batch.errors[0]["code"] == "internal_error"
    assert "RuntimeError: a bug in validation" in batch.errors[0]["detail"]
    assert not Item.objects.filter(project=project).exists()


def test_items_imported_is_sent_after_the_import_commits(project, django_capture_on_commit_callbacks):
    from labelhub.projects.signals import items_imported

    heard = []

    def receiver(sender, **kwargs):
        heard.append(kwargs)

    items_imported.connect(receiver)
    try:
        with django_capture_on_commit_callbacks(execute=False) as callbacks:
            batch = import_file(project, jsonl({"text": "a"}, {"text": "b"}), "jsonl")
            assert heard == []  # not before the commit
        for callback in callbacks:
            callback()
    finally:
        items_imported.disconnect(receiver)
    assert [(h["project_id"], h["batch_id"]) for h in heard] == [(project.pk, batch.pk)]


def test_items_imported_is_not_sent_for_an_import_that_added_nothing(
    project, django_capture_on_commit_callbacks
):
    import_file(project, jsonl({"text": "a"}), "jsonl")
    with django_capture_on_commit_callbacks() as callbacks:
        import_file(project, jsonl({"text": "a"}), "jsonl")  # a duplicate only
    assert callbacks == []


def test_records_from_code_are_checked_like_file_lines(project):
    with pytest.raises(ImportRejected) as rejected:
        import_records(project, [{"text": "fine"}, {"text": "a", "score": float("nan")}])
    assert rejected.value.errors[0] == {
        "line": 2,
        "field": "score",
        "code": "invalid_number",
        "detail": "must be a finite number, got nan (JSON has no NaN or Infinity)",
    }


@pytest.mark.skipif(connection.vendor != "postgresql", reason="planner statistics are PostgreSQL's")
def test_a_large_import_refreshes_the_items_tables_planner_statistics(project, monkeypatch):
    from labelhub.projects.importing import staging

    monkeypatch.setattr(staging, "ANALYZE_FROM", 3)
    lines = "".join(json.dumps({"id": i, "text": f"gloss {i}"}) + "\n" for i in range(3))
    with CaptureQueriesContext(connection) as queries:
        import_file(project, io.BytesIO(lines.encode()), "jsonl")
    assert any(q["sql"] == f"ANALYZE {Item._meta.db_table}" for q in queries.captured_queries)
    with CaptureQueriesContext(connection) as queries:
        import_file(project, io.BytesIO(b'{"id": 99, "text": "one more"}\n'), "jsonl")
    assert not any(q["sql"] == f"ANALYZE {Item._meta.db_table}" for q in queries.captured_queries)
