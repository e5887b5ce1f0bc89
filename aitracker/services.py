"""Every write that changes what the public sees goes through here.

Each function is keyword-only, runs in a transaction, validates, and leaves the commitment's denormalised
records right: its overall status (status, progress, date of the latest published overall assessment, last
review) and one PartyStatus row per party it binds, with that party's own record. The rules are
`bound_party_ids` (whom a commitment binds) and `records_from_updates` (what each record says); every write
that changes whom a commitment binds calls one of the `*_bindings_changed` functions. Views, admin actions and
commands call these; nothing else writes those fields. Those that change a public page call
`public_pages_changed()` first: it moves the data generation in the same transaction, so the cached public
pages are gone the moment the write commits (aitracker/cache.py), and its row lock is the first lock taken.
Then the update's row, then the commitments' rows in key order (`_lock_commitments`), before any read that
decides their status.
"""

import datetime
import re
import secrets
from collections import Counter, defaultdict
from contextlib import contextmanager
from contextvars import ContextVar
from typing import NamedTuple

from django.core.exceptions import PermissionDenied, ValidationError
from django.db import DataError, IntegrityError, transaction
from django.db.models import Count
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop, override

from . import alerts, tasks
from .cache import public_pages_changed
from .history import (
    check_version,
    history_record,
    restored_reason,
)
from .i18n import (
    all_localized_names,
    language_codes,
    localized_name,
    source_language,
    sync_original_columns,
    translated_fields,
)
from .models import (
    LINK_BROKEN_AFTER_FAILURES,
    SUGGESTION_MAX_SOURCES,
    Commitment,
    Endorsement,
    Instrument,
    InstrumentStatusCount,
    LinkStatus,
    OfficialText,
    Party,
    PartyStatus,
    PartyStatusCount,
    ProgressUpdate,
    Source,
    Status,
    StatusChangeCount,
    StatusCount,
    Subscriber,
    Subscription,
    Suggestion,
    Theme,
    ThemeStatusCount,
)
from .rendering import render_markdown
from .search import search_index_refresh, search_targets

State = ProgressUpdate.State

# What staff may change on an update (the rest is workflow: state, reviewer, publication, correction).
UPDATE_FIELDS = ("commitment", "kind", "reported_on", "status", "progress", "confidence", "summary")
# The parties an update names: a many-to-many field, set after the row is saved (see _set_parties).
UPDATE_M2M_FIELDS = ("parties",)
SOURCE_FIELDS = ("url", "title", "publisher", "published_on", "archived_url")
COMMITMENT_FIELDS = ("instrument", "reference", "slug", "title", "text", "target_date", "source_url", "confidence")


def user_is_editor(user) -> bool:
    return bool(user and user.is_active and user.has_perm("aitracker.publish_progressupdate"))


def user_is_analyst(user) -> bool:
    return bool(user and user.is_active and user.has_perm("aitracker.add_progressupdate"))


# --- Who a commitment binds, and each one's record -----------------------------------------------------


class UpdateFacts(NamedTuple):
    """What the status rule reads of one published update."""

    pk: int
    kind: str
    status: str
    progress: int | None
    reported_on: datetime.date
    published_at: datetime.datetime
    party_ids: tuple = ()


class Record(NamedTuple):
    """A commitment's overall record (party None) or one party's on it."""

    status: str = Status.NOT_ASSESSED.value
    progress: int | None = None
    last_update_on: datetime.date | None = None
    last_reviewed_on: datetime.date | None = None
    latest_update_id: int | None = None


NOT_ASSESSED = Record()


def update_order(update) -> tuple:
    """Which of two published updates is the later: by the date of the event, then of publication, then id.
    The latest assessment about a subject gives its status (records_from_updates; aitracker/charts.py)."""
    return (update.reported_on, update.published_at, update.pk)


def records_from_updates(updates) -> dict:
    """The status rule, on the published updates of one commitment: {None: overall record, party id: that
    party's record}. A subject's status, progress and last update are those of the latest assessment about
    it (by date of the event, then of publication, then id); an update naming no party is about the whole
    commitment. A subject was last reviewed on the latest of its assessments' publication days and its checks'
    search days. Subjects with no update are absent (NOT_ASSESSED). seed_synthetic uses this too."""
    latest, published, searched = {}, {}, {}
    check = ProgressUpdate.Kind.CHECK
    for update in sorted(updates, key=update_order, reverse=True):
        for subject in update.party_ids or (None,):
            if update.kind == check:
                if subject not in searched or update.reported_on > searched[subject]:
                    searched[subject] = update.reported_on
                continue
            if subject not in latest:
                latest[subject] = update
            if subject not in published or update.published_at > published[subject]:
                published[subject] = update.published_at
    records = {}
    for subject in latest.keys() | searched.keys():
        # The publication day in the site's time zone; the latest publication has the latest day.
        days = [day for day in (searched.get(subject),) if day]
        if subject in published:
            days.append(timezone.localdate(published[subject]))
        update = latest.get(subject)
        if update is None:
            records[subject] = NOT_ASSESSED._replace(last_reviewed_on=max(days))
        else:
            records[subject] = Record(update.status, update.progress, update.reported_on, max(days), update.pk)
    return records


def bound_party_ids(*, named, endorsing, un_members, adoption) -> set[int]:
    """The one rule of whom a commitment binds: the parties it names; or, naming none, every party whose
    relation to its instrument is an endorsing one (signed, joined later, sponsored, voted yes: `endorsing`),
    plus every UN member state when the instrument was adopted without a vote. seed_synthetic uses it too."""
    if named:
        return set(named)
    bound = set(endorsing)
    if adoption == Instrument.Adoption.WITHOUT_VOTE:
        bound |= set(un_members)
    return bound


def _bound_by_commitment(commitments) -> dict[int, set[int]]:
    """{commitment pk: the party pks it binds} for loaded commitments, in four queries however many."""
    pks = [commitment.pk for commitment in commitments]
    instrument_ids = {commitment.instrument_id for commitment in commitments}
    named = defaultdict(list)
    for commitment_id, party_id in Commitment.parties.through.objects.filter(commitment__in=pks).values_list(
        "commitment", "party"
    ):
        named[commitment_id].append(party_id)
    adoption = dict(Instrument.objects.filter(pk__in=instrument_ids).values_list("pk", "adoption"))
    endorsing = defaultdict(list)
    for instrument_id, party_id in Endorsement.objects.filter(
        instrument__in=instrument_ids, relation__in=Endorsement.Relation.endorsing()
    ).values_list("instrument", "party"):
        endorsing[instrument_id].append(party_id)
    un_members = ()
    if Instrument.Adoption.WITHOUT_VOTE in adoption.values():
        un_members = list(Party.objects.filter(un_member=True).values_list("pk", flat=True))
    return {
        commitment.pk: bound_party_ids(
            named=named[commitment.pk],
            endorsing=endorsing[commitment.instrument_id],
            un_members=un_members,
            adoption=adoption.get(commitment.instrument_id),
        )
        for commitment in commitments
    }


def commitment_bound_party_ids(*, commitment: Commitment) -> set[int]:
    """The parties the commitment binds, read from the database."""
    return _bound_by_commitment([commitment])[commitment.pk]


def _sync_many(commitments) -> None:
    bound = _bound_by_commitment(commitments)
    existing = defaultdict(set)
    for commitment_id, party_id in PartyStatus.objects.filter(commitment__in=list(bound)).values_list(
        "commitment", "party"
    ):
        existing[commitment_id].add(party_id)
    new_rows = []
    for commitment_id, parties in bound.items():
        gone = existing[commitment_id] - parties
        if gone:
            PartyStatus.objects.filter(commitment=commitment_id, party__in=gone).delete()
        new_rows += [
            PartyStatus(commitment_id=commitment_id, party_id=party_id)
            for party_id in sorted(parties - existing[commitment_id])
        ]
    if new_rows:
        PartyStatus.objects.bulk_create(new_rows, batch_size=1000)


