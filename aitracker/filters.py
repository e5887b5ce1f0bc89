"""Filters of the public commitments table. Every value is a slug or a code, so a filtered URL reads well."""

from html import escape

import django_filters
from django import forms
from django.db.models import Q
from django.forms.utils import flatatt
from django.utils.safestring import mark_safe
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext
from django_filters.fields import ChoiceField

from .models import Commitment, Instrument, Party, Status, Theme, stale_after_days


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

    def render(self, name, value, attrs=None, renderer=None):
        selected = set(self.format_value(value))
        options = "".join(
            f'<option value="{escape(key)}"{" selected" if str(key) in selected else ""}>{escape(label)}</option>'
            for key, label in self.choices
        )
        attributes = flatatt(self.build_attrs(self.attrs, attrs))
        return mark_safe(f'<select name="{escape(name)}"{attributes}>{options}</select>')


class SharedChoiceField(ChoiceField):
    """A choice field whose copies share its choices. Django copies every field of a form for each request,
    choices included: a few hundred parties and instruments copied element by element, to be read only."""

    def __deepcopy__(self, memo):
        result = forms.Field.__deepcopy__(self, memo)
        result.choices = self._choices.choices
        return result


class SharedChoiceFilter(django_filters.ChoiceFilter):
    field_class = SharedChoiceField

    def __init__(self, *args, **kwargs):
        # django-filter reads the value "null" as "is empty" by default: a theme or party could be called that.
        kwargs.setdefault("null_value", None)
        super().__init__(*args, **kwargs)


class CommitmentFilter(django_filters.FilterSet):
    q = django_filters.CharFilter(label=_("Search"), method="filter_text", max_length=200)
    instrument = SharedChoiceFilter(
        widget=PlainSelect, label=_("Instrument"), field_name="instrument__slug", empty_label=_("All instruments")
    )
    theme = SharedChoiceFilter(
        widget=PlainSelect, label=_("Theme"), field_name="themes__slug", empty_label=_("All themes")
    )
    status = SharedChoiceFilter(
        widget=PlainSelect,
        label=_("Status"),
        field_name="current_status",
        choices=Status.choices,
        empty_label=_("Any status"),
    )
    party = SharedChoiceFilter(
        widget=PlainSelect, label=_("Party"), method="filter_party", empty_label=_("All parties")
    )
    stale = SharedChoiceFilter(
        widget=PlainSelect,
        label=_("Freshness"),
        method="filter_stale",
        empty_label=_("Any"),
    )

    class Meta:
        model = Commitment
        fields = []

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        # Choices are read once per request here, so validating and rendering the form costs one query each.
        instruments = Instrument.objects.public().order_by("-adopted_on", "short_title")
        self.instrument_pks = self._slug_choices("instrument", instruments, "short_title")
        self.theme_pks = self._slug_choices("theme", Theme.objects.public(), "name")
        self.party_pks = self._slug_choices("party", Party.objects.public(), "name")
        # Built per request: the labels carry the setting's number and the visitor's language.
        self.filters["stale"].extra["choices"] = [("yes", stale_label()), ("no", fresh_label())]

    def _slug_choices(self, name, queryset, label_field):
        """Give filter `name` the choices (slug, label) of `queryset`; returns {slug: primary key}."""
        rows = list(queryset.values_list("pk", "slug", label_field))
        self.filters[name].extra["choices"] = [(slug, label) for _pk, slug, label in rows]
        return {slug: pk for pk, slug, _label in rows}

    def filter_text(self, queryset, name, value):
        value = value.strip()
        if not value:
            return queryset
        return queryset.filter(Q(title__icontains=value) | Q(text__icontains=value) | Q(reference__icontains=value))

    def filter_party(self, queryset, name, value):
        return queryset.for_party(self.party_pks[value])

    def filter_stale(self, queryset, name, value):
        if value == "yes":
            return queryset.stale()
        return queryset.fresh()
