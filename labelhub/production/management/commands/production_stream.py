"""`manage.py production_stream`: the demo's simulated deployment, sending captures over HTTP.

Started by ``manage.py demo`` beside the server; waits for it, then streams windows of digits into
the digits project's deployment ``demo stream`` (made on first use) through the capture API, with
a drift after ``--drift-after`` windows. See :mod:`labelhub.production.demo`.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from django.core.management.base import BaseCommand, CommandError

from labelhub.production import demo
from labelhub.projects.management.commands.demo_data import DIGITS_PROJECT
from labelhub.projects.models import Project


class Command(BaseCommand):
    help = "Stream simulated production captures (with a drift) to the demo digits project over HTTP."

    def add_arguments(self, parser):
        parser.add_argument("--url", default="http://127.0.0.1:8000", help="The labelhub server.")
        parser.add_argument("--project", default=DIGITS_PROJECT, help="Project name (the demo's digits).")
        parser.add_argument("--windows", type=int, default=16)
        parser.add_argument("--drift-after", type=int, default=8)
        parser.add_argument("--per-window", type=int, default=200)
        parser.add_argument("--pause", type=float, default=3.0, help="Seconds between windows.")
        parser.add_argument("--wait", type=float, default=60.0, help="Seconds to wait for the server.")

    def handle(self, *args, url, project, windows, drift_after, per_window, pause, wait, **options):
        target = Project.objects.filter(name=project).first()
        if target is None:
            raise CommandError(f"no project named {project!r}: run `manage.py demo_data` first")
        deployment, token = demo.demo_deployment(target)
        self._wait_for(url, wait)
        endpoint = f"{url.rstrip('/')}/api/projects/{target.pk}/deployments/{deployment.pk}/captures/"
        sent = demo.stream(
            deployment,
            lambda records: self._post(endpoint, token, records),
            windows=windows,
            drift_after=drift_after,
            per_window=per_window,
            pause=pause,
            seed=int(time.time()),
            digits_limit=target.items.count(),
        )
        self.stdout.write(f"demo stream: sent {sent} captures to {url}/production/projects/{target.pk}/")

    @staticmethod
    def _post(endpoint: str, token: str, records: list[dict]) -> dict:
        """One batch over HTTP, as a deployed model sends it (``labelhub.client.CaptureClient`` adds
        buffering and retries; the entry-point layer it lives in is above this app)."""
        request = urllib.request.Request(  # noqa: S310 - the demo's own http URL
            endpoint,
            data=json.dumps({"records": records}).encode(),
            headers={"Content-Type": "application/json", "Authorization": f"Deployment {token}"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=60) as response:  # noqa: S310
                return json.loads(response.read())
        except urllib.error.HTTPError as error:
            raise CommandError(f"capture refused: HTTP {error.code}: {error.read()[:300]!r}") from error

    @staticmethod
    def _wait_for(url: str, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        while True:
            try:
                urllib.request.urlopen(url.rstrip("/") + "/accounts/login/", timeout=2).close()  # noqa: S310
                return
            except urllib.error.HTTPError:
                return  # the server answers
            except OSError as exc:
                if time.monotonic() > deadline:
                    raise CommandError(f"the server at {url} did not answer within {seconds:.0f} s") from exc
                time.sleep(1)
