"""Nothing lost (issue 6): `manage.py backup` and `manage.py restore` round-trip every record and its history
exactly, on the suite's database and from it to the other kind (SQLite <-> PostgreSQL), and restore refuses
anything but a whole backup into an empty, migrated database."""

import gzip
import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest
from django.contrib.auth.models import Group, Permission, User
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from aitracker import charts, services
from aitracker.management.commands.backup import backup_models
from aitracker.models import (
    Commitment,
    Instrument,
    InstrumentStatusCount,
    PartyStatusCount,
    ProgressUpdate,
    StatusChange,
    StatusChangeCount,
    StatusCount,
    Subscriber,
    Suggestion,
    Theme,
    ThemeStatusCount,
)
from tests import factories

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def history_rich_data(real_data, editor, analyst, settings):
    """The real data, plus what a working site accumulates: an update written, submitted, published and
    corrected through the services; an edit in the admin (history with its author, the admin's log);
    many-to-many history; a custom group; failed and successful logins (axes' records)."""
    editor.set_password(factories.PASSWORD)
    editor.save()
    commitment = Commitment.objects.order_by("pk").first()
    update = services.progress_update_create(
        commitment=commitment,
        author=analyst,
        reported_on=timezone.localdate(),
        status="partly_achieved",
        progress=55,
        summary="A **published** update, with a [source](https://example.org/).",
        sources=[{"url": "https://example.org/evidence", "title": "Evidence", "publisher": "Example"}],
    )
    services.progress_update_submit(update=update, user=analyst)
    services.progress_update_publish(update=update, editor=editor)
    update.refresh_from_db()
    services.progress_update_correct(update=update, editor=editor, note="Corrected the progress figure.")
    themes = [*commitment.themes.all(), Theme.objects.order_by("pk").last()]
    services.commitment_save(commitment=commitment, editor=editor, themes=themes, reason="A theme added")
    reviewers = Group.objects.create(name="Reviewers")
    reviewers.permissions.set(Permission.objects.filter(codename__in=["view_commitment", "view_party"]))
    analyst.groups.add(reviewers)
    analyst.user_permissions.add(Permission.objects.get(codename="view_accesslog"))
    client = Client()
    client.post(reverse("admin:login"), {"username": "nobody", "password": "wrong"}, REMOTE_ADDR="198.51.100.1")
    client.post(reverse("admin:login"), {"username": editor.username, "password": factories.PASSWORD})
    party = commitment.instrument.endorsements.order_by("pk").first().party
    response = client.post(
        reverse("admin:aitracker_party_change", args=[party.pk]),
        {"slug": party.slug, "name": party.name + " (renamed)", "kind": party.kind, "country": party.country},
    )
    assert response.status_code == 302
    return update


def database_contents() -> dict:
    """Every row of every backed-up table, column by column (datetimes with their microseconds), read straight
    from the database: a check that does not trust the backup's own serializer. Groups and permissions are
    named, since a database's migrations give them their own ids."""
    contents = {}
    for model in backup_models():
        if model is Group:
            continue
        contents[model._meta.label] = list(model._default_manager.order_by("pk").values())
        for field in model._meta.many_to_many:
            through = field.remote_field.through
            if through._meta.auto_created:
                target = field.m2m_reverse_field_name()
                name = {Group: "__name", Permission: "__codename"}.get(field.remote_field.model, "")
                columns = [field.m2m_field_name(), target + name]
                contents[f"{model._meta.label}.{field.name}"] = list(
                    through.objects.values_list(*columns).order_by(*columns)
                )
    contents["auth.Group"] = sorted(
        (group.name, sorted(group.permissions.values_list("codename", flat=True))) for group in Group.objects.all()
    )
    return contents


def empty_the_database() -> None:
    """What a new, migrated database holds: the tables empty but for the groups the migrations create."""
    # Derived rows, not in the backup.
    derived = [StatusChange, StatusChangeCount, PartyStatusCount, StatusCount, InstrumentStatusCount, ThemeStatusCount]
    tables = [model._meta.db_table for model in derived]
    for model in backup_models():
        tables.append(model._meta.db_table)
        tables += [f.remote_field.through._meta.db_table for f in model._meta.many_to_many]
    with connection.cursor() as cursor:
        for table in dict.fromkeys(tables):
            if table not in (Group._meta.db_table, Group.permissions.through._meta.db_table):
                cursor.execute(f"DELETE FROM {connection.ops.quote_name(table)}")
    Group.objects.exclude(name__in=["Analyst", "Editor"]).delete()


