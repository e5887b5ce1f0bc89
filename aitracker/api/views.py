"""The read-only API (/api/v1/): the published records, from the same public() querysets, filtered by the same
FilterSets as the site's tables and downloads (aitracker/filters.py).

Every answer is JSON: a bad filter value, cursor, page size or order is a 400 naming the field at fault; an
unknown slug a 404. GET, HEAD and OPTIONS only; CORS is open (aitracker.api.middleware). Responses carry an
ETag keyed on the data generation and the address, answer If-None-Match with a 304, and their data is kept in
the site's cache under the same data generation as the pages, so no write leaves a stale answer behind."""

import hashlib
import re
from datetime import date

from django.db.models import F, IntegerField, Prefetch, Value
from django.db.models.functions import Coalesce
from django.http import JsonResponse
from django.utils import timezone
from django.utils.cache import patch_vary_headers
from django.utils.translation import get_language
from django.utils.translation import gettext_lazy as _
from django.views.generic import TemplateView
from django_filters import CharFilter
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, serializers, status, viewsets
from rest_framework.filters import BaseFilterBackend
from rest_framework.response import Response
from rest_framework.views import exception_handler

from .. import asof
from ..cache import cached_api_data, compressed_body, current_generation, kept_response
from ..filters import CommitmentFilter, EndorsementFilter, PartyFilter, UpdateFilter
from ..fragments import cached_pieces
from ..links import absolute_url
from ..models import Commitment, Endorsement, Instrument, Party, PartyStatus, ProgressUpdate, Theme
from . import serializers as api
from .pagination import KeysetCursorPagination

SLUG = re.compile(r"^[-a-zA-Z0-9_]{1,120}$")
EARLIEST = date(1, 1, 1)


# Errors -------------------------------------------------------------------------------------------------------


class ErrorSerializer(serializers.Serializer):
    detail = serializers.CharField(help_text="What went wrong, in a sentence.")
    errors = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()),
        help_text="For a 400: each parameter at fault and what is wrong with it.",
    )


def api_exception_handler(exc, context):
    """Every error as {"detail": "...", "errors": {"field": ["..."]}}: the field at fault for a 400."""
    response = exception_handler(exc, context)
    if response is None:
        return None
    errors = {}
    if isinstance(exc, exceptions.ValidationError):
        data = exc.detail if isinstance(exc.detail, dict) else {"non_field_errors": exc.detail}
        errors = {
            str(field): [str(message) for message in (messages if isinstance(messages, list) else [messages])]
            for field, messages in data.items()
        }
        detail = str(_("Some parameters are not valid: %(fields)s.") % {"fields": ", ".join(errors)})
    else:
        detail = str(exc.detail) if hasattr(exc, "detail") else str(exc)
    response.data = {"detail": detail, "errors": errors}
    response["Cache-Control"] = "no-store"
    return response


ERROR_RESPONSES = {
    400: OpenApiResponse(ErrorSerializer, description="A parameter is not valid; `errors` names it."),
    429: OpenApiResponse(ErrorSerializer, description="Too many requests from this address: see Retry-After."),
}
AS_OF = OpenApiParameter(
    asof.PARAMETER,
    OpenApiTypes.DATE,
    OpenApiParameter.QUERY,
    description=(
        "The record as it stood at the end of this day (YYYY-MM-DD), as `?as_of=` on the site's pages and "
        "downloads: updates reported and published by then, each as it then stood (before later corrections), "
        "the statuses they gave, and the endorsements dated by then. From the adoption of the first instrument "
        "to today; a date outside that, or not a date, is a 400 naming `as_of`."
    ),
)
NOT_FOUND = {404: OpenApiResponse(ErrorSerializer, description="No published record has this identifier.")}


# Ordering -----------------------------------------------------------------------------------------------------


class NamedOrderingFilter(BaseFilterBackend):
    """`?ordering=name` or `-name`, among the view's `orderings`; the order itself is applied by the pagination,
    which needs the whole key. An unknown name is a 400."""

    param = "ordering"

    def filter_queryset(self, request, queryset, view):
        view.api_ordering(request)  # validates
        return queryset

    def get_schema_operation_parameters(self, view):
        names = sorted({*view.orderings, *(f"-{name}" for name in view.orderings)})
        return [
            {
                "name": self.param,
                "required": False,
                "in": "query",
                "description": str(_("The order of the results (a leading - reverses it). Default: %(default)s."))
                % {"default": view.default_ordering},
                "schema": {"type": "string", "enum": names},
            }
        ]


class FilterBackend(DjangoFilterBackend):
    """django-filter's backend, not run when the request names none of the filterset's parameters: the list is
    then the queryset itself (a filterset given no data filters nothing), and building the filterset, its form
    with the choices of every party and instrument, cost a quarter of an unfiltered list's time."""

    def filter_queryset(self, request, queryset, view):
        filterset_class = self.get_filterset_class(view, queryset)
        if filterset_class is not None and not set(request.query_params) & set(filterset_class.base_filters):
            return queryset
        return super().filter_queryset(request, queryset, view)


