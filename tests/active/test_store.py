"""The fp16 embedding store: append-only, incremental, crash-safe index."""

from __future__ import annotations

import numpy as np
import pytest

from active.store import EmbeddingStore


def test_append_then_get_returns_vectors_in_requested_order(tmp_path):
    store = EmbeddingStore(1, "test", 4, root=tmp_path)
    vectors = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert store.append([10, 20, 30], vectors) == 3
    np.testing.assert_array_equal(store.get([30, 10]), vectors[[2, 0]])
    assert store.vectors.dtype == np.float16


def test_known_items_are_skipped_on_append(tmp_path):
    store = EmbeddingStore(1, "test", 2, root=tmp_path)
    store.append([1, 2], np.ones((2, 2)))
    assert store.append([2, 3, 3], np.full((3, 2), 5.0)) == 1
    assert store.ids.tolist() == [1, 2, 3]
    np.testing.assert_array_equal(store.get([2, 3]), [[1, 1], [5, 5]])


def test_a_reopened_store_sees_what_was_written(tmp_path):
    EmbeddingStore(7, "test", 3, root=tmp_path).append([5], np.ones((1, 3)))
    assert EmbeddingStore(7, "test", 3, root=tmp_path).ids.tolist() == [5]


def test_bytes_of_a_crashed_append_are_ignored_then_truncated(tmp_path):
    store = EmbeddingStore(1, "test", 2, root=tmp_path)
    store.append([1], np.ones((1, 2)))
    with open(store.path / "vectors.f16", "ab") as fh:  # vectors written, index never replaced
        fh.write(np.full((1, 2), 9, np.float16).tobytes())
    reopened = EmbeddingStore(1, "test", 2, root=tmp_path)
    assert len(reopened) == 1
    reopened.append([2], np.full((1, 2), 3.0))
    np.testing.assert_array_equal(reopened.get([1, 2]), [[1, 1], [3, 3]])
    assert (store.path / "vectors.f16").stat().st_size == 2 * 2 * 2


def test_missing_item_is_named(tmp_path):
    store = EmbeddingStore(1, "test", 2, root=tmp_path)
    store.append([1], np.ones((1, 2)))
    with pytest.raises(KeyError, match="item 99"):
        store.get([1, 99])


def test_dimension_mismatch_is_refused(tmp_path):
    EmbeddingStore(1, "test", 2, root=tmp_path)
    with pytest.raises(ValueError, match="dimension 2 on disk, 3 requested"):
        EmbeddingStore(1, "test", 3, root=tmp_path)
