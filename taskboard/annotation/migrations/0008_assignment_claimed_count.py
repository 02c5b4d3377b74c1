"""Claims stop writing the pulling queue's row: a work assignment counts what it claimed, and the
queue's item_count becomes its intake (what is still queued plus everything claimed from it).
Existing rows are converted set-based: claimed_count from the claim records, then the queues.

SQLite adds a NOT NULL column by rebuilding the table, which leaves task items' row triggers
pointing at the dropped original: they are dropped first and made again after (0006's)."""

import importlib

from django.db import migrations, models
from django.db.models import OuterRef, Subquery, Sum
from django.db.models.functions import Coalesce


def forward(apps, schema_editor):
    Assignment = apps.get_model("annotation", "Assignment")
    HoldingChange = apps.get_model("annotation", "HoldingChange")
    claims = (
        HoldingChange.objects.filter(kind="claim", to_assignment_id=OuterRef("pk"))
        .order_by()
        .values("to_assignment_id")
        .annotate(n=Sum("count"))
        .values("n")
    )
    Assignment.objects.filter(kind="work", task__allocation="pulling").update(
        claimed_count=Coalesce(Subquery(claims), 0)
    )
    claimed = (
        Assignment.objects.filter(task_id=OuterRef("task_id"), kind="work")
        .order_by()
        .values("task_id")
        .annotate(n=Sum("claimed_count"))
        .values("n")
    )
    Assignment.objects.filter(kind="queue").update(item_count=models.F("item_count") + Coalesce(Subquery(claimed), 0))


TRIGGERS = importlib.import_module("taskboard.annotation.migrations.0006_taskitem_sqlite_trigger_one_statement")


def drop_sqlite_triggers(apps, schema_editor):
    if schema_editor.connection.vendor == "sqlite":
        for sql in TRIGGERS.FORWARD[:2]:  # the two DROP TRIGGER statements
            schema_editor.execute(sql)


def backward(apps, schema_editor):
    Assignment = apps.get_model("annotation", "Assignment")
    claimed = (
        Assignment.objects.filter(task_id=OuterRef("task_id"), kind="work")
        .order_by()
        .values("task_id")
        .annotate(n=Sum("claimed_count"))
        .values("n")
    )
    Assignment.objects.filter(kind="queue").update(item_count=models.F("item_count") - Coalesce(Subquery(claimed), 0))


class Migration(migrations.Migration):
    dependencies = [
        ("annotation", "0007_taskitem_pg_check_hash_joins"),
    ]

    operations = [
        migrations.RunPython(drop_sqlite_triggers, TRIGGERS.forward),
        migrations.AddField(
            model_name="assignment",
            name="claimed_count",
            field=models.PositiveIntegerField(default=0),
        ),
        migrations.RunPython(TRIGGERS.forward, drop_sqlite_triggers),
        migrations.RunPython(forward, backward),
    ]
