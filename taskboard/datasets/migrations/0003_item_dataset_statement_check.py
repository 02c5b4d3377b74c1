"""The item's dataset is checked once per statement, not once per row.

PostgreSQL's foreign key ran one lookup of the dataset for every inserted item: it made a COPY of a
million items into the items table about 70% slower than the same COPY without it. Like the task
items' (annotation 0004), it becomes statement-level triggers on PostgreSQL:

- an insert checks its rows' datasets in one join over the transition table, and takes FOR KEY SHARE
  on them as the foreign key did, so a dataset cannot be deleted under an import that has not committed;
- an update that changes an item's dataset is checked row by row (it never happens in bulk);
- deleting a dataset is refused while items still point at it (the ORM's cascade deletes them first).

SQLite keeps its foreign key: dropping it would rebuild the table, which the task item triggers that
name datasets_item do not survive, and SQLite checks it in C at little cost.
"""

import django.db.models.deletion
from django.db import migrations, models

PG_FORWARD = """
DO $$
DECLARE fk text;
BEGIN
    FOR fk IN SELECT conname FROM pg_constraint
              WHERE contype = 'f' AND conrelid = 'datasets_item'::regclass AND confrelid = 'datasets_dataset'::regclass
    LOOP
        EXECUTE format('ALTER TABLE datasets_item DROP CONSTRAINT %I', fk);
    END LOOP;
END $$;

CREATE OR REPLACE FUNCTION datasets_item_check_dataset_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM (SELECT DISTINCT dataset_id FROM new_rows) n
        WHERE NOT EXISTS (SELECT 1 FROM datasets_dataset d WHERE d.id = n.dataset_id)
    ) THEN
        RAISE EXCEPTION 'datasets_item: a row points at a missing dataset' USING ERRCODE = 'foreign_key_violation';
    END IF;
    PERFORM 1 FROM datasets_dataset d WHERE d.id IN (SELECT DISTINCT dataset_id FROM new_rows) FOR KEY SHARE;
    RETURN NULL;
END $$;
CREATE TRIGGER datasets_item_check_dataset_insert AFTER INSERT ON datasets_item
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION datasets_item_check_dataset_rows();

CREATE OR REPLACE FUNCTION datasets_item_check_dataset_row() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM 1 FROM datasets_dataset d WHERE d.id = NEW.dataset_id FOR KEY SHARE;
    IF NOT FOUND THEN
        RAISE EXCEPTION 'datasets_item: a row points at a missing dataset' USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER datasets_item_check_dataset_update BEFORE UPDATE OF dataset_id ON datasets_item
    FOR EACH ROW WHEN (OLD.dataset_id IS DISTINCT FROM NEW.dataset_id)
    EXECUTE FUNCTION datasets_item_check_dataset_row();

CREATE OR REPLACE FUNCTION datasets_dataset_item_check_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows o JOIN datasets_item i ON i.dataset_id = o.id) THEN
        RAISE EXCEPTION 'datasets_dataset: deleted rows are still referenced by datasets_item.dataset_id'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER datasets_dataset_item_check_delete AFTER DELETE ON datasets_dataset
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION datasets_dataset_item_check_delete();
"""

PG_BACKWARD = """
DROP TRIGGER IF EXISTS datasets_item_check_dataset_insert ON datasets_item;
DROP TRIGGER IF EXISTS datasets_item_check_dataset_update ON datasets_item;
DROP TRIGGER IF EXISTS datasets_dataset_item_check_delete ON datasets_dataset;
DROP FUNCTION IF EXISTS datasets_item_check_dataset_rows();
DROP FUNCTION IF EXISTS datasets_item_check_dataset_row();
DROP FUNCTION IF EXISTS datasets_dataset_item_check_delete();
ALTER TABLE datasets_item ADD CONSTRAINT datasets_item_dataset_id_2c594727_fk_datasets_dataset_id
    FOREIGN KEY (dataset_id) REFERENCES datasets_dataset (id) DEFERRABLE INITIALLY DEFERRED;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD, params=None)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD, params=None)


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0002_issue21_item_dataset_single_index"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="item",
                    name="dataset",
                    field=models.ForeignKey(
                        db_constraint=False,
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="items",
                        to="datasets.dataset",
                    ),
                ),
            ],
            database_operations=[migrations.RunPython(forward, backward, elidable=False)],
        ),
    ]
