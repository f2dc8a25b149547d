"""The importer's readers: each format split into numbered records, or a RecordError on the line."""

import io
import json

from labelhub.projects.importing.limits import ImportLimits, OversizedInteger
from labelhub.projects.importing.readers import (
    format_for_filename,
    read_csv,
    read_jsonl,
    read_label_studio,
)
from labelhub.projects.importing.records import RecordError


def outcomes(numbered):
    """(line, record) pairs with errors as (line, (field, code)) for easy comparison."""
    return [
        (line, (record.field, record.code) if isinstance(record, RecordError) else record)
        for line, record in numbered
    ]


def test_jsonl_yields_each_value_at_its_physical_line_and_skips_blank_lines():
    body = io.BytesIO(b'{"text": "a"}\n\n{"data": {"text": "b"}, "id": 7}\n')
    assert outcomes(read_jsonl(body)) == [(1, {"text": "a"}), (3, {"data": {"text": "b"}, "id": 7})]


def test_jsonl_bad_json_is_an_error_on_its_line_and_reading_goes_on():
    body = io.BytesIO(b'{"text": oops}\n{"text": "fine"}\n')
    assert outcomes(read_jsonl(body)) == [(1, ("json", "invalid_json")), (2, {"text": "fine"})]


def test_jsonl_error_says_at_once_where_a_string_starts():
    [(line, error)] = list(read_jsonl(io.BytesIO(b'{"text": "never closed}')))
    assert (line, error.message) == (1, "invalid JSON: Unterminated string starting at column 10")


def test_label_studio_syntax_error_is_one_readable_line():
    [(_, first), (line, error)] = list(
        read_label_studio(io.BytesIO(b'[{"data": {"text": "a"}}, {"data": tru}]'))
    )
    assert first == {"data": {"text": "a"}}
    assert (line, error.message) == (
        2,
        "invalid JSON after task 1: lexical error: invalid string in json text.",
    )


def test_jsonl_bytes_that_are_not_utf8_end_the_file_with_an_encoding_error():
    body = io.BytesIO(b'{"text": "fine"}\n{"text": "caf\xe9"}\n{"text": "never read"}\n')
    assert outcomes(read_jsonl(body)) == [(1, {"text": "fine"}), (2, ("encoding", "invalid_encoding"))]


def test_jsonl_reads_text_streams_too():
    assert outcomes(read_jsonl(io.StringIO('{"text": "a"}\n'))) == [(1, {"text": "a"})]


def test_csv_rows_become_dicts_without_empty_cells_at_their_physical_line():
    body = io.StringIO('id,text,lang\n1,"two\nlines",\n2,b,de\n')
    assert outcomes(read_csv(body)) == [
        (3, {"id": "1", "text": "two\nlines"}),
        (4, {"id": "2", "text": "b", "lang": "de"}),
    ]


def test_csv_row_with_more_values_than_columns_is_an_error():
    assert outcomes(read_csv(io.StringIO("id,text\n1,a,extra\n"))) == [(2, ("columns", "extra_columns"))]


def test_csv_without_a_header_is_an_error_naming_it():
    assert outcomes(read_csv(io.StringIO(""))) == [(1, ("header", "missing_header"))]


def test_label_studio_tasks_are_numbered_by_position():
    tasks = [{"data": {"text": "a"}}, {"id": 3, "data": {"text": "b"}}]
    assert outcomes(read_label_studio(io.BytesIO(json.dumps(tasks).encode()))) == [
        (1, tasks[0]),
        (2, tasks[1]),
    ]


def test_label_studio_task_without_a_data_object_is_an_error():
    body = io.BytesIO(json.dumps([{"data": "text"}, {"data": {"text": "ok"}}]).encode())
    assert outcomes(read_label_studio(body)) == [(1, ("data", "required")), (2, {"data": {"text": "ok"}})]


def test_label_studio_file_that_is_not_an_array_is_an_error():
    assert outcomes(read_label_studio(io.BytesIO(b'{"data": {}}'))) == [(1, ("json", "invalid_json"))]


def test_format_is_told_by_the_extension():
    assert [format_for_filename(n) for n in ("a.JSONL", "b.ndjson", "c.csv", "d.json", "e.txt", "")] == [
        "jsonl",
        "jsonl",
        "csv",
        "label_studio",
        None,
        None,
    ]


SMALL = ImportLimits(max_depth=3, max_item_bytes=100)


def test_csv_duplicated_column_is_an_error_naming_it_and_nothing_is_read():
    assert outcomes(read_csv(io.StringIO("id,text,id\n1,a,2\n"))) == [(1, ("id", "duplicate_column"))]


def test_csv_record_over_the_size_limit_ends_the_file_with_an_error_on_it():
    body = io.BytesIO(b'id,text\n1,short\n2,"' + b"long line\n" * 20 + b'"\n3,never read\n')
    assert outcomes(read_csv(body, SMALL)) == [(2, {"id": "1", "text": "short"}), (12, ("json", "too_large"))]


def test_csv_physical_line_over_the_limit_is_read_no_further_than_the_limit():
    body = io.BytesIO(b"id,text\n1," + b"x" * 10_000 + b"\n")
    assert outcomes(read_csv(body, SMALL)) == [(2, ("line", "too_large"))]
    assert body.tell() == len(body.getvalue())  # skipped to the end, in chunks


def test_jsonl_line_over_the_limit_is_an_error_and_the_next_line_is_read():
    body = io.BytesIO(b'{"text": "' + b"x" * 200 + b'"}\n{"text": "fine"}\n')
    assert outcomes(read_jsonl(body, SMALL)) == [(1, ("line", "too_large")), (2, {"text": "fine"})]


def test_jsonl_nesting_past_the_json_parser_is_an_error_on_its_line():
    body = io.BytesIO(b"[" * 100_000 + b'\n{"text": "fine"}\n')
    assert outcomes(read_jsonl(body)) == [(1, ("json", "too_deep")), (2, {"text": "fine"})]


def test_jsonl_huge_integer_is_kept_unconverted_for_validation_to_name():
    [(line, record)] = list(read_jsonl(io.BytesIO(b'{"text": "a", "n": ' + b"9" * 5000 + b"}\n")))
    assert isinstance(record["n"], OversizedInteger)


def test_label_studio_task_too_deep_is_an_error_and_the_next_task_is_read():
    body = io.BytesIO(b'[{"data": {"text": "a", "m": [[[1]]]}}, {"data": {"text": "b"}}]')
    assert outcomes(read_label_studio(body, SMALL)) == [
        (1, ("json", "too_deep")),
        (2, {"data": {"text": "b"}}),
    ]


def test_label_studio_task_over_the_size_limit_is_an_error_and_the_next_task_is_read():
    tasks = [{"data": {"text": "x" * 200}}, {"data": {"text": "b"}}]
    body = io.BytesIO(json.dumps(tasks).encode())
    assert outcomes(read_label_studio(body, SMALL)) == [(1, ("json", "too_large")), (2, tasks[1])]


def test_label_studio_100000_nested_brackets_cost_bounded_memory():
    import tracemalloc

    body = io.BytesIO(b'[{"data": {"text": "a"}}, ' + b"[" * 100_000 + b"]" * 100_001)
    tracemalloc.start()
    try:
        result = outcomes(read_label_studio(body))
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert result == [(1, {"data": {"text": "a"}}), (2, ("json", "too_deep"))]
    assert peak < 20 * 1024 * 1024  # ijson's own items() took 19.5 GB on this file
