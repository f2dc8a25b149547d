"""The active-learning page's accuracy chart: a real axis for one round, titles on both axes."""

from __future__ import annotations

import re

from active.plots import accuracy_by_labels


def _x_ticks(svg: str) -> list[str]:
    return re.findall(r'text-anchor="middle">(\d+)</text>', svg)  # the y axis is anchored at its end


def test_one_round_gets_a_range_around_its_labels_not_the_same_label_twice():
    svg = accuracy_by_labels([{"round": 1, "labels": 29, "accuracy": 0.81}])
    ticks = _x_ticks(svg)
    assert len(set(ticks)) == len(ticks) >= 3
    assert "29 labels" not in svg
    assert "labels trained on" in svg and "held-out accuracy" in svg


def test_several_rounds_span_their_labels():
    points = [{"round": i, "labels": 20 * i, "accuracy": 0.5 + 0.05 * i} for i in range(1, 6)]
    svg = accuracy_by_labels(points)
    assert svg.count("<circle") == 5 and "<polyline" in svg


def test_no_round_says_so():
    assert "No round has been evaluated yet" in accuracy_by_labels([])
