"""An index for the commitments table filtered by status and sorted by latest update, newest first (empty
last), over the public commitments only: a page of it is then read in order, whatever the number of matches,
instead of sorting every match. The order is the table's (latest update, then title, both descending with
empty values last, then id).

The model declares it (so that Django keeps it when SQLite rebuilds the table), but it is created here by
hand: the two databases spell "empty last" differently, and SQLite accepts no NULLS LAST in an index (its
descending order puts empty values last already, which is what the model's declaration gives it)."""

from django.db import migrations, models

NAME = "commitment_public_status_last"
COLUMNS = {
    "sqlite": "current_status, last_update_on DESC, title DESC, id",
    "postgresql": "current_status, last_update_on DESC NULLS LAST, title DESC NULLS LAST, id",
}


def create(apps, schema_editor):
    columns = COLUMNS[schema_editor.connection.vendor]
    schema_editor.execute(f"CREATE INDEX {NAME} ON aitracker_commitment ({columns}) WHERE deleted_at IS NULL")


def drop(apps, schema_editor):
    schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("aitracker", "0005_table_order_indexes")]

    operations = [
        migrations.SeparateDatabaseAndState(
            database_operations=[migrations.RunPython(create, drop)],
            state_operations=[
                migrations.AddIndex(
                    model_name="commitment",
                    index=models.Index(
                        condition=models.Q(deleted_at__isnull=True),
                        fields=["current_status", "-last_update_on", "-title", "id"],
                        name=NAME,
                    ),
                )
            ],
        )
    ]
