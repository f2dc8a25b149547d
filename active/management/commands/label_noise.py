"""`manage.py label_noise`: queue (or with --now run here) a project's label-noise check."""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand

from active import noise_jobs, services, tasks
from active.devices import DEVICE_CHOICES
from active.management.commands.al_simulate import find_project
from active.models import NoiseCheck


class Command(BaseCommand):
    help = (
        "Check a project's labels for suspected errors (K-fold, cleanlab, CROWDLAB); suspects go to review."
    )

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project id or name.")
        parser.add_argument(
            "--device", choices=DEVICE_CHOICES, default=None, help="Default: LABELHUB_AL_DEVICE."
        )
        parser.add_argument(
            "--now", action="store_true", help="Run the check in this process instead of a worker."
        )

    def handle(self, *args, project, device, now, **options):
        project = find_project(project)
        check, created = services.request_noise_check(
            project, trigger=NoiseCheck.Trigger.COMMAND, device=device
        )
        if not created:
            self.stdout.write(f"{check} is already {check.state}")
        if now:
            noise_jobs.attempt_check(check.pk, device, enqueue=tasks.enqueue_noise_check)
            check.refresh_from_db()
        else:
            self.stdout.write(f"{check} queued; al_worker (or db_worker) runs it")
            return
        summary = {k: getattr(check, k) for k in ("state", "labelled", "issues_found", "sent_to_review")}
        self.stdout.write(json.dumps({"check": check.pk, **summary, "error": check.error[:500]}))
