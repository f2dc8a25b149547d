"""`manage.py demo_data`: the demo projects from real data sets that ship offline (idempotent)."""

from __future__ import annotations

import time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from labelhub.projects import datasets, services
from labelhub.projects.label_config import ClassSpec
from labelhub.projects.models import Project, ProjectMembership

DIGITS_PROJECT = "Handwritten digits"
WORDNET_PROJECT = "WordNet glosses"
WORDNET_IMBALANCED_PROJECT = "WordNet nouns (imbalanced)"


class Command(BaseCommand):
    help = (
        "Create the demo projects: scikit-learn's digits (image) and WordNet glosses by lexicographer "
        "category (text). Ground truth is kept aside for simulation. Safe to run again."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--members",
            nargs="*",
            default=[],
            help="Usernames to add to both projects: staff become managers, others annotators.",
        )
        parser.add_argument("--wordnet-limit", type=int, default=None, help="Load at most N glosses.")
        parser.add_argument("--digits-limit", type=int, default=None, help="Load at most N digits.")
        parser.add_argument(
            "--wordnet-imbalanced",
            action="store_true",
            help=(
                f"Also create {WORDNET_IMBALANCED_PROJECT!r}: nine noun categories at their natural "
                "frequencies (the rarest 1.9 %%), the active-learning benchmark of issue 13."
            ),
        )
        parser.add_argument(
            "--wordnet-imbalanced-size",
            type=int,
            default=datasets.WORDNET_IMBALANCED_SIZE,
            help="Glosses in the imbalanced subset (default %(default)s).",
        )

    def handle(
        self,
        *args,
        members,
        wordnet_limit,
        digits_limit,
        wordnet_imbalanced=False,
        wordnet_imbalanced_size=datasets.WORDNET_IMBALANCED_SIZE,
        **options,
    ):
        users = [self._user(member) for member in members]
        projects = [self._digits(digits_limit)]
        wordnet = self._wordnet(wordnet_limit)
        if wordnet is not None:
            projects.append(wordnet)
        if wordnet_imbalanced:
            projects.append(self._wordnet_imbalanced(wordnet_imbalanced_size))
        for project in projects:
            for user in users:
                role = ProjectMembership.Role.MANAGER if user.is_staff else ProjectMembership.Role.ANNOTATOR
                services.set_membership(project, user, role)
                self.stdout.write(f"  {user.username} is {role} of {project.name}")

    def _user(self, member):
        if not isinstance(member, str):
            return member  # the `demo` command passes user objects
        try:
            return get_user_model().objects.get(username=member)
        except get_user_model().DoesNotExist as exc:
            raise CommandError(f"--members: no user named {member!r}") from exc

    def _digits(self, limit: int | None) -> Project:
        classes = [
            ClassSpec(name=d, key=d, colour=c)
            for d, c in zip(datasets.DIGIT_CLASSES, _palette(10), strict=True)
        ]
        return self._load(
            DIGITS_PROJECT,
            "image",
            classes,
            datasets.load_digits_records(limit),
            "scikit-learn's load_digits: 8×8 handwritten digits (UCI), shown upscaled. Press the digit.",
        )

    def _wordnet(self, limit: int | None) -> Project | None:
        if not datasets.wordnet_available():
            existing = Project.objects.filter(name=WORDNET_PROJECT).first()
            if existing is None:
                self.stdout.write(
                    self.style.WARNING(
                        f"skipped {WORDNET_PROJECT}: WordNet's data files are missing. Install Debian's "
                        "wordnet-base (`make system-deps`, or `sudo apt-get install wordnet-base`) and run "
                        "`manage.py demo_data` again."
                    )
                )
            return existing
        classes = services.assign_default_keys(
            [
                ClassSpec(name=n, colour=c)
                for n, c in zip(datasets.LEXNAMES, _palette(len(datasets.LEXNAMES)), strict=True)
            ]
        )
        return self._load(
            WORDNET_PROJECT,
            "text",
            classes,
            datasets.wordnet_gloss_records(limit=limit),
            "WordNet 3.0 glosses: which lexicographer category (noun.animal, verb.motion, …) is the synset in?",
        )

    def _wordnet_imbalanced(self, size: int) -> Project:
        if size < 1:
            raise CommandError(f"--wordnet-imbalanced-size: {size} is not a positive number of glosses")
        try:
            records = datasets.wordnet_imbalanced_records(size=size)
        except datasets.DatasetMissing as exc:
            raise CommandError(f"--wordnet-imbalanced: {exc}") from exc
        names = datasets.WORDNET_IMBALANCED_CLASSES
        classes = services.assign_default_keys(
            [ClassSpec(name=n, colour=c) for n, c in zip(names, _palette(len(names)), strict=True)]
        )
        return self._load(
            WORDNET_IMBALANCED_PROJECT,
            "text",
            classes,
            records,
            "WordNet 3.0 noun glosses in nine categories at their natural frequencies (noun.time is 1.9 %): "
            "which category is the synset in?",
        )

    def _load(self, name, modality, classes, records, description) -> Project:
        started = time.monotonic()
        project, batch = services.load_labelled_dataset(
            name=name, modality=modality, classes=classes, records=records, description=description
        )
        if batch is None:
            self.stdout.write(f"{name}: already loaded ({project.items.count()} items), left as is")
        else:
            self.stdout.write(
                self.style.SUCCESS(
                    f"{name}: {batch.imported_count} items in {project.classes.count()} classes "
                    f"({batch.duplicate_count} duplicates skipped, ground truth kept aside) "
                    f"in {time.monotonic() - started:.1f} s"
                )
            )
        return project


def _palette(count: int) -> list[str]:
    """``count`` distinct colours from matplotlib's qualitative maps (tab10, then tab20b/c)."""
    # heavy: matplotlib only for the demo's palette
    from matplotlib import colormaps
    from matplotlib.colors import to_hex

    colours = [to_hex(c) for name in ("tab10", "tab20b", "tab20c") for c in colormaps[name].colors]
    return [colours[i % len(colours)] for i in range(count)]
