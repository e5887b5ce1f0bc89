"""Public pages. Every queryset starts from `.public()`; the heavy lifting is in the QuerySet methods."""

import functools
import json
import logging
import re
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.cache import caches
from django.core.exceptions import ValidationError
from django.core.paginator import EmptyPage, Paginator
from django.db import connection
from django.db.models import Count, F, Window
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect, render
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.decorators import method_decorator
from django.utils.functional import SimpleLazyObject
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views import View
from django.views.decorators.cache import never_cache
from django.views.generic import DetailView, ListView, TemplateView
from django_filters.views import FilterView
from django_tables2 import RequestConfig, SingleTableMixin

from . import asof, charts, citations, comparison, services, structured_data
from .cache import cached_summary, current_generation
from .datapackage import DATASETS, DATASETS_BY_NAME, LICENCE, LICENCE_SCOPE, data_package, last_published
from .exports import (
    ENDORSEMENT_EXPORT_FIELDS,
    INSTRUMENT_EXPORT_FIELDS,
    PARTY_EXPORT_FIELDS,
    THEME_EXPORT_FIELDS,
    UPDATE_EXPORT_FIELDS,
    bad_export,
    commitment_export_rows,
    download,
    endorsement_export_rows,
    instrument_export_rows,
    party_export_rows,
    theme_export_rows,
    update_export_rows,
)
from .filters import (
    UPDATE_ORDERS,
    CommitmentFilter,
    EndorsementFilter,
    PartyFilter,
    PlainSelect,
    UpdateFilter,
    published_since,
)
from .forms import SuggestionForm, suggest_started_token
from .i18n import by_party_name, current_language, localized_name, translated_order, translated_text, translated_value
from .links import absolute_url, slug_url
from .maps import commitment_status_map, instrument_relation_map
from .middleware import client_ip
from .models import (
    STATUS_DEFINITIONS,
    STATUS_VALUES,
    Commitment,
    Endorsement,
    Instrument,
    InstrumentStatusCount,
    OfficialText,
    Party,
    PartyStatus,
    PartyStatusCount,
    ProgressUpdate,
    SearchEntry,
    Source,
    Status,
    StatusCount,
    Theme,
    ThemeStatusCount,
    stale_cutoff,
)
from .paging import page_or_404
from .querysets import linked_lists
from .search import MAX_QUERY_LENGTH, RESULTS_PER_KIND, search
from .tables import CommitmentTable, PartyTable, with_endorsed_count

logger = logging.getLogger(__name__)

LATEST_UPDATES = 8
# A detail page lists this many commitments at most; the table, one click away, has them all.
COMMITMENTS_SHOWN = 50
DASHBOARD_INSTRUMENTS = 10
ENDORSEMENTS_PER_PAGE = 20
EXPORT_CHUNK = 1000


def public_updates():
    return (
        ProgressUpdate.objects.public()
        .latest_first()
        .select_related("commitment__instrument")
        .prefetch_related("parties")
        .with_previous_status()
    )


def commitments_summary(commitments, status_counts):
    """The context a page needs to show a set of commitments: how many in each status (`status_counts`, from
    the kept counts), and the first few."""

    def first_few():
        keys = list(commitments.values_list("pk", flat=True)[:COMMITMENTS_SHOWN])
        return Commitment.objects.with_related().in_key_order(keys)

    return {
        "status_counts": status_counts,
        "commitment_total": sum(status_counts.values()),
        # Read when shown: a page's fragment (aitracker/fragments.py) may hold them already.
        "commitments": SimpleLazyObject(first_few),
    }


def counts_of(breakdown, pk) -> dict:
    """The {status: count} of the key `pk` in a breakdown ({(pk,): {status: count}}), zeros if it has none."""
    return breakdown.get((pk,), dict.fromkeys(STATUS_VALUES, 0))


def breakdown_rows(objects, breakdown):
    """Pair each object with its {status: count} (zeros if it has none) and its total."""
    rows = []
    for obj in objects:
        counts = counts_of(breakdown, obj.pk)
        rows.append({"object": obj, "counts": counts, "total": sum(counts.values())})
    return rows


def today_url(request) -> str:
    """This page's address without its as_of: the record as it stands today."""
    query = request.GET.copy()
    query.pop(asof.PARAMETER, None)
    return f"{request.path}?{query.urlencode()}" if query else request.path


def as_of_error(request, error):
    """A date the record cannot be shown as of: said on a page (400), with a link to today's record."""
    context = {"error": error.messages[0], "today_url": today_url(request)}
    return render(request, "aitracker/as_of_error.html", context, status=400)


class AsOfMixin:
    """?as_of=YYYY-MM-DD on a public page or download (aitracker/asof.py): `self.as_of` is the day, or None for
    today's record; a bad date is answered with a 400 page saying what is wrong."""

    as_of = None

    def dispatch(self, request, *args, **kwargs):
        try:
            self.as_of = asof.parse_as_of(request)
        except asof.AsOfError as error:
            return as_of_error(request, error)
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        if self.as_of:
            kwargs.setdefault("as_of", self.as_of)
            kwargs.setdefault("today_url", today_url(self.request))
        return super().get_context_data(**kwargs)


# The public commitments by status, in all, by instrument and by theme: kept as data (models.StatusCount,
# InstrumentStatusCount, ThemeStatusCount), a few rows read in one query.
def status_counts():
    return cached_summary("status-counts:all", StatusCount.objects.counts)


