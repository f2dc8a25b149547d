"""`manage.py demo`: migrate, load the demo projects, start a worker and serve on 127.0.0.1:8000."""

from __future__ import annotations

import subprocess
import sys

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand

DEMO_USERS = (
    ("admin", "admin", True),  # staff: the console at /admin/
    ("annotator", "annotator", False),
)


class Command(BaseCommand):
    help = "Set up the demo (data sets, users) on the embedded default and serve it."

    def add_arguments(self, parser):
        parser.add_argument("--addr", default="127.0.0.1:8000")
        parser.add_argument("--no-serve", action="store_true", help="Set up only; do not serve.")
        parser.add_argument("--no-worker", action="store_true", help="Do not start the background worker.")

    def handle(self, *args, addr: str, no_serve: bool, no_worker: bool, **options):
        call_command("migrate", interactive=False, verbosity=0)
        users = self._ensure_users()
        call_command("demo_data", members=users)
        if no_serve:
            return
        background = []
        if not no_worker:
            # The active-learning worker, and the queues' housekeeper: it refills busy queues ahead
            # of need, expires leases (telling open pages) and delivers any reaction left behind.
            background.append(subprocess.Popen([sys.executable, "manage.py", "al_worker"]))  # noqa: S603
            background.append(
                subprocess.Popen([sys.executable, "manage.py", "keep_queues", "--every", "1"])  # noqa: S603
            )
            # A simulated deployment of the digits model, streaming captures (and, halfway, a
            # drift) to the production page over the capture API once the server answers.
            background.append(
                subprocess.Popen(  # noqa: S603
                    [sys.executable, "manage.py", "production_stream", "--url", f"http://{addr}"]
                )
            )
        self.stdout.write(
            self.style.SUCCESS(
                f"\nlabelhub demo on http://{addr}/\n"
                "  annotator: annotator / annotator   (labeling pages)\n"
                "  manager:   admin / admin           (console at /admin/)\n"
                "  production inbox: /production/projects/<digits project id>/ (a simulated stream runs)\n"
            )
        )
        try:
            call_command("runserver", addr, use_reloader=False)
        finally:
            for process in background:
                process.terminate()

    def _ensure_users(self) -> list:
        users = []
        User = get_user_model()
        for username, password, staff in DEMO_USERS:
            user, created = User.objects.get_or_create(
                username=username, defaults={"is_staff": staff, "is_superuser": staff}
            )
            if created:
                user.set_password(password)
                user.save()
            users.append(user)
        return users
