"""manage.py compute_consensus --project ID [--method majority|dawid_skene] [--evaluate]"""

from __future__ import annotations

import json

from django.core.management.base import BaseCommand, CommandError

from annotators.qa.consensus import compute_consensus
from annotators.qa.policies import evaluate_project
from labelhub.projects.models import Project


class Command(BaseCommand):
    help = "Recompute the consensus label of every labelled item of a project (and open adjudications)."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project id or exact name.")
        parser.add_argument(
            "--method",
            choices=Project.ConsensusMethod.values,
            help="Override the project's consensus_method for this run.",
        )
        parser.add_argument("--evaluate", action="store_true", help="Also re-run the QA policy afterwards.")

    def handle(self, *args, project, method=None, evaluate=False, **options):
        lookup = {"pk": int(project)} if project.isdigit() else {"name": project}
        try:
            target = Project.objects.get(**lookup)
        except Project.DoesNotExist as error:
            raise CommandError(f"--project: no project {project!r}") from error
        result = compute_consensus(target, method=method)
        if evaluate:
            result["failing_annotators"] = sum(1 for e, _ in evaluate_project(target) if not e.passed)
        self.stdout.write(json.dumps(result))