def status_counts_by_instrument(pks=None):
    """{(pk,): {status: n}} of the instruments of these pks (all when None)."""
    return InstrumentStatusCount.objects.by("instrument", pks)


def status_counts_by_theme(pks=None):
    """{(pk,): {status: n}} of the themes of these pks (all when None)."""
    return ThemeStatusCount.objects.by("theme", pks)


def status_counts_of(kind: str, pk) -> dict:
    """{status: n} of one instrument's or theme's public commitments (`kind`: "instrument" or "theme"), from the
    kept counts, kept until the next write as the site-wide ones are (a cache read instead of a query)."""
    by = status_counts_by_instrument if kind == "instrument" else status_counts_by_theme
    return cached_summary(f"status-counts:{kind}:{pk}", lambda: counts_of(by([pk]), pk))


def breakdown_of_instruments(instruments):
    instruments = list(instruments)
    return breakdown_rows(instruments, status_counts_by_instrument([instrument.pk for instrument in instruments]))


def stale_count():
    # Staleness moves with the calendar as well as with the data.
    return cached_summary(f"stale:{stale_cutoff()}", Commitment.objects.public().stale().count)


def recently_published():
    """What changed in the last 30 days: how many updates were published, and the latest of them. One query
    (the count rides along each row, a window over the period), kept until the next write as plain values."""
    since = published_since("last_30_days")

    def compute():
        rows = list(
            ProgressUpdate.objects.public()
            .filter(published_at__gte=since)
            .annotate(
                period_total=Window(Count("pk")),
                # In the page's language (its English where not yet translated).
                commitment_title=translated_value(Commitment, "title", "commitment__"),
                commitment_reference=translated_value(Commitment, "reference", "commitment__"),
                commitment_reference_translated=F(f"commitment__{localized_name('reference', current_language())}"),
                instrument_short_title=translated_value(Instrument, "short_title", "commitment__instrument__"),
            )
            .order_by("-published_at", "-pk")
            .values(
                "pk",
                "kind",
                "status",
                "published_at",
                "period_total",
                "commitment__slug",
                "commitment_reference",
                "commitment_reference_translated",
                "commitment_title",
                "instrument_short_title",
            )[:LATEST_UPDATES]
        )
        for row in rows:
            row["url"] = f"{slug_url('commitment_detail', row['commitment__slug'])}#update-{row['pk']}"
        return {"recent_count": rows[0]["period_total"] if rows else 0, "recent_updates": rows}

    # Keyed by the day: the period moves with the calendar as well as with the data.
    return cached_summary(f"published-30-days:{since.date()}", compute)


class DashboardView(TemplateView):
    template_name = "aitracker/dashboard.html"

    def get_context_data(self, **kwargs):
        counts = status_counts()
        return super().get_context_data(
            status_counts=counts,
            status_rows=[(Status(status), count) for status, count in counts.items()],
            total=sum(counts.values()),
            stale_count=stale_count(),
            # The latest instruments only: the list of them all, with the same bars, is the instruments page.
            # Read only when the dashboard's fragment is not kept (aitracker/fragments.py).
            by_instrument=SimpleLazyObject(
                lambda: breakdown_of_instruments(Instrument.objects.public()[:DASHBOARD_INSTRUMENTS])
            ),
            instrument_count=cached_summary("instruments", Instrument.objects.public().count),
            by_theme=SimpleLazyObject(lambda: breakdown_rows(Theme.objects.public(), status_counts_by_theme())),
            # Built only when the dashboard's fragment is not kept: the queryset alone costs a few milliseconds.
            latest_updates=SimpleLazyObject(lambda: public_updates()[:LATEST_UPDATES]),
            json_ld=structured_data.website(),
            status_chart=SimpleLazyObject(charts.status_chart),
            **recently_published(),
            **kwargs,
        )


class CommitmentListView(AsOfMixin, SingleTableMixin, FilterView):
    table_class = CommitmentTable
    filterset_class = CommitmentFilter
    template_name = "aitracker/commitment_list.html"

    def get_queryset(self):
        # The table adds the sort annotations (status rank, first theme) only when it sorts by them: as
        # columns they would be computed for every matching commitment before the page is cut out.
        commitments = Commitment.objects.public().with_related()
        if self.as_of:
            return asof.commitments_as_of(commitments, self.as_of)
        return commitments

    def get_table_kwargs(self):
        # The generation first: the kept counts are those of that generation, or of a later one.
        generation = current_generation()
        return {"generation": generation, "count": self.kept_count(), "as_of": self.as_of}

    def get_table_pagination(self, table):
        # A page past the end (or before the first) is not a page of this table: 404, not the nearest page, so
        # that a crawler never indexes the same rows under endless addresses.
        return super().get_table_pagination(table) | {"silent": False}

    def kept_count(self):
        """How many rows match, from the kept counts, when the filters are among those they count by (status,
        and one instrument or one theme); else None, and the table counts them."""
        filterset = self.filterset
        if self.as_of or (filterset.is_bound and not filterset.is_valid()):
            return None
        cleaned = filterset.form.cleaned_data if filterset.is_bound else {}
        chosen = {name: value for name, value in cleaned.items() if value}
        status = chosen.pop("status", None)
        if not chosen:
            counts = status_counts()
        elif chosen.keys() == {"instrument"}:
            counts = status_counts_of("instrument", filterset.instrument_pks[chosen["instrument"]])
        elif chosen.keys() == {"theme"}:
            counts = status_counts_of("theme", filterset.theme_pks[chosen["theme"]])
        else:
            return None
        return counts.get(status, 0) if status else sum(counts.values())

    def get(self, request, *args, **kwargs):
        export = request.GET.get("_export")
        if export is not None:
            return self.export(export)
        try:
            return super().get(request, *args, **kwargs)
        except EmptyPage:
            raise Http404(_("This table has no such page.")) from None

    def export(self, export):
        """Stream exactly the filtered and sorted rows, every page, so memory stays flat however many."""
        filterset = self.get_filterset(self.get_filterset_class())
        if problem := bad_export(export, filterset):
            return problem
        table = RequestConfig(self.request, paginate=False).configure(self.table_class(data=filterset.qs))
        rows = commitment_export_rows(
            table.data.data, site_root=absolute_url(""), chunk_size=EXPORT_CHUNK, as_of=self.as_of
        )
        return download(rows, export=export, name="commitments")


