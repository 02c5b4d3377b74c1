"""PostgreSQL: check large task item statements with hash joins.

A statement of a million rows probed datasets_item's primary key once per row (a nested loop
the planner picks for transition tables); one hash join over the items is several times faster.
Small statements (a status change) keep the probe, which is what they need.
"""

from django.db import migrations

PG_FORWARD = """
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


class Migration(migrations.Migration):
    dependencies = [("annotation", "0006_taskitem_sqlite_trigger_one_statement")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop, elidable=False)]