def _published_facts(commitment_ids) -> dict[int, list[UpdateFacts]]:
    """The published updates of the commitments with the parties they name, in two queries."""
    rows = list(
        ProgressUpdate.objects.public()
        .filter(commitment__in=commitment_ids)
        .values_list("commitment", "pk", "kind", "status", "progress", "reported_on", "published_at")
    )
    named = defaultdict(list)
    if rows:
        links = ProgressUpdate.parties.through.objects.filter(progressupdate__in=[row[1] for row in rows])
        for update_id, party_id in links.values_list("progressupdate_id", "party_id"):
            named[update_id].append(party_id)
    facts = defaultdict(list)
    for commitment_id, *row in rows:
        facts[commitment_id].append(UpdateFacts(*row, party_ids=tuple(sorted(named[row[0]]))))
    return facts


PARTY_STATUS_FIELDS = Record._fields
OVERALL_FIELDS = ("current_status", "current_progress", "last_update_on", "last_reviewed_on")


def _refresh_many(commitments) -> int:
    """The status rule applied to loaded commitments and their PartyStatus rows, in a constant number of
    queries (plus one per commitment whose overall record changes); returns how many of those changed."""
    facts = _published_facts([commitment.pk for commitment in commitments])
    records = {commitment.pk: records_from_updates(facts[commitment.pk]) for commitment in commitments}
    changed = 0
    for commitment in commitments:
        overall = records[commitment.pk].get(None, NOT_ASSESSED)
        values = dict(zip(OVERALL_FIELDS, overall[:4], strict=True))
        if any(getattr(commitment, field) != value for field, value in values.items()):
            for field, value in values.items():
                setattr(commitment, field, value)
            # .update() keeps the denormalised refresh out of the commitment's editorial history.
            Commitment.objects.filter(pk=commitment.pk).update(**values)
            changed += 1
    stale_rows = []
    rows = PartyStatus.objects.filter(commitment__in=list(records)).only(
        "pk", "commitment", "party", "status", "progress", "last_update_on", "last_reviewed_on", "latest_update"
    )
    for row in rows:
        wanted = records[row.commitment_id].get(row.party_id, NOT_ASSESSED)._asdict()
        if any(getattr(row, field) != value for field, value in wanted.items()):
            for field, value in wanted.items():
                setattr(row, field, value)
            stale_rows.append(row)
    if stale_rows:
        PartyStatus.objects.bulk_update(stale_rows, PARTY_STATUS_FIELDS, batch_size=500)
    status_changes_store(commitment_ids=list(records))
    return changed


def status_changes_store(*, commitment_ids) -> None:
    """The progress chart's rows of these commitments (aitracker/charts.py, which imports this module), and the
    difference they make to its kept counts."""
    from .charts import status_changes_store as store

    difference = store(commitment_ids=commitment_ids)
    with kept_counts():
        _pending_counts.get().update({("chart", *key): n for key, n in difference.items()})


def commitment_refresh_status(*, commitment: Commitment) -> Commitment:
    """Recompute the commitment's overall record (from the latest published assessment naming no party) and
    every one of its PartyStatus rows, from its published updates. A constant number of queries, however many
    parties it binds. Callers hold the commitment's row lock where concurrent writes are possible."""
    with _counting([commitment.pk]):
        _refresh_many([commitment])
    return commitment


# --- The kept counts (models.PartyStatusCount, StatusCount, InstrumentStatusCount, ThemeStatusCount, -----------
# StatusChangeCount)
#
# Counts over every public commitment, kept as data so that a page reads a few rows instead of counting
# millions: each party's commitments by its status (from the PartyStatus rows); the commitments by their overall
# status, in all, by instrument and by theme (from the Commitment rows and their themes); and the progress
# chart's changes per month (from the StatusChange rows). Every write that changes PartyStatus rows, a
# commitment's status, instrument or themes, or whether it is public, does so inside a `_counting(commitment
# pks)` block: the block reads the tally of those commitments' rows before and after and adds the difference to
# the pending one; status_changes_store adds the chart's. The outermost `kept_counts()` block applies it once, at
# its end. Once per transaction where it can be: the rows are then locked once, in key order, so two writes
# counting the same rows wait for each other and never deadlock (a second application could otherwise wait on
# another transaction's new row while holding rows that transaction waits for). A transaction that calls several
# services (an admin form's inlines, a CSV import) applies once per service: what keeps two of those apart is
# the data generation's row lock, which every service that counts takes first (public_pages_changed), so they
# never interleave. Only an exception aborts a block: a savepoint rolled back inside one would leave its
# difference pending.

_pending_counts: ContextVar[Counter | None] = ContextVar("pending_kept_counts", default=None)
_counting_now: ContextVar[frozenset | None] = ContextVar("counting_commitments", default=None)


# {kind: (model, its key fields)} of the pending counts' keys (kind, *key).
KEPT_COUNT_MODELS = {
    "party": (PartyStatusCount, ("party_id", "status")),
    "status": (StatusCount, ("status",)),
    "instrument": (InstrumentStatusCount, ("instrument_id", "status")),
    "theme": (ThemeStatusCount, ("theme_id", "status")),
    "chart": (StatusChangeCount, ("month", "status", "previous")),
}


def _tally(commitment_ids=None) -> Counter:
    """{(kind, *key): n} over these commitments that are public (every public commitment when None): their
    PartyStatus rows by party and status, and the commitments by overall status, in all, by instrument and by
    theme. Four grouped queries per 2,000 commitments."""
    parties = PartyStatus.objects.public().order_by()
    commitments = Commitment.objects.public().order_by()
    themes = Commitment.themes.through.objects.filter(commitment__in=Commitment.objects.public()).order_by()
    if commitment_ids is None:
        chunks = [(parties, commitments, themes)]
    else:
        chunks = []
        for start in range(0, len(commitment_ids), 2000):
            ids = commitment_ids[start : start + 2000]
            chunks.append(
                (parties.filter(commitment__in=ids), commitments.filter(pk__in=ids), themes.filter(commitment__in=ids))
            )
    tally = Counter()
    for parties, commitments, themes in chunks:
        for party_id, status, n in parties.values_list("party", "status").annotate(n=Count("pk")):
            tally["party", party_id, status] += n
        for instrument_id, status, n in commitments.values_list("instrument", "current_status").annotate(n=Count("pk")):
            tally["instrument", instrument_id, status] += n
            tally["status", status] += n
        for theme_id, status, n in themes.values_list("theme", "commitment__current_status").annotate(n=Count("pk")):
            tally["theme", theme_id, status] += n
    return tally


@contextmanager
def kept_counts():
    """Apply the difference pending from the block's writes to the kept counts once, at the end of this block
    (nested: at the end of the outermost), in the block's transaction."""
    if _pending_counts.get() is not None:
        yield
        return
    token = _pending_counts.set(Counter())
    try:
        # The block's writes and their counts commit together or not at all.
        with transaction.atomic():
            yield
            _kept_counts_add(_pending_counts.get())
    finally:
        _pending_counts.reset(token)


@contextmanager
def _counting(commitment_ids, *, new=False):
    """Count what the block's writes change in these commitments' rows (their PartyStatus rows, status,
    instrument, themes, or their being public). `new`: the commitments were added in this transaction, just
    before the block, and are counted from nothing. Inside a block counting them already, a block counts
    nothing more (the outer one's difference holds it); a block inside one counting other commitments would
    count some changes twice, and is refused."""
    ids = frozenset(commitment_ids)
    outer = _counting_now.get()
    if outer is not None:
        if not ids <= outer:
            raise RuntimeError("a counting block inside one counting other commitments")
        yield
        return
    ordered = sorted(ids)
    with kept_counts():
        before = Counter() if new else _tally(ordered)
        token = _counting_now.set(ids)
        try:
            yield
        finally:
            _counting_now.reset(token)
        difference = _pending_counts.get()
        difference.update(_tally(ordered))
        difference.subtract(before)


