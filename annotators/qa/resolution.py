"""The result of a consensus run: written by the aggregators (:mod:`annotators.qa.consensus`) and
read by adjudication, which opens tasks for its disputed items and sits below them."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Resolution:
    """Consensus of every rated item of a project, as parallel arrays indexed by item code."""

    item_ids: np.ndarray
    labels: list[list[str]]
    confidence: np.ndarray
    annotator_count: np.ndarray
    method: np.ndarray  # ConsensusLabel.Method values
    tie: np.ndarray  # bool: the vote was tied (majority) — a reviewer should decide
    disagreement: np.ndarray  # bool: 2+ annotators did not all give the same label set

    def __len__(self) -> int:
        return len(self.item_ids)
