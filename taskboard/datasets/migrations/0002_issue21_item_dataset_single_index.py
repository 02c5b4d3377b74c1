"""The item's index on dataset_id alone goes: item_dataset_dir_name and the filename's unique index both
lead with dataset_id and serve every lookup it did, and each index is a write on every imported row.

Only the index is dropped: an AlterField would make SQLite rebuild the table, which the task item
triggers that name datasets_item do not survive. The name is Django's own for that index, the same on
both databases."""

import django.db.models.deletion
from django.db import migrations, models

INDEX = "datasets_item_dataset_id_2c594727"


class Migration(migrations.Migration):
    dependencies = [
        ("datasets", "0001_initial"),
    ]

    operations = [
        migrations.SeparateDatabaseAndState(
            state_operations=[
                migrations.AlterField(
                    model_name="item",
                    name="dataset",
                    field=models.ForeignKey(
                        db_index=False,
                        on_delete=django.db.models.deletion.CASCADE,
                        related_name="items",
                        to="datasets.dataset",
                    ),
                ),
            ],
            database_operations=[
                migrations.RunSQL(
                    f"DROP INDEX IF EXISTS {INDEX}",
                    reverse_sql=f"CREATE INDEX {INDEX} ON datasets_item (dataset_id)",
                ),
            ],
        ),
    ]