def _kept_counts_add(difference: Counter) -> None:
    """Add {(kind, *key): n} to the kept counts: for each kind, the missing rows created, then every row
    concerned locked in key order and rewritten, in three queries."""
    for kind, (model, fields) in KEPT_COUNT_MODELS.items():
        changed = {tuple(key[1:]): n for key, n in difference.items() if key[0] == kind and n}
        if not changed:
            continue
        model.objects.bulk_create(
            [model(**dict(zip(fields, key, strict=True))) for key in sorted(changed)],
            ignore_conflicts=True,
            batch_size=500,
        )
        concerned = {f"{field}__in": {key[i] for key in changed} for i, field in enumerate(fields)}
        stale = []
        # A key missing here lost its row to a deletion committed meanwhile (a party's, by cascade): skipped.
        for row in model.objects.select_for_update().filter(**concerned).order_by(*fields):
            if n := changed.get(tuple(getattr(row, field) for field in fields)):
                row.count += n
                stale.append(row)
        model.objects.bulk_update(stale, ["count"], batch_size=500)


def kept_counts_rebuild() -> None:
    """Count again, from the rows they count (after a bulk load: seed_synthetic, restore, a migration;
    commitments_refresh_all): every party's public commitments by its status, the public commitments by status
    (in all, by instrument, by theme), the chart's changes per month."""
    from .charts import status_change_tally

    with transaction.atomic():
        for model, _fields in KEPT_COUNT_MODELS.values():
            model.objects.all().delete()
        tally = _tally()
        tally.update({("chart", month, status, previous): n for month, status, previous, n in status_change_tally()})
        _kept_counts_add(tally)


def _lock_commitments(*pks) -> list[Commitment]:
    """Lock these commitments' rows, in key order, and return them as they stand once the locks are granted.

    Take it before reading the published updates that decide a commitment's status: a second transaction
    refreshing the same commitment then waits for the first to commit and reads what it wrote, instead of
    recomputing from a view without it and overwriting its status. Key order, so that two transactions
    locking the same two commitments (an update moved from one to the other) never wait for each other.
    FOR NO KEY UPDATE: adding an update to the commitment (a foreign key to it) need not wait.
    """
    keys = sorted({pk for pk in pks if pk is not None})
    return list(Commitment.objects.select_for_update(no_key=True).filter(pk__in=keys).order_by("pk"))


def _refresh_commitments(update: ProgressUpdate, *other_pks) -> None:
    """Recompute the current status of the update's commitment (and of the others, e.g. the one it moved
    from), each under its row lock."""
    with kept_counts():
        for commitment in _lock_commitments(update.commitment_id, *other_pks):
            commitment_refresh_status(commitment=commitment)
            if commitment.pk == update.commitment_id:
                # The caller's update then shows its commitment as it now stands.
                update.commitment = commitment


REBIND_CHUNK = 200


def _rebind_in_chunks(queryset) -> int:
    """Sync then refresh the commitments of `queryset`, a chunk at a time, each chunk locked in key order; the
    kept counts once, after the last chunk."""
    changed = 0
    pks = list(queryset.order_by("pk").values_list("pk", flat=True))
    with kept_counts():
        for start in range(0, len(pks), REBIND_CHUNK):
            chunk = list(
                Commitment.objects.select_for_update().filter(pk__in=pks[start : start + REBIND_CHUNK]).order_by("pk")
            )
            with _counting([commitment.pk for commitment in chunk]):
                _sync_many(chunk)
                changed += _refresh_many(chunk)
    return changed


@transaction.atomic
def commitments_rebind(*, commitments) -> None:
    """After a change to whom commitments bind (an endorsement, a commitment's parties, an instrument's
    adoption, a party's UN membership): their PartyStatus rows, then what they say. Locked in key order."""
    public_pages_changed()
    _rebind_in_chunks(Commitment.objects.filter(pk__in=sorted({commitment.pk for commitment in commitments})))


@transaction.atomic
def instrument_bindings_changed(*, instrument) -> None:
    """An endorsement of the instrument, or its adoption, changed: every commitment of it may bind others."""
    public_pages_changed()
    _rebind_in_chunks(Commitment.objects.filter(instrument=instrument))


@transaction.atomic
def party_bindings_changed(*, party) -> None:
    """A party's UN membership changed: the commitments of instruments adopted without a vote may bind it
    or not any more. (Its endorsements go through instrument_bindings_changed.)"""
    public_pages_changed()
    _rebind_in_chunks(Commitment.objects.filter(instrument__adoption=Instrument.Adoption.WITHOUT_VOTE))


@transaction.atomic
def commitment_bindings_changed(*, commitment) -> None:
    """The commitment's named parties (or its instrument) changed."""
    commitments_rebind(commitments=[commitment])


@transaction.atomic
def commitments_refresh_all() -> int:
    """Recompute whom every commitment binds and every record; returns how many overall records changed."""
    public_pages_changed()
    changed = _rebind_in_chunks(Commitment.objects.all())
    kept_counts_rebuild()
    return changed


def _require_editor(user):
    if not user_is_editor(user):
        raise PermissionDenied(_("Only editors may do this."))


def _require_author_or_editor(update, user):
    if not (user_is_editor(user) or (user_is_analyst(user) and update.author_id == user.pk)):
        raise PermissionDenied(_("You may only change your own updates."))


def _check_future(reported_on):
    if reported_on and reported_on > timezone.localdate():
        raise ValidationError({"reported_on": _("The date of the event cannot be in the future.")})


def _check_commitment_live(commitment_id):
    if Commitment.objects.filter(pk=commitment_id, deleted_at__isnull=False).exists():
        raise ValidationError({"commitment": _("This commitment has been deleted; restore it first.")})


def _save_with_history(obj, *, user, reason="", **kwargs):
    """Save and record who did it and why, also outside a request (commands, imports, tests)."""
    obj._history_user = user
    obj._change_reason = reason
    sync_original_columns(obj)  # the history records the English text of a translated field
    obj.save(**kwargs)


def _render_summary(update) -> None:
    """Render the summary once, here, so that no page view ever runs the Markdown parser on stored text: in
    every language it has (summary_<lang> -> summary_html_<lang>; no summary in a language, no HTML)."""
    for language in language_codes():
        summary = getattr(update, localized_name("summary", language))
        setattr(update, localized_name("summary_html", language), render_markdown(summary) if summary else None)


def progress_updates_rerender(*, batch_size: int = 500) -> int:
    """Render every stored summary again (after the sanitiser's rules change, or rows loaded from fixtures,
    which carry no HTML); returns how many changed. The HTML is derived data: no history entry is written."""
    changed = 0
    with transaction.atomic():
        summaries = [localized_name("summary", language) for language in language_codes()]
        htmls = [localized_name("summary_html", language) for language in language_codes()]
        rows = ProgressUpdate.objects.order_by("pk").values_list("pk", *summaries, *htmls)
        pending = []
        for pk, *texts in rows.iterator(chunk_size=batch_size):
            stored = texts[len(summaries) :]
            rendered = [render_markdown(text) if text else None for text in texts[: len(summaries)]]
            if rendered != stored:
                pending.append(ProgressUpdate(pk=pk, **dict(zip(htmls, rendered, strict=True))))
            if len(pending) >= batch_size:
                ProgressUpdate.objects.bulk_update(pending, htmls)
                changed += len(pending)
                pending = []
        if pending:
            ProgressUpdate.objects.bulk_update(pending, htmls)
            changed += len(pending)
        if changed:
            public_pages_changed()
    return changed


def _lock(update) -> ProgressUpdate:
    return ProgressUpdate.objects.select_for_update().get(pk=update.pk)


def _set_parties(update, parties) -> None:
    """Name the update's parties (None: leave them as they are). The many-to-many history records the change."""
    if parties is None:
        return
    wanted = {getattr(party, "pk", party) for party in parties}
    if wanted != set(update.parties.values_list("pk", flat=True)):
        update.parties.set(sorted(wanted))


