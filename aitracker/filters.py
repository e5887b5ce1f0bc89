"""Filters of the public commitments table and of the updates list. Every value is a slug or a code, so a
filtered URL reads well."""

from datetime import date, datetime, time, timedelta
from html import escape

import django_filters
from django import forms
from django.conf import settings
from django.db.models import Q
from django.forms.utils import flatatt
from django.utils import timezone
from django.utils.safestring import mark_safe
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext_lazy as _
from django_countries import countries

from . import asof, search
from .cache import cached_summary
from .fragments import cached_fragment
from .i18n import localized_name, party_display_name, text_search_q, translated_order
from .models import Commitment, Confidence, Endorsement, Instrument, Party, ProgressUpdate, Status, Theme
from .querysets import stale_after_days


def stale_label():
    days = stale_after_days()
    return ngettext(
        "Stale only (not reviewed in the last %(days)d day)",
        "Stale only (not reviewed in the last %(days)d days)",
        days,
    ) % {"days": days}


def fresh_label():
    days = stale_after_days()
    return ngettext("Reviewed in the last %(days)d day", "Reviewed in the last %(days)d days", days) % {"days": days}


class PlainSelect(forms.Select):
    """A <select> built in Python. Django renders every <option> through a template include, and these lists
    hold every party and instrument: rendered the usual way, the filter form cost more than the table. The
    standard library's escape() is the one Django's wraps, without the lazy-string checks on every call."""

    # Set by ReferenceChoicesMixin.set_choices on a form's own widget: the options are the same for every request
    # of a data generation and language, so they are kept as a fragment under this name (aitracker/fragments.py)
    # and only the selected option is marked per request.
    fragment_name = None

    def render(self, name, value, attrs=None, renderer=None):
        selected = [str(key) for key in self.format_value(value)]
        if self.fragment_name and len(selected) <= 1:
            options = cached_fragment(self.fragment_name, None, lambda: self._options(()))
            if selected:
                # The option as _options() writes it, marked: the same markup as a select built with it selected.
                option = f'<option value="{escape(selected[0])}">'
                options = options.replace(option, f"{option[:-1]} selected>", 1)
        else:
            options = self._options(set(selected))
        attributes = flatatt(self.build_attrs(self.attrs, attrs))
        return mark_safe(f'<select name="{escape(name)}"{attributes}>{options}</select>')

    def _options(self, selected):
        return "".join(
            f'<option value="{escape(key)}"{" selected" if str(key) in selected else ""}>{escape(label)}</option>'
            for key, label in self.choices
        )


class SlugChoiceFilter(django_filters.ChoiceFilter):
    """A choice filter whose per-request choices (parties, instruments, labels with a setting in them) are set on
    the form's own field once the form is built (ReferenceChoicesMixin.set_choices), so that Django's deep copy
    of a form's fields never copies a few hundred of them only to be replaced."""

    def __init__(self, *args, **kwargs):
        # django-filter reads the value "null" as "is empty" by default: a theme or party could be called that.
        kwargs.setdefault("null_value", None)
        super().__init__(*args, **kwargs)


def _instruments_newest_first():
    return Instrument.objects.public().order_by("-adopted_on", "short_title")


def _themes():
    return Theme.objects.public()


