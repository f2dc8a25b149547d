"""`manage.py keep_queues [--every SECONDS]`: the queues' housekeeper, beside the web processes.

Each tick it delivers pending submit reactions (QA scoring, consensus, policy, active-learning
trigger: all of them with ``LABELHUB_REACTIONS=deferred``, else only those a request left
behind), tops up the queues of projects with annotators at work so "next" never has to fill
while someone waits, and every ``--expire-every`` seconds returns expired leases to the queue.
"""

from __future__ import annotations

import logging
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections

from labelhub.queues import reactions, services

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Deliver submit reactions, top up busy queues and expire leases (once, or every N seconds)."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=0, help="Seconds between ticks (0: one tick).")
        parser.add_argument("--expire-every", type=float, default=30, help="Seconds between lease sweeps.")
        parser.add_argument("--batch", type=int, default=500, help="Most reactions delivered per batch.")

    def handle(self, *args, every: float, expire_every: float, batch: int, **options):
        last_sweep = float("-inf")
        while True:
            delivered, failed = self.deliver(batch)
            topped = {project.pk: services.top_up_queue(project) for project in services.projects_at_work()}
            added = sum(topped.values())
            expired = []
            if time.monotonic() - last_sweep >= expire_every:
                expired = services.expire_leases()
                last_sweep = time.monotonic()
            if delivered or failed or added or expired or not every:
                self.stdout.write(
                    f"delivered {delivered} reaction(s), {failed} failed; queued {added} item(s) in "
                    f"{sum(1 for n in topped.values() if n)} project(s); expired {len(expired)} lease(s)"
                )
            if not every:
                return
            time.sleep(every)
            close_old_connections()  # a long-running loop: drop a broken or stale connection

    @staticmethod
    def deliver(batch: int) -> tuple[int, int]:
        """Drain what is due, batch by batch (a failing reaction is retried on later ticks)."""
        delivered = failed = 0
        while True:
            result = reactions.deliver_due(limit=batch)
            delivered, failed = delivered + result.delivered, failed + result.failed
            if result.delivered + result.failed < batch or result.delivered == 0:
                return delivered, failed
