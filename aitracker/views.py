"""Public pages. Every queryset starts from `.public()`; the heavy lifting is in the QuerySet methods."""

import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from django.conf import settings
from django.core.paginator import EmptyPage, PageNotAnInteger, Paginator
from django.db import connection
from django.db.models import Count, Window
from django.http import Http404, HttpResponse, HttpResponseBadRequest
from django.shortcuts import redirect
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.generic import DetailView, ListView, TemplateView
from django_filters.views import FilterView
from django_tables2 import RequestConfig, SingleTableMixin

from . import comparison
from .cache import cached_summary, current_generation
from .exports import (
    PARTY_EXPORT_FIELDS,
    UPDATE_EXPORT_FIELDS,
    bad_export,
    commitment_export_rows,
    download,
    party_export_rows,
    update_export_rows,
)
from .filters import UPDATE_ORDERS, CommitmentFilter, PartyFilter, PlainSelect, UpdateFilter, published_since
from .i18n import translated_order
from .links import absolute_url, slug_url
from .maps import commitment_status_map, instrument_relation_map
from .models import (
    STATUS_DEFINITIONS,
    STATUS_VALUES,
    Commitment,
    Endorsement,
    Instrument,
    OfficialText,
    Party,
    PartyStatus,
    ProgressUpdate,
    Status,
    Theme,
    stale_cutoff,
)
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


def commitments_summary(commitments, summary_name):
    """The context a page needs to show a set of commitments: how many in each status (kept as the summary
    `summary_name` until the next write), and the first few."""
    status_counts = cached_summary(f"status-counts:{summary_name}", commitments.status_counts)
    keys = list(commitments.values_list("pk", flat=True)[:COMMITMENTS_SHOWN])
    return {
        "status_counts": status_counts,
        "commitment_total": sum(status_counts.values()),
        "commitments": Commitment.objects.with_related().in_key_order(keys),
    }


def page_or_404(paginator, number):
    """The page asked for: the first if the number is not one, a 404 past the end (not the last page again
    under another address)."""
    try:
        return paginator.page(number or 1)
    except PageNotAnInteger:
        return paginator.page(1)
    except EmptyPage:
        raise Http404(_("This list has no such page.")) from None


def breakdown_rows(objects, breakdown):
    """Pair each object with its {status: count} (zeros if it has none) and its total."""
    rows = []
    for obj in objects:
        counts = breakdown.get((obj.pk,), dict.fromkeys(STATUS_VALUES, 0))
        rows.append({"object": obj, "counts": counts, "total": sum(counts.values())})
    return rows


# The site-wide counts, each a pass over every commitment: kept until the next write the public can see.
def status_counts():
    return cached_summary("status-counts:all", Commitment.objects.public().status_counts)


def status_counts_by_instrument():
    return cached_summary(
        "status-counts:by-instrument", lambda: Commitment.objects.public().status_counts_by("instrument")
    )


def status_counts_by_theme():
    return cached_summary("status-counts:by-theme", lambda: Commitment.objects.public().status_counts_by("themes"))


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
            .annotate(period_total=Window(Count("pk")))
            .order_by("-published_at", "-pk")
            .values(
                "pk",
                "kind",
                "status",
                "published_at",
                "period_total",
                "commitment__slug",
                "commitment__reference",
                "commitment__title",
                "commitment__instrument__short_title",
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
            by_instrument=breakdown_rows(
                Instrument.objects.public()[:DASHBOARD_INSTRUMENTS], status_counts_by_instrument()
            ),
            instrument_count=cached_summary("instruments", Instrument.objects.public().count),
            by_theme=breakdown_rows(Theme.objects.public(), status_counts_by_theme()),
            latest_updates=public_updates()[:LATEST_UPDATES],
            **recently_published(),
            **kwargs,
        )