def party_status_counts_of_commitment(commitment):
    """{status: count} over the parties the commitment binds, kept until the next write."""
    return cached_summary(
        f"party-status-counts:commitment:{commitment.pk}",
        PartyStatus.objects.filter(commitment=commitment).status_counts,
    )


def party_status_counts_of_party(party):
    """{status: count} over the commitments binding the party, by its own status (models.PartyStatusCount)."""
    return PartyStatusCount.objects.by_party([party.pk]).get(party.pk, dict.fromkeys(STATUS_VALUES, 0))


def commitment_timeline(commitment):
    """Every published update of a commitment, latest first, each with its `previous_status`: the overall status
    (from the assessments naming no party) just before it. The timeline holds every update the status comes from,
    so the previous status is read off the list itself, from the neighbouring older updates, rather than by a
    subquery per update (ProgressUpdateQuerySet.with_previous_status, for lists that hold only some)."""
    updates = list(ProgressUpdate.objects.public().filter(commitment=commitment).latest_first())
    # Their parties and sources in one query each, as lists (`party_list`, `source_list`: markup.py shows them):
    # a prefetch builds a related manager and a queryset for every update, most of the cost of a timeline.
    keys = [update.pk for update in updates]
    parties, sources = linked_lists(Party, "updates", keys), {key: [] for key in keys}
    for source in Source.objects.filter(update_id__in=keys):
        sources[source.update_id].append(source)
    previous = None
    for update in reversed(updates):
        update.commitment = commitment
        update.party_list, update.source_list = parties[update.pk], sources[update.pk]
        update.previous_status = previous
        if update.kind == ProgressUpdate.Kind.ASSESSMENT and not update.party_list:
            previous = update.status
    return updates


class KeptObjectMixin:
    """A detail page's object read once per data generation (cache.cached_summary) instead of by a query per
    request: its queryset is public(), the same for every visitor, and the cache gives each request its own copy.
    At 10,000 commitments on SQLite, a commitment and its instrument: 2.1 ms to select, 0.08 ms to read back."""

    def get_object(self, queryset=None):
        if queryset is not None:
            return super().get_object(queryset)
        key = self.kwargs.get(self.slug_url_kwarg) or self.kwargs.get(self.pk_url_kwarg)
        return cached_summary(f"object:{type(self).__name__}:{key}", super().get_object)


class CommitmentDetailView(KeptObjectMixin, AsOfMixin, DetailView):
    template_name = "aitracker/commitment_detail.html"

    def get_queryset(self):
        # Its themes and parties are read by the page's fragment, only when that is not kept.
        return Commitment.objects.public().select_related("instrument")

    def chosen_party_status(self):
        """The ?party_status= filter of the parties' table: a status, or "" for all (an unknown value is said so
        on the page, and shows all)."""
        value = self.request.GET.get("party_status", "")
        return (value, value in STATUS_VALUES or value == "")

    def get_context_data(self, **kwargs):
        commitment = self.object
        # Built only when the timeline's fragment is not kept (aitracker/fragments.py): building the queryset
        # alone, with its previous-status subquery, costs several milliseconds.
        updates = SimpleLazyObject(functools.partial(commitment_timeline, commitment))
        party_status, valid = self.chosen_party_status()
        rows = PartyStatus.objects.filter(commitment=commitment).select_related("party")
        status_map_rows = None
        if self.as_of:
            # The record of that day, from its updates as they then stood (aitracker/asof.py).
            records = asof.records_as_of([commitment.pk], self.as_of)
            asof.commitment_as_it_stood(commitment, asof.overall_as_of(records, commitment.pk))
            updates = asof.as_they_stood(
                asof.updates_as_of(
                    public_updates().filter(commitment=commitment).prefetch_related("sources"), self.as_of
                )
            )
            every_row = asof.party_statuses_as_of(rows, self.as_of, records)
            counts = asof.status_counts_of(row.status for row in every_row)
            rows = [row for row in every_row if row.status == party_status] if party_status and valid else every_row
            status_map_rows = [(str(r.party), r.party.slug, r.party.country, r.status) for r in every_row]
        else:
            if party_status and valid:
                rows = rows.filter(status=party_status)
            counts = party_status_counts_of_commitment(commitment)
        # Read only if the page's fragments are not kept (aitracker/fragments.py): the template's parts that
        # show them are kept per commitment, as-of day and party filter.
        rows = SimpleLazyObject(functools.partial(by_party_name, rows))
        bound = sum(counts.values())
        return super().get_context_data(
            updates=updates,
            party_rows=rows,
            party_status=party_status if valid else "",
            party_status_invalid=not valid,
            party_status_choices=[(status.value, status.label, counts[status.value]) for status in Status],
            party_counts=counts,
            party_count_rows=[(Status(status), count) for status, count in counts.items() if count],
            bound_total=bound,
            assessed_total=bound - counts[Status.NOT_ASSESSED],
            status=Status(commitment.current_status),
            status_definition=STATUS_DEFINITIONS[commitment.current_status],
            status_map=SimpleLazyObject(
                lambda: commitment_status_map(commitment=commitment, table_id="parties", rows=status_map_rows)
            ),
            citation=citations.citation(
                title=(
                    f"{translated_text(commitment.instrument, 'short_title')} "
                    f"{translated_text(commitment, 'reference')}: {translated_text(commitment, 'title')}"
                ),
                path=commitment.get_absolute_url(),
                key=commitment.slug,
                as_of=self.as_of,
            ),
            **kwargs,
        )


