from django.db import migrations, models
from django.db.models import F


def from_installed_at(apps, schema_editor):
    # Pipelines installed before: uploads from their last install on enter.
    Pipeline = apps.get_model("pipelines", "Pipeline")
    Pipeline.objects.filter(installed_at__isnull=False).update(intake_since=F("installed_at"))


class Migration(migrations.Migration):
    dependencies = [
        ("pipelines", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="pipeline",
            name="intake_since",
            field=models.DateTimeField(blank=True, null=True),
        ),
        migrations.RunPython(from_installed_at, migrations.RunPython.noop),
    ]
