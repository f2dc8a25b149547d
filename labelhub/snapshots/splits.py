"""Stable train / val / test assignment.

An item's split is a pure function of its stable key (project id + external id) and the ratios:
sha256 of the key, read as a number in [0, 1), falls into one of the cumulative ratio buckets.
Adding or relabelling items therefore never moves an old item, so test items cannot leak into
train between snapshots. Changing the ratios does move items; the ratios are recorded on every
snapshot.

Because the project id is part of the key, the same item lands in a different split in another
project (after an export and re-import, say). A snapshot cut with ``split_key="external_id"``
hashes the external id alone: its splits travel with the item's id to any project. The default
stays "project" (changing it would move every existing item).

Stratified mode keeps the same guarantee by being *sticky*: every item that was in the project's
previous snapshot keeps the split it had there; only items new to this snapshot are assigned,
class by class, in the order of their key hash, to whichever split is furthest below its share of
that class. Small classes therefore still get val/test examples, and the assignment is
deterministic for the same history.
"""

from __future__ import annotations

import hashlib
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping

from labelhub.snapshots.canonical import SPLITS
from labelhub.snapshots.errors import InvalidRatios

DEFAULT_RATIOS: dict[str, float] = {"train": 0.8, "val": 0.1, "test": 0.1}


#: How far fractions typed with two decimals may miss 1 (1/3 each is 0.33 + 0.33 + 0.33).
FRACTION_TOLERANCE = 0.015


def form_ratios(ratios: Mapping[str, float]) -> dict[str, float]:
    """Ratios as a two-decimal form pre-fills them (its inputs step by 0.01), still summing to 1."""
    rounded = {name: round(float(ratios.get(name, 0)), 2) for name in SPLITS}
    rounded["train"] = round(rounded["train"] + 1 - sum(rounded.values()), 2)
    return rounded


def normalise_ratios(ratios: Mapping[str, float] | None, *, fractions: bool = False) -> dict[str, float]:
    """Validate user-given ratios and scale them to sum to 1. Raises InvalidRatios naming the field.

    Weights (8, 1, 1) are scaled; with ``fractions`` (a form asking for fractions of the items)
    they must already sum to 1, so 0.9 / 0.3 / 0.1 is refused instead of silently rescaled.
    """
    if not ratios:
        return dict(DEFAULT_RATIOS)
    unknown = set(ratios) - set(SPLITS)
    if unknown:
        raise InvalidRatios(f"unknown split {sorted(unknown)[0]!r}; use train, val and test", field="ratios")
    values = {}
    for name in SPLITS:
        try:
            value = float(ratios.get(name, 0))
        except (TypeError, ValueError):
            raise InvalidRatios(
                f"the {name} ratio {ratios.get(name)!r} is not a number", field=f"ratios.{name}"
            ) from None
        if value < 0:
            raise InvalidRatios(f"the {name} ratio must be >= 0, got {value}", field=f"ratios.{name}")
        values[name] = value
    total = sum(values.values())
    if total <= 0:
        raise InvalidRatios("at least one of train, val, test must be > 0", field="ratios")
    if fractions and abs(total - 1) > FRACTION_TOLERANCE:
        raise InvalidRatios(
            f"the ratios must sum to 1: train, val and test sum to {total:g}",
            field="ratios",
            code="ratios_sum",
        )
    return {name: round(v / total, 6) for name, v in values.items()}


def split_prefix(project_id: int | None) -> bytes:
    """What an item's key starts with: its project (the default), or nothing for splits pinned to
    the external id alone, which then stay the same in every project the item travels to."""
    return b"" if project_id is None else f"{int(project_id)}:".encode()


def key_fraction(project_id: int | None, external_id: str) -> float:
    """The item's stable key hashed to [0, 1)."""
    digest = hashlib.sha256(split_prefix(project_id) + external_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64


class HashSplitter:
    """``hash_split`` for one project and ratio set, with the per-call work hoisted out: the cut
    calls it a million times."""

    def __init__(self, project_id: int | None, ratios: Mapping[str, float]) -> None:
        self.prefix = split_prefix(project_id)
        edges, edge = [], 0.0
        for name in SPLITS:
            edge += ratios[name]  # accumulated exactly as before: the same float edges
            edges.append((edge, name))
        self.edges = tuple(edges)
        self.last = (
            SPLITS[-1] if ratios[SPLITS[-1]] > 0 else next(n for n in reversed(SPLITS) if ratios[n] > 0)
        )

    def __call__(self, external_id: str) -> str:
        digest = hashlib.sha256(self.prefix + external_id.encode()).digest()
        fraction = int.from_bytes(digest[:8], "big") / 2**64
        for edge, name in self.edges:
            if fraction < edge:
                return name
        return self.last


def hash_split(project_id: int, external_id: str, ratios: Mapping[str, float]) -> str:
    """The split of one item: its key hashed to [0, 1) against the cumulative ratios."""
    return HashSplitter(project_id, ratios)(external_id)


def stratified_splits(
    project_id: int | None,
    items: Iterable[tuple[str, str]],
    ratios: Mapping[str, float],
    previous: Mapping[str, str],
) -> dict[str, str]:
    """Splits for (external_id, stratum) pairs, where the stratum is the item's class key.

    ``previous`` maps external ids of the previous snapshot to their split; those never move.
    """
    assigned: dict[str, str] = {}
    counts: dict[str, Counter[str]] = defaultdict(Counter)
    new_by_stratum: dict[str, list[str]] = defaultdict(list)
    for external_id, stratum in items:
        split = previous.get(external_id)
        if split is not None:
            assigned[external_id] = split
            counts[stratum][split] += 1
        else:
            new_by_stratum[stratum].append(external_id)
    for stratum, new_ids in new_by_stratum.items():
        new_ids.sort(key=lambda e: key_fraction(project_id, e))
        have = counts[stratum]
        for external_id in new_ids:
            total = sum(have.values()) + 1
            # The split with the largest shortfall against its target count; ties by SPLITS order.
            split = max(
                (n for n in SPLITS if ratios[n] > 0),
                key=lambda n: (ratios[n] * total - have[n], -SPLITS.index(n)),
            )
            assigned[external_id] = split
            have[split] += 1
    return assigned
