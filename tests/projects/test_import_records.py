"""RecordValidator: one parsed record → one staged row; labels by the one rule (clean_labels)."""

import json

import pytest

from labelhub.projects.importing.records import RecordError, RecordValidator, content_hash
from tests import factories

pytestmark = pytest.mark.django_db


def choices(*values, type="choices"):
    return {
        "type": type,
        "from_name": "c",
        "to_name": "t",
        "value": {"choices": values[0] if len(values) == 1 else list(values)},
    }


def task(*results, predictions=()):
    return {
        "data": {"text": "a cat"},
        "annotations": [{"result": list(result), "lead_time": 2} for result in results],
        "predictions": list(predictions),
    }


def annotations_of(validator, record):
    row = validator.row(1, record)
    return [a["labels"] for a in json.loads(row.annotations)] if row.annotations else []


@pytest.fixture
def validator(project):
    return RecordValidator(project)


@pytest.fixture
def multi_validator():
    return RecordValidator(factories.make_project(classes=("cat", "dog", "wolf"), multi_label=True))


def test_plain_record_keeps_metadata_and_hashes_the_content_only(validator):
    row = validator.row(4, {"id": "a", "text": "hello", "source": "web"})
    assert (row.line, row.external_id) == (4, "a")
    assert json.loads(row.payload) == {"text": "hello", "source": "web"}
    assert row.content_hash == content_hash({"text": "hello"})
    assert (row.annotations, row.suggestion) == (None, None)


def test_missing_content_names_the_field(validator):
    with pytest.raises(RecordError) as error:
        validator.row(1, {"txet": "typo"})
    assert (error.value.field, error.value.code) == ("text", "required")


def test_external_id_longer_than_255_is_refused(validator):
    with pytest.raises(RecordError) as error:
        validator.row(1, {"id": "x" * 256, "text": "t"})
    assert (error.value.field, error.value.code) == ("external_id", "max_length")


def test_label_studio_bare_string_choice_is_one_class(validator):
    assert annotations_of(validator, task([choices("cat")])) == [["cat"]]


def test_label_studio_regions_merge_without_repeating_a_class(multi_validator):
    record = task([choices(["wolf"]), choices(["wolf", "cat"])])
    assert annotations_of(multi_validator, record) == [["cat", "wolf"]]  # schema order


def test_label_studio_labels_are_stored_in_schema_order(multi_validator):
    assert annotations_of(multi_validator, task([choices(["wolf", "cat"])])) == [["cat", "wolf"]]


def test_a_class_named_twice_in_one_region_is_refused(multi_validator):
    with pytest.raises(RecordError) as error:
        multi_validator.row(1, task([choices(["cat", "cat"])]))
    assert (error.value.field, error.value.code) == (
        "annotations[0].result[0].value.choices",
        "duplicate_label",
    )


def test_unknown_class_names_the_region_it_was_given_in(validator):
    with pytest.raises(RecordError) as error:
        validator.row(1, task([choices(["zebra"])]))
    assert (error.value.field, error.value.code) == (
        "annotations[0].result[0].value.choices",
        "unknown_label",
    )
    assert "zebra" in error.value.message


def test_two_regions_on_a_single_label_project_name_the_result(validator):
    with pytest.raises(RecordError) as error:
        validator.row(1, task([choices("cat"), choices("dog")]))
    assert (error.value.field, error.value.code) == ("annotations[0].result", "wrong_label_count")


def test_choices_that_are_neither_a_name_nor_a_list_are_refused(validator):
    with pytest.raises(RecordError) as error:
        validator.row(1, task([choices(3)]))
    assert (error.value.field, error.value.code) == ("annotations[0].result[0].value.choices", "invalid_type")


def test_annotation_with_nothing_chosen_is_a_skip_not_a_label(validator):
    assert annotations_of(validator, task([], [choices("dog")])) == [["dog"]]


def test_non_choices_region_is_refused_by_type(validator):
    with pytest.raises(RecordError) as error:
        validator.row(1, task([choices("cat", type="labels")]))
    assert (error.value.field, error.value.code) == (
        "annotations[0].result[0].type",
        "unsupported_result_type",
    )


def test_latest_prediction_is_the_suggestion_with_its_labels_checked(validator):
    record = task(
        predictions=[
            {"result": [choices("dog")], "score": 0.2, "created_at": "2024-01-01"},
            {"result": [choices("cat")], "score": 0.8, "created_at": "2024-03-01", "model_version": "v3"},
        ]
    )
    row = validator.row(1, record)
    assert json.loads(row.suggestion) == {"labels": ["cat"], "confidence": 0.8, "model_version": "v3"}
    record["predictions"][1]["result"] = [choices("zebra")]
    with pytest.raises(RecordError) as error:
        validator.row(1, record)
    assert (error.value.field, error.value.code) == (
        "predictions[1].result[0].value.choices",
        "unknown_label",
    )


def test_schema_is_read_once_per_validator(project, django_assert_num_queries):
    validator = RecordValidator(project)
    with django_assert_num_queries(0):
        for n in range(20):
            validator.row(n, task([choices("cat")]))


def test_record_error_at_a_line_is_one_entry_of_the_errors_list():
    error = RecordError("missing", field="text", code="required")
    assert error.at_line(7) == {"line": 7, "field": "text", "code": "required", "detail": "missing"}
