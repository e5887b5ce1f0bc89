"""The "cite this" block of commitment and party pages."""

import json
from datetime import date

import pytest
from django.urls import reverse
from django.utils import timezone

from tests import factories

pytestmark = pytest.mark.django_db


@pytest.fixture
def pages(settings):
    settings.AITRACKER_SITE_URL = "https://aitracker.example.org"
    settings.ALLOWED_HOSTS = ["testserver", "other.example.com"]
    instrument = factories.make_instrument(short_title="Paris", adopted_on=date(2025, 2, 11))
    factories.make_party(name="Freedonia & Co", slug="freedonia")
    factories.make_commitment(instrument=instrument, slug="inclusive-ai", title="Inclusive {AI}", reference="§4")
    return {
        "commitment": reverse("commitment_detail", kwargs={"slug": "inclusive-ai"}),
        "party": reverse("party_detail", kwargs={"slug": "freedonia"}),
    }


@pytest.mark.parametrize("page", ["commitment", "party"])
def test_the_citation_has_the_permalink_and_the_date_retrieved(client, pages, page):
    response = client.get(pages[page], HTTP_HOST="other.example.com")
    citation = response.context["citation"]
    permalink = f"https://aitracker.example.org{pages[page]}"
    assert citation["url"] == permalink
    assert permalink in citation["text"] and "aitracker" in citation["text"]
    assert "retrieved" in citation["text"]
    html = response.content.decode()
    assert "Cite this" in html and "<summary>BibTeX</summary>" in html and "<summary>CSL-JSON</summary>" in html
    assert "other.example.com" not in html.split('id="cite-heading"')[1]
    csl = json.loads(citation["csl_json"])
    today = timezone.localdate()
    assert csl["URL"] == permalink and csl["accessed"]["date-parts"] == [[today.year, today.month, today.day]]
    assert citation["bibtex"].startswith("@misc{aitracker-")
    assert f"\\url{{{permalink}}}" in citation["bibtex"]


def test_bibtex_escapes_what_it_must(client, pages):
    bibtex = client.get(pages["commitment"]).context["citation"]["bibtex"]
    assert "title = {Paris §4: Inclusive \\{AI\\}}" in bibtex
    party_bibtex = client.get(pages["party"]).context["citation"]["bibtex"]
    assert "Freedonia \\& Co" in party_bibtex


@pytest.mark.parametrize("page", ["commitment", "party"])
def test_with_as_of_the_citation_carries_the_dated_link(client, pages, page):
    citation = client.get(pages[page], {"as_of": "2025-04-01"}).context["citation"]
    dated = f"https://aitracker.example.org{pages[page]}?as_of=2025-04-01"
    assert citation["url"] == dated
    assert dated in citation["text"] and "as it stood on 1 Apr 2025" in citation["text"]
    assert json.loads(citation["csl_json"])["issued"]["date-parts"] == [[2025, 4, 1]]
    assert "Record as of 2025-04-01" in citation["bibtex"]