@pytest.mark.parametrize("name", ["aitracker.json", "aitracker.json.gz"])
def test_backup_and_restore_round_trip_every_record_and_its_history(history_rich_data, tmp_path, name):
    before = database_contents()
    assert len(before["aitracker.HistoricalProgressUpdate"]) >= 4  # created, submitted, published, corrected
    assert before["aitracker.HistoricalCommitment_themes"]
    assert before["axes.AccessAttempt"] and before["axes.AccessLog"] and before["admin.LogEntry"]
    assert any(row["history_user_id"] for row in before["aitracker.HistoricalParty"])
    chart = charts.status_by_month()
    assert StatusChange.objects.exists()
    party_counts = PartyStatusCount.objects.by_party()
    commitment_counts = [
        StatusCount.objects.counts(),
        InstrumentStatusCount.objects.by("instrument"),
        ThemeStatusCount.objects.by("theme"),
    ]
    assert party_counts and all(commitment_counts)
    path = tmp_path / name
    call_command("backup", str(path), verbosity=0)
    empty_the_database()
    assert not Instrument.objects.exists() and not User.objects.exists()

    call_command("restore", str(path), verbosity=0)

    # The progress chart's rows and the kept counts are not in the backup: the restore makes them again.
    assert charts.status_by_month() == chart
    assert PartyStatusCount.objects.by_party() == party_counts
    assert commitment_counts == [
        StatusCount.objects.counts(),
        InstrumentStatusCount.objects.by("instrument"),
        ThemeStatusCount.objects.by("theme"),
    ]
    after = database_contents()
    assert after.keys() == before.keys()
    for table in before:
        assert after[table] == before[table], table  # same rows, same values, no extra history
    # The sequences moved past the restored ids: new rows get new ones.
    instrument = factories.make_instrument()
    assert instrument.pk > max(row["id"] for row in before["aitracker.Instrument"])
    assert instrument.history.count() == 1


def test_the_backup_is_one_json_file_with_a_manifest(history_rich_data, tmp_path):
    path = tmp_path / "backup.json.gz"
    call_command("backup", str(path), verbosity=0)
    assert path.stat().st_mode & 0o077 == 0  # password hashes inside: readable by its owner only
    with gzip.open(path, "rt", encoding="utf-8") as file:
        document = json.load(file)
    manifest = document["manifest"]
    assert document["format"] == "aitracker-backup"
    assert manifest["records"] == len(document["objects"])
    assert manifest["counts"]["aitracker.progressupdate"] == ProgressUpdate.objects.count()
    assert manifest["counts"]["aitracker.historicalprogressupdate"] == ProgressUpdate.history.count()
    # Microseconds are kept (Django's own JSON fixtures would cut them to milliseconds).
    published = next(
        record["fields"]["published_at"]
        for record in document["objects"]
        if record["model"] == "aitracker.progressupdate" and record["pk"] == history_rich_data.pk
    )
    assert published == history_rich_data.published_at.isoformat()


def test_a_backup_holds_no_subscriber_address_and_no_suggestion_senders_name_or_address(real_data, tmp_path):
    """A backup is kept longer than the data it copies: the privacy page promises that no e-mail address is
    written to one. Suggestions are kept, without their senders' names and addresses."""
    commitment = Commitment.objects.order_by("pk").first()
    services.subscription_request(email="follower@example.org", target=commitment, frequency="daily", language="en")
    suggestion = services.suggestion_submit(
        kind="new_development",
        text="A sandbox for start-ups opened quietly",
        happened_on=timezone.localdate(),
        source_urls=["https://gov.example/sandbox"],
        commitment=commitment,
        name="Ada Lovelace",
        email="ada.lovelace@example.org",
    )
    path = tmp_path / "backup.json"
    call_command("backup", str(path), verbosity=0)
    text = path.read_text()
    for personal in ("follower@example.org", "ada.lovelace@example.org", "Ada Lovelace"):
        assert personal not in text
    assert Subscriber.objects.get().email == "follower@example.org"  # the live data is untouched
    assert Suggestion.objects.get().name == "Ada Lovelace"

    Subscriber.objects.all().delete()
    empty_the_database()
    call_command("restore", str(path), verbosity=0)
    restored = Suggestion.objects.get()
    assert restored.pk == suggestion.pk and restored.text == "A sandbox for start-ups opened quietly"
    assert restored.commitment == commitment and restored.state == Suggestion.State.NEW
    assert restored.name == "" and restored.email == ""
    assert not Subscriber.objects.exists()


