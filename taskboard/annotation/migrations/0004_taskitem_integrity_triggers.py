"""Set-based integrity for annotation_taskitem, whose foreign keys have no per-row constraints.

Per-row FK triggers made a million-row task insert several times slower than the insert itself.
On PostgreSQL, statement-level triggers check every inserted or updated row in one join over the
transition table, and deletes of referenced rows are refused while task items still point at them
(the ORM's cascade deletes the task items first, so ORM deletes work). On SQLite, row-level
triggers check inserts and updates.
"""

from django.db import migrations

PG_FORWARD = """
CREATE OR REPLACE FUNCTION annotation_taskitem_check_rows() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (
        SELECT 1 FROM new_rows n
        LEFT JOIN annotation_annotationtask t ON t.id = n.task_id
        LEFT JOIN datasets_item i ON i.id = n.item_id
        LEFT JOIN annotation_assignment a ON a.id = n.assignment_id
        WHERE t.id IS NULL OR i.id IS NULL OR a.id IS NULL
           OR a.task_id <> n.task_id OR i.dataset_id <> t.dataset_id
    ) THEN
        RAISE EXCEPTION 'annotation_taskitem: a row points at a missing task, item or assignment, '
            'at an assignment of another task or at an item of another dataset'
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

CREATE TRIGGER annotation_taskitem_check_insert AFTER INSERT ON annotation_taskitem
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION annotation_taskitem_check_rows();
CREATE TRIGGER annotation_taskitem_check_update AFTER UPDATE ON annotation_taskitem
    REFERENCING NEW TABLE AS new_rows FOR EACH STATEMENT EXECUTE FUNCTION annotation_taskitem_check_rows();
"""

# (table, taskitem column) whose deleted rows task items must no longer reference.
PG_REFERENCED = [
    ("datasets_item", "item_id"),
    ("annotation_assignment", "assignment_id"),
    ("annotation_annotationtask", "task_id"),
    ("accounts_user", "status_by_id"),
]


def pg_delete_check(table: str, column: str) -> str:
    return f"""
CREATE OR REPLACE FUNCTION {table}_taskitem_check_delete() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM old_rows o JOIN annotation_taskitem ti ON ti.{column} = o.id) THEN
        RAISE EXCEPTION '{table}: deleted rows are still referenced by annotation_taskitem.{column}'
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN NULL;
END $$;
CREATE TRIGGER {table}_taskitem_check_delete AFTER DELETE ON {table}
    REFERENCING OLD TABLE AS old_rows FOR EACH STATEMENT EXECUTE FUNCTION {table}_taskitem_check_delete();
"""


PG_BACKWARD = (
    "DROP TRIGGER IF EXISTS annotation_taskitem_check_insert ON annotation_taskitem;"
    "DROP TRIGGER IF EXISTS annotation_taskitem_check_update ON annotation_taskitem;"
    "DROP FUNCTION IF EXISTS annotation_taskitem_check_rows();"
    + "".join(
        f"DROP TRIGGER IF EXISTS {t}_taskitem_check_delete ON {t}; DROP FUNCTION IF EXISTS {t}_taskitem_check_delete();"
        for t, _ in PG_REFERENCED
    )
)

SQLITE_BODY = """
BEGIN
    SELECT RAISE(ABORT, 'annotation_taskitem: missing task or item, or an item of another dataset')
    WHERE NOT EXISTS (
        SELECT 1 FROM datasets_item i JOIN annotation_annotationtask t ON t.dataset_id = i.dataset_id
        WHERE i.id = NEW.item_id AND t.id = NEW.task_id
    );
    SELECT RAISE(ABORT, 'annotation_taskitem: missing assignment, or an assignment of another task')
    WHERE NOT EXISTS (SELECT 1 FROM annotation_assignment a WHERE a.id = NEW.assignment_id AND a.task_id = NEW.task_id);
    SELECT RAISE(ABORT, 'annotation_taskitem: status_by points at a missing user')
    WHERE NEW.status_by_id IS NOT NULL AND NOT EXISTS (SELECT 1 FROM accounts_user u WHERE u.id = NEW.status_by_id);
END;
"""
SQLITE_FORWARD = [
    "CREATE TRIGGER annotation_taskitem_check_insert BEFORE INSERT ON annotation_taskitem FOR EACH ROW" + SQLITE_BODY,
    "CREATE TRIGGER annotation_taskitem_check_update BEFORE UPDATE OF task_id, item_id, assignment_id, status_by_id "
    "ON annotation_taskitem FOR EACH ROW" + SQLITE_BODY,
]
SQLITE_BACKWARD = [
    "DROP TRIGGER IF EXISTS annotation_taskitem_check_insert",
    "DROP TRIGGER IF EXISTS annotation_taskitem_check_update",
]


def forward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_FORWARD)
        for table, column in PG_REFERENCED:
            schema_editor.execute(pg_delete_check(table, column))
    elif vendor == "sqlite":
        for sql in SQLITE_FORWARD:
            schema_editor.execute(sql)


def backward(apps, schema_editor):
    vendor = schema_editor.connection.vendor
    if vendor == "postgresql":
        schema_editor.execute(PG_BACKWARD)
    elif vendor == "sqlite":
        for sql in SQLITE_BACKWARD:
            schema_editor.execute(sql)


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0003_taskitem_indexes"),
        ("datasets", "0001_initial"),
        ("accounts", "0001_initial"),
    ]

    operations = [migrations.RunPython(forward, backward, elidable=False)]