class CommitmentListView(SingleTableMixin, FilterView):
    table_class = CommitmentTable
    filterset_class = CommitmentFilter
    template_name = "aitracker/commitment_list.html"

    def get_queryset(self):
        # The table adds the sort annotations (status rank, first theme) only when it sorts by them: as
        # columns they would be computed for every matching commitment before the page is cut out.
        return Commitment.objects.public().with_related()

    def get_table_kwargs(self):
        # The generation first: the kept counts are those of that generation, or of a later one.
        generation = current_generation()
        return {"generation": generation, "count": self.kept_count()}

    def get_table_pagination(self, table):
        # A page past the end (or before the first) is not a page of this table: 404, not the nearest page, so
        # that a crawler never indexes the same rows under endless addresses.
        return super().get_table_pagination(table) | {"silent": False}

    def kept_count(self):
        """How many rows match, from the kept counts, when the filters are among those they count by (status,
        and one instrument or one theme); else None, and the table counts them."""
        filterset = self.filterset
        if filterset.is_bound and not filterset.is_valid():
            return None
        cleaned = filterset.form.cleaned_data if filterset.is_bound else {}
        chosen = {name: value for name, value in cleaned.items() if value}
        status = chosen.pop("status", None)
        if not chosen:
            counts = status_counts()
        elif chosen.keys() == {"instrument"}:
            key = (filterset.instrument_pks[chosen["instrument"]],)
            counts = status_counts_by_instrument().get(key, {})
        elif chosen.keys() == {"theme"}:
            counts = status_counts_by_theme().get((filterset.theme_pks[chosen["theme"]],), {})
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
        rows = commitment_export_rows(table.data.data, site_root=absolute_url(""), chunk_size=EXPORT_CHUNK)
        return download(rows, export=export, name="commitments")


def party_status_counts_of_commitment(commitment):
    """{status: count} over the parties the commitment binds, kept until the next write."""
    return cached_summary(
        f"party-status-counts:commitment:{commitment.pk}",
        PartyStatus.objects.filter(commitment=commitment).status_counts,
    )


def party_status_counts_of_party(party):
    """{status: count} over the commitments binding the party, by its own status, kept until the next write."""
    return cached_summary(
        f"party-status-counts:party:{party.pk}", PartyStatus.objects.public().filter(party=party).status_counts
    )


class CommitmentDetailView(DetailView):
    template_name = "aitracker/commitment_detail.html"

    def get_queryset(self):
        return Commitment.objects.public().with_related()

    def chosen_party_status(self):
        """The ?party_status= filter of the parties' table: a status, or "" for all (an unknown value is said so
        on the page, and shows all)."""
        value = self.request.GET.get("party_status", "")
        return (value, value in STATUS_VALUES or value == "")

    def get_context_data(self, **kwargs):
        commitment = self.object
        updates = public_updates().filter(commitment=commitment).prefetch_related("sources")
        party_status, valid = self.chosen_party_status()
        rows = PartyStatus.objects.filter(commitment=commitment).select_related("party").order_by("party__name")
        if party_status and valid:
            rows = rows.filter(status=party_status)
        counts = party_status_counts_of_commitment(commitment)
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
            status_map=commitment_status_map(commitment=commitment, table_id="parties"),
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


class InstrumentDetailView(DetailView):
    template_name = "aitracker/instrument_detail.html"

    def get_queryset(self):
        return Instrument.objects.public()

    def get_context_data(self, **kwargs):
        commitments = Commitment.objects.public().for_instrument(self.object)
        endorsements = list(
            Endorsement.objects.public().filter(instrument=self.object).select_related("party").order_by("party__name")
        )
        groups = [
            (relation, [e for e in endorsements if e.relation == relation])
            for relation in RELATION_ORDER
            if any(e.relation == relation for e in endorsements)
        ]
        un_member_count = None
        if self.object.adoption == Instrument.Adoption.WITHOUT_VOTE:
            un_member_count = cached_summary("un-members", Party.objects.public().filter(un_member=True).count)
        return super().get_context_data(
            endorsement_groups=groups,
            relation_map=instrument_relation_map(instrument=self.object),
            un_member_count=un_member_count,
            # The text in the page's language first, when the instrument has one.
            official_texts=OfficialText.objects.public().filter(instrument=self.object).page_language_first(),
            **commitments_summary(commitments, f"instrument:{self.object.pk}"),
            **kwargs,
        )


class PartyListView(SingleTableMixin, FilterView):
    table_class = PartyTable
    filterset_class = PartyFilter
    template_name = "aitracker/party_list.html"

    def get_queryset(self):
        # By the names the page shows, in its language (aitracker.i18n.translated_order); a ?sort= reorders.
        return with_endorsed_count(Party.objects.public()).order_by(translated_order(Party, "name"), "pk")

    def get(self, request, *args, **kwargs):
        export = request.GET.get("_export")
        if export is None:
            return super().get(request, *args, **kwargs)
        filterset = self.get_filterset(self.get_filterset_class())
        if problem := bad_export(export, filterset):
            return problem
        table = RequestConfig(request, paginate=False).configure(self.table_class(data=filterset.qs))
        rows = party_export_rows(table.data.data, site_root=absolute_url(""))
        return download(rows, export=export, name="parties", fields=PARTY_EXPORT_FIELDS)