class InstrumentListView(ListView):
    template_name = "aitracker/instrument_list.html"

    def get_queryset(self):
        return Instrument.objects.public().with_signatory_count()

    def get_context_data(self, **kwargs):
        return super().get_context_data(rows=breakdown_rows(self.object_list, status_counts_by_instrument()), **kwargs)


RELATION_ORDER = [
    Endorsement.Relation.LEAD_SPONSOR,
    Endorsement.Relation.CO_SPONSOR,
    Endorsement.Relation.SIGNED,
    Endorsement.Relation.JOINED_LATER,
    Endorsement.Relation.VOTED_YES,
    Endorsement.Relation.VOTED_NO,
    Endorsement.Relation.ABSTAINED,
    Endorsement.Relation.DID_NOT_SIGN,
    Endorsement.Relation.ATTENDED_WITHOUT_SIGNING,
]


class InstrumentDetailView(KeptObjectMixin, AsOfMixin, DetailView):
    template_name = "aitracker/instrument_detail.html"

    def get_queryset(self):
        return Instrument.objects.public()

    def get_context_data(self, **kwargs):
        commitments = Commitment.objects.public().for_instrument(self.object)
        endorsements = Endorsement.objects.public().filter(instrument=self.object)
        if self.as_of:
            endorsements = asof.endorsements_as_of(endorsements, self.as_of)
            summary = asof.commitments_summary_as_of(commitments, self.as_of, COMMITMENTS_SHOWN)
        else:
            summary = commitments_summary(commitments, status_counts_of("instrument", self.object.pk))

        def groups():
            every = by_party_name(endorsements.select_related("party"))
            return [
                (relation, [e for e in every if e.relation == relation])
                for relation in RELATION_ORDER
                if any(e.relation == relation for e in every)
            ]

        un_member_count = None
        if self.object.adoption == Instrument.Adoption.WITHOUT_VOTE:
            un_member_count = cached_summary("un-members", Party.objects.public().filter(un_member=True).count)
        # What the page's fragment shows (aitracker/fragments.py) is read only when the fragment is not kept.
        return super().get_context_data(
            endorsement_groups=SimpleLazyObject(groups),
            relation_map=SimpleLazyObject(
                lambda: instrument_relation_map(instrument=self.object, endorsements=endorsements)
            ),
            un_member_count=un_member_count,
            # The text in the page's language first, when the instrument has one.
            official_texts=OfficialText.objects.public().filter(instrument=self.object).page_language_first(),
            status_chart=SimpleLazyObject(lambda: charts.status_chart(instrument=self.object)),
            **summary,
            **kwargs,
        )


class PartyListView(AsOfMixin, SingleTableMixin, FilterView):
    table_class = PartyTable
    filterset_class = PartyFilter
    template_name = "aitracker/party_list.html"

    def get_queryset(self):
        # By the names the page shows, in its language (aitracker.i18n.translated_order); a ?sort= reorders.
        parties = with_endorsed_count(Party.objects.public(), as_of=self.as_of)
        return parties.order_by(translated_order(Party, "name"), "pk")

    def get_table_kwargs(self):
        return {"as_of": self.as_of}

    def get_table_pagination(self, table):
        # As on the commitments table: a page past the end (or before the first) is a 404, not the last page.
        return super().get_table_pagination(table) | {"silent": False}

    def get(self, request, *args, **kwargs):
        export = request.GET.get("_export")
        if export is not None:
            return self.export(export)
        try:
            return super().get(request, *args, **kwargs)
        except EmptyPage:
            raise Http404(_("This table has no such page.")) from None

    def export(self, export):
        filterset = self.get_filterset(self.get_filterset_class())
        if problem := bad_export(export, filterset):
            return problem
        table = RequestConfig(self.request, paginate=False).configure(
            self.table_class(data=filterset.qs, as_of=self.as_of)
        )
        rows = party_export_rows(table.data.data, site_root=absolute_url(""), as_of=self.as_of)
        return download(rows, export=export, name="parties", fields=PARTY_EXPORT_FIELDS)


