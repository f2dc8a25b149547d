"""Background jobs of the production inbox (run by ``manage.py db_worker``): thin task definitions."""

from __future__ import annotations

from django_tasks import task

from labelhub.production import jobs
from labelhub.production.models import Deployment


@task()
def score_captures(deployment_id: int, device: str | None = None) -> dict:
    """Score a deployment's new captures, send the rules' picks to the queues, check drift."""
    return jobs.run_scoring(deployment_id, device)


def enqueue_scoring(deployment_id: int) -> None:
    score_captures.enqueue(deployment_id)


def request_scoring(deployment: Deployment) -> bool:
    return jobs.request_scoring(deployment, enqueue=enqueue_scoring)