@transaction.atomic
def progress_update_create(*, commitment, author, sources=(), parties=(), **fields) -> ProgressUpdate:
    """Create a draft update with its sources (a list of dicts of Source fields) and the parties it names."""
    if not user_is_analyst(author):
        raise PermissionDenied(_("Only analysts and editors may log progress updates."))
    with source_language():  # the staff workflow writes the English text; translations come in the admin
        update = ProgressUpdate(commitment=commitment, author=author, state=State.DRAFT, **fields)
    _check_future(update.reported_on)
    _check_commitment_live(update.commitment_id)
    update.full_clean()
    _render_summary(update)
    _save_with_history(update, user=author, reason=_("Logged as a draft"))
    _set_parties(update, parties)
    _sync_sources(update=update, sources=sources, user=author)
    return update


@transaction.atomic
def progress_update_submit(*, update: ProgressUpdate, user) -> ProgressUpdate:
    update = ProgressUpdate.objects.select_for_update().get(pk=update.pk)
    _require_author_or_editor(update, user)
    if update.state not in (State.DRAFT, State.RETURNED):
        raise ValidationError(_("Only a draft or a returned update can be submitted."))
    if not update.sources.exists():
        raise ValidationError(_("Add at least one source before submitting."))
    _check_future(update.reported_on)
    _check_commitment_live(update.commitment_id)
    update.state = State.SUBMITTED
    _save_with_history(update, user=user, reason=_("Submitted for review"), update_fields=["state", "updated_at"])
    return update


@transaction.atomic
def progress_update_return(*, update: ProgressUpdate, editor, note: str) -> ProgressUpdate:
    _require_editor(editor)
    update = ProgressUpdate.objects.select_for_update().get(pk=update.pk)
    if update.state != State.SUBMITTED:
        raise ValidationError(_("Only a submitted update can be returned."))
    if not note.strip():
        raise ValidationError({"review_note": _("Say what the analyst should change.")})
    update.state = State.RETURNED
    update.reviewer = editor
    update.review_note = note.strip()
    update.full_clean()
    _save_with_history(
        update,
        user=editor,
        reason=_("Returned to the analyst"),
        update_fields=["state", "reviewer", "review_note", "updated_at"],
    )
    return update


@transaction.atomic
def progress_update_publish(*, update: ProgressUpdate, editor, now=None) -> ProgressUpdate:
    public_pages_changed()
    _require_editor(editor)
    update = ProgressUpdate.objects.select_for_update().get(pk=update.pk)
    if update.state != State.SUBMITTED:
        raise ValidationError(_("Only a submitted update can be published."))
    if update.deleted_at is not None:
        raise ValidationError(_("A deleted update cannot be published."))
    if not update.sources.exists():
        raise ValidationError(_("A published update needs at least one source."))
    _check_future(update.reported_on)
    _check_commitment_live(update.commitment_id)
    update.state = State.PUBLISHED
    update.reviewer = editor
    update.published_at = now or timezone.now()
    update.full_clean()
    _save_with_history(
        update, user=editor, reason=_("Published"), update_fields=["state", "reviewer", "published_at", "updated_at"]
    )
    _refresh_commitments(update)
    search_index_refresh(objects=[update])
    _sources_published(update)
    _alert_on_commit(update, alerts.PUBLISHED)
    return update


def _sources_published(update) -> None:
    """Once the publication commits, a job checks its sources' links (and asks for archived copies)."""
    from .link_tasks import check_update_sources

    pk = update.pk
    transaction.on_commit(lambda: check_update_sources.enqueue(update_id=pk))


@transaction.atomic
def progress_update_unpublish(*, update: ProgressUpdate, editor, note: str) -> ProgressUpdate:
    """Take a published update off the public site; it goes back to its author with the editor's note."""
    public_pages_changed()
    _require_editor(editor)
    update = ProgressUpdate.objects.select_for_update().get(pk=update.pk)
    if update.state != State.PUBLISHED:
        raise ValidationError(_("Only a published update can be unpublished."))
    if not note.strip():
        raise ValidationError({"review_note": _("Say why the update is taken down.")})
    update.state = State.RETURNED
    update.published_at = None
    update.reviewer = editor
    update.review_note = note.strip()
    update.full_clean()
    _save_with_history(
        update,
        user=editor,
        reason=_("Unpublished"),
        update_fields=["state", "published_at", "reviewer", "review_note", "updated_at"],
    )
    _refresh_commitments(update)
    search_index_refresh(objects=[update])
    return update


# --- Sources ---------------------------------------------------------------------------------------------


def _sync_sources(*, update: ProgressUpdate, sources, user) -> None:
    """Make the update's sources exactly `sources`: dicts of Source fields, with "id" for an existing one.

    Existing sources left out are removed; their history keeps them, and restoring an earlier version of the
    update brings them back.
    """
    existing = {source.pk: source for source in update.sources.all()}
    kept = set()
    for data in sources:
        pk = data.get("id")
        values = {field: data.get(field) for field in SOURCE_FIELDS if field in data}
        for field in ("publisher", "archived_url"):
            if values.get(field) is None and field in values:
                values[field] = ""
        if values.get("published_on") and values["published_on"] > timezone.localdate():
            raise ValidationError({"sources": _("A source cannot be published in the future.")})
        if pk is not None and pk in existing:
            source = existing[pk]
            kept.add(pk)
            if all(getattr(source, field) == value for field, value in values.items()):
                continue
            for field, value in values.items():
                setattr(source, field, value)
        elif pk is not None and Source.objects.filter(pk=pk).exists():
            raise ValidationError({"sources": _("One of the sources belongs to another update.")})
        else:
            source = Source(update=update, **values)
        source.full_clean()
        _save_with_history(source, user=user)
    for pk, source in existing.items():
        if pk not in kept:
            source._history_user = user
            source.delete()


def _apply_update_fields(update, fields) -> None:
    unknown = set(fields) - set(UPDATE_FIELDS)
    if unknown:
        raise ValueError(f"not editable: {sorted(unknown)}")
    with source_language():
        for field, value in fields.items():
            setattr(update, field, value)
    _check_future(update.reported_on)
    _check_commitment_live(update.commitment_id)
    update.full_clean()
    _render_summary(update)


@transaction.atomic
def progress_update_edit(*, update: ProgressUpdate, user, expected_version=None, sources=None, parties=None, **fields):
    """Change an unpublished update (and its sources, if given). Its author may change a draft or a returned
    update; an editor may change any unpublished one. A published update is corrected instead."""
    current = _lock(update)
    _require_author_or_editor(current, user)
    if current.deleted_at is not None:
        raise ValidationError(_("This update has been deleted."))
    if current.state == State.PUBLISHED:
        raise ValidationError(_("A published update is corrected by an editor, not edited."))
    if not user_is_editor(user) and current.state not in (State.DRAFT, State.RETURNED):
        raise PermissionDenied(_("This update is waiting for review; it cannot be changed now."))
    check_version(obj=current, expected_version=expected_version)
    _apply_update_fields(current, fields)
    _save_with_history(current, user=user, reason=_("Edited"))
    _set_parties(current, parties)
    if sources is not None:
        _sync_sources(update=current, sources=sources, user=user)
    if current.state == State.SUBMITTED and not current.sources.exists():
        raise ValidationError(_("An update under review needs at least one source."))
    return current


