"""Synthetic data at scale, for the benchmark: deterministic for a seed, written with bulk inserts."""

import contextlib
import itertools
import random
import re
import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as dt_time

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from django.core.management.color import no_style
from django.db import connection, transaction
from django.test.utils import override_settings
from django.utils import timezone
from django.utils.text import slugify
from django_countries import countries
from simple_history.manager import HistoryManager

from aitracker import services
from aitracker.cache import public_pages_changed
from aitracker.charts import STORE_CHUNK, commitment_changes
from aitracker.i18n import SOURCE_LANGUAGE, localized_name, translated_fields
from aitracker.models import (
    Commitment,
    Confidence,
    Endorsement,
    Instrument,
    Party,
    PartyStatus,
    ProgressUpdate,
    Source,
    Status,
    StatusChange,
    Theme,
)
from aitracker.rendering import render_markdown
from aitracker.search import search_index_rebuild

# Every date is relative to this fixed day, not today, so a seed gives the same data whenever it runs.
BASE_DATE = date(2026, 6, 30)
PARTY_COUNT = 200
ORGANISATIONS = [
    "African Union",
    "European Union",
    "Association of Southeast Asian Nations",
    "Council of Europe",
    "Organisation for Economic Co-operation and Development",
    "UNESCO",
    "International Telecommunication Union",
    "World Bank",
    "Group of Seven",
    "Group of Twenty",
]
THEMES = [
    ("Inclusive AI", "Access to AI and its benefits for everyone, between and within countries."),
    ("Global South cyber-capacity support", "Skills, infrastructure and security capacity in developing countries."),
    ("UN alignment", "Work through, or in line with, the United Nations and its resolutions."),
    ("Safety, security and trust", "Evaluations, safety institutes and incident reporting."),
    ("Sustainability and energy", "The environmental footprint of AI, and AI for the environment."),
    ("Future of work", "Effects of AI on jobs, skills and working conditions."),
    ("Innovation and market concentration", "Competition, open models and access to compute."),
    ("Data protection and rights", "Privacy, human rights and non-discrimination."),
    ("International governance cooperation", "Shared rules, dialogues and interoperable frameworks."),
    ("Public sector AI", "Use of AI by governments and in public services."),
    ("Research and science", "Public research funding, science cooperation and open data."),
    ("Children and education", "AI in schools, and the protection of minors."),
]
PLACES = [
    "Paris",
    "Seoul",
    "Bletchley Park",
    "New York",
    "Geneva",
    "Beijing",
    "New Delhi",
    "Nairobi",
    "Brasília",
    "Tokyo",
]
KIND_WEIGHTS = [
    (Instrument.Kind.SUMMIT_STATEMENT, 40),
    (Instrument.Kind.BILATERAL_DECLARATION, 25),
    (Instrument.Kind.UN_RESOLUTION, 25),
    (Instrument.Kind.COMPACT, 10),
]
VERBS = ["Establish", "Fund", "Support", "Promote", "Strengthen", "Develop", "Launch", "Expand", "Publish", "Share"]
OBJECTS = [
    "a national AI safety institute",
    "open datasets for public-interest research",
    "AI skills programmes for public servants",
    "compute access for universities",
    "an incident reporting mechanism",
    "energy-efficiency standards for data centres",
    "capacity-building partnerships with developing countries",
    "a regular dialogue on AI governance",
    "guidance on AI in schools",
    "independent evaluations of frontier models",
    "privacy safeguards for training data",
    "a fund for public-interest AI",
]
QUALIFIERS = ["by 2027", "with civil society", "across the region", "under UN auspices", "in every ministry", ""]
EVENTS = [
    "A government decree created the body this commitment calls for",
    "The budget law set aside funding for the programme",
    "Ministers announced a pilot in three regions",
    "An official report found that the work has not started",
    "The agency published its first annual report",
    "Parliament debated the plan but took no decision",
    "The programme was suspended pending a review",
    "The partnership signed its founding memorandum",
    "Independent researchers assessed the first results",
    "The government withdrew from the initiative",
]
PUBLISHERS = ["Reuters", "Le Monde", "Xinhua", "The Guardian", "Official Gazette", "UN News", "OECD.AI", "AP"]
# The status an update asserts tends to follow the previous one: a small random walk over the statuses.
NEXT_STATUS = {
    None: [Status.NOT_STARTED, Status.IN_PROGRESS],
    Status.NOT_STARTED: [Status.NOT_STARTED, Status.IN_PROGRESS, Status.IN_PROGRESS, Status.STALLED],
    Status.IN_PROGRESS: [Status.IN_PROGRESS, Status.IN_PROGRESS, Status.PARTLY_ACHIEVED, Status.STALLED],
    Status.PARTLY_ACHIEVED: [Status.PARTLY_ACHIEVED, Status.IN_PROGRESS, Status.ACHIEVED, Status.STALLED],
    Status.ACHIEVED: [Status.ACHIEVED, Status.ACHIEVED, Status.PARTLY_ACHIEVED, Status.REVERSED],
    Status.STALLED: [Status.STALLED, Status.IN_PROGRESS, Status.REVERSED, Status.NOT_STARTED],
    Status.REVERSED: [Status.REVERSED, Status.IN_PROGRESS, Status.STALLED],
}
PROGRESS_RANGE = {
    Status.NOT_STARTED: (0, 0),
    Status.IN_PROGRESS: (10, 60),
    Status.PARTLY_ACHIEVED: (40, 90),
    Status.ACHIEVED: (100, 100),
    Status.STALLED: (5, 50),
    Status.REVERSED: (0, 20),
}
PUBLISHED, RETURNED = ProgressUpdate.State.PUBLISHED.value, ProgressUpdate.State.RETURNED.value
UNPUBLISHED_STATES = [ProgressUpdate.State.DRAFT.value, ProgressUpdate.State.SUBMITTED.value, RETURNED]
SOURCES_PER_PUBLISHED_UPDATE = [1, 1, 1, 2, 2, 3]
CONFIDENCES = list(Confidence.values)
CONFIDENCE_WEIGHTS = [70, 22, 8]
# The same draws as rng.choices(CONFIDENCES, CONFIDENCE_WEIGHTS), which adds the weights up on every call.
CONFIDENCE_CUMULATIVE = list(itertools.accumulate(CONFIDENCE_WEIGHTS))
STATUS_WORDS = {status.value: str(status.label).lower() for status in Status}
# Plain strings from here on: the rows below skip the fields' conversions, and psycopg would write an
# enumeration member's name rather than its value.
NEXT_STATUS = {
    current and current.value: [status.value for status in following] for current, following in NEXT_STATUS.items()
}
PROGRESS_RANGE = {status.value: bounds for status, bounds in PROGRESS_RANGE.items()}
ASSESSMENT_END = "see the sources for the detail of {reference}."
NINE_AM = dt_time(9)
# What Markdown reads as plain text wherever it stands (see Seeder._rendered), and the words standing in for a
# summary's date and reference while its template is rendered.
PLAIN = re.compile(r"[A-Za-z0-9§]+(?: [A-Za-z0-9§]+)*")
DATE_MARK, REFERENCE_MARK = "Xdatemarkx", "Xreferencemarkx"
CORRECTION_DELAY = timedelta(days=3)
DELETED_AT = datetime.combine(BASE_DATE, dt_time(12), UTC)
UPDATE_COLUMNS = [
    "id",
    "commitment",
    "reported_on",
    "status",
    "progress",
    "summary",
    "summary_html",
    "confidence",
    "kind",
    "author",
    "state",
    "reviewer",
    "review_note",
    "published_at",
    "corrected_at",
    "correction_note",
    "created_at",
    "updated_at",
    "deleted_at",
]
COMMITMENT_COLUMNS = [
    "id",
    "instrument",
    "reference",
    "slug",
    "title",
    "text",
    "target_date",
    "source_url",
    "confidence",
    "current_status",
    "current_progress",
    "last_update_on",
    "last_reviewed_on",
    "created_at",
    "updated_at",
    "deleted_at",
]
# The note's English column is left empty (NULL), as bulk_create left it.
ENDORSEMENT_COLUMNS = ["id", "instrument", "party", "relation", "date", "source_url", "confidence", "note", "note_en"]
THEME_LINK_COLUMNS = ["commitment", "theme"]
PARTY_LINK_COLUMNS = ["commitment", "party"]
SOURCE_COLUMNS = ["id", "update", "url", "title", "publisher", "published_on", "archived_url"]
UPDATE_PARTY_COLUMNS = ["progressupdate", "party"]
PARTY_STATUS_COLUMNS = [
    "commitment",
    "party",
    "status",
    "progress",
    "last_update_on",
    "last_reviewed_on",
    "latest_update",
]
STATUS_CHANGE_COLUMNS = ["commitment", "month", "status", "previous"]
# The tables the seeder fills with plain rows (Seeder._insert), whose indexes are built after the load.
LOADED_MODELS = [
    Endorsement,
    Commitment,
    Commitment.themes.through,
    Commitment.parties.through,
    ProgressUpdate,
    ProgressUpdate.parties.through,
    Source,
    PartyStatus,
]
ASSESSMENT, CHECK = ProgressUpdate.Kind.ASSESSMENT.value, ProgressUpdate.Kind.CHECK.value
REGIONS = list(Party.Region.values)
BATCH = 2000
# For the length of the seed on SQLite (see _fast_sqlite): a cache of 2 GiB (negative: in KiB), enough for the
# indexes of the big tables at 100,000 commitments; and freed pages left as they are rather than overwritten
# with zeros (Debian's SQLite is built with secure_delete on): --flush and the search index's rebuild free
# gigabytes.
SQLITE_PRAGMAS = {
    "journal_mode": "OFF",
    "synchronous": "OFF",
    "cache_size": -2_097_152,
    "temp_store": "MEMORY",
    "secure_delete": "OFF",
}


