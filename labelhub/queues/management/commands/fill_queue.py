"""`manage.py fill_queue PROJECT_ID [--count N]`: add unlabelled items to a project's queue."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from labelhub.projects.models import Project
from labelhub.queues.services import DEFAULT_FILL_SIZE, fill_queue


class Command(BaseCommand):
    help = "Fill a project's queue with random (or class-balanced, when a target is set) unlabelled items."

    def add_arguments(self, parser):
        parser.add_argument("project_id", type=int)
        parser.add_argument("--count", type=int, default=DEFAULT_FILL_SIZE)

    def handle(self, *args, project_id: int, count: int, **options):
        project = Project.objects.filter(pk=project_id).first()
        if project is None:
            raise CommandError(f"No project with id {project_id}.")
        added = fill_queue(project, count)
        self.stdout.write(f"queued {added} item(s) in {project}")
