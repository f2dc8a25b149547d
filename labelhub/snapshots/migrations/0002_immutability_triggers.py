"""PostgreSQL triggers that make a sealed snapshot immutable even to raw SQL.

A snapshot row may be updated only while it is unsealed (during its cut), apart from created_by; snapshot items may be
inserted only into an unsealed snapshot and never updated. Deletes stay possible so that removing a
whole project still cascades; the models and the admin refuse deletes on their own. SQLite relies on
the model guards only.
"""

from django.db import migrations

CREATE = """
CREATE OR REPLACE FUNCTION snapshots_refuse_sealed_update() RETURNS trigger AS $$
BEGIN
    -- created_by may still go NULL when that user is deleted (ON DELETE SET NULL); nothing else moves.
    IF OLD.sealed_at IS NOT NULL AND
       ROW(NEW.project_id, NEW.content_hash, NEW.name, NEW.split_ratios, NEW.stratified, NEW.item_count,
           NEW.class_names, NEW.guideline_versions, NEW.stats, NEW.created_at, NEW.sealed_at)
       IS DISTINCT FROM
       ROW(OLD.project_id, OLD.content_hash, OLD.name, OLD.split_ratios, OLD.stratified, OLD.item_count,
           OLD.class_names, OLD.guideline_versions, OLD.stats, OLD.created_at, OLD.sealed_at) THEN
        RAISE EXCEPTION 'snapshot % is sealed and cannot be changed', OLD.content_hash;
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER snapshots_snapshot_immutable BEFORE UPDATE ON snapshots_snapshot
    FOR EACH ROW EXECUTE FUNCTION snapshots_refuse_sealed_update();

CREATE OR REPLACE FUNCTION snapshots_refuse_item_change() RETURNS trigger AS $$
BEGIN
    IF TG_OP = 'UPDATE' THEN
        RAISE EXCEPTION 'snapshot items cannot be changed';
    END IF;
    RETURN NEW;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER snapshots_item_no_update BEFORE UPDATE ON snapshots_snapshotitem
    FOR EACH ROW EXECUTE FUNCTION snapshots_refuse_item_change();

CREATE OR REPLACE FUNCTION snapshots_refuse_insert_into_sealed() RETURNS trigger AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM new_rows n JOIN snapshots_snapshot s ON s.id = n.snapshot_id
               WHERE s.sealed_at IS NOT NULL) THEN
        RAISE EXCEPTION 'cannot add items to a sealed snapshot';
    END IF;
    RETURN NULL;
END $$ LANGUAGE plpgsql;

CREATE TRIGGER snapshots_item_insert_unsealed AFTER INSERT ON snapshots_snapshotitem
    REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION snapshots_refuse_insert_into_sealed();
"""

DROP = """
DROP TRIGGER IF EXISTS snapshots_item_insert_unsealed ON snapshots_snapshotitem;
DROP TRIGGER IF EXISTS snapshots_item_no_update ON snapshots_snapshotitem;
DROP TRIGGER IF EXISTS snapshots_snapshot_immutable ON snapshots_snapshot;
DROP FUNCTION IF EXISTS snapshots_refuse_insert_into_sealed();
DROP FUNCTION IF EXISTS snapshots_refuse_item_change();
DROP FUNCTION IF EXISTS snapshots_refuse_sealed_update();
"""


def create_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(CREATE, params=None)


def drop_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(DROP, params=None)


class Migration(migrations.Migration):
    dependencies = [("snapshots", "0001_snapshots_items_model_runs")]

    operations = [migrations.RunPython(create_triggers, drop_triggers)]