# The views ----------------------------------------------------------------------------------------------------


class ApiViewSet(viewsets.ReadOnlyModelViewSet):
    pagination_class = KeysetCursorPagination
    filter_backends = [FilterBackend, NamedOrderingFilter]
    lookup_field = "slug"
    lookup_url_kwarg = "lookup"
    lookup_value_regex = "[^/]+"
    # {name: fields}: every field an attribute of the rows (a model field or an annotation of the queryset).
    orderings: dict = {}
    default_ordering = ""
    detail_serializer_class = None
    # Whether `?as_of=` changes this resource's answers (the day is then `self.as_of`; None for today).
    follows_as_of = False
    as_of = None
    # {field of `orderings`: the annotation holding its value as of the day}, for the rows `as_of` changes.
    as_of_fields: dict = {}

    def api_ordering(self, request):
        """The fields of the order asked for, ending with the primary key."""
        if not hasattr(request, "_api_ordering"):
            name = request.query_params.get(NamedOrderingFilter.param) or self.default_ordering
            fields = self.orderings.get(name.lstrip("-"))
            if fields is not None and self.as_of:
                fields = tuple(self.as_of_fields.get(field, field) for field in fields)
            if fields is None:
                choices = ", ".join(sorted(self.orderings))
                raise exceptions.ValidationError(
                    {NamedOrderingFilter.param: [_("Order by one of: %(choices)s.") % {"choices": choices}]}
                )
            order = (*fields, "id")
            if name.startswith("-"):
                order = tuple(field[1:] if field.startswith("-") else f"-{field}" for field in order)
            request._api_ordering = order
        return request._api_ordering

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)
        # A form sends its empty fields, meaning "any"; an API client that names a parameter gives it a value.
        known = {NamedOrderingFilter.param, "cursor", "page_size"}
        if self.follows_as_of:
            known.add(asof.PARAMETER)
        filterset_class = getattr(self, "filterset_class", None)
        if filterset_class is not None:
            known |= set(filterset_class.base_filters)
        empty = sorted(name for name, values in request.query_params.lists() if name in known and "" in values)
        if empty:
            message = _("Give this parameter a value, or leave it out.")
            raise exceptions.ValidationError({name: [message] for name in empty})
        if self.follows_as_of:
            # The pages' own reading of the day (aitracker/asof.py), its message naming the field.
            try:
                self.as_of = asof.parse_as_of(request)
            except asof.AsOfError as error:
                raise exceptions.ValidationError({asof.PARAMETER: error.messages}) from None

    def get_serializer_class(self):
        if self.action == "retrieve" and self.detail_serializer_class is not None:
            return self.detail_serializer_class
        return self.serializer_class

    def get_object(self):
        value = self.kwargs.get(self.lookup_url_kwarg, "")
        if self.lookup_field == "pk":
            if not value.isdigit() or len(value) > 18:
                raise exceptions.NotFound()
        elif not SLUG.match(value):
            raise exceptions.NotFound()
        return super().get_object()

    # The same cache and data generation as the pages: the ETag, then the data, keyed on both.
    def list(self, request, *args, **kwargs):
        return self.serve(request, lambda: self.list_page(request))

    def list_page(self, request):
        """ListModelMixin.list, with each row's representation kept as a fragment (aitracker/fragments.py): a
        row is the same on every page, filter and order that lists it, for a data generation, language and day."""
        keys = self.paginate_queryset(self.filter_queryset(self.get_queryset()))

        def represent(missing):
            rows = self.loaded(list(self.get_queryset().filter(pk__in=missing)))
            return {row.pk: self.get_serializer(row).data for row in rows}

        kept = cached_pieces(f"api-row:{self.basename}:{self.as_of or ''}", keys, represent)
        # A row unpublished or deleted between the two reads is left out, as a later page would.
        return self.get_paginated_response([kept[key] for key in keys if key in kept])

    def loaded(self, rows):
        """The rows of a page as the list shows them (the as-of views put their records as they stood)."""
        return rows

    def retrieve(self, request, *args, **kwargs):
        return self.serve(request, lambda: super(ApiViewSet, self).retrieve(request, *args, **kwargs))

    def serve(self, request, respond):
        generation = current_generation(request._request)
        renderer, media_type = request.accepted_renderer, request.accepted_media_type
        # The address from the configured site, not the Host; the day too, for the staleness filters; the
        # indentation the Accept header asks for (`application/json; indent=2`), the one thing of it that
        # changes the body.
        path = absolute_url(request._request.get_full_path())
        context = self.get_renderer_context()
        indent = renderer.get_indent(media_type, context)
        identity = f"{get_language()}|{timezone.localdate()}|{indent}|{path}"
        digest = hashlib.sha256(identity.encode()).hexdigest()[:32]
        # Weak: the same answer is sent compressed or not (as GZipMiddleware marks a tag it compresses).
        etag = f'W/"{generation}-{digest}"'
        if etag.removeprefix("W/") in _if_none_match(request):
            return Response(status=status.HTTP_304_NOT_MODIFIED, headers={"ETag": etag})
        answer = None

        def compute():
            # The body rendered once, as DRF would render the answer, and kept with its compressed copy: a
            # repeat is then bytes from the cache, not the data encoded and compressed again.
            nonlocal answer
            answer = respond()
            if answer.status_code != 200:
                return None
            content = renderer.render(answer.data, media_type, context)
            return content, compressed_body(content)

        kept = cached_api_data(generation, digest, compute)
        if kept is None:
            return answer
        content_type = f"{renderer.media_type}; charset={renderer.charset}" if renderer.charset else renderer.media_type
        response = kept_response(request._request, *kept, headers={"Content-Type": content_type, "ETag": etag})
        patch_vary_headers(response, ("Accept",))
        return response