class PartyDetailView(KeptObjectMixin, AsOfMixin, DetailView):
    template_name = "aitracker/party_detail.html"

    def get_queryset(self):
        return Party.objects.public()

    def get_context_data(self, **kwargs):
        party = self.object
        # The latest instruments first, a page at a time: a party can have a relation to hundreds.
        endorsements = (
            Endorsement.objects.public()
            .filter(party=party)
            .select_related("instrument")
            .order_by("-instrument__adopted_on", "instrument__slug")
        )
        if self.as_of:
            endorsements = asof.endorsements_as_of(endorsements, self.as_of)
        endorsement_page = page_or_404(Paginator(endorsements, ENDORSEMENTS_PER_PAGE), self.request.GET.get("page"))
        # Instruments binding it as a UN member state though no relation to them is recorded.
        member_of = []
        if party.un_member:
            # Read when shown: the page's fragment (aitracker/fragments.py) may hold it already.
            member_of = (
                Instrument.objects.public()
                .filter(adoption=Instrument.Adoption.WITHOUT_VOTE)
                .exclude(endorsements__party=party)
                .order_by("-adopted_on", "slug")[:ENDORSEMENTS_PER_PAGE]
            )
        counts = party_status_counts_of_party(party)
        # Its own record on each commitment binding it, the latest instruments first.
        records = (
            PartyStatus.objects.public()
            .filter(party=party)
            .select_related("commitment__instrument")
            .order_by("-commitment__instrument__adopted_on", "commitment__instrument__slug", "commitment__slug")[
                :COMMITMENTS_SHOWN
            ]
        )
        if self.as_of:
            records, counts = self.records_as_of(party, list(records))
            updates = asof.as_they_stood(
                asof.updates_as_of(public_updates().for_party(party), self.as_of)[:LATEST_UPDATES]
            )
        else:
            # Built only when the page's fragment is not kept: the queryset alone costs a few milliseconds.
            updates = SimpleLazyObject(lambda: public_updates().for_party(party)[:LATEST_UPDATES])
        return super().get_context_data(
            endorsements=endorsement_page.object_list,
            endorsement_page=endorsement_page,
            member_of=member_of,
            updates=updates,
            status_counts=counts,
            commitment_total=sum(counts.values()),
            records=records,
            citation=citations.citation(
                title=_("%(party)s: scorecard") % {"party": party},
                path=party.get_absolute_url(),
                key=party.slug,
                as_of=self.as_of,
            ),
            **kwargs,
        )

    def records_as_of(self, party, records):
        """The party's shown records and its counts by status, as of the day (aitracker/asof.py): two queries
        for every commitment binding it (of the instruments adopted by then)."""
        binding = PartyStatus.objects.public().filter(party=party, commitment__instrument__adopted_on__lte=self.as_of)
        every = asof.records_as_of(binding.values("commitment"), self.as_of)
        statuses = [
            every.get(pk, {}).get(party.pk, asof.NOT_ASSESSED).status
            for pk in binding.values_list("commitment", flat=True)
        ]
        shown = [record for record in records if record.commitment.instrument.adopted_on <= self.as_of]
        asof.party_statuses_as_of(shown, self.as_of, every)
        for record in shown:
            asof.commitment_as_it_stood(record.commitment, asof.overall_as_of(every, record.commitment_id))
        return shown, asof.status_counts_of(statuses)


class ThemeListView(ListView):
    template_name = "aitracker/theme_list.html"

    def get_queryset(self):
        return Theme.objects.public().with_counts()

    def get_context_data(self, **kwargs):
        return super().get_context_data(rows=breakdown_rows(self.object_list, status_counts_by_theme()), **kwargs)


class ThemeDetailView(KeptObjectMixin, DetailView):
    template_name = "aitracker/theme_detail.html"

    def get_queryset(self):
        return Theme.objects.public()

    def get_context_data(self, **kwargs):
        commitments = Commitment.objects.public().for_theme(self.object)
        return super().get_context_data(
            updates=public_updates().filter(commitment__themes=self.object)[:LATEST_UPDATES],
            **commitments_summary(commitments, status_counts_of("theme", self.object.pk)),
            **kwargs,
        )


class CompareView(TemplateView):
    """Two to four parties side by side. Bad input (an unknown party, too many) is answered on the page, with
    the form to correct it, as a 400; one party or none is the form's first step."""

    template_name = "aitracker/compare.html"
    SELECTS = 4

    def get(self, request, *args, **kwargs):
        values = request.GET.getlist("parties")
        parties, error = [], ""
        try:
            parties = comparison.find_parties(comparison.parse_slugs(values))
        except comparison.ComparisonError as problem:
            error = str(problem)
        if not error and len(values) > 1:
            # The form's select boxes send ?parties=a&parties=b: the address to share is ?parties=a,b.
            return redirect(f"{request.path}?{compare_query(parties)}")
        export = request.GET.get("_export")
        if export is not None:
            return self.export(export, parties, error)
        context = self.get_context_data(parties=parties, error=error, **kwargs)
        return self.render_to_response(context, status=400 if error else 200)

    def export(self, export, parties, error):
        if export != "csv":
            return HttpResponseBadRequest(_("Unknown download format: use csv."), content_type="text/plain")
        if error or len(parties) < comparison.MIN_PARTIES:
            message = error or _("Choose two to four parties to compare.")
            return HttpResponseBadRequest(message, content_type="text/plain")
        header = comparison.export_header(parties)
        rows = (dict(zip(header, values, strict=True)) for values in comparison.export_rows(parties))
        slugs = "-".join(party.slug for party in parties)
        return download(rows, export="csv", name=f"compare-{slugs}", fields=header)

    def get_context_data(self, *, parties, error, **kwargs):
        choices = [("", _("Choose a party")), *Party.objects.public().values_list("slug", "name")]
        # After a mistake, the form keeps what was asked for, so the visitor corrects one box.
        chosen = [party.slug for party in parties] or comparison.split_slugs(self.request.GET.getlist("parties"))
        selects = []
        for index in range(self.SELECTS):
            value = chosen[index] if index < len(chosen) else ""
            widget = PlainSelect(choices=choices)
            selects.append((f"party-{index + 1}", widget.render("parties", value, attrs={"id": f"party-{index + 1}"})))
        context = {"parties": parties, "error": error, "selects": selects, "ready": False}
        if not error and len(parties) >= comparison.MIN_PARTIES:
            context.update(
                ready=True,
                share_query=compare_query(parties),
                **comparison.comparison(parties, self.request.GET.get("page")),
            )
        return super().get_context_data(**context, **kwargs)


