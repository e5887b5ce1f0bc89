"""Public pages. Every queryset starts from `.public()`; the heavy lifting is in the QuerySet methods."""

import csv
import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from django.conf import settings
from django.core.paginator import Paginator
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.http import HttpResponse, HttpResponseBadRequest, StreamingHttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.cache import never_cache
from django.views.generic import DetailView, ListView, TemplateView
from django_filters.views import FilterView
from django_tables2 import RequestConfig, SingleTableMixin

from .cache import cached_summary
from .filters import CommitmentFilter
from .models import (
    STATUS_DEFINITIONS,
    STATUS_VALUES,
    Commitment,
    Endorsement,
    Instrument,
    Party,
    ProgressUpdate,
    Status,
    Theme,
)
from .tables import EXPORT_FIELDS, CommitmentTable, commitment_export_rows, csv_cell

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
        .select_related("commitment__instrument", "party")
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
    return cached_summary(f"stale:{timezone.now().date()}", Commitment.objects.public().stale().count)


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
            **kwargs,
        )


def _csv_stream(rows):
    class Echo:
        def write(self, value):
            return value

    writer = csv.writer(Echo())
    # The byte-order mark lets spreadsheets read "§" and accented names as UTF-8.
    yield "\ufeff" + writer.writerow(EXPORT_FIELDS)
    for row in rows:
        yield writer.writerow([csv_cell(row[field]) for field in EXPORT_FIELDS])


def _json_stream(rows):
    yield "["
    for index, row in enumerate(rows):
        yield ("\n" if index == 0 else ",\n") + json.dumps(row, cls=DjangoJSONEncoder, ensure_ascii=False)
    yield "\n]\n"


EXPORTS = {
    "csv": (_csv_stream, "text/csv; charset=utf-8"),
    "json": (_json_stream, "application/json; charset=utf-8"),
}


class CommitmentListView(SingleTableMixin, FilterView):
    table_class = CommitmentTable
    filterset_class = CommitmentFilter
    template_name = "aitracker/commitment_list.html"

    def get_queryset(self):
        # The table adds the sort annotations (status rank, first theme) only when it sorts by them: as
        # columns they would be computed for every matching commitment before the page is cut out.
        return Commitment.objects.public().with_related()

    def get_table_kwargs(self):
        return {"count": self.kept_count()}

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
        if export is None:
            return super().get(request, *args, **kwargs)
        return self.export(export)

    def export(self, export):
        """Stream exactly the filtered and sorted rows, every page, so memory stays flat however many."""
        if export not in EXPORTS:
            return HttpResponseBadRequest(_("Unknown download format: use csv or json."), content_type="text/plain")
        filterset = self.get_filterset(self.get_filterset_class())
        if filterset.is_bound and not filterset.is_valid():
            return HttpResponseBadRequest(
                _("Some filters are not valid: %(fields)s.") % {"fields": ", ".join(filterset.errors)},
                content_type="text/plain",
            )
        table = RequestConfig(self.request, paginate=False).configure(self.table_class(data=filterset.qs))
        rows = commitment_export_rows(
            table.data.data, site_root=self.request.build_absolute_uri("/").rstrip("/"), chunk_size=EXPORT_CHUNK
        )
        stream, content_type = EXPORTS[export]
        response = StreamingHttpResponse(stream(rows), content_type=content_type)
        filename = f"aitracker-commitments-{timezone.localdate():%Y-%m-%d}.{export}"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response


def is_stale(commitment):
    """The same rule as CommitmentQuerySet.stale(), for a commitment already loaded."""
    if commitment.last_update_on is None:
        return True
    cutoff = timezone.now().date() - timedelta(days=settings.AITRACKER_STALE_AFTER_DAYS)
    return commitment.last_update_on < cutoff


class CommitmentDetailView(DetailView):
    template_name = "aitracker/commitment_detail.html"

    def get_queryset(self):
        return Commitment.objects.public().with_related().prefetch_related("parties")

    def get_context_data(self, **kwargs):
        commitment = self.object
        updates = public_updates().filter(commitment=commitment).prefetch_related("sources")
        # No named party means the pledge binds everyone who signed or joined the instrument.
        signatories = None
        if not commitment.parties.all():
            signatories = [
                endorsement.party
                for endorsement in Endorsement.objects.public()
                .endorsing()
                .filter(instrument=commitment.instrument)
                .select_related("party")
                .order_by("party__name")
            ]
        return super().get_context_data(
            updates=updates,
            signatories=signatories,
            status=Status(commitment.current_status),
            status_definition=STATUS_DEFINITIONS[commitment.current_status],
            is_stale=is_stale(commitment),
            **kwargs,
        )


class InstrumentListView(ListView):
    template_name = "aitracker/instrument_list.html"

    def get_queryset(self):
        return Instrument.objects.public().with_signatory_count()

    def get_context_data(self, **kwargs):
        return super().get_context_data(rows=breakdown_rows(self.object_list, status_counts_by_instrument()), **kwargs)


RELATION_ORDER = [
    Endorsement.Relation.SIGNED,
    Endorsement.Relation.JOINED_LATER,
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
        return super().get_context_data(
            endorsement_groups=groups,
            **commitments_summary(commitments, f"instrument:{self.object.pk}"),
            **kwargs,
        )


class PartyListView(ListView):
    template_name = "aitracker/party_list.html"

    def get_queryset(self):
        return Party.objects.public().with_counts()


class PartyDetailView(DetailView):
    template_name = "aitracker/party_detail.html"

    def get_queryset(self):
        return Party.objects.public()

    def get_context_data(self, **kwargs):
        party = self.object
        commitments = Commitment.objects.public().for_party(party)
        # The latest instruments first, a page at a time: a party can have a relation to hundreds.
        endorsements = (
            Endorsement.objects.public()
            .filter(party=party)
            .select_related("instrument")
            .order_by("-instrument__adopted_on", "instrument__slug")
        )
        endorsement_page = Paginator(endorsements, ENDORSEMENTS_PER_PAGE).get_page(self.request.GET.get("page"))
        return super().get_context_data(
            endorsements=endorsement_page.object_list,
            endorsement_page=endorsement_page,
            updates=public_updates().for_party(party)[:LATEST_UPDATES],
            **commitments_summary(commitments, f"party:{party.pk}"),
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
    """Where a list of published updates continues from: the update's place in latest_first() order."""
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


class UpdateListView(ListView):
    template_name = "aitracker/update_list.html"
    context_object_name = "updates"
    paginate_by = 20

    def get_queryset(self):
        return public_updates().prefetch_related("sources")

    def paginate_queryset(self, queryset, page_size):
        """Newer and older pages by the update they continue from ("?older=…", "?newer=…"), never by number:
        counting every published update, or skipping to page 1,000,000, would cost more than the page."""
        older = parse_update_key(self.request.GET.get("older"))
        newer = parse_update_key(self.request.GET.get("newer")) if older is None else None
        if newer is not None:
            rows = list(queryset.newer_than(**newer)[: page_size + 1])
            if len(rows) > page_size:
                rows = rows[:page_size][::-1]
                page = KeysetPage(rows, update_key(rows[0]), update_key(rows[-1]), is_first=False)
                return None, page, page.object_list, True
            older = None  # back at the top: the first page
        if older is not None:
            rows = list(queryset.older_than(**older)[: page_size + 1])
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
