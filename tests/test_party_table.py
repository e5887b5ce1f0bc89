"""/parties/: a sortable table with filters (instrument, relation, kind, region, name), each party's own
counts per status from its PartyStatus rows, downloadable as CSV and JSON."""

import csv
import io
import json

import pytest
from django.conf import settings
from django.urls import reverse

from aitracker.models import Endorsement, Instrument, Party
from tests import factories

pytestmark = pytest.mark.django_db

URL = reverse("party_list")


@pytest.fixture
def world():
    def country(code, name, region, **fields):
        return factories.make_party(
            slug=name.lower(), name=name, kind=Party.Kind.COUNTRY, country=code, region=region, **fields
        )

    france = country("FR", "France", "europe", un_member=True)
    china = country("CN", "China", "asia", un_member=True)
    india = country("IN", "India", "asia", un_member=True)
    union = factories.make_party(slug="eu", name="European Union", kind=Party.Kind.REGIONAL_ORGANISATION)
    paris = factories.make_instrument(slug="paris", short_title="Paris")
    for party in (france, china, union):
        factories.make_endorsement(instrument=paris, party=party)
    factories.make_endorsement(instrument=paris, party=india, relation=Endorsement.Relation.DID_NOT_SIGN)
    resolution = factories.make_instrument(slug="un", short_title="UN", adoption=Instrument.Adoption.WITHOUT_VOTE)
    factories.make_endorsement(instrument=resolution, party=china, relation=Endorsement.Relation.LEAD_SPONSOR)
    first, second = (factories.make_commitment(instrument=paris) for _ in range(2))
    factories.make_commitment(instrument=resolution)
    factories.make_update(commitment=first, state="published", status="achieved", parties=[france])
    factories.make_update(commitment=second, state="published", status="achieved", parties=[france])
    factories.make_update(commitment=first, state="published", status="stalled", parties=[china])
    return {"france": france, "china": china, "india": india, "union": union}


def names(response):
    return [row.record.name for row in response.context["table"].page.object_list]


def counts(response):
    return {
        row.record.name: (row.record.bound_count, row.record.status_counts)
        for row in response.context["table"].page.object_list
    }


def test_every_party_with_its_own_counts_per_status(client, world):
    response = client.get(URL)
    assert names(response) == ["China", "European Union", "France", "India"]
    found = counts(response)
    # France: two Paris commitments achieved, bound by the UN one as a member state.
    assert found["France"][0] == 3
    assert found["France"][1]["achieved"] == 2 and found["France"][1]["not_assessed"] == 1
    assert found["China"][1]["stalled"] == 1
    assert found["India"][0] == 1
    assert found["European Union"][0] == 2
    html = response.text
    assert '<a href="/parties/france/">France</a>' in html


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"kind": "country"}, ["China", "France", "India"]),
        ({"kind": "organisation"}, ["European Union"]),
        ({"region": "asia"}, ["China", "India"]),
        ({"q": "fran"}, ["France"]),
        ({"instrument": "paris"}, ["China", "European Union", "France", "India"]),
        ({"instrument": "paris", "relation": "did_not_sign"}, ["India"]),
        ({"instrument": "paris", "relation": "endorsing"}, ["China", "European Union", "France"]),
        ({"relation": "lead_sponsor"}, ["China"]),
        # Adopted without a vote: every UN member state is bound, whether or not it has a row of its own.
        ({"instrument": "un"}, ["China", "France", "India"]),
        ({"instrument": "un", "relation": "endorsing", "region": "europe"}, ["France"]),
    ],
)
def test_filters(client, world, query, expected):
    assert names(client.get(URL, query)) == expected


def test_sorting_by_a_status_count(client, world):
    assert names(client.get(URL, {"sort": "-achieved"}))[0] == "France"
    assert names(client.get(URL, {"sort": "-stalled"}))[0] == "China"
    assert names(client.get(URL, {"sort": "-bound_count"})) == ["China", "France", "European Union", "India"]
    assert names(client.get(URL, {"sort": "-endorsed_count"}))[0] == "China"
    assert names(client.get(URL, {"sort": "region"})) == ["China", "India", "France", "European Union"]


@pytest.mark.parametrize(
    "query", [{"region": "atlantis"}, {"instrument": "nowhere"}, {"relation": "owns"}, {"q": "x" * 201}]
)
def test_bad_filters_get_a_clear_answer(client, world, query):
    response = client.get(URL, query)
    assert response.status_code == 200
    assert "Some filter values were not understood" in response.text
    assert names(response) == []


def test_a_stray_sort_or_page_is_not_an_error(client, world):
    assert client.get(URL, {"sort": "password"}).status_code == 200
    assert client.get(URL, {"page": "999"}).status_code in (200, 404)


def test_csv_and_json_downloads_of_the_filtered_rows(client, world):
    response = client.get(URL, {"_export": "csv", "region": "asia", "sort": "-stalled"})
    assert 'filename="aitracker-parties-' in response["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert [row["slug"] for row in rows] == ["china", "india"]
    assert rows[0]["stalled"] == "1" and rows[0]["region"] == "asia"
    response = client.get(URL, {"_export": "json", "kind": "country"})
    data = json.loads(b"".join(response.streaming_content))
    france = next(row for row in data if row["slug"] == "france")
    assert france["commitments_binding"] == 3 and france["achieved"] == 2 and france["country"] == "FR"
    assert france["url"] == settings.AITRACKER_SITE_URL + "/parties/france/"


def test_a_formula_in_a_name_is_escaped_in_the_csv(client, world):
    Party.objects.filter(slug="eu").update(name="=cmd|'/c calc'!A1")
    response = client.get(URL, {"_export": "csv", "kind": "organisation"})
    rows = list(csv.DictReader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0]["name"] == "'=cmd|'/c calc'!A1"


@pytest.mark.parametrize("query", [{"_export": "xml"}, {"_export": "csv", "region": "mars"}])
def test_a_download_that_cannot_be_made_says_why(client, world, query):
    response = client.get(URL, query)
    assert response.status_code == 400


def grow(n):
    instrument = factories.make_instrument()
    for _ in range(n):
        party = factories.make_party(region="africa")
        factories.make_endorsement(instrument=instrument, party=party)
    for _ in range(n):
        factories.make_update(commitment=factories.make_commitment(instrument=instrument), state="published")


@pytest.mark.parametrize("n", [3, 30])
def test_the_table_costs_the_same_queries_however_many_parties(client, world, django_assert_max_num_queries, n):
    grow(n)
    with django_assert_max_num_queries(5):
        response = client.get(URL, {"sort": "-achieved", "region": "africa"})
    assert len(names(response)) == n


def test_ties_in_a_count_stay_in_alphabetical_order_either_way(client, world):
    assert names(client.get(URL, {"sort": "-reversed"})) == ["China", "European Union", "France", "India"]
    assert names(client.get(URL, {"sort": "reversed"})) == ["China", "European Union", "France", "India"]
