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


def _append_in_chunks(root, ids: list[int], chunk: int) -> None:
    store = EmbeddingStore(1, "test", 8, root=root)
    for start in range(0, len(ids), chunk):
        part = np.asarray(ids[start : start + chunk])
        store.append(part, np.repeat(part[:, None], 8, axis=1).astype(np.float32))


def test_two_processes_appending_to_one_store_lose_no_rows(tmp_path):
    """Two workers embedding shards of the same project write one store at once (active.shards)."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    shards = [list(range(0, 3000)), list(range(3000, 6000))]
    workers = [context.Process(target=_append_in_chunks, args=(tmp_path, ids, 7)) for ids in shards]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
        assert worker.exitcode == 0
    store = EmbeddingStore(1, "test", 8, root=tmp_path)
    assert sorted(store.ids.tolist()) == list(range(6000))
    ids = np.arange(6000)
    np.testing.assert_array_equal(store.get(ids), np.repeat(ids[:, None], 8, axis=1).astype(np.float16))
