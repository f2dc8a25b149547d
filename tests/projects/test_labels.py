"""The one label rule: every canonical-form decision of ``clean_labels`` in one table."""

from __future__ import annotations

import pytest

from labelhub.errors import DomainError
from labelhub.projects.labels import InvalidLabels, LabelSchema, clean_labels
from labelhub.projects.selectors import label_schema
from tests import factories

SINGLE = LabelSchema(project_name="Pets", class_names=("dog", "cat", "wolf"), multi_label=False)
MULTI = LabelSchema(project_name="Tags", class_names=("red", "green", "blue"), multi_label=True)


@pytest.mark.parametrize(
    ("schema", "raw", "expected"),
    [
        (SINGLE, ["cat"], ["cat"]),
        (SINGLE, ("wolf",), ["wolf"]),
        (MULTI, ["blue"], ["blue"]),
        (MULTI, ["green", "red"], ["red", "green"]),  # schema order, whatever order was given
        (MULTI, ["blue", "green", "red"], ["red", "green", "blue"]),
    ],
)
def test_valid_labels_come_back_in_schema_order(schema, raw, expected):
    assert clean_labels(schema, raw) == expected


@pytest.mark.parametrize(
    ("schema", "raw", "code"),
    [
        (SINGLE, "cat", "invalid_label"),  # a bare string is a reader's convenience, not a label
        (SINGLE, None, "invalid_label"),
        (SINGLE, {"cat": 1}, "invalid_label"),
        (SINGLE, [1], "invalid_label"),
        (SINGLE, ["cat", None], "invalid_label"),
        (SINGLE, ["lion"], "unknown_label"),
        (SINGLE, ["Cat"], "unknown_label"),  # class names are case-sensitive
        (MULTI, ["red", "purple"], "unknown_label"),
        (SINGLE, ["cat", "cat"], "duplicate_label"),
        (MULTI, ["red", "blue", "red"], "duplicate_label"),
        (SINGLE, [], "wrong_label_count"),
        (MULTI, [], "wrong_label_count"),
        (SINGLE, ["cat", "dog"], "wrong_label_count"),
    ],
)
def test_invalid_labels_name_the_field_and_the_problem(schema, raw, code):
    with pytest.raises(InvalidLabels) as caught:
        clean_labels(schema, raw, field="annotations[0].labels")
    error = caught.value
    assert isinstance(error, DomainError)
    assert (error.code, error.field, error.status_code) == (code, "annotations[0].labels", 400)
    assert error.body()["errors"] == [
        {"field": "annotations[0].labels", "code": code, "detail": error.message}
    ]


def test_unknown_label_message_lists_the_schema():
    with pytest.raises(
        InvalidLabels, match=r"'lion' is not in the schema of project 'Pets' \(classes: dog, cat, wolf\)"
    ):
        clean_labels(SINGLE, ["lion"])


def test_label_schema_reads_the_project_in_class_order(db):
    project = factories.make_project(classes=["b", "a", "c"], multi_label=True)
    schema = label_schema(project)
    assert schema.class_names == ("b", "a", "c")
    assert schema.multi_label is True
    assert clean_labels(schema, ["c", "b"]) == ["b", "c"]
