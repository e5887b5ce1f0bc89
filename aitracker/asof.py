"""The record as it stood at the end of a day: `?as_of=YYYY-MM-DD` on the public pages and downloads.

What "as of day D" means, in one place:

- The day ends at midnight after D in the site's time zone (`end_of_day`). An update counts if it is public
  now, was published before that moment (`published_at`) and was reported by then (its `reported_on`, as it
  then stood, is on or before D). An update withdrawn or deleted since is not shown, whatever it said then:
  nothing taken off the public site comes back through an old date.
- Each update is shown as it then stood, from django-simple-history's kept versions: the latest version saved
  before the end of the day; if none was (a row loaded from a fixture or seeded in bulk, corrected later),
  the earliest version kept; if none is kept, the row as it is now. So a correction made after D is not
  seen as of D: the text, status, progress, date and kind are those before it, and the update is not marked
  corrected.
- The status rule is the services' one (`services.records_from_updates`), applied to those versions. Whom a
  commitment binds is as now (the PartyStatus rows); endorsements are as of D where they carry a date, and as
  now where they do not (the pages say so). Commitments of instruments adopted after D are left out of the
  table, the downloads and the charts.

Entry points (each a constant number of queries, whatever the number of rows):

- `parse_as_of(request)` -> `date | None`; raises `AsOfError` (a ValidationError, message for the visitor).
- `updates_as_of(queryset, day)`: a ProgressUpdate queryset narrowed to the day, annotated `as_of_<field>`
  for each field in VERSIONED (the value as it stood). `as_they_stood(updates)` copies those onto the loaded
  instances, for templates written for the live fields.
- `records_as_of(commitment_ids, day)`: {commitment id: {None: overall Record, party id: Record}} by the
  services' rule, in two queries.
- `commitments_as_of(queryset, day)`: a Commitment queryset narrowed to the day and annotated `as_of_status`,
  `as_of_progress`, `as_of_update_on` (the overall record), to filter, sort and download in SQL. It agrees
  with `records_as_of` (tests/test_as_of.py holds them to it).
- `party_statuses_as_of(rows, day)`: PartyStatus rows with their status, progress and last update replaced by
  those of the day.
- `endorsements_as_of(queryset, day)`.
"""

import datetime
import re
from collections import defaultdict

from django.core.exceptions import ValidationError
from django.db.models import Case, Count, F, IntegerField, Min, OuterRef, Q, Subquery, Value, When
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from .cache import cached_summary
from .models import Commitment, Instrument, ProgressUpdate, Status
from .rendering import render_markdown
from .services import NOT_ASSESSED, UpdateFacts, records_from_updates
from .templatetags.aitracker_tags import display_date

PARAMETER = "as_of"
# The fields of an update whose value as of a day comes from its kept versions.
VERSIONED = ("kind", "reported_on", "status", "progress", "summary", "confidence", "corrected_at", "correction_note")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class AsOfError(ValidationError):
    """A date the record cannot be shown as of; its message is for the visitor."""


def earliest_day() -> datetime.date | None:
    """The first day there is a record of: the adoption of the first instrument (kept until the next write)."""
    return cached_summary(
        "as-of:earliest", lambda: Instrument.objects.public().aggregate(first=Min("adopted_on"))["first"]
    )


def parse_as_of(request) -> datetime.date | None:
    """The `as_of` day asked for in the query string, or None for today's record. A value that is not a day
    of the record (not YYYY-MM-DD, before the first instrument, after today) raises AsOfError; the length is
    checked before anything else is done with it."""
    value = request.GET.get(PARAMETER, "").strip()
    if not value:
        return None
    if len(value) != 10 or not _DATE.fullmatch(value):
        raise AsOfError(_("“as_of” must be a date written YYYY-MM-DD, for example 2025-02-11."))
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        raise AsOfError(_("“as_of” must be a date that exists, written YYYY-MM-DD.")) from None
    today = timezone.localdate()
    if day > today:
        raise AsOfError(_("The record cannot be shown as of a day still to come: choose today or earlier."))
    first = earliest_day()
    if first is not None and day < first:
        raise AsOfError(
            _("The record starts on %(first)s, when the first instrument was adopted: choose that day or later.")
            % {"first": display_date(first)}
        )
    if day == today:
        # Today's record is the live one; the page says nothing about a date.
        return None
    return day


def end_of_day(day: datetime.date) -> datetime.datetime:
    """Midnight after `day` in the site's time zone: what was published before it was public that day."""
    return timezone.make_aware(datetime.datetime.combine(day + datetime.timedelta(days=1), datetime.time.min))


def _versions():
    return ProgressUpdate.history.model.objects.filter(id=OuterRef("pk"))


def updates_as_of(queryset, day: datetime.date):
    """The updates of `queryset` (a public ProgressUpdate queryset) that were public at the end of `day`, each
    annotated `as_of_<field>` with its value as it then stood (see the module's docstring)."""
    end = end_of_day(day)
    before = _versions().filter(history_date__lt=end).order_by("-history_date", "-history_id")
    earliest = _versions().order_by("history_date", "history_id")
    queryset = queryset.filter(published_at__lt=end).annotate(
        as_of_version=Coalesce(Subquery(before.values("history_id")[:1]), Subquery(earliest.values("history_id")[:1]))
    )
    version = ProgressUpdate.history.model.objects.filter(history_id=OuterRef("as_of_version"))
    annotations = {
        f"as_of_{field}": Case(
            When(as_of_version__isnull=True, then=F(field)), default=Subquery(version.values(field)[:1])
        )
        for field in VERSIONED
    }
    return queryset.annotate(**annotations).filter(as_of_reported_on__lte=day)


