from django.db import migrations, models
from django.db.models import Count


def backfill(apps, schema_editor):
    """The tallies so far learn what the change records say QA sent back (one GROUP BY, once)."""
    HoldingChange = apps.get_model("annotation", "HoldingChange")
    ReviewTally = apps.get_model("dashboards", "ReviewTally")
    rows = (
        HoldingChange.objects.filter(kind="rework", to_assignment__assignee__isnull=False)
        .order_by()
        .values("task_id", "to_assignment__assignee_id")
        .annotate(n=Count("id"))
        .values_list("task_id", "to_assignment__assignee_id", "n")
    )
    for task_id, annotator_id, n in rows:
        ReviewTally.objects.update_or_create(task_id=task_id, annotator_id=annotator_id, defaults={"sent_back": n})


class Migration(migrations.Migration):
    dependencies = [
        ("dashboards", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="reviewtally",
            name="sent_back",
            field=models.IntegerField(default=0),
        ),
        migrations.RunPython(backfill, migrations.RunPython.noop),
    ]
