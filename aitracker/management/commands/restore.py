"""`manage.py restore PATH`: load a backup written by `manage.py backup` into an empty, migrated database.

Refuses, changing nothing, when the file is not a complete backup (its manifest's counts and SHA-256 do not
match its records), when the database lacks a migration, or when it already holds data. Loads everything in
one transaction with the history switched off (the backup holds the history; loading must not add to it),
resets the PostgreSQL sequences, then checks the counts again before committing.
"""

import hashlib
import json
from collections import Counter
from pathlib import Path

from django.core import serializers
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import DEFAULT_DB_ALIAS, connection, transaction
from django.db.migrations.executor import MigrationExecutor
from django.test.utils import override_settings

from aitracker.cache import public_pages_changed
from aitracker.charts import status_changes_store
from aitracker.models import Commitment
from aitracker.search import search_index_rebuild
from aitracker.services import kept_counts_rebuild

from .backup import FORMAT, VERSION, applied_migrations, backup_models, dump_record, open_text


def read_backup(path: Path) -> tuple[list, dict]:
    """The records and the manifest of a backup file, once they are known to be whole and unchanged."""
    try:
        with open_text(path, "r") as file:
            document = json.load(file)
    except FileNotFoundError as error:
        raise CommandError(f"No backup at {path}.") from error
    except (OSError, EOFError, UnicodeDecodeError, json.JSONDecodeError) as error:
        raise CommandError(f"{path} is not a readable backup ({error}); it may be truncated.") from error
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise CommandError(f"{path} is not an aitracker backup (made by `manage.py backup`).")
    if document.get("version") != VERSION:
        raise CommandError(f"{path} is a backup of version {document.get('version')}; this code reads {VERSION}.")
    records, manifest = document["objects"], document["manifest"]
    digest = hashlib.sha256()
    for record in records:
        digest.update(dump_record(record).encode() + b"\n")
    counts = Counter(record["model"] for record in records)
    expected = {label: count for label, count in manifest["counts"].items() if count}
    if digest.hexdigest() != manifest["sha256"] or dict(counts) != expected:
        raise CommandError(f"{path} does not match its manifest: the file is damaged or was edited. Nothing restored.")
    return records, manifest


def check_migrated(manifest: dict) -> None:
    executor = MigrationExecutor(connection)
    if executor.migration_plan(executor.loader.graph.leaf_nodes()):
        raise CommandError("The database is not fully migrated: run `manage.py migrate` first. Nothing restored.")
    missing = {tuple(migration) for migration in manifest["migrations"]} - {tuple(m) for m in applied_migrations()}
    if missing:
        names = ", ".join(f"{app}.{name}" for app, name in sorted(missing))
        raise CommandError(
            f"The backup was made with migrations this code does not have ({names}): restore it with the version "
            "of aitracker that made it. Nothing restored."
        )


def check_empty(records: list) -> None:
    """Only the groups that the migrations create may already exist, and only if the backup has them too."""
    backed_up_groups = {record["fields"]["name"] for record in records if record["model"] == "auth.group"}
    found = []
    for model in backup_models():
        queryset = model._default_manager.all()
        if model._meta.label_lower == "auth.group":
            queryset = queryset.exclude(name__in=backed_up_groups)
        if count := queryset.count():
            found.append(f"{count} {model._meta.verbose_name_plural}")
    if found:
        raise CommandError(
            "Restore only into an empty database (create a new one and run `manage.py migrate`): this one "
            f"already holds {', '.join(found)}. Nothing restored."
        )


BATCH = 1000


def insertable_in_bulk(model) -> bool:
    """Rows that a bulk insert writes exactly as they were: no many-to-many to set after, and no auto_now
    field, which a bulk insert would set to now (a save with raw=True keeps it). The history tables, by far
    the largest, qualify: simple-history turns auto_now off in them."""
    return not model._meta.many_to_many and not any(
        getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False)
        for field in model._meta.concrete_fields
    )


def load(records: list) -> None:
    """What `loaddata` does, from records already in memory, inserting the history tables in bulk."""
    batch = []

    def insert_batch():
        if batch:
            type(batch[0]).objects.bulk_create(batch, batch_size=BATCH)
            batch.clear()

    with connection.constraint_checks_disabled():
        deferred = []
        for deserialized in serializers.deserialize(
            "python", records, using=DEFAULT_DB_ALIAS, handle_forward_references=True
        ):
            obj = deserialized.object
            if batch and (type(obj) is not type(batch[0]) or len(batch) >= BATCH):
                insert_batch()
            if insertable_in_bulk(type(obj)) and not deserialized.deferred_fields:
                batch.append(obj)
                continue
            deserialized.save(using=DEFAULT_DB_ALIAS)
            if deserialized.deferred_fields:
                deferred.append(deserialized)
        insert_batch()
        for deserialized in deferred:
            deserialized.save_deferred_fields(using=DEFAULT_DB_ALIAS)
    models = backup_models()
    connection.check_constraints(table_names=[model._meta.db_table for model in models])
    # Rows came with their primary keys: move each sequence past the highest, or the next insert would fail.
    with connection.cursor() as cursor:
        for statement in connection.ops.sequence_reset_sql(no_style(), models):
            cursor.execute(statement)


class Command(BaseCommand):
    help = "Load a backup written by `manage.py backup` into an empty, migrated database, exactly as it was."

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="The backup file (.json or .json.gz).")

    def handle(self, *args, path, **options):
        records, manifest = read_backup(path)
        check_migrated(manifest)
        with transaction.atomic():
            check_empty(records)
            with override_settings(SIMPLE_HISTORY_ENABLED=False):
                load(records)
            counts = {model._meta.label_lower: model._default_manager.count() for model in backup_models()}
            differences = {
                label: (manifest["counts"].get(label, 0), count)
                for label, count in counts.items()
                if count != manifest["counts"].get(label, 0)
            }
            if differences:
                raise CommandError(f"Restored counts differ from the backup's (expected, found): {differences}.")
            # The search index, the progress chart's rows and the parties' counts are derived from what was
            # restored (backups do not hold them).
            search_index_rebuild()
            status_changes_store(commitment_ids=Commitment.objects.values_list("pk", flat=True))
            kept_counts_rebuild()
        # Pages cached before the restore would show what the database no longer holds.
        public_pages_changed()
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored {manifest['records']} records of {len(manifest['counts'])} models from {path} "
                f"(backed up on {manifest['created_at']} from {manifest['database']})."
            )
        )
