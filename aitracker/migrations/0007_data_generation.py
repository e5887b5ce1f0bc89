"""The data generation in the database (aitracker/cache.py): one row, created here, that every write the public
can see increases in its own transaction."""

import time

from django.db import migrations, models


def create_row(apps, schema_editor):
    # Start from a number never used before (nanoseconds since 1970), not 0: a database created anew next to a
    # cache that still holds pages of the old one must not find them under its first generations.
    apps.get_model("aitracker", "DataGeneration").objects.using(schema_editor.connection.alias).create(
        pk=1, value=time.time_ns()
    )


class Migration(migrations.Migration):
    dependencies = [
        ("aitracker", "0006_commitment_status_latest_index"),
    ]

    operations = [
        migrations.CreateModel(
            name="DataGeneration",
            fields=[
                ("id", models.BigAutoField(auto_created=True, primary_key=True, serialize=False, verbose_name="ID")),
                ("value", models.BigIntegerField(verbose_name="value")),
            ],
            options={
                "verbose_name": "data generation",
                "verbose_name_plural": "data generations",
            },
        ),
        migrations.RunPython(create_row, migrations.RunPython.noop),
    ]
