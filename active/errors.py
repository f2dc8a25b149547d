"""The errors a manager or client can cause in active learning, as :class:`~labelhub.errors.DomainError`s."""

from __future__ import annotations

from labelhub.errors import DomainError


class ActiveLearningError(DomainError):
    default_code = "active_learning_invalid"


class UnknownStrategy(ActiveLearningError):
    """A query-strategy name that is not one of ``active.strategies.STRATEGIES`` (nor an alias)."""

    default_code = "unknown_strategy"


class SimulationError(ActiveLearningError):
    """The project cannot be simulated as asked (no ground truth, too few classes, too few items)."""

    default_code = "simulation_impossible"
