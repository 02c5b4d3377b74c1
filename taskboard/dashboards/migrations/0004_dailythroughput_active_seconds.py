from django.db import migrations, models
from django.db.models import F, Sum
from django.db.models.functions import TruncDate


def backfill(apps, schema_editor):
    """Active time so far, from the work view's per-item times, on the day of each item's last beat."""
    ItemTime = apps.get_model("work", "ItemTime")
    DailyThroughput = apps.get_model("dashboards", "DailyThroughput")
    rows = (
        ItemTime.objects.order_by()
        .values("task_id", "assignment_id", day=TruncDate("ended_at"))
        .annotate(seconds=Sum("active_seconds"))
    )
    for r in rows:
        row, created = DailyThroughput.objects.get_or_create(
            task_id=r["task_id"],
            assignment_id=r["assignment_id"],
            day=r["day"],
            defaults={"active_seconds": r["seconds"] or 0.0},
        )
        if not created:
            DailyThroughput.objects.filter(pk=row.pk).update(
                active_seconds=F("active_seconds") + (r["seconds"] or 0.0)
            )


class Migration(migrations.Migration):
    dependencies = [
        ("dashboards", "0003_consensustally"),
        ("work", "0002_assignmenttime"),
    ]

    operations = [
        migrations.AddField(
            model_name="dailythroughput",
            name="active_seconds",
            field=models.FloatField(db_default=0, default=0),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
