"""`manage.py al_simulate`: an active-learning run with an oracle, strategy vs random, as CSV + PNG."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from active.devices import DEVICE_CHOICES
from active.simulation import simulate
from labelhub.errors import DomainError
from labelhub.projects.models import Project


def find_project(ref: str) -> Project:
    """A project by id or by exact name; CommandError naming the value otherwise."""
    project = Project.objects.filter(pk=int(ref)).first() if ref.isdigit() else None
    project = project or Project.objects.filter(name=ref).first()
    if project is None:
        raise CommandError(f"--project: no project with id or name {ref!r}")
    return project


class Command(BaseCommand):
    help = "Simulate active learning on a project with known ground truth and write learning curves."

    def add_arguments(self, parser):
        parser.add_argument("--project", required=True, help="Project id or name.")
        parser.add_argument(
            "--strategy",
            action="append",
            default=None,
            help="Strategy to compare with random (repeat for several; default: entropy and margin).",
        )
        parser.add_argument("--rounds", type=int, default=18)
        parser.add_argument("--batch", type=int, default=25)
        parser.add_argument(
            "--initial", type=int, default=None, help="Random seed labels (default: --batch)."
        )
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")

    def handle(self, *args, project, strategy, rounds, batch, initial, seed, device, **options):
        if rounds < 1 or batch < 1:
            raise CommandError("--rounds and --batch must be at least 1")
        try:
            run = simulate(
                find_project(project),
                strategy or ["entropy", "margin"],
                rounds=rounds,
                batch=batch,
                initial=initial,
                seed=seed,
                device=device,
            )
        except DomainError as error:
            raise CommandError(error.message) from error
        except ValueError as exc:  # resolve_device: CUDA asked for on a machine without it
            raise CommandError(str(exc)) from exc
        summary = run.summary
        self.stdout.write(f"simulation {run.pk} in {run.seconds:.1f} s")
        self.stdout.write(
            f"random: {summary['random_final_accuracy']:.3f} accuracy with {summary['random_final_labels']} labels"
        )
        for name, needed in summary["labels_to_match_random"].items():
            ratio = summary["label_ratio"][name]
            reached = f"{needed} labels ({ratio:.0%} of random's)" if needed else "never reached it"
            self.stdout.write(f"  {name:<18} {reached}")
        self.stdout.write(
            self.style.SUCCESS(f"curve: {run.csv_path} and {run.png_path} under LABELHUB_DATA_DIR")
        )
