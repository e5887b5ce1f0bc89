"""`manage.py backup PATH`: every record and its history in one JSON file (gzipped if PATH ends in .gz).

What is kept: every row of the aitracker app, including the history tables of django-simple-history, the
users and groups, the admin's log, and django-axes' records of logins. What is not: sessions (staff log in
again), content types and permissions (`migrate` creates them; they are referred to by natural key), and,
deliberately, the e-mail subscribers (their addresses, subscriptions and the record of messages sent): an
address deleted on request must not live on in old backups (the privacy page says so), and losing them in a
restore costs only a new subscription. For the same reason the readers' suggestions are kept without their
senders' names and e-mail addresses, which are written blank: a backup is kept longer than the data it copies,
and the site deletes them once a suggestion is closed. A suggestion restored while still open can therefore not
be answered by e-mail. The background jobs' queue (django_tasks_db) is not data either.

The file holds a manifest (counts per model, the migrations applied, a SHA-256 of the records) that
`manage.py restore` checks before and after loading. Datetimes keep their microseconds, which Django's own
JSON fixtures would cut to milliseconds: the round trip is exact. The whole backup is read in one
transaction, so it is consistent even while editors keep publishing.
"""

import gzip
import hashlib
import json
import os
import tempfile
from contextlib import contextmanager
from datetime import date, datetime, time
from decimal import Decimal
from pathlib import Path
from uuid import UUID

from django.apps import apps
from django.contrib.admin.models import LogEntry
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand
from django.core.serializers.python import Serializer as PythonSerializer
from django.db import connection, transaction
from django.db.migrations.recorder import MigrationRecorder
from django.utils import timezone

from aitracker.models import (
    AlertDelivery,
    DataGeneration,
    InstrumentStatusCount,
    PartyStatusCount,
    SearchEntry,
    StatusChange,
    StatusChangeCount,
    StatusCount,
    Subscriber,
    Subscription,
    Suggestion,
    ThemeStatusCount,
)

FORMAT = "aitracker-backup"
VERSION = 1
# Bookkeeping, or personal data kept out of backups on purpose (see the module's docstring).
NOT_BACKED_UP = {
    DataGeneration,
    PartyStatusCount,
    StatusCount,
    InstrumentStatusCount,
    ThemeStatusCount,
    SearchEntry,
    StatusChange,
    StatusChangeCount,
    Subscriber,
    Subscription,
    AlertDelivery,
}
# Personal data written blank (see the module's docstring): the rows are kept, not who sent them.
BLANKED_FIELDS = {Suggestion: ("name", "email")}
# Created by `migrate` on every database, with other primary keys there: referred to by natural key.
NATURAL_KEY_MODELS = {"contenttypes.contenttype", "auth.permission", "auth.group"}


def backup_models() -> list:
    """The models whose rows a backup holds, in the order they load: groups, users, then what refers to them."""
    return [
        Group,
        get_user_model(),
        # The historical models of simple_history included; the data generation is the page cache's
        # bookkeeping, which `migrate` creates and `restore` moves on; the search entries and the progress
        # chart's rows are derived data, which `restore` rebuilds. Subscribers are left out deliberately (the
        # privacy page says why).
        *(model for model in apps.get_app_config("aitracker").get_models() if model not in NOT_BACKED_UP),
        LogEntry,
        *apps.get_app_config("axes").get_models(),
    ]


class BackupSerializer(PythonSerializer):
    """Django's Python serializer, with natural keys only for what `migrate` creates.

    Users keep their primary keys rather than their natural key, so that a history row which still names a
    user since deleted is kept as it is instead of failing the backup.
    """

    def _natural(self, field):
        return field.remote_field.model._meta.label_lower in NATURAL_KEY_MODELS

    def handle_fk_field(self, obj, field):
        self.use_natural_foreign_keys = self._natural(field)
        super().handle_fk_field(obj, field)

    def handle_m2m_field(self, obj, field):
        self.use_natural_foreign_keys = self._natural(field)
        super().handle_m2m_field(obj, field)