def test_restore_refuses_a_database_that_is_not_empty(history_rich_data, tmp_path):
    path = tmp_path / "backup.json"
    call_command("backup", str(path), verbosity=0)
    counts = database_contents()
    with pytest.raises(CommandError, match=r"Restore only into an empty database.*instruments.*Nothing restored"):
        call_command("restore", str(path), verbosity=0)
    assert database_contents() == counts


def test_restore_refuses_a_damaged_or_edited_backup_and_changes_nothing(history_rich_data, tmp_path):
    path = tmp_path / "backup.json"
    call_command("backup", str(path), verbosity=0)
    empty_the_database()
    document = json.loads(path.read_text())
    document["objects"][-1]["fields"]["username"] = "intruder"  # an edited record
    edited = tmp_path / "edited.json"
    edited.write_text(json.dumps(document))
    with pytest.raises(CommandError, match="does not match its manifest"):
        call_command("restore", str(edited), verbosity=0)
    truncated = tmp_path / "truncated.json"
    truncated.write_text(path.read_text()[: path.stat().st_size // 2])
    with pytest.raises(CommandError, match="not a readable backup"):
        call_command("restore", str(truncated), verbosity=0)
    with pytest.raises(CommandError, match="not an aitracker backup"):
        call_command("restore", str(ROOT / "fixtures" / "themes.json"), verbosity=0)
    assert not Instrument.objects.exists()


def test_restore_refuses_a_database_that_is_not_migrated(tmp_path):
    path = tmp_path / "backup.json"
    call_command("backup", str(path), verbosity=0)
    result = subprocess.run(
        [sys.executable, "manage.py", "restore", str(path)],
        cwd=ROOT,
        env=os.environ | {"DATABASE_URL": f"sqlite:///{tmp_path / 'new.sqlite3'}"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode != 0
    assert "not fully migrated: run `manage.py migrate` first" in result.stderr


# ---------------------------------------------------------------------------------------------------------------
# From one kind of database to the other, in a separate process


POSTGRES = os.environ.get("AITRACKER_TEST_POSTGRES_URL", "postgres://postgres@127.0.0.1:5432/postgres")


def postgres_available() -> bool:
    import psycopg

    try:
        psycopg.connect(POSTGRES, connect_timeout=2).close()
    except psycopg.Error:
        return False
    return True


def other_database(tmp_path) -> str:
    """A new database of the other kind than the suite's: a SQLite file, or a PostgreSQL database."""
    if connection.vendor == "postgresql":
        return f"sqlite:///{tmp_path / 'restored.sqlite3'}"
    if not postgres_available():
        pytest.skip(f"PostgreSQL is not reachable at {POSTGRES}")
    import psycopg

    name = f"aitracker_sec_restore_{os.getpid()}"
    with psycopg.connect(POSTGRES, autocommit=True) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{name}"')
        admin.execute(f'CREATE DATABASE "{name}"')
    return urlunsplit(urlsplit(POSTGRES)._replace(path=f"/{name}"))


def drop_database(url: str) -> None:
    if url.startswith("postgres"):
        import psycopg

        with psycopg.connect(POSTGRES, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path.lstrip("/")}" WITH (FORCE)')


def manage(url: str, *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=os.environ | {"DATABASE_URL": url},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def canonical_records(path: Path) -> list:
    """A backup's records in an order and form independent of the database that wrote them."""
    with gzip.open(path, "rt") if path.suffix == ".gz" else open(path) as file:
        records = json.load(file)["objects"]
    for record in records:
        for name, value in record["fields"].items():
            if isinstance(value, list) and value and isinstance(value[0], list | int):
                record["fields"][name] = sorted(value)
    return sorted(records, key=lambda record: json.dumps([record["model"], record.get("pk"), record["fields"]]))


def test_a_backup_restores_exactly_into_the_other_kind_of_database(history_rich_data, tmp_path):
    original = tmp_path / "original.json.gz"
    call_command("backup", str(original), verbosity=0)
    target = other_database(tmp_path)
    try:
        manage(target, "migrate", "--noinput", "-v0")
        assert "Restored" in manage(target, "restore", str(original))
        copy = tmp_path / "copy.json"
        manage(target, "backup", str(copy))
    finally:
        drop_database(target)
    assert canonical_records(copy) == canonical_records(original)