class ReferenceChoicesMixin:
    """The instrument, theme and party filters of a FilterSet, whose choices are the public rows (by slug)."""

    def set_reference_choices(self):
        # Choices are read once per request here, so validating and rendering the form costs one query each.
        self.instrument_pks = self._slug_choices("instrument", _instruments_newest_first, "short_title")
        self.theme_pks = self._slug_choices("theme", _themes, "name")
        self.party_pks = self._party_choices("party")

    def set_choices(self, name, choices):
        """Give filter `name` these choices for this request, on the form's own field. Not on the filter: a
        filter's form field, once built, is copied into every FilterSet as it was built (drf-spectacular builds
        the class's fields to list their choices in the API schema), with the first request's choices and labels."""
        field = self.form.fields[name]
        field.choices = choices
        field.widget.fragment_name = f"filter-options:{type(self).__name__}:{name}"

    def _party_choices(self, name):
        """The parties by the names the page shows (a country's from django-countries, in the page's language),
        in that order; returns {slug: primary key}."""

        def compute():
            parties = (
                Party.objects.public()
                .order_by(translated_order(Party, "name"), "pk")
                .only("pk", "slug", "country", *(localized_name("name", code) for code, _name in settings.LANGUAGES))
            )
            return [(party.pk, party.slug, party_display_name(party)) for party in parties]

        # Kept under the data generation and language (cache.cached_summary): the same for every request until a
        # write the public can see.
        rows = cached_summary("filter-choices:parties", compute)
        self.set_choices(name, [(slug, label) for _pk, slug, label in rows])
        return {slug: pk for pk, slug, _label in rows}

    def _slug_choices(self, name, rows_of, label_field):
        """Give filter `name` the choices (slug, label) of the queryset `rows_of()`; returns {slug: primary key}.
        The rows are kept under the data generation and language, like the parties' (the queryset is not even
        built when they are kept: building it costs more than reading them)."""
        rows = cached_summary(
            f"filter-choices:{rows_of.__name__}:{label_field}",
            lambda: list(rows_of().values_list("pk", "slug", label_field)),
        )
        choices = [(slug, label) for _pk, slug, label in rows]
        self.set_choices(name, choices)
        return {slug: pk for pk, slug, _label in rows}


class CommitmentFilter(ReferenceChoicesMixin, django_filters.FilterSet):
    q = django_filters.CharFilter(label=_("Search"), method="filter_text", max_length=200)
    instrument = SlugChoiceFilter(
        widget=PlainSelect, label=_("Instrument"), field_name="instrument__slug", empty_label=_("All instruments")
    )
    theme = SlugChoiceFilter(
        widget=PlainSelect, label=_("Theme"), field_name="themes__slug", empty_label=_("All themes")
    )
    status = SlugChoiceFilter(
        widget=PlainSelect,
        label=_("Status"),
        method="filter_status",
        choices=Status.choices,
        empty_label=_("Any status"),
    )
    party = SlugChoiceFilter(widget=PlainSelect, label=_("Party"), method="filter_party", empty_label=_("All parties"))
    stale = SlugChoiceFilter(
        widget=PlainSelect,
        label=_("Freshness"),
        method="filter_stale",
        # Labelled per request in __init__; the codes, here, are what the API schema lists.
        choices=[("yes", "yes"), ("no", "no")],
        empty_label=_("Any"),
    )

    class Meta:
        model = Commitment
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.set_reference_choices()
        # Built per request: the labels carry the setting's number and the visitor's language.
        self.set_choices("stale", [("yes", stale_label()), ("no", fresh_label())])

    def filter_text(self, queryset, name, value):
        """The site's search (aitracker/search.py) on the commitments: every word, in any order, stemmed and
        by prefix. Text that cannot be searched (symbols, one letter) filters nothing out."""
        ids = search.commitment_ids(value, language=get_language())
        if ids is None:
            return queryset
        return queryset.filter(pk__in=ids)

    def filter_status(self, queryset, name, value):
        # As of a day (aitracker/asof.py), the status of that day.
        return queryset.filter(**{asof.status_field(queryset): value})

    def filter_party(self, queryset, name, value: str):
        return queryset.for_party(self.party_pks[value])

    def filter_stale(self, queryset, name, value: str):
        if value == "yes":
            return queryset.stale()
        return queryset.fresh()


# "Published since…" choices of the updates list, each a number of days back or the start of the month.
PUBLISHED_WITHIN = {
    "this_month": (_("Published this month"), None),
    "last_30_days": (_("Published in the last 30 days"), 30),
    "last_12_months": (_("Published in the last 12 months"), 365),
}
UPDATE_ORDERS = {
    "-reported_on": (_("Event date, newest first"), ("-reported_on", "-published_at", "-pk")),
    "reported_on": (_("Event date, oldest first"), ("reported_on", "published_at", "pk")),
    "-published_at": (_("Publication date, newest first"), ("-published_at", "-pk")),
    "published_at": (_("Publication date, oldest first"), ("published_at", "pk")),
}


def published_since(within):
    """The start of the period PUBLISHED_WITHIN[within]: midnight, in the site's time zone, of its first day."""
    today = timezone.localdate()
    days = PUBLISHED_WITHIN[within][1]
    return _day_start(today.replace(day=1) if days is None else today - timedelta(days=days))