def compare_query(parties):
    return "parties=" + ",".join(party.slug for party in parties)


@dataclass
class KeysetPage:
    """The part of Django's Page that a newer/older navigation needs, for a list too long to count or to
    skip through: each link names the update it continues from, so that every page costs what the first
    does, however deep."""

    object_list: list
    newer_key: str | None
    older_key: str | None
    is_first: bool

    def has_previous(self):
        return self.newer_key is not None

    def has_next(self):
        return self.older_key is not None

    def has_other_pages(self):
        return self.has_previous() or self.has_next()


_KEY_DATE, _KEY_TIME = "%Y-%m-%d", "%Y%m%dT%H%M%S.%f"


def update_key(update) -> str:
    """Where a list of published updates continues from: the values of every field it can be sorted by."""
    published_at = update.published_at.astimezone(UTC)
    return f"{update.reported_on:{_KEY_DATE}}_{published_at:{_KEY_TIME}}_{update.pk}"


def parse_update_key(text) -> dict | None:
    """The values of `update_key`, or None for anything else (an old or mistyped link shows the first page)."""
    try:
        day, moment, pk = (text or "").split("_")
        return {
            "reported_on": datetime.strptime(day, _KEY_DATE).date(),
            "published_at": datetime.strptime(moment, _KEY_TIME).replace(tzinfo=UTC),
            "pk": int(pk),
        }
    except ValueError:
        return None


class UpdateListView(AsOfMixin, FilterView):
    template_name = "aitracker/update_list.html"
    context_object_name = "updates"
    filterset_class = UpdateFilter
    paginate_by = 20

    def get_queryset(self):
        # UpdateFilter puts them in the chosen order (by the event's date, newest first, unless asked).
        if "_export" in self.request.GET:
            # A download has no use for each update's previous status, a lookup per row.
            updates = ProgressUpdate.objects.public()
        else:
            updates = public_updates().prefetch_related("sources")
        return asof.updates_as_of(updates, self.as_of) if self.as_of else updates

    def get(self, request, *args, **kwargs):
        export = request.GET.get("_export")
        if export is None:
            return super().get(request, *args, **kwargs)
        return self.export(export)

    def export(self, export):
        # A download has no use for each update's previous status, a lookup per row.
        updates = ProgressUpdate.objects.public()
        if self.as_of:
            updates = asof.updates_as_of(updates, self.as_of)
        filterset = self.filterset_class(self.request.GET, queryset=updates, request=self.request)
        return bad_export(export, filterset) or download(
            update_export_rows(filterset.qs, site_root=absolute_url(""), chunk_size=EXPORT_CHUNK, as_of=self.as_of),
            export=export,
            name="updates",
            fields=UPDATE_EXPORT_FIELDS,
        )

    def get_context_data(self, **kwargs):
        filterset = self.filterset
        context = super().get_context_data(
            filtered=filterset.is_bound
            and any(value for name, value in self.request.GET.items() if name in filterset.filters and name != "sort"),
            # The pages are "newer" and "older" only when the list runs newest first.
            newest_first=self.request.GET.get("sort", "-").startswith("-"),
            **kwargs,
        )
        if self.as_of:
            context["updates"] = context["object_list"] = asof.as_they_stood(context["updates"])
        return context

    def list_order(self):
        """The fields of the order the list runs in (UpdateFilter's ?sort=, by the event newest first)."""
        filterset = self.filterset
        chosen = filterset.form.cleaned_data.get("sort") if filterset.is_bound and filterset.is_valid() else None
        return UPDATE_ORDERS[chosen or "-reported_on"][1]

    def paginate_queryset(self, queryset, page_size):
        """Next and previous pages by the update they continue from ("?older=…", "?newer=…", in whichever order
        the list runs), never by number: counting every published update, or skipping to page 1,000,000, would
        cost more than the page. A key that is not one shows the first page; a page with nothing on it (a key
        past the end, or a "?page=" number other than 1: this list has no numbered pages) is a 404, so that no
        crawler finds the same rows, or none, under endless addresses."""
        number = self.request.GET.get("page", "1")
        if re.fullmatch(r"\s*[-+]?\d{1,30}\s*", number) and int(number) != 1:
            raise Http404(_("This list has no such page."))
        order = self.list_order()
        older = parse_update_key(self.request.GET.get("older"))
        newer = parse_update_key(self.request.GET.get("newer")) if older is None else None
        if newer is not None:
            rows = list(queryset.before(newer, order)[: page_size + 1])
            if len(rows) > page_size:
                rows = rows[:page_size][::-1]
                page = KeysetPage(rows, update_key(rows[0]), update_key(rows[-1]), is_first=False)
                return None, page, page.object_list, True
            older = None  # back at the top: the first page
        if older is not None:
            rows = list(queryset.after(older, order)[: page_size + 1])
            shown = rows[:page_size]
            if not shown:
                raise Http404(_("This list has no such page."))
            newer_key = update_key(shown[0]) if shown else None
            page = KeysetPage(
                shown, newer_key, update_key(shown[-1]) if len(rows) > page_size else None, is_first=False
            )
            return None, page, page.object_list, True
        rows = list(queryset[: page_size + 1])
        shown = rows[:page_size]
        page = KeysetPage(shown, None, update_key(shown[-1]) if len(rows) > page_size else None, is_first=True)
        return None, page, page.object_list, page.has_other_pages()


