"""`manage.py al_simulate`: active learning with an oracle, strategies vs random over several seeds, as CSV + PNG."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from active.devices import DEVICE_CHOICES
from active.heads import HEAD_KINDS
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
            help="Strategy to compare with random (repeat for several; default: auto and margin).",
        )
        parser.add_argument("--rounds", type=int, default=19)
        parser.add_argument("--batch", type=int, default=25)
        parser.add_argument("--initial", type=int, default=None, help="Starting labels (default: --batch).")
        parser.add_argument("--seed", type=int, default=0, help="The first seed.")
        parser.add_argument("--seeds", type=int, default=5, help="How many seeds (each its own split).")
        parser.add_argument(
            "--budget",
            type=int,
            default=None,
            help="Labels at which random's mean accuracy is the target (default 500, or the run's midpoint).",
        )
        parser.add_argument("--head", choices=["auto", *HEAD_KINDS], default="auto")
        parser.add_argument("--device", choices=DEVICE_CHOICES, default="auto")

    def handle(
        self, *args, project, strategy, rounds, batch, initial, seed, seeds, budget, head, device, **options
    ):
        if rounds < 1 or batch < 1 or seeds < 1:
            raise CommandError("--rounds, --batch and --seeds must be at least 1")
        try:
            run = simulate(
                find_project(project),
                strategy or ["auto", "margin"],
                rounds=rounds,
                batch=batch,
                initial=initial,
                seed=seed,
                seeds=seeds,
                budget=budget,
                head=head,
                device=device,
            )
        except DomainError as error:
            raise CommandError(error.message) from error
        except ValueError as exc:  # resolve_device: CUDA asked for on a machine without it
            raise CommandError(str(exc)) from exc
        summary = run.summary
        self.stdout.write(f"simulation {run.pk} in {run.seconds:.1f} s, seeds {summary['seeds']}")
        self.stdout.write(
            f"target: random's mean accuracy at {summary['budget']} labels, {summary['target_accuracy']:.3f}"
        )
        for name, reach in summary["labels_to_reach"].items():
            here = summary["at_budget"][name]
            needed = (
                f"{reach['mean']:.0f} ± {reach['sd']:.0f} labels ({reach['reached']}/{len(summary['seeds'])} seeds)"
                if reach["mean"] is not None
                else "not reached"
            )
            self.stdout.write(
                f"  {name:<16} {needed:<32} at {summary['budget']}: accuracy {here['accuracy']['mean']:.3f}, "
                f"macro recall {here['macro_recall']['mean']:.3f}, AULC {summary['aulc'][name]['mean']:.3f}"
            )
        self.stdout.write(summary["verdict"])
        self.stdout.write(
            self.style.SUCCESS(f"curve: {run.csv_path} and {run.png_path} under LABELHUB_DATA_DIR")
        )