class DateInput(forms.DateInput):
    input_type = "date"


EARLIEST_DATE = date(1900, 1, 1)
LATEST_DATE = date(2999, 12, 31)


class BoundedDateField(forms.DateField):
    """A date within reach of the database's timestamps: 0001-01-01 or 9999-12-31 would overflow once turned
    into the start or end of a day in the site's time zone."""

    def validate(self, value):
        super().validate(value)
        if value and not EARLIEST_DATE <= value <= LATEST_DATE:
            raise forms.ValidationError(
                _("Choose a date between %(earliest)s and %(latest)s."),
                code="out_of_range",
                params={"earliest": EARLIEST_DATE.isoformat(), "latest": LATEST_DATE.isoformat()},
            )


class BoundedDateFilter(django_filters.DateFilter):
    field_class = BoundedDateField


class UpdateFilter(ReferenceChoicesMixin, django_filters.FilterSet):
    """What changed, and when: the public updates by instrument, party, theme, status and publication date,
    in the order of the event or of publication."""

    instrument = SlugChoiceFilter(
        widget=PlainSelect,
        label=_("Instrument"),
        field_name="commitment__instrument__slug",
        empty_label=_("All instruments"),
    )
    party = SlugChoiceFilter(widget=PlainSelect, label=_("Party"), method="filter_party", empty_label=_("All parties"))
    theme = SlugChoiceFilter(widget=PlainSelect, label=_("Theme"), method="filter_theme", empty_label=_("All themes"))
    status = SlugChoiceFilter(
        widget=PlainSelect,
        label=_("Status"),
        method="filter_status",
        choices=[choice for choice in Status.choices if choice[0] != Status.NOT_ASSESSED],
        empty_label=_("Any status"),
    )
    published = SlugChoiceFilter(
        widget=PlainSelect,
        label=_("Published"),
        method="filter_published",
        choices=[(key, label) for key, (label, _days) in PUBLISHED_WITHIN.items()],
        empty_label=_("Any time"),
    )
    published_after = BoundedDateFilter(
        label=_("Published on or after"), method="filter_published_after", widget=DateInput
    )
    published_before = BoundedDateFilter(
        label=_("Published on or before"), method="filter_published_before", widget=DateInput
    )
    sort = SlugChoiceFilter(
        widget=PlainSelect,
        label=_("Order"),
        method="filter_sort",
        choices=[(key, label) for key, (label, _fields) in UPDATE_ORDERS.items()],
        empty_label=None,
    )

    class Meta:
        model = ProgressUpdate
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.set_reference_choices()

    @property
    def qs(self):
        # The order applies whether or not ?sort= was given; django-filter runs a method only for a value.
        queryset = super().qs
        if not (self.is_bound and self.form.is_valid() and self.form.cleaned_data.get("sort")):
            queryset = queryset.order_by(*UPDATE_ORDERS["-reported_on"][1])
        return queryset

    def filter_party(self, queryset, name, value: str):
        return queryset.for_party(self.party_pks[value])

    def filter_status(self, queryset, name, value):
        # As of a day (aitracker/asof.py), the status the update then gave.
        field = "as_of_status" if "as_of_status" in queryset.query.annotations else "status"
        return queryset.filter(**{field: value})

    def filter_theme(self, queryset, name, value: str):
        # A subquery rather than a join: a join through the themes of each commitment could repeat an update.
        return queryset.filter(
            commitment__in=Commitment.themes.through.objects.filter(theme_id=self.theme_pks[value]).values(
                "commitment_id"
            )
        )

    def filter_published(self, queryset, name, value):
        return queryset.filter(published_at__gte=published_since(value))

    def filter_published_after(self, queryset, name, value):
        return queryset.filter(published_at__gte=_day_start(value))

    def filter_published_before(self, queryset, name, value):
        return queryset.filter(published_at__lt=_day_start(value + timedelta(days=1)))

    def filter_sort(self, queryset, name, value):
        return queryset.order_by(*UPDATE_ORDERS[value][1])


def _day_start(day):
    """Midnight at the start of `day` in the site's time zone, the way a visitor reads a publication date."""
    return timezone.make_aware(datetime.combine(day, time.min))


