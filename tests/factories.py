"""Small keyword-only factories for test data. Real reference data comes from fixtures/ instead."""

import importlib
import itertools
from datetime import date

from django.contrib.auth.models import Group, User
from django.db import connection
from django.db.migrations.loader import MigrationLoader
from django.utils import timezone

from aitracker import search, services
from aitracker.models import Commitment, Endorsement, Instrument, Party, ProgressUpdate, Source, Theme
from aitracker.rendering import render_markdown

_seq = itertools.count(1)
PASSWORD = "correct horse battery staple"


def _n():
    return next(_seq)


def staff_group(name: str) -> Group:
    """The group as the data migration made it. A transactional test's flush empties every table, the groups
    with it; they are then made again by the migration's own code, so tests never drift from it."""
    group = Group.objects.filter(name=name).first()
    if group is None:
        state = MigrationLoader(connection).project_state(("aitracker", "0002_groups"))
        importlib.import_module("aitracker.migrations.0002_groups").create_groups(state.apps, None)
        group = Group.objects.get(name=name)
    return group


def ensure_staff_groups() -> None:
    """Both groups as the data migration made them, re-created if a transactional test's flush removed them."""
    for name in ("Analyst", "Editor"):
        staff_group(name)


def make_user(*, username=None, group=None, password=PASSWORD, **fields) -> User:
    user = User.objects.create_user(
        username=username or f"user{_n()}", password=password, is_staff=group is not None, **fields
    )
    if group:
        user.groups.add(staff_group(group))
    return user


def make_analyst(**fields) -> User:
    return make_user(group="Analyst", **fields)


def make_editor(**fields) -> User:
    return make_user(group="Editor", **fields)


def _indexed(obj):
    """Written directly, so put in the search index as the services would."""
    search.search_index_refresh(objects=[obj])
    return obj


def make_instrument(**fields) -> Instrument:
    n = _n()
    defaults = {
        "slug": f"instrument-{n}",
        "title": f"Test instrument {n}",
        "short_title": f"Instrument {n}",
        "kind": Instrument.Kind.SUMMIT_STATEMENT,
        "adopted_on": date(2025, 2, 11),
        "summary": "A test instrument.",
        "source_url": "https://example.org/instrument",
    }
    return _indexed(Instrument.objects.create(**(defaults | fields)))


def make_party(**fields) -> Party:
    n = _n()
    defaults = {"slug": f"party-{n}", "name": f"Party {n}", "kind": Party.Kind.INTERNATIONAL_ORGANISATION}
    return _indexed(Party.objects.create(**(defaults | fields)))


def make_endorsement(*, instrument=None, party=None, **fields) -> Endorsement:
    """An endorsement; the instrument's commitments then bind (or stop binding) the party, as after an admin
    save."""
    defaults = {
        "relation": Endorsement.Relation.SIGNED,
        "source_url": "https://example.org/signatories",
        "confidence": "confirmed",
    }
    endorsement = Endorsement.objects.create(
        instrument=instrument or make_instrument(), party=party or make_party(), **(defaults | fields)
    )
    services.instrument_bindings_changed(instrument=endorsement.instrument)
    return endorsement


def make_theme(**fields) -> Theme:
    n = _n()
    return _indexed(Theme.objects.create(**({"slug": f"theme-{n}", "name": f"Theme {n}"} | fields)))


def make_commitment(*, instrument=None, themes=(), parties=(), **fields) -> Commitment:
    n = _n()
    defaults = {
        "reference": f"§{n}",
        "slug": f"commitment-{n}",
        "title": f"Commitment {n}",
        "text": "A test commitment.",
        "source_url": "https://example.org/text",
    }
    instrument = instrument or make_instrument()
    # Counted in the kept counts as the services count a commitment they add (services.commitment_save).
    with services.kept_counts():
        commitment = Commitment.objects.create(instrument=instrument, **(defaults | fields))
        with services._counting([commitment.pk], new=True):
            commitment.themes.set(themes)
            commitment.parties.set(parties)
            services.commitment_bindings_changed(commitment=commitment)
    commitment.refresh_from_db()
    return _indexed(commitment)


def make_update(*, commitment=None, state="draft", sources=1, author=None, parties=(), **fields) -> ProgressUpdate:
    """An update in any state, written directly (not through the services) with `sources` sources, naming
    `parties`. A published one refreshes its commitment's current status, as the publish service would.
    """
    defaults = {
        "reported_on": date(2025, 6, 1),
        "status": "in_progress",
        "progress": 40,
        "summary": "Something happened.",
    }
    if state == "published":
        defaults["published_at"] = timezone.now()
    if fields.get("kind") == ProgressUpdate.Kind.CHECK:
        defaults |= {"status": "", "progress": None, "summary": "Searched; nothing new."}
    values = defaults | fields
    values.setdefault("summary_html", render_markdown(values["summary"]))
    update = ProgressUpdate.objects.create(
        commitment=commitment or make_commitment(), state=state, author=author, **values
    )
    update.parties.set(parties)
    for i in range(sources):
        Source.objects.create(update=update, url=f"https://example.org/source/{i}", title=f"Source {i}")
    if state == "published":
        services.commitment_refresh_status(commitment=update.commitment)
        update.commitment.refresh_from_db()
        search.search_index_refresh(objects=[update])
    return update