@transaction.atomic
def progress_update_correct(
    *, update: ProgressUpdate, editor, note: str, expected_version=None, sources=None, parties=None, **fields
) -> ProgressUpdate:
    """Correct a published update in place: the public page says it was corrected, when and why, and the
    earlier version stays in the history."""
    public_pages_changed()
    _require_editor(editor)
    current = _lock(update)
    if current.state != State.PUBLISHED or current.deleted_at is not None:
        raise ValidationError(_("Only a published update can be corrected."))
    if not (note or "").strip():
        raise ValidationError({"correction_note": _("Say what was corrected; the note is shown to the public.")})
    check_version(obj=current, expected_version=expected_version)
    previous_commitment_id = current.commitment_id
    current.corrected_at = timezone.now()
    with source_language():
        current.correction_note = note.strip()
    _apply_update_fields(current, fields)  # validates the note's length too
    _save_with_history(current, user=editor, reason=_("Corrected"))
    _set_parties(current, parties)
    if sources is not None:
        _sync_sources(update=current, sources=sources, user=editor)
    if not current.sources.exists():
        raise ValidationError(_("A published update needs at least one source."))
    _refresh_commitments(current, previous_commitment_id)
    search_index_refresh(objects=[current])
    _alert_on_commit(current, alerts.CORRECTED)
    return current


# --- History and restore ---------------------------------------------------------------------------------


def _sources_of_version(update, record) -> list[dict]:
    """The update's sources as they stood while `record` was its current version.

    Sources are saved just after their update, so the version's sources are those of the moment the next
    version of the update was saved (or of now, for the latest).
    """
    following = update.history.filter(history_date__gt=record.history_date).order_by("history_date").first()
    rows = Source.history.filter(update_id=update.pk).order_by("history_date", "history_id")
    if following is not None:
        rows = rows.filter(history_date__lt=following.history_date)
    latest = {}
    for row in rows:
        latest[row.id] = row
    live_ids = set(update.sources.values_list("pk", flat=True))
    return [
        {"id": row.id if row.id in live_ids else None, **{field: getattr(row, field) for field in SOURCE_FIELDS}}
        for row in latest.values()
        if row.history_type != "-"
    ]


@transaction.atomic
def progress_update_restore(*, update: ProgressUpdate, history_id: int, editor, expected_version=None):
    """Bring back an earlier version of an update's content and sources. The workflow (state, review,
    publication) stays as it is; restoring a published update is a correction, shown as such."""
    public_pages_changed()
    _require_editor(editor)
    current = _lock(update)
    check_version(obj=current, expected_version=expected_version)
    record = current.history.filter(history_id=history_id).first()
    if record is None or record.history_type == "-":
        raise ValidationError(_("There is no such version of this update."))
    previous_commitment_id = current.commitment_id
    sources = _sources_of_version(current, record)
    with source_language():  # the history keeps the English text (_save_with_history)
        for field in UPDATE_FIELDS:
            attname = current._meta.get_field(field).attname
            setattr(current, attname, getattr(record, attname))
    _check_commitment_live(current.commitment_id)
    current.full_clean()
    _render_summary(current)
    reason = restored_reason(record)
    if current.state == State.PUBLISHED:
        current.corrected_at = timezone.now()
        with source_language():
            current.correction_note = gettext_in_source_language("An earlier version was restored.")
    _save_with_history(current, user=editor, reason=reason)
    _set_parties(current, [row.party_id for row in record.parties.all()])
    _sync_sources(update=current, sources=sources, user=editor)
    if current.state in (State.SUBMITTED, State.PUBLISHED) and not current.sources.exists():
        raise ValidationError(_("That version had no source; an update under review or published needs one."))
    _refresh_commitments(current, previous_commitment_id)
    search_index_refresh(objects=[current])
    return current


@transaction.atomic
def commitment_restore(*, commitment: Commitment, history_id: int, editor, expected_version=None) -> Commitment:
    """Bring back an earlier version of a commitment (its text, scope, themes and parties)."""
    public_pages_changed()
    _require_editor(editor)
    current = Commitment.objects.select_for_update().get(pk=commitment.pk)
    check_version(obj=current, expected_version=expected_version)
    record = current.history.filter(history_id=history_id).first()
    if record is None or record.history_type == "-":
        raise ValidationError(_("There is no such version of this commitment."))
    with source_language():  # the history keeps the English text (_save_with_history)
        for field in COMMITMENT_FIELDS:
            attname = current._meta.get_field(field).attname
            setattr(current, attname, getattr(record, attname))
    current.full_clean()
    with _counting([current.pk]):  # its instrument and themes, whom it binds, then what each record says
        _save_with_history(current, user=editor, reason=restored_reason(record))
        current.themes.set([row.theme_id for row in record.themes.all()])
        current.parties.set([row.party_id for row in record.parties.all()])
        _sync_many([current])
        _refresh_many([current])
    search_index_refresh(objects=[current])
    return current


# --- Soft delete and undo --------------------------------------------------------------------------------


@transaction.atomic
def progress_update_delete(*, update: ProgressUpdate, editor) -> ProgressUpdate:
    """Soft delete: the update leaves every page and the review queue, and an editor can undo it."""
    public_pages_changed()
    _require_editor(editor)
    update = _lock(update)
    if update.deleted_at is not None:
        raise ValidationError(_("This update is already deleted."))
    update.deleted_at = timezone.now()
    _save_with_history(update, user=editor, reason=_("Deleted"), update_fields=["deleted_at", "updated_at"])
    _refresh_commitments(update)
    search_index_refresh(objects=[update])
    return update


@transaction.atomic
def progress_update_undelete(*, update: ProgressUpdate, editor) -> ProgressUpdate:
    public_pages_changed()
    _require_editor(editor)
    update = _lock(update)
    if update.deleted_at is None:
        raise ValidationError(_("This update is not deleted."))
    update.deleted_at = None
    _save_with_history(update, user=editor, reason=_("Deletion undone"), update_fields=["deleted_at", "updated_at"])
    _refresh_commitments(update)
    search_index_refresh(objects=[update])
    return update


@transaction.atomic
def commitment_delete(*, commitment: Commitment, editor) -> Commitment:
    """Soft delete: the commitment and its updates leave the public site; an editor can undo it."""
    public_pages_changed()
    _require_editor(editor)
    commitment = Commitment.objects.select_for_update().get(pk=commitment.pk)
    if commitment.deleted_at is not None:
        raise ValidationError(_("This commitment is already deleted."))
    commitment.deleted_at = timezone.now()
    with _counting([commitment.pk]):  # its parties' counts and the chart lose it
        _save_with_history(commitment, user=editor, reason=_("Deleted"), update_fields=["deleted_at", "updated_at"])
        status_changes_store(commitment_ids=[commitment.pk])
    search_index_refresh(objects=[commitment])
    return commitment


@transaction.atomic
def commitment_undelete(*, commitment: Commitment, editor) -> Commitment:
    public_pages_changed()
    _require_editor(editor)
    commitment = Commitment.objects.select_for_update().get(pk=commitment.pk)
    if commitment.deleted_at is None:
        raise ValidationError(_("This commitment is not deleted."))
    commitment.deleted_at = None
    with _counting([commitment.pk]):  # its parties' counts have it again
        _save_with_history(
            commitment, user=editor, reason=_("Deletion undone"), update_fields=["deleted_at", "updated_at"]
        )
        _refresh_many([commitment])
    search_index_refresh(objects=[commitment])
    return commitment


# --- Reference data and sources: the writes behind the admin's forms, inlines, deletes and "Revert" --------

REFERENCE_MODELS = (Instrument, Party, Endorsement, Theme, OfficialText)


def _require_reference(obj) -> None:
    if not isinstance(obj, REFERENCE_MODELS):
        raise TypeError(f"not reference data: {type(obj).__name__}")


@transaction.atomic
def reference_save(*, obj, editor, reason: str = ""):
    """Add or change an instrument, a party, an endorsement or a theme."""
    public_pages_changed()
    _require_editor(editor)
    _require_reference(obj)
    before = _binding_facts(obj)
    obj.full_clean()
    _save_with_history(obj, user=editor, reason=reason or (_("Changed") if obj.pk else _("Added")))
    with kept_counts():  # an endorsement moved between instruments rebinds both
        _reference_bindings_changed(obj, before)
    search_index_refresh(objects=[obj])
    return obj


