"""An index for the commitments table filtered by status and sorted by latest update, newest first (empty
last), over the public commitments only: a page of it is then read in order, whatever the number of matches,
instead of sorting every match. Written by hand because the two databases spell "empty last" differently and
SQLite accepts no NULLS LAST in an index (its descending order puts empty values last already)."""

from django.db import migrations

NAME = "commitment_public_status_latest"
COLUMNS = {
    "sqlite": "current_status, last_update_on DESC, id",
    "postgresql": "current_status, last_update_on DESC NULLS LAST, id",
}


def create(apps, schema_editor):
    columns = COLUMNS.get(schema_editor.connection.vendor)
    if columns:
        schema_editor.execute(f"CREATE INDEX {NAME} ON aitracker_commitment ({columns}) WHERE deleted_at IS NULL")


def drop(apps, schema_editor):
    if schema_editor.connection.vendor in COLUMNS:
        schema_editor.execute(f"DROP INDEX IF EXISTS {NAME}")


class Migration(migrations.Migration):
    dependencies = [("aitracker", "0005_table_order_indexes")]

    operations = [migrations.RunPython(create, drop)]
