"""A compact per-project embedding cache: fp16 vectors in a memory-mapped file plus an item-id index.

Layout under ``LABELHUB_DATA_DIR/embeddings/project-<id>/<backbone>/``:

- ``vectors.f16`` — raw little-endian float16 rows, append-only. Raw rather than ``.npy`` because an
  ``.npy`` header records the shape and would have to be rewritten on every append.
- ``index.npy`` — int64 item ids, row *i* of the vectors belongs to ``index[i]``. It is replaced
  atomically (write to a temporary file, fsync, ``os.replace``) *after* the vectors are on disk, so
  a crash mid-append leaves trailing vector bytes that no index row points at; the next append
  truncates them. Readers therefore only ever see complete rows.
- ``meta.json`` — dimension and backbone name.

Concurrent appenders (several workers embedding shards of the same project, ``active.shards``)
serialise on an ``flock`` of ``.lock`` and re-read the index under it, so every append lands on the
latest index and none is lost; an id that two appenders both hold is written once. A reader keeps
the index it loaded (rows only ever get added, so its view stays valid) until ``refresh``.
"""

from __future__ import annotations

import fcntl
import json
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import numpy as np
from django.conf import settings

VECTOR_DTYPE = np.dtype("<f2")


def write_atomically(path: Path, write) -> None:
    """``write(file)`` into a temporary sibling, fsync, then rename: readers see all of it or nothing."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


class EmbeddingStore:
    def __init__(self, project_id: int, backbone: str, dim: int, root: Path | None = None):
        self.project_id = project_id
        self.backbone = backbone
        self.dim = dim
        base = Path(root or settings.LABELHUB_DATA_DIR)
        self.path = base / "embeddings" / f"project-{project_id}" / backbone
        self.path.mkdir(parents=True, exist_ok=True)
        self._meta_file = self.path / "meta.json"
        self._vectors_file = self.path / "vectors.f16"
        self._index_file = self.path / "index.npy"
        if self._meta_file.exists():
            meta = json.loads(self._meta_file.read_text())
            if meta["dim"] != dim:
                raise ValueError(
                    f"embedding store {self.path}: dimension {meta['dim']} on disk, {dim} requested"
                )
        else:
            self._meta_file.write_text(json.dumps({"dim": dim, "backbone": backbone}))
        self._ids: np.ndarray | None = None
        self._positions: dict[int, int] | None = None

    # Reading ---------------------------------------------------------------------------------
    @property
    def ids(self) -> np.ndarray:
        """Item ids in row order (int64)."""
        if self._ids is None:
            self._ids = np.load(self._index_file) if self._index_file.exists() else np.zeros(0, np.int64)
        return self._ids

    def __len__(self) -> int:
        return len(self.ids)

    @property
    def vectors(self) -> np.ndarray:
        """All cached rows as a read-only memory map (no copy; pages load on demand)."""
        n = len(self.ids)
        if n == 0:
            return np.zeros((0, self.dim), VECTOR_DTYPE)
        return np.memmap(self._vectors_file, dtype=VECTOR_DTYPE, mode="r", shape=(n, self.dim))

    def positions(self, item_ids) -> np.ndarray:
        """Row of each item id; raises KeyError naming the first id that is not cached."""
        ids = self.ids
        wanted = np.asarray(item_ids, dtype=np.int64)
        order = np.argsort(ids, kind="stable")
        found = np.searchsorted(ids, wanted, sorter=order)
        found = np.clip(found, 0, max(len(ids) - 1, 0))
        rows = order[found] if len(ids) else np.zeros(len(wanted), np.int64)
        bad = ids[rows] != wanted if len(ids) else np.ones(len(wanted), bool)
        if bad.any():
            raise KeyError(f"item {int(wanted[bad][0])} has no cached embedding")
        return rows

    def get(self, item_ids) -> np.ndarray:
        """Vectors of ``item_ids`` in that order, as float32."""
        rows = self.positions(item_ids)
        return np.asarray(self.vectors[rows], dtype=np.float32)

    def missing(self, item_ids) -> np.ndarray:
        """The ids of ``item_ids`` that have no row (as cached by this reader: see ``refresh``)."""
        wanted = np.asarray(item_ids if isinstance(item_ids, np.ndarray) else list(item_ids), dtype=np.int64)
        return wanted[~np.isin(wanted, self.ids)]

    def refresh(self) -> None:
        """Forget the cached index, so the next read sees what other processes appended since."""
        self._ids = None

    # Writing ---------------------------------------------------------------------------------
    @contextmanager
    def _locked(self) -> Iterator[None]:
        with open(self.path / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def append(self, item_ids, vectors: np.ndarray) -> int:
        """Add rows for items not cached yet (ids already present are skipped); returns rows added."""
        item_ids = np.asarray(item_ids, dtype=np.int64)
        vectors = np.asarray(vectors)
        if vectors.shape != (len(item_ids), self.dim):
            raise ValueError(f"vectors shape {vectors.shape} does not match {len(item_ids)} ids × {self.dim}")
        with self._locked():
            self._ids = None  # another process may have appended since we last read
            current = self.ids
            fresh = ~np.isin(item_ids, current)
            # Keep the first occurrence of an id repeated within this call.
            _, first = np.unique(item_ids, return_index=True)
            once = np.zeros(len(item_ids), bool)
            once[first] = True
            keep = fresh & once
            if not keep.any():
                return 0
            new_ids = item_ids[keep]
            rows = vectors[keep].astype(VECTOR_DTYPE)
            row_bytes = self.dim * VECTOR_DTYPE.itemsize
            with open(self._vectors_file, "ab+") as fh:
                fh.truncate(len(current) * row_bytes)  # drop bytes of an append that crashed before its index
                fh.seek(0, os.SEEK_END)
                fh.write(rows.tobytes())
                fh.flush()
                os.fsync(fh.fileno())
            index = np.concatenate([current, new_ids])
            write_atomically(self._index_file, lambda fh: np.save(fh, index))
            self._ids = index
            return int(keep.sum())
