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
    assert '<a href="/parties/brazil/" class="fill-map-none"><title>Brazil: No record</title>' in svg
    # Under the strict CSP: no inline style, no script, nothing from elsewhere.
    assert (
        "style=" not in svg
        and "<script" not in svg
        and "http" not in svg.replace('xmlns="http://www.w3.org/2000/svg"', "")
    )
    legend = re.search(r'<ul class="map-legend".*?</ul>', html, re.S).group(0)
    assert re.search(r"Signed: <strong>3</strong>", legend)
    assert re.search(r"Did not sign: <strong>1</strong>", legend)
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
