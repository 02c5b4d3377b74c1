"""SQLite: one statement per checked row instead of three (row triggers pay per statement)."""

from django.db import migrations

SQLITE_BODY = """
BEGIN
    SELECT RAISE(ABORT, 'annotation_taskitem: missing or mismatched task, item, assignment or status_by user')
    WHERE NOT EXISTS (
        SELECT 1 FROM annotation_assignment a
        JOIN annotation_annotationtask t ON t.id = a.task_id
        JOIN datasets_item i ON i.dataset_id = t.dataset_id
        WHERE a.id = NEW.assignment_id AND t.id = NEW.task_id AND i.id = NEW.item_id
    ) OR (NEW.status_by_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM accounts_user u WHERE u.id = NEW.status_by_id));
END;
"""
FORWARD = [
    "DROP TRIGGER IF EXISTS annotation_taskitem_check_insert",
    "DROP TRIGGER IF EXISTS annotation_taskitem_check_update",
    "CREATE TRIGGER annotation_taskitem_check_insert BEFORE INSERT ON annotation_taskitem FOR EACH ROW" + SQLITE_BODY,
    "CREATE TRIGGER annotation_taskitem_check_update BEFORE UPDATE OF task_id, item_id, assignment_id, status_by_id "
    "ON annotation_taskitem FOR EACH ROW" + SQLITE_BODY,
]


def forward(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in FORWARD:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [("annotation", "0005_task_recipe_restrict")]

    operations = [migrations.RunPython(forward, migrations.RunPython.noop, elidable=False)]