class SearchView(TemplateView):
    """Everything public that matches ?q=, grouped by kind (aitracker/search.py); ?kind= shows more of one."""

    template_name = "aitracker/search.html"
    KIND_LIMIT = 100

    def get_context_data(self, **kwargs):
        raw = self.request.GET.get("q", "")
        kind = self.request.GET.get("kind", "")
        kinds = [kind] if kind in SearchEntry.Kind.values else None
        results = search(
            raw,
            language=get_language(),
            kinds=kinds,
            limit=self.KIND_LIMIT if kinds else RESULTS_PER_KIND,
        )
        return super().get_context_data(
            results=results,
            search_query=results.query.text,
            chosen_kind=kinds[0] if kinds else "",
            max_query_length=MAX_QUERY_LENGTH,
            # A results page is no page of its own for a search engine.
            noindex=True,
            **kwargs,
        )


class MethodologyView(TemplateView):
    template_name = "aitracker/methodology.html"

    def get_context_data(self, **kwargs):
        return super().get_context_data(
            statuses=[(Status(status), definition) for status, definition in STATUS_DEFINITIONS.items()],
            un_member_states_source=settings.AITRACKER_UN_MEMBER_STATES_SOURCE,
            **kwargs,
        )


@never_cache
def healthz(request):
    """Liveness: the process answers. Touches nothing else, so a database outage does not restart it."""
    return HttpResponse("ok\n", content_type="text/plain")


@never_cache
def readyz(request):
    """Readiness: the database answers. Plain text either way; the reason goes to the log, not the visitor."""
    try:
        connection.ensure_connection()
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
            cursor.fetchone()
    except Exception:
        logger.exception("readiness check failed")
        return HttpResponse("database unavailable\n", status=503, content_type="text/plain")
    return HttpResponse("ok\n", content_type="text/plain")


# --- Readers' suggestions --------------------------------------------------------------------------------

SUGGEST_RATE_KEY = "aitracker:suggest-rate:{address}"
SUGGEST_RATE_WINDOW = 60 * 60


def _suggest_rate_count(request, *, add: bool = False) -> int:
    """How many suggestions this address sent in the current hour (counting this one if `add`). The shared
    cache holds the count, so every app server sees it; a cache that fails lets the visitor through."""
    key = SUGGEST_RATE_KEY.format(address=client_ip(request) or "unknown")
    store = caches["default"]
    try:
        if add:
            store.add(key, 0, SUGGEST_RATE_WINDOW)
            return store.incr(key)
        return store.get(key, 0)
    except Exception:
        logger.warning("suggestion rate limit unavailable", exc_info=True)
        return 0


@method_decorator(never_cache, name="dispatch")
class SuggestView(View):
    """The public form, on a page of its own (it holds a CSRF token, so it is never cached; the commitment and
    party pages only link to it and stay cacheable). ?commitment=<slug> or ?party=<slug> says what it is about."""

    template_name = "aitracker/suggest/suggest_form.html"

    def subject(self):
        commitment = party = None
        if slug := self.request.GET.get("commitment", "")[:120]:
            commitment = Commitment.objects.public().select_related("instrument").filter(slug=slug).first()
        elif slug := self.request.GET.get("party", "")[:80]:
            party = Party.objects.public().filter(slug=slug).first()
        return commitment, party

    def render(self, form, *, status=200, notice=""):
        commitment, party = self.subject()
        context = {"form": form, "commitment": commitment, "party": party, "notice": notice}
        return TemplateResponse(self.request, self.template_name, context, status=status)

    def fresh_form(self, data=None):
        form = SuggestionForm(data, initial={"started": suggest_started_token()})
        if data is not None:
            # A re-shown form starts its clock again.
            form.data = form.data.copy()
            form.data["started"] = suggest_started_token()
        return form

    def get(self, request, *args, **kwargs):
        return self.render(self.fresh_form())

    def post(self, request, *args, **kwargs):
        if _suggest_rate_count(request) >= settings.AITRACKER_SUGGEST_PER_HOUR:
            form = self.fresh_form(request.POST)
            notice = _("You have sent several suggestions in the last hour. Nothing was saved: please try again later.")
            response = self.render(form, status=429, notice=notice)
            response["Retry-After"] = str(SUGGEST_RATE_WINDOW)
            return response
        form = SuggestionForm(request.POST)
        if form.is_trapped():
            _suggest_rate_count(request, add=True)
            return redirect("suggest_thanks")
        seconds = form.seconds_taken()
        if seconds is None or seconds < settings.AITRACKER_SUGGEST_MIN_SECONDS:
            _suggest_rate_count(request, add=True)
            notice = _("Nothing was saved yet: please check your suggestion, then send it again.")
            return self.render(self.fresh_form(request.POST), status=400, notice=notice)
        if not form.is_valid():
            return self.render(form, status=400)
        commitment, party = self.subject()
        try:
            services.suggestion_submit(
                kind=form.cleaned_data["kind"],
                text=form.cleaned_data["text"],
                happened_on=form.cleaned_data["happened_on"],
                source_urls=form.source_urls(),
                commitment=commitment,
                party=party,
                name=form.cleaned_data["name"],
                email=form.cleaned_data["email"],
                language=get_language() or "",
            )
        except ValidationError as error:
            for field, errors in getattr(error, "error_dict", {None: error.error_list}).items():
                form.add_error(field if field in form.fields else None, errors)
            return self.render(form, status=400)
        _suggest_rate_count(request, add=True)
        return redirect("suggest_thanks")