def _binding_facts(obj):
    """What of a stored reference row decides whom commitments bind, or from when the chart counts them (None
    for a new row)."""
    if obj.pk is None:
        return None
    # An instrument's adoption day decides from which month the progress chart counts its commitments.
    fields = {
        Endorsement: ("instrument_id", "relation", "party_id"),
        Instrument: ("adoption", "adopted_on"),
        Party: ("un_member",),
    }
    names = fields.get(type(obj))
    if not names:
        return ()
    return type(obj).objects.filter(pk=obj.pk).values_list(*names).first()


def _reference_bindings_changed(obj, before) -> None:
    """After a write to reference data: rebind the commitments whose parties it may have changed (an
    endorsement's instrument, before and after; an instrument's adoption; a party's UN membership)."""
    after = _binding_facts(obj) if obj.pk is not None else None
    if before is not None and before == after:
        return
    if isinstance(obj, Endorsement):
        instrument_ids = {obj.instrument_id} | ({before[0]} if before else set())
        for instrument in Instrument.objects.filter(pk__in=instrument_ids).order_by("pk"):
            instrument_bindings_changed(instrument=instrument)
    elif isinstance(obj, Instrument) and obj.pk is not None:
        instrument_bindings_changed(instrument=obj)
    elif isinstance(obj, Party) and obj.pk is not None:
        party_bindings_changed(party=obj)


@transaction.atomic
def reference_restore(*, obj, history_id: int, editor):
    """Bring back an earlier version of an instrument, a party, an endorsement or a theme, exactly as recorded."""
    public_pages_changed()
    _require_editor(editor)
    _require_reference(obj)
    current = type(obj).objects.select_for_update().get(pk=obj.pk)
    record = history_record(current, history_id)
    with source_language():  # the history keeps a translated field's English in its original column
        for field in current._meta.concrete_fields:
            # The per-language columns are not in the history (models.translation_columns): translations stay.
            if not field.primary_key and hasattr(record, field.attname):
                setattr(current, field.attname, getattr(record, field.attname))
    before = _binding_facts(current)
    current.full_clean()
    _save_with_history(current, user=editor, reason=restored_reason(record))
    with kept_counts():
        _reference_bindings_changed(current, before)
    search_index_refresh(objects=[current])
    return current


@transaction.atomic
def reference_delete(*, obj, user) -> None:
    """Reference data is corrected, not deleted: only an administrator may delete it (the history keeps it)."""
    public_pages_changed()
    _require_reference(obj)
    if not (user and user.is_active and user.is_superuser):
        raise PermissionDenied(_("Only an administrator may delete reference data; correct it instead."))
    obj._history_user = user
    # What shows the object (an instrument's commitments and updates), read while it still exists.
    search_targets_before = search_targets([obj])
    named, named_by = [], []
    if isinstance(obj, Party):
        # The updates naming a party lose it with it: one that named it alone then speaks for its whole
        # commitment.
        named = list(ProgressUpdate.objects.filter(parties=obj).values_list("commitment_id", flat=True).distinct())
        # A commitment naming parties binds those alone: without this one, maybe its instrument's endorsers.
        named_by = list(Commitment.objects.filter(parties=obj).values_list("pk", flat=True))
    # Their locks first, then the party's rows go (its kept counts with it): the refreshes below count the
    # commitments' other parties, and never wait for a lock while holding the party's rows.
    locked = _lock_commitments(*named, *named_by)
    with kept_counts():
        obj.delete()
        search_index_refresh(targets=search_targets_before)
        if isinstance(obj, Endorsement):
            instrument_bindings_changed(instrument=obj.instrument)
        if named_by:
            _rebind_in_chunks(Commitment.objects.filter(pk__in=named_by))
        for commitment in locked:
            if commitment.pk not in named_by:
                commitment_refresh_status(commitment=commitment)


@transaction.atomic
def commitment_save(*, commitment: Commitment, editor, themes=None, parties=None, expected_version=None, reason=""):
    """Add a commitment, or change its text and scope. The current status is left to the updates: the stored
    row is locked and only the editable fields are copied onto it, so a publication committed meanwhile stays."""
    public_pages_changed()
    _require_editor(editor)
    if commitment.pk is None:
        current = commitment
        reason = reason or _("Added")
    else:
        current = Commitment.objects.select_for_update().get(pk=commitment.pk)
        if current.deleted_at is not None:
            raise ValidationError(_("This commitment has been deleted; restore it first."))
        check_version(obj=current, expected_version=expected_version)
        # A translated field is copied in every language (the admin edits each one).
        for field in all_localized_names(Commitment, COMMITMENT_FIELDS):
            attname = current._meta.get_field(field).attname
            setattr(current, attname, getattr(commitment, attname))
        reason = reason or _("Changed")
    current.full_clean()
    new = current.pk is None
    with kept_counts():
        if new:
            _save_with_history(current, user=editor, reason=reason)
        # Its instrument and themes are counted (a new one from nothing), then whom it binds.
        with _counting([current.pk], new=new):
            if not new:
                _save_with_history(current, user=editor, reason=reason)
            if themes is not None:
                current.themes.set(themes)
            if parties is not None:
                current.parties.set(parties)
            # Its named parties or its instrument may have changed whom it binds.
            commitment_bindings_changed(commitment=current)
    search_index_refresh(objects=[current])
    return current


def updates_editable_by(user):
    """The updates whose content and sources the user may change: an analyst's own drafts and returned
    updates; for an editor every live one (a published one by a correction)."""
    updates = ProgressUpdate.objects.live()
    if user_is_editor(user):
        return updates
    if not user_is_analyst(user):
        return updates.none()
    return updates.filter(author=user, state__in=(State.DRAFT, State.RETURNED))


def user_may_edit_update(user, update) -> bool:
    return updates_editable_by(user).filter(pk=update.pk).exists()


def _source_dict(source) -> dict:
    return {"id": source.pk, **{field: getattr(source, field) for field in SOURCE_FIELDS}}


def _change_sources(*, update, user, note, sources):
    """A change to an update's sources is a change to the update: an edit while unpublished, an editor's
    correction with a public note once published."""
    if update.state == State.PUBLISHED:
        return progress_update_correct(update=update, editor=user, note=note, sources=sources)
    return progress_update_edit(update=update, user=user, sources=sources)


@transaction.atomic
def source_save(*, source: Source, user, note: str = "") -> Source:
    """Add or change one source of an update (the rules are those of editing or correcting the update)."""
    update = ProgressUpdate.objects.select_for_update().get(pk=source.update_id)
    stored = Source.objects.filter(pk=source.pk).values_list("update_id", flat=True).first() if source.pk else None
    if stored is not None and stored != update.pk:
        raise ValidationError({"update": _("A source cannot move to another update; add it there instead.")})
    before = set(update.sources.values_list("pk", flat=True))
    sources = [_source_dict(other) for other in update.sources.all() if other.pk != source.pk]
    _change_sources(update=update, user=user, note=note, sources=[*sources, _source_dict(source)])
    if source.pk is None:
        source.pk = update.sources.exclude(pk__in=before).values_list("pk", flat=True).get()
        source._state.adding = False
    return source


@transaction.atomic
def source_delete(*, source: Source, user, note: str = "") -> None:
    update = ProgressUpdate.objects.select_for_update().get(pk=source.update_id)
    sources = [_source_dict(other) for other in update.sources.all() if other.pk != source.pk]
    _change_sources(update=update, user=user, note=note, sources=sources)


@transaction.atomic
def official_text_save(*, text: OfficialText, user, reason: str = "") -> OfficialText:
    """Create or change where an instrument's official text in one language is published (editors only)."""
    return reference_save(obj=text, editor=user, reason=reason)


# --- Suggestions from readers ----------------------------------------------------------------------------