def _if_none_match(request):
    header = request.META.get("HTTP_IF_NONE_MATCH", "")
    return {part.strip().removeprefix("W/") for part in header.split(",") if part.strip()}


def documented(tag, serializer, list_description, retrieve_description, lookup_description, detail=None, as_of=False):
    extra = [AS_OF] if as_of else []
    return extend_schema_view(
        list=extend_schema(
            tags=[tag],
            operation_id=f"{tag}_list",
            description=list_description,
            responses={200: serializer(many=True), **ERROR_RESPONSES},
            parameters=extra,
        ),
        retrieve=extend_schema(
            tags=[tag],
            operation_id=f"{tag}_retrieve",
            description=retrieve_description,
            responses={200: detail or serializer, **ERROR_RESPONSES, **NOT_FOUND},
            parameters=[
                OpenApiParameter("lookup", OpenApiTypes.STR, OpenApiParameter.PATH, description=lookup_description),
                *extra,
            ],
        ),
    )


@documented(
    "instruments",
    api.InstrumentSerializer,
    "The instruments (declarations, statements, resolutions) that contain commitments.",
    "One instrument.",
    "The instrument's slug.",
    as_of=True,
)
class InstrumentViewSet(ApiViewSet):
    serializer_class = api.InstrumentSerializer
    filter_backends = [NamedOrderingFilter]
    orderings = {"adopted_on": ("adopted_on", "slug"), "slug": ("slug",), "short_title": ("short_title",)}
    default_ordering = "-adopted_on"
    follows_as_of = True

    def get_queryset(self):
        instruments = Instrument.objects.public()
        # As of a day: the instruments adopted by then, as the tables and downloads leave the later ones out.
        return instruments.filter(adopted_on__lte=self.as_of) if self.as_of else instruments


@documented(
    "parties",
    api.PartySerializer,
    "Countries and organisations, filtered as on the parties page (instrument and relation, kind, region, name).",
    "One party.",
    "The party's slug.",
)
class PartyViewSet(ApiViewSet):
    serializer_class = api.PartySerializer
    filterset_class = PartyFilter
    orderings = {"name": ("name",), "slug": ("slug",)}
    default_ordering = "name"

    def get_queryset(self):
        return Party.objects.public()


@documented(
    "endorsements",
    api.EndorsementSerializer,
    "Each party's relation to each instrument (signed, joined later, did not sign, voted…), with its source.",
    "One relation of a party to an instrument.",
    "The relation's id.",
    as_of=True,
)
class EndorsementViewSet(ApiViewSet):
    serializer_class = api.EndorsementSerializer
    filterset_class = EndorsementFilter
    lookup_field = "pk"
    orderings = {
        "instrument": ("instrument_date", "instrument_slug", "party_name"),
        "party": ("party_name", "instrument_date", "instrument_slug"),
        "date": ("sort_date",),
    }
    default_ordering = "instrument"
    follows_as_of = True

    def get_queryset(self):
        endorsements = Endorsement.objects.public()
        if self.as_of:
            endorsements = asof.endorsements_as_of(endorsements, self.as_of)
        return endorsements.select_related("instrument", "party").annotate(
            instrument_date=F("instrument__adopted_on"),
            instrument_slug=F("instrument__slug"),
            party_name=F("party__name"),
            sort_date=Coalesce("date", Value(EARLIEST)),
        )


@documented(
    "themes", api.ThemeSerializer, "The policy areas commitments are grouped in.", "One theme.", "The theme's slug."
)
class ThemeViewSet(ApiViewSet):
    serializer_class = api.ThemeSerializer
    filter_backends = [NamedOrderingFilter]
    orderings = {"name": ("name",), "slug": ("slug",)}
    default_ordering = "name"

    def get_queryset(self):
        return Theme.objects.public()