@dataclass
class Ids:
    """The next free primary key of each table: explicit keys avoid a RETURNING round trip per batch."""

    instrument: int
    party: int
    endorsement: int
    theme: int
    commitment: int
    update: int
    source: int


def _next_id(model):
    last = model.objects.order_by("-pk").values_list("pk", flat=True).first()
    return (last or 0) + 1


class Command(BaseCommand):
    help = (
        "Fill the database with realistic, deterministic synthetic data for benchmarks: instruments, 200 parties, "
        "endorsements, themes, commitments, published and unpublished progress updates with sources. Rows are "
        "written with bulk inserts, and each commitment's current status is set in the same pass. No history "
        "rows are written (simple-history only records saves made one by one), and nothing goes through the "
        "services, so use it for benchmarks and tests, never on a database with real editorial work. Refuses "
        "to run if commitments exist, unless --flush."
    )

    def add_arguments(self, parser):
        parser.add_argument("--commitments", type=int, default=1000, help="How many commitments (default 1000).")
        parser.add_argument(
            "--updates-per-commitment", type=int, default=30, help="Progress updates per commitment (default 30)."
        )
        parser.add_argument("--seed", type=int, default=1, help="Random seed: the same seed gives the same data.")
        parser.add_argument(
            "--instruments",
            type=int,
            default=None,
            help="How many instruments (default: one per 50 commitments, at least 1).",
        )
        parser.add_argument(
            "--flush",
            action="store_true",
            help="First delete every instrument, party, endorsement, theme, commitment, update and source, "
            "and their history.",
        )

    def handle(self, *args, commitments, updates_per_commitment, seed, instruments, flush, **options):
        if commitments < 1 or updates_per_commitment < 0:
            raise CommandError("--commitments must be at least 1 and --updates-per-commitment at least 0.")
        instruments = instruments or max(1, commitments // 50)
        if instruments > commitments:
            raise CommandError("--instruments cannot exceed --commitments.")
        if not flush and Commitment.objects.exists():
            raise CommandError(
                f"The database already holds {Commitment.objects.count()} commitments. seed_synthetic only fills "
                "an empty database; use --flush to delete the existing data first (never on real data)."
            )
        started = time.perf_counter()
        phase = _Phases(self.stdout if options["verbosity"] >= 2 else None)
        # With DEBUG on, Django would keep the text of every huge INSERT in connection.queries.
        with override_settings(DEBUG=False), _fast_sqlite(), transaction.atomic():
            public_pages_changed()
            if flush:
                with phase("flush"):
                    self._flush()
            seeder = Seeder(rng=random.Random(seed), updates_per_commitment=updates_per_commitment)
            with phase("rows"), _indexes_after_load(LOADED_MODELS):
                counts = seeder.run(commitments=commitments, instruments=instruments)
                self._reset_sequences()
                phase.start("indexes")
            # The rebuild reads the updates by id, in lists: without statistics on the new rows, SQLite would
            # rather walk its index of published updates, all of them for every list (hours at 100,000
            # commitments instead of seconds).
            with phase("analyze updates"), connection.cursor() as cursor:
                cursor.execute(f"ANALYZE {connection.ops.quote_name(ProgressUpdate._meta.db_table)}")
            with phase("search index"):
                counts["search entries"] = search_index_rebuild()
            # The progress chart's months of change, replayed from the updates as the services would.
            with phase("status changes"):
                counts["status changes"] = seeder.status_changes()
            # The parties' counts by status (the parties table's, a party page's), from the PartyStatus rows.
            with phase("kept counts"):
                services.kept_counts_rebuild()
            phase.start("commit")
        # Statistics for the planner now (PostgreSQL's autovacuum would gather them a little later, SQLite never
        # by itself): without them, the first queries on freshly loaded tables can take seconds instead of
        # milliseconds on PostgreSQL, and SQLite reads the table's first page through the partial status
        # index (a scan and a sort of every commitment) instead of instrument by instrument.
        phase.stop()
        with phase("analyze"), connection.cursor() as cursor:
            cursor.execute("ANALYZE")
        elapsed = time.perf_counter() - started
        summary = ", ".join(f"{count:,} {name}" for name, count in counts.items())
        self.stdout.write(self.style.SUCCESS(f"Seeded {summary} in {elapsed:.1f} s (seed {seed})."))

    def _flush(self):
        """Empty the public models' tables, their many-to-many and history tables, and whatever refers to them
        (TRUNCATE on PostgreSQL, DELETE on SQLite)."""
        models, pending = (
            set(),
            [PartyStatus, Source, ProgressUpdate, Commitment, Endorsement, Theme, Party, Instrument],
        )
        while pending:
            model = pending.pop()
            if model in models:
                continue
            models.add(model)
            # Hidden relations too (related_name="+": a subscription to a commitment, a party, a theme).
            pending += [
                field.related_model
                for field in model._meta.get_fields(include_hidden=True)
                if field.auto_created and not field.concrete and field.related_model is not None
            ]
            pending += [field.remote_field.through for field in model._meta.local_many_to_many]
            if isinstance(history := getattr(model, "history", None), HistoryManager):
                pending.append(history.model)
        tables = sorted({model._meta.db_table for model in models})
        if connection.vendor == "postgresql":
            # TRUNCATE refuses to run while deferred foreign key checks are pending in the transaction.
            connection.check_constraints()
        with connection.cursor() as cursor:
            for sql in connection.ops.sql_flush(no_style(), tables):
                cursor.execute(sql)

    def _reset_sequences(self):
        """Explicit primary keys leave PostgreSQL's sequences behind; move them past the new rows."""
        models = [Instrument, Party, Endorsement, Theme, Commitment, ProgressUpdate, Source]
        statements = connection.ops.sequence_reset_sql(no_style(), models)
        with connection.cursor() as cursor:
            for sql in statements:
                cursor.execute(sql)


class _Phases:
    """How long each phase of the seed takes, written to `out` as it ends (-v2); nothing when out is None."""

    def __init__(self, out):
        self.out, self.name, self.started = out, None, 0.0

    def start(self, name):
        self.stop()
        self.name, self.started = name, time.perf_counter()

    def stop(self):
        if self.name is not None and self.out is not None:
            self.out.write(f"  {self.name}: {time.perf_counter() - self.started:.1f} s")
        self.name = None

    @contextlib.contextmanager
    def __call__(self, name):
        self.start(name)
        try:
            yield
        finally:
            self.stop()


@contextlib.contextmanager
def _indexes_after_load(models):
    """On SQLite, the tables' indexes dropped during the block and created again at its end: SQLite sorts a
    table's rows into a new index many times faster than it inserts them one by one into several indexes in
    random order. Those of the tables' own constraints (a primary key, UNIQUE in the table) stay; a unique index
    created again still refuses the block's rows if they repeat a key. Inside the block's transaction, so the
    indexes are back if it fails."""
    if connection.vendor != "sqlite":
        yield
        return
    tables = sorted({model._meta.db_table for model in models})
    marks = ", ".join(["%s"] * len(tables))
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL AND tbl_name IN ({marks}) "
            "ORDER BY name",
            tables,
        )
        indexes = cursor.fetchall()
        for name, _sql in indexes:
            cursor.execute(f"DROP INDEX {connection.ops.quote_name(name)}")
    yield
    with connection.cursor() as cursor:
        for _name, sql in indexes:
            cursor.execute(sql)


