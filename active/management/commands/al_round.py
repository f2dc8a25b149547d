"""`manage.py al_round`: start an active-learning round (queued for the worker, or run here), or sweep stale ones."""

from __future__ import annotations

from functools import partial

from django.core.management.base import BaseCommand, CommandError

from active import jobs, services, tasks
from active.devices import DEVICE_CHOICES
from active.management.commands.al_simulate import find_project
from active.models import ModelRound
from labelhub.errors import DomainError


class Command(BaseCommand):
    help = "Queue (or with --now run) an active-learning round for a project; --sweep retries stale rounds."

    def add_arguments(self, parser):
        parser.add_argument("--project", help="Project id or name.")
        parser.add_argument(
            "--device", choices=DEVICE_CHOICES, default=None, help="Default: LABELHUB_AL_DEVICE."
        )
        parser.add_argument(
            "--now", action="store_true", help="Run the round in this process instead of a worker."
        )
        parser.add_argument(
            "--shards",
            type=int,
            default=None,
            help="Embed the pool's missing items in this many shard tasks, which every al_worker takes "
            "from the queue (default: shards of 5,000 items once 20,000 are missing).",
        )
        parser.add_argument(
            "--sweep",
            action="store_true",
            help="Retry rounds whose worker died (no heartbeat for 45 s) and close their task rows.",
        )

    def handle(self, *args, project, device, now, shards, sweep, **options):
        if sweep:
            for swept in services.sweep_stale_rounds():
                self.stdout.write(f"{swept}: {swept.state}")
            if not project:
                return
        if not project:
            raise CommandError("--project is required (or --sweep alone)")
        if shards is not None and (shards < 1 or now):
            raise CommandError("--shards must be at least 1, and shards are for workers (not --now)")
        try:
            if shards:
                model_round, created = jobs.request_round(
                    find_project(project),
                    enqueue=partial(tasks.enqueue_round, shard_count=shards),
                    trigger=ModelRound.Trigger.COMMAND,
                    device=device,
                )
            else:
                model_round, created = services.request_round(
                    find_project(project), trigger=ModelRound.Trigger.COMMAND, device=device
                )
        except DomainError as error:
            raise CommandError(error.message) from error
        if not created:
            self.stdout.write(f"{model_round} is already {model_round.state}; not starting another")
            return
        if not now:
            self.stdout.write(self.style.SUCCESS(f"{model_round} queued; `manage.py al_worker` runs it"))
            return
        try:
            jobs.run_round(model_round.pk, device=device)
        except Exception as exc:
            services.record_failure(model_round.pk, f"{type(exc).__name__}: {exc}")
            raise
        model_round.refresh_from_db()
        self.stdout.write(
            self.style.SUCCESS(
                f"{model_round}: {model_round.selected_count} items queued, metrics {model_round.metrics}, "
                f"seconds {model_round.timings}"
            )
        )
