"""The canonical row format the content hash is computed over."""

from __future__ import annotations

import json

import pytest

from annotators.qa.resolved import parse_json_list
from labelhub.snapshots.canonical import ContentHasher, canonical_row, content_hash

ROW = (
    'caf\u00e9 "quoted"\n\t\\ \u2603 \U0001f600',
    "ab" * 32,
    ["wolf", "Dog", "\u00e9t\u00e9"],
    0.1 + 0.2,
    "majority",
    [3, 1],
    2,
    "val",
)


def test_canonical_row_is_compact_json_with_sorted_sets():
    external_id, sha, labels, confidence, method, versions, count, split = ROW
    expected = json.dumps(
        [external_id, sha, sorted(labels), "0.300000", method, sorted(versions), count, split],
        ensure_ascii=False,
        separators=(",", ":"),
    )
    assert canonical_row(*ROW) == expected.encode() + b"\n"


def test_label_and_version_order_do_not_change_the_hash():
    a = [("x", "h", ["b", "a"], 1.0, "single", [2, 1], 1, "train")]
    b = [("x", "h", ["a", "b"], 1.0, "single", [1, 2], 1, "train")]
    assert content_hash(1, a) == content_hash(1, b)


def test_batch_and_row_by_row_give_the_same_hash():
    rows = [(f"id-{i}", "h", ["cat"], 0.5, "single", [], 1, "train") for i in range(5)]
    one = ContentHasher(4)
    for row in rows:
        one.add(*row)
    batch = ContentHasher(4)
    batch.add_batch(rows[:2])
    batch.add_batch(rows[2:])
    assert one.hexdigest() == batch.hexdigest()


def test_unsorted_rows_are_refused():
    hasher = ContentHasher(1)
    with pytest.raises(ValueError, match="sorted"):
        hasher.add_batch(
            [("b", "h", [], 1.0, "single", [], 1, "train"), ("a", "h", [], 1.0, "single", [], 1, "train")]
        )


@pytest.mark.parametrize(
    "text",
    ['["cat"]', "[]", '["cat", "dog"]', '["a\\"b"]', '["caf\\u00e9"]', '["x\\\\y"]', "[1, 2]", '[""]'],
)
def test_parse_json_list_agrees_with_json(text):
    assert parse_json_list(text) == json.loads(text)
