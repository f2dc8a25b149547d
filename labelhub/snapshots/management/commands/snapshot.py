"""``manage.py snapshot --project <id or name> [--name …] [--ratios 0.8,0.1,0.1] [--stratify]
[--split-key project|external_id]``"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from labelhub.errors import DomainError
from labelhub.projects.models import Project
from labelhub.snapshots import services


class Command(BaseCommand):
    help = "Cut an immutable snapshot of a project's resolved labels and print its id."

    def add_arguments(self, parser) -> None:
        parser.add_argument("--project", required=True, help="Project id or exact name.")
        parser.add_argument("--name", default="", help="A human name for the snapshot.")
        parser.add_argument("--ratios", default="", help="train,val,test split ratios, e.g. 0.8,0.1,0.1")
        parser.add_argument("--stratify", action="store_true", help="Stratify new items by class.")
        parser.add_argument(
            "--split-key",
            default="project",
            help="project (default): splits hash project and external id; external_id: the external id "
            "alone, so an item keeps its split in every project it is imported into.",
        )

    def handle(self, *args, **options) -> None:
        ref = options["project"]
        project = Project.objects.filter(pk=int(ref)).first() if ref.isdigit() else None
        project = project or Project.objects.filter(name=ref).first()
        if project is None:
            raise CommandError(f"--project: no project with id or name {ref!r}")
        ratios = None
        if options["ratios"]:
            parts = options["ratios"].split(",")
            if len(parts) != 3:
                raise CommandError(
                    f"--ratios: expected three numbers train,val,test, got {options['ratios']!r}"
                )
            ratios = dict(zip(("train", "val", "test"), parts, strict=True))
        try:
            snapshot, created = services.cut_snapshot(
                project,
                name=options["name"],
                ratios=ratios,
                stratify=options["stratify"],
                split_key=options["split_key"],
            )
        except DomainError as error:
            option = (error.field or "").split(".")[0]  # "ratios.val" is the --ratios option
            prefix = f"--{option.replace('_', '-')}: " if option in ("project", "ratios", "split_key") else ""
            raise CommandError(f"{prefix}{error.message}") from None
        state = "created" if created else "unchanged (existing snapshot)"
        splits = snapshot.stats.get("splits", {})
        self.stderr.write(
            f"{state}: {snapshot.item_count} items, train {splits.get('train', 0)} / val {splits.get('val', 0)}"
            f" / test {splits.get('test', 0)}"
        )
        self.stdout.write(snapshot.content_hash)
