"""`manage.py keep_queues [--every SECONDS]`: the queues' housekeeper, beside the web processes.

Each tick it delivers pending submit reactions (QA scoring, consensus, policy, active-learning
trigger: all of them with ``LABELHUB_REACTIONS=deferred``, else only those a request left
behind), tops up the queues of projects with annotators at work so "next" never has to fill
while someone waits, and every ``--expire-every`` seconds returns expired leases to the queue.
Several keepers may run at once: none delivers, fills or expires what another one holds.
"""

from __future__ import annotations

import logging
import time

from django.core.management.base import BaseCommand
from django.db import close_old_connections, connections

from labelhub.queues import reactions, services
from labelhub.queues.signals import housekeeping_tick

logger = logging.getLogger(__name__)


class Command(BaseCommand):
    help = "Deliver submit reactions, top up busy queues and expire leases (once, or every N seconds)."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=0, help="Seconds between ticks (0: one tick).")
        parser.add_argument("--expire-every", type=float, default=30, help="Seconds between lease sweeps.")
        parser.add_argument("--batch", type=int, default=500, help="Most reactions delivered per batch.")
        parser.add_argument("--ticks", type=int, default=0, help="Stop after this many ticks (0: never).")

    def handle(self, *args, every: float, expire_every: float, batch: int, ticks: int, **options):
        self.last_sweep = float("-inf")
        done = 0
        while True:
            try:
                self.tick(batch, expire_every, quiet=bool(every))
            except Exception:  # noqa: BLE001 - a lost database or a bad row must not end the keeper
                if not every:
                    raise
                logger.exception("keep_queues: tick failed; trying again in %s s", every)
                connections.close_all()  # the next tick reconnects
            done += 1
            if not every or (ticks and done >= ticks):
                return
            time.sleep(every)
            close_old_connections()  # a long-running loop: drop a broken or stale connection

    def tick(self, batch: int, expire_every: float, *, quiet: bool) -> None:
        delivered, failed = self.deliver(batch)
        topped = {project.pk: services.top_up_queue(project) for project in services.projects_at_work()}
        added = sum(topped.values())
        expired = []
        if time.monotonic() - self.last_sweep >= expire_every:
            expired = services.expire_leases()
            self.last_sweep = time.monotonic()
        if delivered or failed or added or expired or not quiet:
            self.stdout.write(
                f"delivered {delivered} reaction(s), {failed} failed; queued {added} item(s) in "
                f"{sum(1 for n in topped.values() if n)} project(s); expired {len(expired)} lease(s)"
            )
            self.stdout.flush()
        for receiver, error in housekeeping_tick.send_robust(sender=self.__class__):
            if isinstance(error, Exception):
                logger.error("keep_queues: housekeeping by %r failed", receiver, exc_info=error)

    @staticmethod
    def deliver(batch: int) -> tuple[int, int]:
        """Drain what is due, batch by batch (a failing reaction is retried on later ticks)."""
        delivered = failed = 0
        while True:
            result = reactions.deliver_due(limit=batch)
            delivered, failed = delivered + result.delivered, failed + result.failed
            if result.delivered + result.failed < batch or result.delivered == 0:
                return delivered, failed