def _notify_sender(suggestion) -> None:
    """A suggestion just closed: tell its sender if they left an address (their name and address are then
    forgotten by the job, once the message is sent); with no address there is nothing to send, so a name they
    left is forgotten at once (the privacy page promises contact details go when a suggestion is closed)."""
    if suggestion.email:
        from .link_tasks import notify_suggestion_sender

        pk = suggestion.pk
        transaction.on_commit(lambda: notify_suggestion_sender.enqueue(suggestion_id=pk))
    elif suggestion.name:
        suggestion_forget_sender(suggestion_id=suggestion.pk)
        suggestion.name = ""


@transaction.atomic
def suggestion_submit(
    *,
    kind: str,
    text: str,
    happened_on: datetime.date,
    source_urls: list[str],
    commitment: Commitment | None = None,
    party: Party | None = None,
    name: str = "",
    email: str = "",
    language: str = "",
) -> Suggestion:
    """Keep a reader's suggestion for the analysts. Nothing the public sees changes (no data generation)."""
    urls = [url.strip() for url in source_urls if url and url.strip()]
    if not urls:
        raise ValidationError({"source_urls": _("Give at least one source address.")})
    if len(urls) > SUGGESTION_MAX_SOURCES:
        raise ValidationError(
            {"source_urls": _("Give at most %(n)s source addresses.") % {"n": SUGGESTION_MAX_SOURCES}}
        )
    if any(not url.startswith(("http://", "https://")) or len(url) > 500 for url in urls):
        raise ValidationError({"source_urls": _("Every source address must start with http:// or https://.")})
    if happened_on > timezone.localdate():
        raise ValidationError({"happened_on": _("The date cannot be in the future.")})
    suggestion = Suggestion(
        kind=kind,
        text=text.strip(),
        happened_on=happened_on,
        source_urls=urls,
        commitment=commitment,
        party=party,
        name=name.strip(),
        email=email.strip(),
        language=language,
    )
    suggestion.full_clean()
    suggestion.save()
    return suggestion


def _lock_new_suggestion(suggestion) -> Suggestion:
    current = Suggestion.objects.select_for_update().get(pk=suggestion.pk)
    if current.state != Suggestion.State.NEW:
        raise ValidationError(_("This suggestion has already been handled."))
    return current


def _source_title(url: str) -> str:
    """A placeholder title for a suggested source (the analyst gives the real one): its host and path."""
    return url.split("://", 1)[-1][:300]


@transaction.atomic
def suggestion_to_draft(*, suggestion: Suggestion, analyst, commitment: Commitment, status: str) -> ProgressUpdate:
    """Turn a suggestion into a draft update of `analyst`'s, with its text, date, party and sources filled in;
    the analyst then edits and submits it like any other draft. The sender, if they left an address, is told."""
    if not user_is_analyst(analyst):
        raise PermissionDenied(_("Only analysts and editors may handle suggestions."))
    current = _lock_new_suggestion(suggestion)
    update = progress_update_create(
        commitment=commitment,
        author=analyst,
        kind=ProgressUpdate.Kind.ASSESSMENT,
        reported_on=current.happened_on,
        status=status,
        summary=current.text,
        confidence="reported",
        sources=[{"url": url, "title": _source_title(url)} for url in current.source_urls],
        parties=[current.party_id] if current.party_id else (),
    )
    current.state = Suggestion.State.CONVERTED
    current.draft = update
    current.handled_by = analyst
    current.handled_at = timezone.now()
    current.full_clean()
    current.save()
    _notify_sender(current)
    return update


@transaction.atomic
def suggestion_dismiss(*, suggestion: Suggestion, analyst, reason: str) -> Suggestion:
    """Set a suggestion aside, saying why (the sender, if they left an address, is told the reason)."""
    if not user_is_analyst(analyst):
        raise PermissionDenied(_("Only analysts and editors may handle suggestions."))
    current = _lock_new_suggestion(suggestion)
    if not (reason or "").strip():
        raise ValidationError({"dismiss_reason": _("Say why the suggestion is dismissed.")})
    current.state = Suggestion.State.DISMISSED
    current.dismiss_reason = reason.strip()
    current.handled_by = analyst
    current.handled_at = timezone.now()
    current.full_clean()
    current.save()
    _notify_sender(current)
    return current


def suggestion_mark_notified(*, suggestion_id: int) -> bool:
    """Claim the one notification of a handled suggestion; False if it was already sent (or nothing to send).

    A conditional UPDATE: of two workers running the same job, exactly one gets the row."""
    return bool(
        Suggestion.objects.filter(pk=suggestion_id, sender_notified_at__isnull=True)
        .exclude(state=Suggestion.State.NEW)
        .exclude(email="")
        .update(sender_notified_at=timezone.now())
    )


def suggestion_forget_sender(*, suggestion_id: int) -> None:
    """Delete a sender's name and address (kept only to tell them what became of their suggestion)."""
    Suggestion.objects.filter(pk=suggestion_id).update(name="", email="")


# --- What the link checker found -------------------------------------------------------------------------


@transaction.atomic
def source_link_check_record(*, source_ids, status: str, http_status=None, final_url="", error="", checked_at=None):
    """Record one check of the sources with these ids (one address, checked once for all of them).

    Not an edit of the update: no history entry, no correction. A failure adds one to the failures in a row,
    a success clears them, a check that robots.txt forbade leaves them. The public page only changes when a
    source crosses the "may be broken" mark, and only then is the data generation moved (the cached pages
    that show the mark, or should, are dropped)."""
    checked_at = checked_at or timezone.now()
    ids = sorted(set(source_ids))
    before = dict(Source.objects.filter(pk__in=ids).values_list("pk", "link_failures"))
    if status == LinkStatus.BROKEN:
        after = {pk: min(failures + 1, 32767) for pk, failures in before.items()}
    elif status == LinkStatus.BLOCKED:
        after = dict(before)
    else:
        after = dict.fromkeys(before, 0)
    mark = LINK_BROKEN_AFTER_FAILURES
    if any((before[pk] >= mark) != (after[pk] >= mark) for pk in before):
        public_pages_changed()
    values = {
        "link_status": status,
        "link_http_status": http_status,
        "link_final_url": (final_url or "")[:2000],
        "link_error": (error or "")[:300],
        "link_checked_at": checked_at,
    }
    by_failures = defaultdict(list)
    for pk, failures in after.items():
        by_failures[failures].append(pk)
    for failures, pks in by_failures.items():
        Source.objects.filter(pk__in=pks).update(link_failures=failures, **values)
    return len(before)


@transaction.atomic
def source_archived_record(*, source: Source, archived_url: str) -> Source:
    """Record where a web archive keeps a copy of a published source (shown beside it, kept in its history)."""
    if not archived_url.startswith(("http://", "https://")):
        raise ValidationError({"archived_url": _("The archived copy's address must start with http:// or https://.")})
    public_pages_changed()
    current = Source.objects.select_for_update().get(pk=source.pk)
    if current.archived_url:
        return current  # an editor's own choice, or an earlier run's, is kept
    current.archived_url = archived_url[:500]
    current.full_clean()
    _save_with_history(current, user=None, reason=_("Archived copy recorded"), update_fields=["archived_url"])
    return current


# --- E-mail alerts (aitracker/alerts.py builds and sends the messages, aitracker/tasks.py runs the jobs) ---------


def _alert_on_commit(update: ProgressUpdate, event: str) -> None:
    """Tell the update's followers once this publication or correction commits; the job finds them."""
    tasks.enqueue_on_commit(tasks.send_update_alerts, update_id=update.pk, event=event)


def normalise_email(email: str) -> str:
    email = (email or "").strip()
    local, at, domain = email.rpartition("@")
    return f"{local}@{domain.lower()}" if at else email