@documented(
    "commitments",
    api.CommitmentSerializer,
    "The commitments, with their overall status, filtered exactly as the commitments table (instrument, theme, "
    "status, party, freshness, text).",
    "One commitment, with each bound party's own status.",
    "The commitment's slug.",
    detail=api.CommitmentDetailSerializer,
    as_of=True,
)
class CommitmentViewSet(ApiViewSet):
    serializer_class = api.CommitmentSerializer
    detail_serializer_class = api.CommitmentDetailSerializer
    filterset_class = CommitmentFilter
    orderings = {
        "instrument": ("instrument_date", "instrument_slug", "slug"),
        "slug": ("slug",),
        "title": ("title",),
        "reference": ("reference_en",),
        "status": ("sort_status",),
        "progress": ("sort_progress",),
        "last_update_on": ("sort_last_update",),
    }
    default_ordering = "instrument"
    follows_as_of = True

    def get_queryset(self):
        commitments = Commitment.objects.public()
        # As of a day: the record of the day in SQL (to filter and sort by), as on the commitments table.
        status, progress, last_update = "current_status", "current_progress", "last_update_on"
        if self.as_of:
            commitments = asof.commitments_as_of(commitments, self.as_of)
            status, progress, last_update = "as_of_status", "as_of_progress", "as_of_update_on"
        queryset = (
            commitments.select_related("instrument")
            .prefetch_related("themes", "parties")
            .annotate(
                instrument_date=F("instrument__adopted_on"),
                instrument_slug=F("instrument__slug"),
                sort_status=F(status),
                # A plain integer: compared with -1, a positive field's lookups are dropped as always true.
                sort_progress=Coalesce(progress, Value(-1), output_field=IntegerField()),
                sort_last_update=Coalesce(last_update, Value(EARLIEST)),
            )
        )
        if self.action == "retrieve":
            statuses = PartyStatus.objects.select_related("party").order_by("party__name")
            queryset = queryset.prefetch_related(Prefetch("party_statuses", queryset=statuses))
        return queryset

    def as_they_stood(self, commitments):
        """The shown commitments with their overall record (and, shown one at a time, each party's) as of the
        day, by the services' rule (aitracker/asof.py), in two queries."""
        if not self.as_of or not commitments:
            return commitments
        records = asof.records_as_of([commitment.pk for commitment in commitments], self.as_of)
        for commitment in commitments:
            asof.commitment_as_it_stood(commitment, asof.overall_as_of(records, commitment.pk))
            if self.action == "retrieve":
                asof.party_statuses_as_of(commitment.party_statuses.all(), self.as_of, records)
        return commitments

    def loaded(self, rows):
        return self.as_they_stood(rows)

    def get_object(self):
        return self.as_they_stood([super().get_object()])[0]


class ApiUpdateFilter(UpdateFilter):
    """The updates list's filters, plus one commitment; the order is the API's `ordering`."""

    sort = None
    commitment = CharFilter(field_name="commitment__slug", max_length=120, label=_("Commitment (slug)"))


@documented(
    "updates",
    api.UpdateSerializer,
    "Published progress updates with their sources, filtered as the updates list (instrument, party, theme, "
    "status, publication date).",
    "One published progress update.",
    "The update's id.",
    as_of=True,
)
class UpdateViewSet(ApiViewSet):
    serializer_class = api.UpdateSerializer
    filterset_class = ApiUpdateFilter
    lookup_field = "pk"
    orderings = {"reported_on": ("reported_on", "published_at"), "published_at": ("published_at",)}
    default_ordering = "-reported_on"
    follows_as_of = True
    as_of_fields = {"reported_on": "as_of_reported_on"}

    def get_queryset(self):
        updates = (
            ProgressUpdate.objects.public()
            .select_related("commitment__instrument")
            .prefetch_related("sources", "parties")
        )
        # As of a day: those public then, each with its fields as they then stood (before later corrections).
        return asof.updates_as_of(updates, self.as_of) if self.as_of else updates

    def loaded(self, rows):
        return asof.as_they_stood(rows) if self.as_of else rows

    def get_object(self):
        update = super().get_object()
        return asof.as_they_stood([update])[0] if self.as_of else update


def not_found(request, *args, **kwargs):
    response = JsonResponse({"detail": str(_("No such address in the API.")), "errors": {}}, status=404)
    response["Cache-Control"] = "no-store"
    return response


class ApiDocsView(TemplateView):
    """Swagger UI from drf-spectacular-sidecar's static files, started by a static script (no inline script:
    the site's CSP forbids it)."""

    template_name = "aitracker/api_docs.html"
