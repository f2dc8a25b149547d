"""Reactions to the queues' housekeeping tick: re-queue lost scoring, purge captures past retention."""

from __future__ import annotations

import logging
import time
from datetime import timedelta

from django.conf import settings

from labelhub.production import jobs, selection, tasks

logger = logging.getLogger(__name__)

EVERY_SECONDS = 60
_last = float("-inf")


def housekeep_on_tick(sender, **kwargs) -> None:
    """Once a minute at most (the tick comes about every second)."""
    global _last
    now = time.monotonic()
    if now - _last < EVERY_SECONDS:
        return
    _last = now
    jobs.revive_lost_scoring(enqueue=tasks.enqueue_scoring)
    purged = selection.purge_expired(timedelta(days=settings.LABELHUB_PRODUCTION_RETENTION_DAYS))
    if purged:
        logger.info("purged %d production captures past the retention window", purged)
