"""Reactions to other apps' events: enough new labels start an active-learning round, and the
queues' housekeeper sweeps rounds whose worker died."""

from __future__ import annotations

import logging
import time

from active.errors import UnknownStrategy
from active.jobs import SWEEP_EVERY
from active.noise_jobs import record_review_outcome
from active.services import maybe_trigger_round, sweep_stale_rounds
from labelhub.queues.reactions import first_in_batch

logger = logging.getLogger(__name__)


def start_round_on_new_labels(sender, annotation=None, project=None, **kwargs) -> None:
    """Receiver of ``annotation_submitted`` (sent after the submit commits): enqueue a round when due.

    Only database writes happen here (a round row and its task row); the worker does the heavy part.
    The count covers every label in the database, so a batch of deliveries asks once per project.
    """
    if project is None and annotation is not None:
        project = annotation.item.project
    if project is None or not first_in_batch(("active-learning-trigger", project.pk)):
        return
    try:
        model_round = maybe_trigger_round(project)
    except UnknownStrategy as exc:
        # A manager's misconfiguration (e.g. an unknown al_strategy) must not fail an annotator's
        # submit, which has already committed; it is logged, and shown when a manager starts a round.
        logger.error("project %s: cannot start an active-learning round: %s", project.pk, exc)
        return
    if model_round is not None:
        logger.info("project %s: %s queued after new labels", project.pk, model_round)


_last_sweep = float("-inf")


def sweep_rounds_on_housekeeping(sender, **kwargs) -> None:
    """Receiver of the queues' housekeeping tick (``keep_queues``): sweep dead rounds every ``SWEEP_EVERY``.

    The housekeeper ticks about once a second; sweeping that often would only repeat the same two
    queries. Sweeps are safe to overlap with a worker's own.
    """
    global _last_sweep
    now = time.monotonic()
    if now - _last_sweep < SWEEP_EVERY.total_seconds():
        return
    _last_sweep = now
    for swept in sweep_stale_rounds():
        logger.info("housekeeping swept %s: %s", swept, swept.state)


def record_label_error_review(sender, task=None, outcome: str = "labelled", **kwargs) -> None:
    """Receiver of ``adjudication_resolved``: a decided suspected label error updates its review
    record (confirmed / fixed / ambiguous → a guideline question), in the same transaction."""
    if task is not None:
        record_review_outcome(task, outcome)