@contextlib.contextmanager
def _fast_sqlite():
    """On SQLite, no journal and no syncing while seeding, and a large page cache: in WAL mode every page of a
    load of several gigabytes would be written twice (to the log, then to the database), and each checkpoint
    waits for the disk. A seed that fails half-way may leave the database unusable: it is throw-away data for
    the benchmark. The settings' own PRAGMAs (settings.DATABASES) are restored after. Inside a transaction
    already (a test's), SQLite cannot change them: the seed then runs with the usual ones."""
    if connection.vendor != "sqlite" or connection.in_atomic_block:
        yield
        return
    with connection.cursor() as cursor:
        saved = {name: cursor.execute(f"PRAGMA {name}").fetchone()[0] for name in SQLITE_PRAGMAS}
        for name, value in SQLITE_PRAGMAS.items():
            cursor.execute(f"PRAGMA {name} = {value}")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            for name, value in saved.items():
                cursor.execute(f"PRAGMA {name} = {value}")


class Seeder:
    def __init__(self, *, rng: random.Random, updates_per_commitment: int):
        self.rng = rng
        self.updates_per_commitment = updates_per_commitment
        self.ids = Ids(
            instrument=_next_id(Instrument),
            party=_next_id(Party),
            endorsement=_next_id(Endorsement),
            theme=_next_id(Theme),
            commitment=_next_id(Commitment),
            update=_next_id(ProgressUpdate),
            source=_next_id(Source),
        )
        self.markup = {}  # summary template: its rendering (_rendered)
        self.days = {}  # day: as summaries spell it (_spelt)
        self.counts = dict.fromkeys(
            ["instruments", "parties", "endorsements", "themes", "commitments", "updates", "sources"], 0
        )

    def run(self, *, commitments: int, instruments: int) -> dict:
        self.analysts, self.editors = self._staff()
        themes = self._themes()
        parties = self._parties()
        instrument_rows = self._instruments(instruments)
        signatories = self._endorsements(instrument_rows, parties)
        # Spread the commitments over the instruments as evenly as the numbers allow.
        per_instrument = [commitments // instruments + (i < commitments % instruments) for i in range(instruments)]
        pending = []
        for instrument, count in zip(instrument_rows, per_instrument, strict=True):
            for number in range(1, count + 1):
                pending.append((instrument, number))
                if len(pending) * max(1, self.updates_per_commitment) >= BATCH * 10:
                    self._commitments(pending, themes, signatories)
                    pending = []
        if pending:
            self._commitments(pending, themes, signatories)
        return self.counts

    def _staff(self):
        User = get_user_model()
        users = {}
        for name in ["synthetic-analyst-1", "synthetic-analyst-2", "synthetic-analyst-3", "synthetic-editor-1"]:
            user, created = User.objects.get_or_create(username=name, defaults={"is_staff": True})
            if created:
                user.set_unusable_password()
                user.save(update_fields=["password"])
            users[name] = user.pk
        return [pk for name, pk in users.items() if "analyst" in name], [users["synthetic-editor-1"]]

    def _themes(self):
        rows = []
        for name, description in THEMES:
            rows.append(Theme(pk=self.ids.theme, slug=slugify(name), name=name, description=description))
            self.ids.theme += 1
        Theme.objects.bulk_create(rows)
        self.counts["themes"] = len(rows)
        return [theme.pk for theme in rows]

    def _parties(self):
        codes = sorted(code for code, _name in countries)
        chosen = sorted(self.rng.sample(codes, PARTY_COUNT - len(ORGANISATIONS)))
        rows = []
        for code in chosen:
            name = countries.name(code)
            rows.append(
                Party(
                    pk=self.ids.party,
                    slug=slugify(name) or code.lower(),
                    name=name,
                    kind="country",
                    country=code,
                    region=self.rng.choice(REGIONS),
                    un_member=True,
                )
            )
            self.ids.party += 1
        for index, name in enumerate(ORGANISATIONS):
            kind = Party.Kind.REGIONAL_ORGANISATION if index < 4 else Party.Kind.INTERNATIONAL_ORGANISATION
            rows.append(Party(pk=self.ids.party, slug=slugify(name), name=name, kind=kind, country=""))
            self.ids.party += 1
        Party.objects.bulk_create(rows, batch_size=BATCH)
        self.counts["parties"] = len(rows)
        self.un_members = [party.pk for party in rows if party.un_member]
        return [party.pk for party in rows]

    def _instruments(self, count):
        rng = self.rng
        kinds, weights = zip(*KIND_WEIGHTS, strict=True)
        rows = []
        for number in range(1, count + 1):
            kind = rng.choices(kinds, weights)[0]
            adopted_on = BASE_DATE - timedelta(days=rng.randint(200, 3000))
            place = rng.choice(PLACES)
            label = Instrument.Kind(kind).label
            adoption = Instrument.Adoption.SIGNATURE
            if kind == Instrument.Kind.UN_RESOLUTION:
                adoption = rng.choice([Instrument.Adoption.WITHOUT_VOTE, Instrument.Adoption.RECORDED_VOTE])
            rows.append(
                Instrument(
                    pk=self.ids.instrument,
                    slug=f"synthetic-{number}-{adopted_on.year}",
                    title=f"{label} on artificial intelligence no. {number} ({place}, {adopted_on.year})",
                    short_title=f"{label} {number} ({adopted_on.year})",
                    kind=kind,
                    adopted_on=adopted_on,
                    adopted_on_confidence=rng.choices(CONFIDENCES, [90, 8, 2])[0],
                    place=place,
                    summary=f"A synthetic {str(label).lower()} adopted in {place}, for benchmarks.",
                    source_url=f"https://example.org/instruments/{number}",
                    adoption=adoption,
                )
            )
            self.ids.instrument += 1
        Instrument.objects.bulk_create(rows, batch_size=BATCH)
        self.counts["instruments"] = len(rows)
        return rows

    def _endorsements(self, instruments, parties):
        """Signatories per instrument: two for a bilateral declaration, most parties for a UN resolution."""
        rng = self.rng
        rows, signatories = [], {}
        for instrument in instruments:
            if instrument.kind == Instrument.Kind.BILATERAL_DECLARATION:
                signed, others = rng.sample(parties, 2), []
            elif instrument.kind == Instrument.Kind.UN_RESOLUTION:
                signed = rng.sample(parties, rng.randint(140, 190))
                others = rng.sample([p for p in parties if p not in set(signed)], 3)
            else:
                involved = rng.sample(parties, rng.randint(25, 90))
                cut = int(len(involved) * 0.85)
                signed, others = involved[:cut], involved[cut:]
            signatories[instrument.pk] = signed
            Relation = Endorsement.Relation
            for index, party in enumerate(signed):
                later = rng.random() < 0.1
                if instrument.adoption == Instrument.Adoption.WITHOUT_VOTE:
                    later, relation = False, Relation.LEAD_SPONSOR if index == 0 else Relation.CO_SPONSOR
                elif instrument.adoption == Instrument.Adoption.RECORDED_VOTE:
                    later, relation = False, Relation.VOTED_YES
                else:
                    relation = Relation.JOINED_LATER if later else Relation.SIGNED
                rows.append(self._endorsement(instrument, party, relation, later))
            for party in others:
                if instrument.adoption == Instrument.Adoption.RECORDED_VOTE:
                    relation = rng.choice([Relation.VOTED_NO, Relation.ABSTAINED])
                elif instrument.adoption == Instrument.Adoption.WITHOUT_VOTE:
                    # Recorded as taking part but not sponsoring: still bound, as every member state is.
                    relation = Relation.ATTENDED_WITHOUT_SIGNING
                else:
                    relation = rng.choice([Relation.DID_NOT_SIGN, Relation.ATTENDED_WITHOUT_SIGNING])
                rows.append(self._endorsement(instrument, party, relation, False))
        self._insert(Endorsement, ENDORSEMENT_COLUMNS, rows)
        self.counts["endorsements"] = len(rows)
        return signatories

    def _endorsement(self, instrument, party, relation, later):
        """A row in ENDORSEMENT_COLUMNS order."""
        days = self.rng.randint(30, 400) if later else 0
        row = (
            self.ids.endorsement,
            instrument.pk,
            party,
            relation.value,
            instrument.adopted_on + timedelta(days=days),
            f"https://example.org/instruments/{instrument.pk}/signatories",
            self.rng.choices(CONFIDENCES, [85, 12, 3])[0],
            "",
            None,
        )
        self.ids.endorsement += 1
        return row

    def _commitments(self, pending, themes, signatories):
        rng = self.rng
        commitments, theme_links, party_links, updates, sources = [], [], [], [], []
        update_parties, party_statuses = [], []
        # Rows of plain values, as for the updates: bulk_create spent longer building its SQL than SQLite writing.
        now = timezone.now()  # what auto_now_add and auto_now would set
        for instrument, number in pending:
            title = f"{rng.choice(VERBS)} {rng.choice(OBJECTS)} {rng.choice(QUALIFIERS)}".strip()
            pk, reference = self.ids.commitment, f"§{number}"
            text = f"Signatories of {instrument.short_title} undertake to {title[0].lower()}{title[1:]}."
            target_date = BASE_DATE + timedelta(days=rng.randint(-400, 1500)) if rng.random() < 0.3 else None
            source_url = f"https://example.org/instruments/{instrument.pk}#p{number}"
            confidence = rng.choices(CONFIDENCES, [85, 12, 3])[0]
            deleted_at = DELETED_AT if rng.random() < 0.005 else None
            self.ids.commitment += 1
            for theme in rng.sample(themes, rng.choice([1, 1, 2, 2, 3])):
                theme_links.append((pk, theme))
            # Most pledges bind every signatory; some name who must act.
            endorsing = signatories[instrument.pk]
            named = []
            if rng.random() < 0.2:
                named = rng.sample(endorsing, min(len(endorsing), rng.randint(1, 3)))
                for party in named:
                    party_links.append((pk, party))
            bound = sorted(
                services.bound_party_ids(
                    named=named, endorsing=endorsing, un_members=self.un_members, adoption=instrument.adoption
                )
            )
            facts = self._updates(pk, reference, instrument.adopted_on, bound, updates, sources, update_parties)
            # The services' own rule, on the rows about to be written. A soft-deleted commitment's updates are
            # not public, so it has none, as services.commitment_refresh_status would find.
            records = services.records_from_updates(facts if deleted_at is None else ())
            overall = records.get(None, services.NOT_ASSESSED)
            commitments.append(
                (
                    pk,
                    instrument.pk,
                    reference,
                    f"{instrument.slug}-{number}",
                    title[:200],
                    text,
                    target_date,
                    source_url,
                    confidence,
                    str(overall.status),  # a plain string, as for the updates' statuses
                    overall.progress,
                    overall.last_update_on,
                    overall.last_reviewed_on,
                    now,
                    now,
                    deleted_at,
                )
            )
            for party in bound:
                record = records.get(party, services.NOT_ASSESSED)
                party_statuses.append((pk, party, *record))
        self._insert(Commitment, COMMITMENT_COLUMNS, commitments)
        self._insert(Commitment.themes.through, THEME_LINK_COLUMNS, theme_links)
        self._insert(Commitment.parties.through, PARTY_LINK_COLUMNS, party_links)
        self._insert(ProgressUpdate, UPDATE_COLUMNS, updates)
        self._insert(ProgressUpdate.parties.through, UPDATE_PARTY_COLUMNS, update_parties)
        self._insert(Source, SOURCE_COLUMNS, sources)
        self._insert(PartyStatus, PARTY_STATUS_COLUMNS, party_statuses)
        self.counts["commitments"] += len(commitments)
        self.counts["updates"] += len(updates)
        self.counts["sources"] += len(sources)

    def _updates(self, commitment, reference, adopted_on, bound, updates, sources, update_parties):
        """Append the update rows of the commitment (its id and reference), their sources and the parties they
        name, in UPDATE_COLUMNS order; return what the status rule reads of its public ones (services.UpdateFacts)."""
        rng = self.rng
        random, choice, randint = rng.random, rng.choice, rng.randint
        count = self.updates_per_commitment
        span = max(1, (BASE_DATE - adopted_on).days)
        days = sorted(randint(0, span) for _ in range(count))
        analysts, editor, rendered, spelt = self.analysts, self.editors[0], self._rendered, self._spelt
        # A few commitments are still being assessed: every update is unpublished.
        never_published = random() < 0.04
        status, facts = None, []
        for index, day in enumerate(days):
            pk = self.ids.update
            self.ids.update += 1
            # One update in ten is a check: searched, nothing new; it keeps the status.
            kind = CHECK if random() < 0.1 else ASSESSMENT
            if kind == ASSESSMENT:
                status = choice(NEXT_STATUS[status])
                low, high = PROGRESS_RANGE[status]
                progress = randint(low, high) if random() < 0.6 else None
            # Four in ten name whose action they record, now and then two parties acting together.
            named = ()
            if bound and random() < 0.4:
                named = tuple(sorted(rng.sample(bound, min(len(bound), 2 if random() < 0.1 else 1))))
            update_parties += [(pk, party) for party in named]
            reported_on = adopted_on + timedelta(days=day)
            # The newest updates are the likeliest to be still in review.
            unpublished = never_published or random() < (0.35 if index >= count - 3 else 0.08)
            state = choice(UNPUBLISHED_STATES) if unpublished else PUBLISHED
            event = choice(EVENTS)
            if state == PUBLISHED:
                published_at = datetime.combine(reported_on + timedelta(days=randint(1, 20)), NINE_AM, UTC)
                published_at += timedelta(minutes=randint(0, 59))
                corrected = random() < 0.02
                deleted = random() < 0.005
                if not deleted:
                    facts.append(
                        services.UpdateFacts(
                            pk,
                            kind,
                            status if kind == ASSESSMENT else "",
                            progress if kind == ASSESSMENT else None,
                            reported_on,
                            published_at,
                            named,
                        )
                    )
                stamp, source_count = published_at, choice(SOURCES_PER_PUBLISHED_UPDATE)
            else:
                published_at, corrected, deleted = None, False, False
                stamp, source_count = datetime.combine(reported_on, NINE_AM, UTC), 1
            returned = state == RETURNED
            if kind == ASSESSMENT:
                template = f"{event} on {{date}}. Our reading: **{STATUS_WORDS[status]}**; " + ASSESSMENT_END
            else:
                template = "Searched the news and official records on {date}: nothing new on {reference}."
            summary, summary_html = rendered(template, spelt(reported_on), reference)
            updates.append(
                (
                    pk,
                    commitment,
                    reported_on,
                    status if kind == ASSESSMENT else "",
                    progress if kind == ASSESSMENT else None,
                    summary,
                    summary_html,
                    rng.choices(CONFIDENCES, cum_weights=CONFIDENCE_CUMULATIVE)[0],
                    kind,
                    choice(analysts),
                    state,
                    editor if state == PUBLISHED or returned else None,
                    "Add a primary source, please." if returned else "",
                    published_at,
                    stamp + CORRECTION_DELAY if corrected else None,
                    "The date of the event was corrected." if corrected else "",
                    stamp,
                    stamp + CORRECTION_DELAY if corrected else stamp,
                    stamp if deleted else None,
                )
            )
            for number in range(source_count):
                publisher = choice(PUBLISHERS)
                sources.append(
                    (
                        self.ids.source,
                        pk,
                        f"https://example.org/news/{pk}/{number}",
                        f"{event} ({publisher})",
                        publisher,
                        reported_on + timedelta(days=randint(0, 5)),
                        f"https://web.archive.org/web/{pk}/{number}" if random() < 0.5 else "",
                    )
                )
                self.ids.source += 1
        return facts

    def status_changes(self) -> int:
        """Every commitment's StatusChange rows, replayed from its updates by the chart's own rule
        (charts.commitment_changes), as charts.status_changes_store would write them into the empty table and in
        its order, but as plain rows (its bulk_create built a model and compiled SQL value by value for each of
        them); returns how many."""
        ids = sorted(Commitment.objects.values_list("pk", flat=True))
        count = 0
        for start in range(0, len(ids), STORE_CHUNK):
            chunk = ids[start : start + STORE_CHUNK]
            wanted = commitment_changes(chunk)
            rows = [(pk, *change) for pk in chunk for change in wanted[pk]]
            self._insert(StatusChange, STATUS_CHANGE_COLUMNS, rows)
            count += len(rows)
        return count

    def _spelt(self, day):
        """The day as a summary writes it ("3 March 2025"): a few thousand days for millions of updates."""
        try:
            return self.days[day]
        except KeyError:
            spelt = self.days[day] = f"{day:%-d %B %Y}"
            return spelt

    def _rendered(self, template, date, reference):
        """The summary `template` filled in with the date and reference, and its HTML as the services would store
        it (render_markdown). Rendering is a third of the time of an update's row, so each template is rendered
        once, with letters in place of the date and the reference, and those put back into the HTML: plain
        words and numbers mean the same in Markdown wherever they stand. Anything else is rendered as it is."""
        summary = template.format(date=date, reference=reference)
        if not PLAIN.fullmatch(date) or not PLAIN.fullmatch(reference):
            return summary, render_markdown(summary)
        try:
            markup = self.markup[template]
        except KeyError:
            markup = self.markup[template] = render_markdown(template.format(date=DATE_MARK, reference=REFERENCE_MARK))
        return summary, markup.replace(DATE_MARK, date).replace(REFERENCE_MARK, reference)

    def _insert(self, model, columns, rows):
        """Insert plain rows: COPY on PostgreSQL, many rows per INSERT elsewhere. bulk_create spends about three
        times longer compiling its SQL value by value than the database spends inserting (10,000 commitments x
        30 updates would take about 90 s on SQLite instead of 30)."""
        if not rows:
            return
        # A translated field (modeltranslation) is read from its column in each language: the English is the text.
        # Unless the rows give that column themselves.
        copies = [
            index
            for index, name in enumerate(columns)
            if name in translated_fields(model) and localized_name(name, SOURCE_LANGUAGE) not in columns
        ]
        if copies:
            columns = [*columns, *(localized_name(columns[index], SOURCE_LANGUAGE) for index in copies)]
            rows = [(*row, *(row[index] for index in copies)) for row in rows]
        ops = connection.ops
        table = ops.quote_name(model._meta.db_table)
        column_list = ", ".join(ops.quote_name(model._meta.get_field(name).column) for name in columns)
        if connection.vendor == "postgresql":
            # COPY: psycopg encodes the rows in C, many times faster than binding parameters in Python.
            with connection.cursor() as cursor, cursor.copy(f"COPY {table} ({column_list}) FROM STDIN") as copy:
                for row in rows:
                    copy.write_row(row)
            return
        # Dates as the fields store them, column by column: each distinct value adapted once, the rest done by
        # zip and map in C (a Python call per value took a fifth of the load).
        adapters = {}
        for index, name in enumerate(columns):
            kind = model._meta.get_field(name).get_internal_type()
            if kind == "DateTimeField":
                adapters[index] = ops.adapt_datetimefield_value
            elif kind == "DateField":
                adapters[index] = ops.adapt_datefield_value
        if adapters:
            values = list(zip(*rows, strict=True))
            for index, adapt in adapters.items():
                adapted = {value: adapt(value) for value in set(values[index]) if value is not None}
                adapted[None] = None
                values[index] = map(adapted.__getitem__, values[index])
            rows = list(zip(*values, strict=True))
        # One prepared statement stepped row by row in C (sqlite3's executemany): faster than statements of a
        # thousand rows, whose parameters Python has to flatten and Django to rewrite from %s to ?.
        with connection.cursor() as cursor:
            cursor.executemany(f"INSERT INTO {table} ({column_list}) VALUES ({', '.join(['%s'] * len(columns))})", rows)
