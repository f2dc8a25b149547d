"""PostgreSQL triggers that make the weak labels frozen into a snapshot as immutable as its items.

The weak source and its labels are inserted during the cut, before the snapshot is sealed: after
that an insert is refused (and one for a missing snapshot), every update is refused, and a delete is
refused unless the snapshot itself goes in the same transaction. That last check is a deferred
constraint trigger, run at commit: Django's cascade deletes the weak rows before their snapshot, so
removing a whole project still works. SQLite relies on the model guards only, as for the items.
"""

from django.db import migrations

TABLES = ("snapshots_snapshotweaklabel", "snapshots_snapshotweaksource")

CREATE = """
CREATE OR REPLACE FUNCTION snapshots_refuse_weak_update() RETURNS trigger AS $$
BEGIN
    RAISE EXCEPTION 'weak labels frozen into a snapshot cannot be changed';
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION snapshots_refuse_weak_insert_into_sealed() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows n LEFT JOIN snapshots_snapshot s ON s.id = n.snapshot_id
               WHERE s.id IS NULL OR s.sealed_at IS NOT NULL) THEN
        RAISE EXCEPTION 'cannot add weak labels to a sealed or missing snapshot';
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE OR REPLACE FUNCTION snapshots_refuse_weak_delete_of_kept() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM snapshots_snapshot WHERE id = OLD.snapshot_id AND sealed_at IS NOT NULL) THEN
        RAISE EXCEPTION 'weak labels of sealed snapshot % cannot be deleted', OLD.snapshot_id;
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;
"""

PER_TABLE = """
CREATE TRIGGER {table}_no_update BEFORE UPDATE ON {table}
    FOR EACH ROW EXECUTE FUNCTION snapshots_refuse_weak_update();
CREATE TRIGGER {table}_insert_unsealed AFTER INSERT ON {table}
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION snapshots_refuse_weak_insert_into_sealed();
CREATE CONSTRAINT TRIGGER {table}_delete_with_snapshot AFTER DELETE ON {table}
    DEFERRABLE INITIALLY DEFERRED
    FOR EACH ROW EXECUTE FUNCTION snapshots_refuse_weak_delete_of_kept();
"""

DROP_PER_TABLE = """
DROP TRIGGER IF EXISTS {table}_delete_with_snapshot ON {table};
DROP TRIGGER IF EXISTS {table}_insert_unsealed ON {table};
DROP TRIGGER IF EXISTS {table}_no_update ON {table};
"""

DROP = """
DROP FUNCTION IF EXISTS snapshots_refuse_weak_delete_of_kept();
DROP FUNCTION IF EXISTS snapshots_refuse_weak_insert_into_sealed();
DROP FUNCTION IF EXISTS snapshots_refuse_weak_update();
"""


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE + "".join(PER_TABLE.format(table=t) for t in TABLES), params=None)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute("".join(DROP_PER_TABLE.format(table=t) for t in TABLES) + DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("snapshots", "0006_weak_labels_as_a_separate_source")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
