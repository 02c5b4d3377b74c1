"""PostgreSQL: the task item check hashes the items only for a statement that is a good share of them.

A hash join reads every item; it beats a probe per row only when the statement carries many of
them. A job inserts a million rows in runs of 50,000 so that its progress moves, and a hash over
all items per run cost more than the runs' probes (13 s against 6 s for the whole task at 1M).
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION annotation_taskitem_check_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    bad boolean;
    nestloop text;
    items real;
BEGIN
    -- Tasks and assignments: a handful of distinct pairs per statement.
    IF EXISTS (
        SELECT 1 FROM (SELECT DISTINCT task_id, assignment_id FROM new_rows) p
        LEFT JOIN annotation_annotationtask t ON t.id = p.task_id
        LEFT JOIN annotation_assignment a ON a.id = p.assignment_id
        WHERE t.id IS NULL OR a.id IS NULL OR a.task_id <> p.task_id
    ) THEN
        RAISE EXCEPTION 'annotation_taskitem: a row points at a missing task or assignment, '
            'or at an assignment of another task' USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT count(*) INTO n FROM new_rows;
    -- A hash join reads every item: worth it only for a good share of them. reltuples is the
    -- planner's estimate (-1 or 0 before the first ANALYZE: then the size alone decides).
    SELECT reltuples INTO items FROM pg_class WHERE oid = 'datasets_item'::regclass;
    IF n > 5000 AND (items <= 0 OR n * 20 > items) THEN
        nestloop := current_setting('enable_nestloop');
        PERFORM set_config('enable_nestloop', 'off', true);
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM new_rows n JOIN annotation_annotationtask t ON t.id = n.task_id '
             || 'WHERE NOT EXISTS (SELECT 1 FROM datasets_item i WHERE i.id = n.item_id AND i.dataset_id = t.dataset_id))'
            INTO bad;
        PERFORM set_config('enable_nestloop', nestloop, true);
    ELSE
        SELECT EXISTS (
            SELECT 1 FROM new_rows n JOIN annotation_annotationtask t ON t.id = n.task_id
            WHERE NOT EXISTS (SELECT 1 FROM datasets_item i WHERE i.id = n.item_id AND i.dataset_id = t.dataset_id)
        ) INTO bad;
    END IF;
    IF bad THEN
        RAISE EXCEPTION 'annotation_taskitem: a row points at a missing item or at an item of another dataset'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF EXISTS (
        SELECT 1 FROM new_rows n
        WHERE n.status_by_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM accounts_user u WHERE u.id = n.status_by_id)
    ) THEN
        RAISE EXCEPTION 'annotation_taskitem: status_by points at a missing user'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
"""


PG_BACKWARD = """
CREATE OR REPLACE FUNCTION annotation_taskitem_check_rows() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    n bigint;
    bad boolean;
    nestloop text;
BEGIN
    -- Tasks and assignments: a handful of distinct pairs per statement.
    IF EXISTS (
        SELECT 1 FROM (SELECT DISTINCT task_id, assignment_id FROM new_rows) p
        LEFT JOIN annotation_annotationtask t ON t.id = p.task_id
        LEFT JOIN annotation_assignment a ON a.id = p.assignment_id
        WHERE t.id IS NULL OR a.id IS NULL OR a.task_id <> p.task_id
    ) THEN
        RAISE EXCEPTION 'annotation_taskitem: a row points at a missing task or assignment, '
            'or at an assignment of another task' USING ERRCODE = 'foreign_key_violation';
    END IF;
    SELECT count(*) INTO n FROM new_rows;
    IF n > 5000 THEN
        nestloop := current_setting('enable_nestloop');
        PERFORM set_config('enable_nestloop', 'off', true);
        EXECUTE 'SELECT EXISTS (SELECT 1 FROM new_rows n JOIN annotation_annotationtask t ON t.id = n.task_id '
             || 'WHERE NOT EXISTS (SELECT 1 FROM datasets_item i WHERE i.id = n.item_id AND i.dataset_id = t.dataset_id))'
            INTO bad;
        PERFORM set_config('enable_nestloop', nestloop, true);
    ELSE
        SELECT EXISTS (
            SELECT 1 FROM new_rows n JOIN annotation_annotationtask t ON t.id = n.task_id
            WHERE NOT EXISTS (SELECT 1 FROM datasets_item i WHERE i.id = n.item_id AND i.dataset_id = t.dataset_id)
        ) INTO bad;
    END IF;
    IF bad THEN
        RAISE EXCEPTION 'annotation_taskitem: a row points at a missing item or at an item of another dataset'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    IF EXISTS (
        SELECT 1 FROM new_rows n
        WHERE n.status_by_id IS NOT NULL
          AND NOT EXISTS (SELECT 1 FROM accounts_user u WHERE u.id = n.status_by_id)
    ) THEN
        RAISE EXCEPTION 'annotation_taskitem: status_by points at a missing user'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
"""


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_FORWARD)


def backward(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD)


class Migration(migrations.Migration):
    dependencies = [("annotation", "0008_assignment_claimed_count")]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
