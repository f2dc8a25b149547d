"""`manage.py import_items --project P FILE`: import a file with a progress bar."""

from __future__ import annotations

import os

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from tqdm import tqdm

from labelhub.projects.importing import READERS, ImportRejected, format_for_filename, import_file
from labelhub.projects.models import Project


class _CountingReader:
    """Wraps a binary file and reports bytes read to a progress bar (total = file size)."""

    def __init__(self, raw, bar):
        self.raw = raw
        self.bar = bar

    def read(self, size: int = -1) -> bytes:
        chunk = self.raw.read(size)
        self.bar.update(len(chunk))
        return chunk

    def readline(self, size: int = -1) -> bytes:
        line = self.raw.readline(size)
        self.bar.update(len(line))
        return line


class Command(BaseCommand):
    help = "Import a JSONL, CSV or Label Studio JSON file into a project: every line or none."

    def add_arguments(self, parser):
        parser.add_argument("file")
        parser.add_argument("--project", required=True, help="Project id or name.")
        parser.add_argument("--format", choices=list(READERS), help="Default: from the extension.")
        parser.add_argument("--user", help="Username recorded as the importer.")
        parser.add_argument("--no-progress", action="store_true", help="No progress bar (logs, CI).")

    def handle(self, *args, file, project, format, user, no_progress, **options):
        target = self._project(project)
        fmt = format or format_for_filename(file)
        if fmt is None:
            raise CommandError(f"cannot tell the format of {file!r} from its extension: pass --format")
        importer = None
        if user:
            importer = get_user_model().objects.filter(username=user).first()
            if importer is None:
                raise CommandError(f"--user: no user named {user!r}")
        try:
            size = os.path.getsize(file)
            handle = open(file, "rb")  # noqa: SIM115 - closed below, after the bar
        except OSError as exc:
            raise CommandError(f"cannot read {file!r}: {exc}") from exc
        bar = tqdm(
            total=size, unit="B", unit_scale=True, desc="importing", disable=no_progress, file=self.stderr
        )
        try:
            batch = import_file(
                target,
                _CountingReader(handle, bar),
                fmt,
                user=importer,
                source="command",
                filename=os.path.basename(file),
                progress=lambda lines: bar.set_postfix_str(f"{lines:,} lines"),
            )
        except ImportRejected as rejected:
            bar.close()
            for error in rejected.errors:
                self.stderr.write(f"line {error['line']}, field {error['field']}: {error['detail']}")
            raise CommandError(
                f"rejected, nothing imported (batch {rejected.batch.pk if rejected.batch else '-'})"
            ) from None
        finally:
            handle.close()
        bar.close()
        self.stdout.write(
            self.style.SUCCESS(
                f"batch {batch.pk}: {batch.imported_count} items imported, {batch.duplicate_count} duplicates "
                f"skipped, {batch.annotation_count} annotations, {batch.lines_read} lines read"
            )
        )
        if batch.left_out:
            self.stdout.write(self.style.WARNING(f"left out: {batch.left_out}"))

    def _project(self, ref: str) -> Project:
        project = Project.objects.filter(pk=int(ref)).first() if ref.isdigit() else None
        project = project or Project.objects.filter(name=ref).first()
        if project is None:
            raise CommandError(f"--project: no project with id or name {ref!r}")
        return project
