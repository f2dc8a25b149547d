"""Stable splits: an item's split depends on its key only, never on what else is in the snapshot."""

from __future__ import annotations

from collections import Counter

import pytest

from labelhub.snapshots import services
from labelhub.snapshots.errors import InvalidRatios
from labelhub.snapshots.models import SnapshotItem
from labelhub.snapshots.splits import (
    HashSplitter,
    hash_split,
    key_fraction,
    normalise_ratios,
    stratified_splits,
)
from tests import factories
from tests.snapshots.conftest import label

RATIOS = {"train": 0.8, "val": 0.1, "test": 0.1}


def test_hash_split_follows_the_ratios_roughly():
    counts = Counter(hash_split(7, f"item-{i}", RATIOS) for i in range(20000))
    assert abs(counts["train"] / 20000 - 0.8) < 0.02
    assert abs(counts["test"] / 20000 - 0.1) < 0.02


def test_hash_split_depends_on_the_project_too():
    a = [hash_split(1, f"x{i}", RATIOS) for i in range(200)]
    b = [hash_split(2, f"x{i}", RATIOS) for i in range(200)]
    assert a != b


def test_zero_ratio_split_gets_nothing():
    ratios = normalise_ratios({"train": 0.5, "val": 0, "test": 0.5})
    assert "val" not in {hash_split(3, f"i{i}", ratios) for i in range(500)}


def test_ratios_are_normalised_and_validated():
    assert normalise_ratios({"train": 8, "val": 1, "test": 1}) == RATIOS
    with pytest.raises(InvalidRatios, match="unknown split 'dev'") as unknown:
        normalise_ratios({"dev": 1})
    assert unknown.value.field == "ratios"
    with pytest.raises(InvalidRatios, match="'x' is not a number") as not_a_number:
        normalise_ratios({"train": "x"})
    assert not_a_number.value.field == "ratios.train"
    with pytest.raises(InvalidRatios, match="at least one") as all_zero:
        normalise_ratios({"train": 0, "val": 0, "test": 0})
    assert all_zero.value.field == "ratios"


@pytest.mark.django_db
def test_adding_items_never_moves_old_ones(project, annotator):
    items = factories.make_items(project, 60)
    for item in items[:40]:
        label(item, ["cat"], annotator)
    first, _ = services.cut_snapshot(project)
    for item in items[40:]:
        label(item, ["dog"], annotator)
    label(items[0], ["wolf"], annotator)  # relabelling does not move it either
    second, _ = services.cut_snapshot(project)
    before = dict(SnapshotItem.objects.filter(snapshot=first).values_list("external_id", "split"))
    after = dict(SnapshotItem.objects.filter(snapshot=second).values_list("external_id", "split"))
    assert len(after) == 60
    assert all(after[key] == split for key, split in before.items())


def test_stratified_gives_every_class_its_share():
    keys = [(f"rare-{i}", "rare") for i in range(10)] + [(f"common-{i}", "common") for i in range(90)]
    splits = stratified_splits(1, keys, RATIOS, previous={})
    rare = Counter(splits[k] for k, s in keys if s == "rare")
    assert rare == {"train": 8, "val": 1, "test": 1}


def test_stratified_keeps_previous_assignments_and_fills_the_shortfall():
    previous = {f"a{i}": "train" for i in range(8)}
    keys = [(f"a{i}", "cat") for i in range(8)] + [(f"b{i}", "cat") for i in range(2)]
    splits = stratified_splits(1, keys, RATIOS, previous)
    assert all(splits[f"a{i}"] == "train" for i in range(8))
    assert sorted(splits[f"b{i}"] for i in range(2)) == ["test", "val"]


@pytest.mark.django_db
def test_stratified_snapshots_keep_splits_across_cuts(project, annotator):
    items = factories.make_items(project, 30)
    for i, item in enumerate(items[:20]):
        label(item, ["cat" if i % 4 else "wolf"], annotator)
    first, _ = services.cut_snapshot(project, stratify=True)
    for item in items[20:]:
        label(item, ["wolf"], annotator)
    second, _ = services.cut_snapshot(project, stratify=True)
    before = dict(SnapshotItem.objects.filter(snapshot=first).values_list("external_id", "split"))
    after = dict(SnapshotItem.objects.filter(snapshot=second).values_list("external_id", "split"))
    assert all(after[key] == split for key, split in before.items())
    wolves = Counter(
        SnapshotItem.objects.filter(snapshot=second, labels=["wolf"]).values_list("split", flat=True)
    )
    assert wolves["val"] >= 1 and wolves["test"] >= 1
    assert second.stratified


def test_hash_splitter_matches_the_key_fraction_definition():
    ratios = normalise_ratios({"train": 0.7, "val": 0.2, "test": 0.1})
    splitter = HashSplitter(5, ratios)

    def reference(external_id: str) -> str:
        fraction, edge = key_fraction(5, external_id), 0.0
        for name in ("train", "val", "test"):
            edge += ratios[name]
            if fraction < edge:
                return name
        return "test"

    assert all(splitter(f"k{i}\u00e9") == reference(f"k{i}\u00e9") for i in range(3000))
