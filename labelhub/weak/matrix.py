"""The label matrix: packing one function's votes into its row, and assembling the sparse matrix
(answers as ``item code, function code, class code`` triplets) the label model and statistics read.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from labelhub.projects.models import Item, Project
from labelhub.projects.selectors import label_schema
from labelhub.weak.models import FunctionVotes, LabelingFunction

ABSTAIN = -1


def pack(item_ids: np.ndarray, codes: np.ndarray) -> tuple[bytes, bytes]:
    order = np.argsort(item_ids, kind="stable")
    return (
        np.asarray(item_ids, "<i8")[order].tobytes(),
        np.asarray(codes, "<i2")[order].tobytes(),
    )


def unpack(row: FunctionVotes) -> tuple[np.ndarray, np.ndarray]:
    return np.frombuffer(bytes(row.item_ids), "<i8"), np.frombuffer(bytes(row.codes), "<i2")


@dataclass
class LabelMatrix:
    """Sparse votes over ``item_ids`` (every pool item, sorted): answer r says function
    ``functions[cols[r]]`` voted class ``class_names[codes[r]]`` on item ``item_ids[rows[r]]``."""

    item_ids: np.ndarray
    class_names: tuple[str, ...]
    function_ids: list[int]
    function_names: list[str]
    function_versions: list[int]
    rows: np.ndarray
    cols: np.ndarray
    codes: np.ndarray

    @property
    def n_items(self) -> int:
        return len(self.item_ids)

    @property
    def n_functions(self) -> int:
        return len(self.function_ids)

    def dense(self, positions: np.ndarray | None = None) -> np.ndarray:
        """Items × functions int16 votes, ABSTAIN where a function did not vote (for a sample)."""
        dense = np.full((self.n_items, self.n_functions), ABSTAIN, np.int16)
        dense[self.rows, self.cols] = self.codes
        return dense if positions is None else dense[positions]

    def versions(self) -> dict[str, int]:
        return dict(zip(self.function_names, self.function_versions, strict=True))


def from_columns(
    item_ids: np.ndarray,
    class_names: tuple[str, ...],
    columns: list[tuple[LabelingFunction, np.ndarray, np.ndarray]],
) -> LabelMatrix:
    """Assemble from ``(function, voted item ids, codes)`` columns; ids outside ``item_ids`` dropped."""
    item_ids = np.asarray(item_ids, np.int64)
    rows, cols, codes = [], [], []
    for col, (_, ids, votes) in enumerate(columns):
        positions = np.searchsorted(item_ids, ids)
        positions = np.minimum(positions, max(len(item_ids) - 1, 0))
        keep = (item_ids[positions] == ids) & (votes >= 0) if len(item_ids) else np.zeros(len(ids), bool)
        rows.append(positions[keep])
        cols.append(np.full(int(keep.sum()), col, np.int32))
        codes.append(votes[keep].astype(np.int16))
    empty = [np.zeros(0, np.int64)]
    return LabelMatrix(
        item_ids=item_ids,
        class_names=tuple(class_names),
        function_ids=[f.pk for f, _, _ in columns],
        function_names=[f.name for f, _, _ in columns],
        function_versions=[f.version for f, _, _ in columns],
        rows=np.concatenate(rows or empty).astype(np.int64),
        cols=np.concatenate(cols or empty).astype(np.int32),
        codes=np.concatenate(codes or empty).astype(np.int16),
    )


def load_matrix(project: Project, functions: list[LabelingFunction] | None = None) -> LabelMatrix:
    """The project's stored label matrix over its current pool, class codes in the current schema.

    Only votes of the function's current version count (a stale column waits for the next apply);
    a class that left the schema since the apply is dropped.
    """
    schema = label_schema(project)
    if functions is None:
        functions = list(
            LabelingFunction.objects.filter(project=project, is_active=True)
            .select_related("votes")
            .order_by("id")
        )
    item_ids = np.fromiter(
        Item.objects.filter(project=project).order_by("id").values_list("id", flat=True), np.int64
    )
    columns = []
    for function in functions:
        row = getattr(function, "votes", None)
        if row is None or row.version != function.version:
            continue
        ids, codes = unpack(row)
        remap = np.array(
            [schema.position(n) if n in schema else ABSTAIN for n in row.class_names] or [0], np.int16
        )
        columns.append((function, ids, remap[codes] if len(codes) else codes))
    return from_columns(item_ids, schema.class_names, columns)