@transaction.atomic
def subscription_request(*, email: str, target, frequency: str, language: str) -> Subscription:
    """Ask to follow `target` (a commitment, party, instrument or theme): the subscription waits, unconfirmed,
    and a confirmation message is queued. Asking again (for another frequency, or because the message was lost)
    queues a new message; nothing changes until its link is followed. The answer is the same whether or not the
    address already followed it, so the form tells nobody what an address follows."""
    email = normalise_email(email)
    subscriber = Subscriber(email=email, language=language, key=secrets.token_urlsafe(32))
    subscriber.clean_fields()  # the address's form and length, the language's length
    if frequency not in Subscription.Frequency.values:
        raise ValidationError({"frequency": _("Choose how often to be told.")})
    kind = target._meta.model_name
    existing = Subscriber.objects.select_for_update().filter(email__iexact=email).first()
    if existing is None:
        try:
            with transaction.atomic():
                subscriber.save()
        except IntegrityError:  # the same address, asked for at the same moment by another request
            existing = Subscriber.objects.select_for_update().get(email__iexact=email)
    if existing is not None:
        subscriber = existing
        if subscriber.language != language:
            subscriber.language = language
            subscriber.save(update_fields=["language"])
    try:
        with transaction.atomic():
            subscription, _created = Subscription.objects.get_or_create(
                subscriber=subscriber, **{kind: target}, defaults={"frequency": frequency}
            )
    except IntegrityError:
        subscription = Subscription.objects.get(subscriber=subscriber, **{kind: target})
    tasks.enqueue_on_commit(
        tasks.send_confirmation,
        subscription_id=subscription.pk,
        frequency=frequency,
        request_id=tasks.new_request_id(),
    )
    return subscription


@transaction.atomic
def subscription_confirm(*, subscription_id: int, subscriber: Subscriber, frequency: str) -> tuple[Subscription, bool]:
    """Follow the confirmation link: the subscription starts (or takes the frequency the link was sent for).
    Returns it and whether it was already confirmed at that frequency (a link followed twice)."""
    subscription = Subscription.objects.select_for_update().filter(pk=subscription_id, subscriber=subscriber).first()
    if subscription is None:
        raise alerts.BadLink(_("This subscription was cancelled. Ask to follow again if you want to."))
    if frequency not in Subscription.Frequency.values:
        raise alerts.BadLink(_("This link is not valid. Copy the whole link from the message."))
    already = subscription.confirmed_at is not None and subscription.frequency == frequency
    if not already:
        subscription.frequency = frequency
        subscription.confirmed_at = subscription.confirmed_at or timezone.now()
        subscription.full_clean()
        subscription.save(update_fields=["frequency", "confirmed_at"])
    return subscription, already


@transaction.atomic
def subscriptions_cancel(*, subscriber: Subscriber, subscription_ids=None) -> int:
    """End some of an address's subscriptions (all if None); the address itself is deleted with its last one.
    Returns how many ended: 0 for a link used twice."""
    subscriptions = Subscription.objects.filter(subscriber=subscriber)
    if subscription_ids is not None:
        subscriptions = subscriptions.filter(pk__in=list(subscription_ids))
    ended, _by_model = subscriptions.delete()
    if not Subscription.objects.filter(subscriber=subscriber).exists():
        Subscriber.objects.filter(pk=subscriber.pk).delete()
    return ended


@transaction.atomic
def subscribers_purge_unconfirmed(*, now=None) -> int:
    """Forget what nobody confirmed within AITRACKER_CONFIRM_DAYS: those subscriptions, and the addresses left
    with none (the privacy page promises it; `manage.py send_digests` runs it every day)."""
    cutoff = alerts.purge_cutoff(now)
    Subscription.objects.filter(confirmed_at__isnull=True, created_at__lt=cutoff).delete()
    _deleted, by_model = Subscriber.objects.filter(subscriptions__isnull=True, created_at__lt=cutoff).delete()
    return by_model.get(Subscriber._meta.label, 0)


def gettext_in_source_language(message: str) -> str:
    """A sentence the site writes into content (a correction note): in English, the content's source language."""
    with override("en"):
        return _(message)


gettext_noop("An earlier version was restored.")


# --- Translated content ------------------------------------------------------------------------------------


@transaction.atomic
def progress_update_translate(
    *, update: ProgressUpdate, editor, language: str, summary: str = "", correction_note: str = ""
) -> ProgressUpdate:
    """Set an update's summary and correction note in one of the translated languages (editors). The English
    stays the record; an empty text removes the translation, and the page shows the English, marked."""
    public_pages_changed()
    _require_editor(editor)
    if language not in language_codes() or language == "en":
        raise ValidationError(_("Unknown language."))
    current = _lock(update)
    setattr(current, localized_name("summary", language), (summary or "").strip() or None)
    setattr(current, localized_name("correction_note", language), (correction_note or "").strip() or None)
    current.full_clean()
    _render_summary(current)
    _save_with_history(current, user=editor, reason=_("Translated"))
    return current


class TranslationFileError(ValueError):
    """A translations file names a model, a record or a field that does not exist, or is not translated."""


def content_translations_load(*, language: str, data: dict, rerender: bool = True) -> int:
    """Write one language's translations of the content, `{"app_label.model": {"pk": {"field": "text"}}}`
    (fixtures/translations/<lang>.json), in one transaction, with one UPDATE per model and set of fields;
    returns how many fields were written (`rerender=False`: the caller renders the summaries and rebuilds the
    search index itself, as loading the real data does).

    The whole file is checked first: an unknown model, record or field, or a field that is not translated, is
    refused with the place it is at, and nothing is written.
    """
    from django.apps import apps

    if language not in language_codes() or language == "en":
        raise TranslationFileError(f"{language!r} is not one of the site's translated languages")
    plans = []
    for label, records in data.items():
        try:
            model = apps.get_model(label)
        except (LookupError, ValueError):
            raise TranslationFileError(f"{label}: no such model") from None
        allowed = set(translated_fields(model)) - {"summary_html"}
        if not isinstance(records, dict):
            raise TranslationFileError(f"{label}: expected an object of records by primary key")
        for pk, fields in records.items():
            if not re.fullmatch(r"[1-9][0-9]*", str(pk)):
                raise TranslationFileError(f"{label} {pk}: a primary key is a whole number")
            if not isinstance(fields, dict):
                raise TranslationFileError(f"{label} {pk}: expected an object of fields")
            unknown = set(fields) - allowed
            if unknown:
                raise TranslationFileError(
                    f"{label} {pk}: not a translated field: {', '.join(sorted(unknown))} "
                    f"(translated: {', '.join(sorted(allowed))})"
                )
            for field, text in fields.items():
                if not isinstance(text, str):
                    raise TranslationFileError(f"{label} {pk} {field}: the translation must be a string")
                limit = model._meta.get_field(localized_name(field, language)).max_length
                if limit and len(text.strip()) > limit:
                    raise TranslationFileError(f"{label} {pk} {field}: longer than {limit} characters")
        wanted = {str(pk) for pk in records}
        found = {str(pk) for pk in model._base_manager.filter(pk__in=list(records)).values_list("pk", flat=True)}
        missing = sorted(wanted - found)
        if missing:
            raise TranslationFileError(f"{label}: no record with primary key {', '.join(missing)}")
        plans.append((model, records))
    written = 0
    with transaction.atomic():
        public_pages_changed()
        for model, records in plans:
            # One UPDATE per set of columns; an empty text clears the translation (the English shows, marked).
            by_columns = defaultdict(list)
            for pk, fields in records.items():
                obj = model(pk=int(pk))
                present = []
                for field, text in fields.items():
                    column = localized_name(field, language)
                    setattr(obj, column, text.strip() or None)
                    present.append(column)
                written += len(fields)
                if present:
                    by_columns[tuple(sorted(present))].append(obj)
            for present, group in by_columns.items():
                try:
                    with transaction.atomic():
                        model._base_manager.bulk_update(group, list(present), batch_size=500)
                except (IntegrityError, DataError) as error:
                    # Two records given one translated reference, or a text longer than its field: nothing is kept.
                    raise TranslationFileError(f"{model._meta.label_lower}: {error}") from None
        if rerender:
            if ProgressUpdate in {model for model, _records in plans}:
                progress_updates_rerender()
            search_index_refresh(objects=[model(pk=int(pk)) for model, records in plans for pk in records])
    return written