def as_they_stood(updates) -> list:
    """Loaded updates of `updates_as_of` with their fields as they stood (for the templates); a summary that
    has changed since is rendered here, once, as the page is built (the page cache keeps the result)."""
    updates = list(updates)
    for update in updates:
        live_summary = update.summary
        for field in VERSIONED:
            setattr(update, field, getattr(update, f"as_of_{field}"))
        if update.summary != live_summary:
            update.summary_html = render_markdown(update.summary)
    return updates


KEYS_PER_QUERY = 10_000


def records_as_of(commitment_ids, day: datetime.date) -> dict:
    """{commitment id: the services' records of it (None: overall; party id: that party's)} as of `day`, in a few
    queries. `commitment_ids` may be a list or a values() queryset. Which parties an update names is as now."""
    rows = list(
        updates_as_of(ProgressUpdate.objects.public().filter(commitment__in=commitment_ids), day).values_list(
            "commitment", "pk", "as_of_kind", "as_of_status", "as_of_progress", "as_of_reported_on", "published_at"
        )
    )
    named = defaultdict(list)
    links = ProgressUpdate.parties.through.objects
    update_ids = [row[1] for row in rows]
    # In blocks: every party's counts as of a day read every public update, more keys than SQLite takes in one
    # statement ("too many SQL variables").
    for start in range(0, len(update_ids), KEYS_PER_QUERY):
        block = links.filter(progressupdate__in=update_ids[start : start + KEYS_PER_QUERY])
        for update_id, party_id in block.values_list("progressupdate_id", "party_id"):
            named[update_id].append(party_id)
    facts = defaultdict(list)
    for commitment_id, *row in rows:
        facts[commitment_id].append(UpdateFacts(*row, party_ids=tuple(sorted(named[row[0]]))))
    return defaultdict(dict, {pk: records_from_updates(updates) for pk, updates in facts.items()})


def overall_as_of(records: dict, commitment_id):
    return records.get(commitment_id, {}).get(None, NOT_ASSESSED)


def commitments_as_of(queryset, day: datetime.date):
    """The commitments of `queryset` whose instrument was adopted by `day`, annotated with their overall record
    as of it: `as_of_status` (not yet assessed when none), `as_of_progress`, `as_of_update_on`. The record is
    the services' rule (the latest assessment naming no party, by its date, then publication, then id), here
    as a subquery so that the table can filter and sort by it."""
    latest = (
        updates_as_of(ProgressUpdate.objects.public().filter(commitment=OuterRef("pk")), day)
        .filter(as_of_kind=ProgressUpdate.Kind.ASSESSMENT, parties__isnull=True)
        .order_by("-as_of_reported_on", "-published_at", "-pk")
    )
    return queryset.filter(instrument__adopted_on__lte=day).annotate(
        as_of_status=Coalesce(Subquery(latest.values("as_of_status")[:1]), Value(Status.NOT_ASSESSED.value)),
        as_of_progress=Subquery(latest.values("as_of_progress")[:1]),
        as_of_update_on=Subquery(latest.values("as_of_reported_on")[:1]),
    )


def status_field(queryset) -> str:
    """The column holding a commitment's overall status in `queryset`: the as-of one when it is annotated."""
    return "as_of_status" if "as_of_status" in queryset.query.annotations else "current_status"


def with_status_rank(queryset):
    """Annotate `status_rank` (the status's place in Status) from whichever status `queryset` carries."""
    field = status_field(queryset)
    return queryset.annotate(
        status_rank=Case(
            *(When(**{field: status}, then=Value(rank)) for rank, status in enumerate(Status.values)),
            output_field=IntegerField(),
        )
    )


def commitment_as_it_stood(commitment: Commitment, record) -> Commitment:
    """The commitment with its denormalised overall record replaced by `record` (a services Record)."""
    commitment.current_status = record.status
    commitment.current_progress = record.progress
    commitment.last_update_on = record.last_update_on
    commitment.last_reviewed_on = record.last_reviewed_on
    return commitment


def party_statuses_as_of(rows, day: datetime.date, records=None) -> list:
    """PartyStatus rows (loaded) with each one's record replaced by the party's record as of `day`."""
    rows = list(rows)
    if records is None:
        records = records_as_of(sorted({row.commitment_id for row in rows}), day)
    for row in rows:
        record = records.get(row.commitment_id, {}).get(row.party_id, NOT_ASSESSED)
        row.status, row.progress, row.last_update_on, row.last_reviewed_on, row.latest_update_id = record
    return rows


def commitments_summary_as_of(commitments, day: datetime.date, shown: int) -> dict:
    """What a page showing a set of commitments needs, as of `day`: {status: count} (one grouped query) and the
    first `shown` of them with their record of that day."""
    commitments = commitments_as_of(commitments, day)
    grouped = commitments.order_by().values_list("as_of_status").annotate(n=Count("pk"))
    counts = dict.fromkeys(Status.values, 0) | dict(grouped)
    # The first few in one query (not keys, then rows): a page shows one instrument's or theme's, not thousands.
    rows = list(commitments.with_related()[:shown])
    for row in rows:
        commitment_as_it_stood(
            row,
            NOT_ASSESSED._replace(
                status=row.as_of_status, progress=row.as_of_progress, last_update_on=row.as_of_update_on
            ),
        )
    return {"status_counts": counts, "commitment_total": sum(counts.values()), "commitments": rows}


def status_counts_of(statuses) -> dict:
    counts = dict.fromkeys(Status.values, 0)
    for status in statuses:
        counts[status] += 1
    return counts


def endorsements_as_of(queryset, day: datetime.date):
    """Endorsements as of `day`: those dated after it left out; undated ones kept (as now), unless their instrument
    was adopted after the day (it is not in the record of that day either)."""
    return queryset.filter(Q(date__isnull=True) | Q(date__lte=day)).exclude(instrument__adopted_on__gt=day)