def _encode(value):
    if isinstance(value, datetime | date | time):
        return value.isoformat()  # full precision, unlike DjangoJSONEncoder
    if isinstance(value, Decimal | UUID):
        return str(value)
    raise TypeError(f"cannot back up a value of type {type(value).__name__}")


def dump_record(record: dict) -> str:
    """One record as canonical JSON: the same text whether written now or re-encoded after reading."""
    return json.dumps(record, default=_encode, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def model_records(model):
    queryset = model._default_manager.order_by("pk")
    many_to_many = [field.name for field in model._meta.many_to_many if field.remote_field.through._meta.auto_created]
    if many_to_many:
        queryset = queryset.prefetch_related(*many_to_many)
    # Groups are matched by name: the target database already has the ones the migrations create.
    records = BackupSerializer().serialize(queryset.iterator(chunk_size=2000), use_natural_primary_keys=model is Group)
    blanked = BLANKED_FIELDS.get(model, ())
    for record in records:
        for name in blanked:
            record["fields"][name] = ""
    return records


def applied_migrations() -> list[list[str]]:
    return sorted([app, name] for app, name in MigrationRecorder(connection).applied_migrations())


def open_text(path: Path, mode: str):
    if path.suffix == ".gz":
        return gzip.open(path, mode + "t", encoding="utf-8")
    return open(path, mode, encoding="utf-8")


@contextmanager
def snapshot():
    """One consistent view of every table for the whole backup, without holding up the site's writers."""
    outermost = not connection.in_atomic_block
    sqlite = connection.vendor == "sqlite" and outermost
    if sqlite:
        # The site opens its SQLite transactions IMMEDIATE, which would lock writers out for the whole backup;
        # a deferred one reads a snapshot of the WAL from its first query on, and lets them write meanwhile.
        connection.ensure_connection()
        mode, connection.transaction_mode = connection.transaction_mode, "DEFERRED"
    try:
        with transaction.atomic():
            if connection.vendor == "postgresql" and outermost:
                # PostgreSQL otherwise takes a new snapshot for each query.
                with connection.cursor() as cursor:
                    cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY")
            yield
    finally:
        if sqlite:
            connection.transaction_mode = mode


def write_backup(path: Path) -> dict:
    """Write the backup to `path` (atomically: a failed backup leaves no half-written file) and return its
    manifest."""
    path.parent.mkdir(parents=True, exist_ok=True)
    digest = hashlib.sha256()
    counts = {}
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=path.suffix, dir=path.parent)
    os.close(handle)
    try:
        with snapshot(), open_text(Path(temporary), "w") as out:
            out.write(f'{{"format":"{FORMAT}","version":{VERSION},"objects":[\n')
            first = True
            for model in backup_models():
                label = model._meta.label_lower
                counts[label] = 0
                for record in model_records(model):
                    line = dump_record(record)
                    digest.update(line.encode() + b"\n")
                    out.write(("" if first else ",\n") + line)
                    first = False
                    counts[label] += 1
            manifest = {
                "created_at": timezone.now().isoformat(),
                "database": connection.vendor,
                "counts": counts,
                "records": sum(counts.values()),
                "sha256": digest.hexdigest(),
                "migrations": applied_migrations(),
            }
            out.write("\n],\n")
            out.write(f'"manifest":{json.dumps(manifest, sort_keys=True)}}}\n')
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return manifest


class Command(BaseCommand):
    help = (
        "Write every record and its history (the aitracker data with its history, users and groups, the admin "
        "log, the login log) to one JSON file, gzipped if PATH ends in .gz. Restore it with `manage.py restore`."
    )

    def add_arguments(self, parser):
        parser.add_argument("path", type=Path, help="The file to write, e.g. backups/aitracker-2025-06-01.json.gz")

    def handle(self, *args, path, **options):
        manifest = write_backup(path)
        self.stdout.write(
            self.style.SUCCESS(
                f"Backed up {manifest['records']} records of {len(manifest['counts'])} models to {path} "
                f"({path.stat().st_size:,} bytes)."
            )
        )
