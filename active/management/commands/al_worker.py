"""`manage.py al_worker --device auto|cpu|cuda`: the task worker (``db_worker``) with a device policy.

Rounds requested with device "auto" (the default) run on whatever this worker is told to use, so a
GPU machine runs ``al_worker --device cuda`` and a laptop plain ``db_worker``; every other option is
passed through to ``db_worker``.

Several workers (on one machine or many, sharing the database and ``LABELHUB_DATA_DIR``) take the
embedding shards of a large pool from the same queue (``active.shards``); ``--threads 1`` keeps two
of them on a two-core machine from fighting over the cores.

Every worker also sweeps: once at start, then every ``jobs.SWEEP_EVERY`` from a background thread
(and before each round), so a round whose worker died is retried, and its task row closed, within
a minute even when no new round is queued.
"""

from __future__ import annotations

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from active import jobs, services
from active.devices import DEVICE_CHOICES, resolve_device
from active.heartbeat import Periodic


class Command(BaseCommand):
    help = "Run the background task worker (db_worker) with a torch device for active-learning rounds."

    def add_arguments(self, parser):
        parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")
        parser.add_argument(
            "--batch", action="store_true", help="Exit when no task is left (db_worker --batch)."
        )
        parser.add_argument(
            "--queue-name", default="default", help="Queues to serve (db_worker --queue-name)."
        )
        parser.add_argument("--reload", action="store_true", help="Restart on code changes (development).")
        parser.add_argument(
            "--threads",
            type=int,
            default=None,
            help="torch CPU threads (default: torch's own, one per core); 1 lets several workers share a machine.",
        )

    def handle(
        self, *args, device: str, batch: bool, queue_name: str, reload: bool, threads: int | None, **options
    ):
        if threads is not None:
            if threads < 1:
                raise CommandError("--threads must be at least 1")
            import torch  # heavy: only a worker asked for a thread count loads torch this early

            torch.set_num_threads(threads)
        try:
            resolved = resolve_device(device)  # fail now, not at the first round, when CUDA is missing
        except ValueError as exc:
            raise CommandError(f"--{exc}") from exc
        settings.LABELHUB_AL_DEVICE = resolved
        self.stdout.write(f"active-learning rounds on {resolved}")
        for swept in services.sweep_stale_rounds():
            self.stdout.write(f"swept {swept}: {swept.state}")
        with Periodic(jobs.SWEEP_EVERY, services.sweep_stale_rounds, name="round-sweeper"):
            call_command(
                "db_worker",
                batch=batch,
                queue_name=queue_name,
                reload=reload,
                startup_delay=False,
                verbosity=options.get("verbosity", 1),
            )