# A relation to an instrument, or any relation that binds (what the party and endorsement filters both offer).
ENDORSING = "endorsing"
RELATION_CHOICES = [(ENDORSING, _("Bound (signed, joined, sponsored, voted yes)")), *Endorsement.Relation.choices]


class PartyFilter(ReferenceChoicesMixin, django_filters.FilterSet):
    """The parties list: by instrument and relation to it, kind, region, and name."""

    q = django_filters.CharFilter(label=_("Search"), method="filter_text", max_length=200)
    instrument = SlugChoiceFilter(
        widget=PlainSelect, label=_("Instrument"), method="filter_nothing", empty_label=_("Any instrument")
    )
    relation = SlugChoiceFilter(
        widget=PlainSelect,
        label=_("Relation"),
        method="filter_nothing",
        choices=RELATION_CHOICES,
        empty_label=_("Any relation"),
    )
    kind = SlugChoiceFilter(
        widget=PlainSelect,
        label=_("Kind"),
        method="filter_kind",
        choices=[("country", _("Countries")), ("organisation", _("Organisations"))],
        empty_label=_("Countries and organisations"),
    )
    region = SlugChoiceFilter(
        widget=PlainSelect,
        label=_("Region"),
        field_name="region",
        choices=Party.Region.choices,
        empty_label=_("Every region"),
    )

    class Meta:
        model = Party
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        rows = list(Instrument.objects.public().values_list("pk", "slug", "short_title", "adoption"))
        self.set_choices("instrument", [(slug, label) for _pk, slug, label, _adoption in rows])
        self.instruments = {slug: (pk, adoption) for pk, slug, _label, adoption in rows}

    def filter_text(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        # A country is also found by its name in the page's language (django-countries' translations).
        needle = value.casefold()
        codes = [code for code, name in countries if needle in str(name).casefold()]
        return queryset.filter(text_search_q(Party, ("name",), value) | Q(country__in=codes))

    def filter_nothing(self, queryset, name, value: str):
        # Instrument and relation filter together, in filter_queryset.
        return queryset

    def filter_kind(self, queryset, name, value):
        if value == "country":
            return queryset.filter(kind=Party.Kind.COUNTRY)
        return queryset.exclude(kind=Party.Kind.COUNTRY)

    def filter_queryset(self, queryset):
        queryset = super().filter_queryset(queryset)
        instrument, relation = self.form.cleaned_data.get("instrument"), self.form.cleaned_data.get("relation")
        if not (instrument or relation):
            return queryset
        endorsements = Endorsement.objects.public()
        if instrument:
            endorsements = endorsements.filter(instrument=self.instruments[instrument][0])
        if relation == ENDORSING:
            endorsements = endorsements.endorsing()
        elif relation:
            endorsements = endorsements.filter(relation=relation)
        related = Q(pk__in=endorsements.values("party"))
        # A resolution adopted without a vote binds every UN member state, with or without a row of its own.
        without_vote = instrument and self.instruments[instrument][1] == Instrument.Adoption.WITHOUT_VOTE
        if without_vote and relation in ("", None, ENDORSING):
            related |= Q(un_member=True)
        return queryset.filter(related)


class EndorsementFilter(ReferenceChoicesMixin, django_filters.FilterSet):
    """Who stands where on each instrument: the public relations by instrument, party, relation and confidence,
    for the endorsements download and the API."""

    instrument = SlugChoiceFilter(
        widget=PlainSelect, label=_("Instrument"), field_name="instrument__slug", empty_label=_("All instruments")
    )
    party = SlugChoiceFilter(
        widget=PlainSelect, label=_("Party"), field_name="party__slug", empty_label=_("All parties")
    )
    relation = SlugChoiceFilter(
        widget=PlainSelect,
        label=_("Relation"),
        method="filter_relation",
        choices=RELATION_CHOICES,
        empty_label=_("Any relation"),
    )
    confidence = SlugChoiceFilter(
        widget=PlainSelect,
        label=_("Confidence"),
        field_name="confidence",
        choices=Confidence.choices,
        empty_label=_("Any confidence"),
    )

    class Meta:
        model = Endorsement
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._slug_choices("instrument", _instruments_newest_first, "short_title")
        self._party_choices("party")

    def filter_relation(self, queryset, name, value):
        if value == ENDORSING:
            return queryset.endorsing()
        return queryset.filter(relation=value)