class PartyDetailView(DetailView):
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
        endorsement_page = page_or_404(Paginator(endorsements, ENDORSEMENTS_PER_PAGE), self.request.GET.get("page"))
        # Instruments binding it as a UN member state though no relation to them is recorded.
        member_of = []
        if party.un_member:
            member_of = list(
                Instrument.objects.public()
                .filter(adoption=Instrument.Adoption.WITHOUT_VOTE)
                .exclude(endorsements__party=party)
                .order_by("-adopted_on", "slug")[:ENDORSEMENTS_PER_PAGE]
            )
        counts = party_status_counts_of_party(party)
        # Its own record on each commitment binding it, the latest instruments first.
        records = list(
            PartyStatus.objects.public()
            .filter(party=party)
            .select_related("commitment__instrument")
            .order_by("-commitment__instrument__adopted_on", "commitment__instrument__slug", "commitment__slug")[
                :COMMITMENTS_SHOWN
            ]
        )
        return super().get_context_data(
            endorsements=endorsement_page.object_list,
            endorsement_page=endorsement_page,
            member_of=member_of,
            updates=public_updates().for_party(party)[:LATEST_UPDATES],
            status_counts=counts,
            commitment_total=sum(counts.values()),
            records=records,
            **kwargs,
        )


class ThemeListView(ListView):
    template_name = "aitracker/theme_list.html"

    def get_queryset(self):
        return Theme.objects.public().with_counts()

    def get_context_data(self, **kwargs):
        return super().get_context_data(rows=breakdown_rows(self.object_list, status_counts_by_theme()), **kwargs)


class ThemeDetailView(DetailView):
    template_name = "aitracker/theme_detail.html"

    def get_queryset(self):
        return Theme.objects.public()

    def get_context_data(self, **kwargs):
        commitments = Commitment.objects.public().for_theme(self.object)
        return super().get_context_data(
            updates=public_updates().filter(commitment__themes=self.object)[:LATEST_UPDATES],
            **commitments_summary(commitments, f"theme:{self.object.pk}"),
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


class UpdateListView(FilterView):
    template_name = "aitracker/update_list.html"
    context_object_name = "updates"
    filterset_class = UpdateFilter
    paginate_by = 20

    def get_queryset(self):
        # UpdateFilter puts them in the chosen order (by the event's date, newest first, unless asked).
        if "_export" in self.request.GET:
            # A download has no use for each update's previous status, a lookup per row.
            return ProgressUpdate.objects.public()
        return public_updates().prefetch_related("sources")

    def get(self, request, *args, **kwargs):
        export = request.GET.get("_export")
        if export is None:
            return super().get(request, *args, **kwargs)
        filterset = self.get_filterset(self.get_filterset_class())
        return bad_export(export, filterset) or download(
            update_export_rows(filterset.qs, site_root=absolute_url(""), chunk_size=EXPORT_CHUNK),
            export=export,
            name="updates",
            fields=UPDATE_EXPORT_FIELDS,
        )

    def get_context_data(self, **kwargs):
        filterset = self.filterset
        return super().get_context_data(
            filtered=filterset.is_bound
            and any(value for name, value in self.request.GET.items() if name in filterset.filters and name != "sort"),
            # The pages are "newer" and "older" only when the list runs newest first.
            newest_first=self.request.GET.get("sort", "-").startswith("-"),
            **kwargs,
        )

    def list_order(self):
        """The fields of the order the list runs in (UpdateFilter's ?sort=, by the event newest first)."""
        filterset = self.filterset
        chosen = filterset.form.cleaned_data.get("sort") if filterset.is_bound and filterset.is_valid() else None
        return UPDATE_ORDERS[chosen or "-reported_on"][1]

    def paginate_queryset(self, queryset, page_size):
        """Next and previous pages by the update they continue from ("?older=…", "?newer=…", in whichever order
        the list runs), never by number: counting every published update, or skipping to page 1,000,000, would
        cost more than the page. An old "?page=" link, or a key that is not one, shows the first page."""
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
            newer_key = update_key(shown[0]) if shown else None
            page = KeysetPage(
                shown, newer_key, update_key(shown[-1]) if len(rows) > page_size else None, is_first=False
            )
            return None, page, page.object_list, True
        rows = list(queryset[: page_size + 1])
        shown = rows[:page_size]
        page = KeysetPage(shown, None, update_key(shown[-1]) if len(rows) > page_size else None, is_first=True)
        return None, page, page.object_list, page.has_other_pages()


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
