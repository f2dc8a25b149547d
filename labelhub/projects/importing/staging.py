"""The per-import staging table: validated rows go in (COPY), set-based checks, one final insert.

Nothing touches ``projects_item`` until every line has passed: duplicates and external-id clashes
are found with SQL against the staging table, and :meth:`Staging.move_into_items` is the one
statement that writes items (inside the service's short transaction).
"""

# ruff: noqa: S608 - table names below come from model meta and integer ids; values are always parameters.
from __future__ import annotations

from collections.abc import Iterator

from django.db import connection
from django.utils import timezone

from labelhub.projects.importing.errors import line_error
from labelhub.projects.importing.records import MAX_ERRORS, StagedRow
from labelhub.projects.models import ImportBatch, Item, Project

#: Rows an import must add before the items table's planner statistics are refreshed with it.
ANALYZE_FROM = 10_000


class Staging:
    """A per-import temporary table; session-local, so invisible to every other connection."""

    COLUMNS = ("line", "external_id", "payload", "content_hash", "suggestion", "annotations")

    def __init__(self, batch: ImportBatch):
        self.name = f"import_stage_{batch.pk}"
        self.postgres = connection.vendor == "postgresql"
        self.has_annotations = False

    def __enter__(self) -> Staging:
        with connection.cursor() as cursor:
            if self.postgres:
                # Commits here are progress rows and the one final move; losing them in a crash
                # leaves a batch marked "running" and no items, which is consistent, so do not
                # wait for the WAL flush. Enough work_mem keeps the duplicate joins in memory.
                cursor.execute("SET synchronous_commit TO off")
                cursor.execute("SET work_mem TO '64MB'")
            # jsonb on PostgreSQL: the server parses payloads during COPY, while Python is still
            # reading the file, instead of in the final INSERT, which nothing overlaps.
            json_type = "jsonb" if self.postgres else "text"
            cursor.execute(
                f"CREATE TEMPORARY TABLE {self.name} (line integer NOT NULL, external_id varchar(255) "
                f"NOT NULL, payload {json_type} NOT NULL, content_hash varchar(64) NOT NULL, "
                f"suggestion {json_type}, annotations text)"
            )
        return self

    def __exit__(self, *exc_info) -> None:
        if connection.needs_rollback:
            return  # the enclosing transaction is broken and rolls the table back with it
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE IF EXISTS {self.name}")
            if self.postgres:
                cursor.execute("RESET synchronous_commit")
                cursor.execute("RESET work_mem")

    def write(self, rows: list[StagedRow]) -> None:
        self.has_annotations = self.has_annotations or any(row.annotations for row in rows)
        with connection.cursor() as cursor:
            if self.postgres:
                copy_sql = f"COPY {self.name} ({', '.join(self.COLUMNS)}) FROM STDIN"
                with cursor.cursor.copy(copy_sql) as copy:
                    for row in rows:
                        copy.write_row(row)
            else:
                cursor.executemany(f"INSERT INTO {self.name} VALUES (%s, %s, %s, %s, %s, %s)", rows)

    def drop_duplicates(self, project: Project, *, project_has_items: bool = True) -> int:
        """Delete rows whose content is repeated in the file (keeping the first) or already in the project.

        Grouping finds the (usually few) repeated hashes with one hash aggregate; that beat
        indexing the staging table and self-joining it by 3× at a million rows. A project without
        items needs no lookup per row (a first bulk import skips a million index probes).
        """
        item_table = Item._meta.db_table
        with connection.cursor() as cursor:
            if self.postgres:
                cursor.execute(f"ANALYZE {self.name}")  # temp tables are never auto-analysed
            cursor.execute(
                f"CREATE TEMPORARY TABLE {self.name}_dup AS SELECT content_hash, MIN(line) AS first_line "
                f"FROM {self.name} GROUP BY content_hash HAVING COUNT(*) > 1"
            )
            cursor.execute(
                f"DELETE FROM {self.name} WHERE EXISTS (SELECT 1 FROM {self.name}_dup dup "
                f"WHERE dup.content_hash = {self.name}.content_hash AND {self.name}.line > dup.first_line)"
            )
            in_file = max(cursor.rowcount, 0)
            cursor.execute(f"DROP TABLE {self.name}_dup")
            if not project_has_items:
                return in_file
            cursor.execute(
                f"DELETE FROM {self.name} WHERE EXISTS (SELECT 1 FROM {item_table} item "
                f"WHERE item.project_id = %s AND item.content_hash = {self.name}.content_hash)",
                [project.pk],
            )
            return in_file + max(cursor.rowcount, 0)

    def external_id_clashes(self, project: Project, *, project_has_items: bool = True) -> list[dict]:
        """Different content under one external id: in the file twice, or already in the project."""
        item_table = Item._meta.db_table
        errors = []
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT stage.line, stage.external_id FROM {self.name} stage JOIN (SELECT external_id, "
                f"MIN(line) AS first_line FROM {self.name} GROUP BY external_id HAVING COUNT(*) > 1) dup "
                "ON dup.external_id = stage.external_id AND stage.line > dup.first_line "
                f"ORDER BY stage.line LIMIT {MAX_ERRORS}"
            )
            for line, external_id in cursor.fetchall():
                errors.append(
                    line_error(
                        line,
                        "external_id",
                        "duplicate_external_id",
                        f"{external_id!r} is used by an earlier line with other content",
                    )
                )
            if not project_has_items:
                return errors[:MAX_ERRORS]
            cursor.execute(
                f"SELECT line, external_id FROM {self.name} WHERE EXISTS (SELECT 1 FROM {item_table} item "
                f"WHERE item.project_id = %s AND item.external_id = {self.name}.external_id) "
                f"ORDER BY line LIMIT {MAX_ERRORS}",
                [project.pk],
            )
            for line, external_id in cursor.fetchall():
                errors.append(
                    line_error(
                        line,
                        "external_id",
                        "external_id_taken",
                        f"{external_id!r} already names another item in this project",
                    )
                )
        return sorted(errors, key=lambda e: e["line"])[:MAX_ERRORS]

    def move_into_items(self, project: Project, batch: ImportBatch) -> int:
        item_table = Item._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"INSERT INTO {item_table} (project_id, external_id, payload, content_hash, import_batch_id, "
                f"suggestion, created_at) SELECT %s, external_id, payload, content_hash, %s, "
                f"suggestion, %s FROM {self.name} WHERE 1 = 1 "
                "ON CONFLICT (project_id, content_hash) DO NOTHING",
                [project.pk, batch.pk, timezone.now()],
            )
            moved = cursor.rowcount
            if connection.vendor == "postgresql" and moved >= ANALYZE_FROM:
                # The planner's picture of the items table is otherwise the one before the import
                # until autovacuum gets to it; queries right after a big import (the first round's
                # resolved labels: a nested loop over a "tiny" table, minutes on 1M items) would plan
                # on it. Sampling costs a fraction of a second and commits with the import.
                cursor.execute(f"ANALYZE {item_table}")
            return moved

    def count(self) -> int:
        with connection.cursor() as cursor:
            cursor.execute(f"SELECT COUNT(*) FROM {self.name}")
            return cursor.fetchone()[0]

    def annotation_rows(self, batch: ImportBatch) -> Iterator[tuple[int, str]]:
        item_table = Item._meta.db_table
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT item.id, stage.annotations FROM {self.name} stage JOIN {item_table} item "
                "ON item.project_id = %s AND item.content_hash = stage.content_hash "
                "WHERE stage.annotations IS NOT NULL AND item.import_batch_id = %s ORDER BY stage.line",
                [batch.project_id, batch.pk],
            )
            while chunk := cursor.fetchmany(2000):
                yield from chunk
