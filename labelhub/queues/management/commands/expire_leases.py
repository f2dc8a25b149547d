"""`manage.py expire_leases [--every SECONDS]`: return expired leases to the queue and announce it."""

from __future__ import annotations

import time

from django.core.management.base import BaseCommand

from labelhub.queues.services import expire_leases


class Command(BaseCommand):
    help = "Expire leases past their deadline (once, or every N seconds with --every)."

    def add_arguments(self, parser):
        parser.add_argument("--every", type=float, default=0, help="Repeat every N seconds (0: once).")

    def handle(self, *args, every: float, **options):
        while True:
            expired = expire_leases()
            if expired or not every:
                self.stdout.write(f"expired {len(expired)} lease(s)")
            if not every:
                return
            time.sleep(every)