@method_decorator(never_cache, name="dispatch")
class SuggestThanksView(TemplateView):
    template_name = "aitracker/suggest/thanks.html"


class DataView(TemplateView):
    """The downloads page: each dataset, its columns, formats and size, the licence and how to cite."""

    template_name = "aitracker/data.html"

    def get_context_data(self, **kwargs):
        datasets = [
            {
                "dataset": dataset,
                "count": cached_summary(f"data-count:{dataset.name}", dataset.count),
                "csv": reverse("data_download", kwargs={"name": dataset.name, "export": "csv"}),
                "json": reverse("data_download", kwargs={"name": dataset.name, "export": "json"}),
            }
            for dataset in DATASETS
        ]
        updated = cached_summary("data-last-published", last_published)
        return super().get_context_data(
            datasets=datasets,
            licence=LICENCE,
            licence_scope=LICENCE_SCOPE,
            updated=updated,
            json_ld=structured_data.downloads_dataset(DATASETS, modified=updated),
            today=timezone.localdate(),
            **kwargs,
        )


def _list_view_export(view_class, request, export):
    view = view_class()
    view.setup(request)
    # The list's own reading of ?as_of= (AsOfMixin), as its page and its download links do.
    try:
        view.as_of = asof.parse_as_of(request)
    except asof.AsOfError as error:
        return as_of_error(request, error)
    return view.export(export)


def _endorsements_export(request, export):
    """Every relation, or those the filters choose; as of a day, those dated after it left out (as on the
    instrument and party pages)."""
    try:
        day = asof.parse_as_of(request)
    except asof.AsOfError as error:
        return as_of_error(request, error)
    endorsements = Endorsement.objects.public()
    if day:
        endorsements = asof.endorsements_as_of(endorsements, day)
    queryset = endorsements.select_related(None).order_by(
        "instrument__adopted_on", "instrument__slug", "party__name", "pk"
    )
    filterset = EndorsementFilter(request.GET, queryset=queryset, request=request)
    return bad_export(export, filterset) or download(
        endorsement_export_rows(filterset.qs, site_root=absolute_url(""), chunk_size=EXPORT_CHUNK),
        export=export,
        name="endorsements",
        fields=ENDORSEMENT_EXPORT_FIELDS,
    )


def _instruments_export(request, export):
    try:
        day = asof.parse_as_of(request)
    except asof.AsOfError as error:
        return as_of_error(request, error)
    instruments = Instrument.objects.public()
    if day:
        # As the commitments table leaves out those of instruments adopted after the day.
        instruments = instruments.filter(adopted_on__lte=day)
    rows = instrument_export_rows(instruments.order_by("adopted_on", "slug"), site_root=absolute_url(""))
    return bad_export(export, None) or download(
        rows, export=export, name="instruments", fields=INSTRUMENT_EXPORT_FIELDS
    )


def _themes_export(request, export):
    rows = theme_export_rows(Theme.objects.public().order_by("slug"), site_root=absolute_url(""))
    return bad_export(export, None) or download(rows, export=export, name="themes", fields=THEME_EXPORT_FIELDS)


DATA_DOWNLOADS = {
    "commitments": lambda request, export: _list_view_export(CommitmentListView, request, export),
    "parties": lambda request, export: _list_view_export(PartyListView, request, export),
    "updates": lambda request, export: _list_view_export(UpdateListView, request, export),
    "endorsements": _endorsements_export,
    "instruments": _instruments_export,
    "themes": _themes_export,
}


def data_download(request, name, export):
    """/data/<dataset>.<csv|json>: the whole dataset, or the rows the filters of its list page choose."""
    if name not in DATASETS_BY_NAME or export not in ("csv", "json"):
        raise Http404(_("No such download."))
    return DATA_DOWNLOADS[name](request, export)


def datapackage_json(request):
    package = data_package()
    response = HttpResponse(
        json.dumps(package, ensure_ascii=False, indent=2), content_type="application/json; charset=utf-8"
    )
    return response
