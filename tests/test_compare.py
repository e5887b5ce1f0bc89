"""/compare/: two to four parties side by side, read from the kept rows (Endorsement, PartyStatus); its CSV;
clear answers to bad input; a fixed number of queries whatever the data."""

import csv
import io
from datetime import date

import pytest
from django.template.loader import render_to_string
from django.urls import reverse

from aitracker.models import Endorsement, Instrument, Party, PartyStatus
from tests import factories

pytestmark = pytest.mark.django_db

URL = reverse("compare")


def country(code, name, **fields):
    return factories.make_party(
        slug=name.lower().replace(" ", "-"), name=name, kind=Party.Kind.COUNTRY, country=code, **fields
    )


@pytest.fixture
def world():
    france = country("FR", "France", un_member=True)
    china = country("CN", "China", un_member=True)
    india = country("IN", "India", un_member=True)
    paris = factories.make_instrument(slug="paris", short_title="Paris", adopted_on=date(2025, 2, 11))
    factories.make_endorsement(instrument=paris, party=france)
    factories.make_endorsement(instrument=paris, party=china)
    factories.make_endorsement(instrument=paris, party=india, relation=Endorsement.Relation.DID_NOT_SIGN)
    resolution = factories.make_instrument(
        slug="un-78-265",
        short_title="UN 78/265",
        kind=Instrument.Kind.UN_RESOLUTION,
        adoption=Instrument.Adoption.WITHOUT_VOTE,
        adopted_on=date(2024, 3, 21),
    )
    factories.make_endorsement(instrument=resolution, party=china, relation=Endorsement.Relation.CO_SPONSOR)
    inclusive = factories.make_commitment(instrument=paris, reference="§1", title="Inclusive AI")
    capacity = factories.make_commitment(instrument=resolution, reference="OP5", title="Capacity building")
    factories.make_update(
        commitment=inclusive, state="published", status="achieved", reported_on=date(2025, 6, 1), parties=[france]
    )
    return {"france": france, "china": china, "india": india, "inclusive": inclusive, "capacity": capacity}


def cells(rows):
    return {str(row.subject): [(cell.key, cell.date) for cell in row.cells] for row in rows}


def test_two_parties_side_by_side_each_with_its_own_record(client, world):
    response = client.get(URL, {"parties": "france,china"})
    assert response.status_code == 200
    assert [party.name for party in response.context["parties"]] == ["France", "China"]
    assert cells(response.context["instrument_rows"]) == {
        "Paris": [("signed", None), ("signed", None)],
        "UN 78/265": [("bound_un_member", date(2024, 3, 21)), ("co_sponsor", None)],
    }
    rows = {row.subject.title: row.cells for row in response.context["commitment_rows"]}
    assert [(cell.key, cell.date) for cell in rows["Inclusive AI"]] == [
        ("achieved", date(2025, 6, 1)),
        ("not_assessed", None),
    ]
    assert rows["Inclusive AI"][0].url.startswith(world["inclusive"].get_absolute_url() + "#update-")
    assert [cell.key for cell in rows["Capacity building"]] == ["not_assessed", "not_assessed"]
    assert "Compare France, China" in response.text
    assert 'href="/compare/?parties=france,china&amp;_export=csv"' in response.text


def test_a_commitment_that_does_not_bind_a_party_says_so(client, world):
    response = client.get(URL, {"parties": "india,france"})
    rows = {row.subject.title: [cell.key for cell in row.cells] for row in response.context["commitment_rows"]}
    # India did not sign Paris; as a UN member it is bound by the resolution.
    assert rows == {"Capacity building": ["not_assessed", "not_assessed"], "Inclusive AI": ["", "achieved"]}
    assert "Does not bind it" in response.text


def test_statuses_are_read_from_the_kept_rows_not_recomputed(client, world):
    PartyStatus.objects.filter(party=world["china"], commitment=world["inclusive"]).update(status="stalled")
    response = client.get(URL, {"parties": "france,china"})
    rows = {row.subject.title: [cell.key for cell in row.cells] for row in response.context["commitment_rows"]}
    assert rows["Inclusive AI"] == ["achieved", "stalled"]


def test_the_form_chooses_without_script_and_leads_to_the_shareable_address(client, world):
    response = client.get(URL, {"parties": "france"})
    assert response.status_code == 200
    assert response.text.count('<select name="parties"') == 4
    assert '<option value="france" selected>France</option>' in response.text
    assert "Choose at least one more party to compare with France." in response.text
    response = client.get(URL, {"parties": ["france", "", "india", ""]})
    assert response.status_code == 302
    assert response["Location"] == "/compare/?parties=france,india"
    response = client.get(URL, {"parties": ["", "", "", "", "", "china", "france"]})
    assert response["Location"] == "/compare/?parties=china,france"


def test_the_page_without_parties_explains_what_to_do(client, world):
    response = client.get(URL)
    assert response.status_code == 200
    assert "Choose two to four parties" in response.text


@pytest.mark.parametrize(
    ("parties", "message"),
    [
        ("france,atlantis", "There is no party called “atlantis”."),
        ("atlantis,france,lemuria", "There are no parties called “atlantis”, “lemuria”."),
        ("france,china,india,a,b", "You can compare at most 4 parties at a time; you chose 5."),
        ("france,../../etc/passwd", "is not the name of a party"),
        ("france," + "x" * 10_000, "is not the name of a party"),
        ("," * 5000, "Choose two to four parties"),
    ],
)
def test_bad_input_gets_a_clear_answer_never_an_error(client, world, parties, message):
    response = client.get(URL, {"parties": parties})
    assert response.status_code in (200, 400)
    assert message in response.text
    assert response.text.count('<select name="parties"') == 4


def test_too_many_select_boxes_say_so(client, world):
    response = client.get(URL, {"parties": ["a", "b", "c", "d", "e", "f"]})
    assert response.status_code == 400
    assert "at most 4 parties" in response.text


def test_a_stray_page_number_shows_the_first_page(client, world):
    response = client.get(URL, {"parties": "france,china", "page": "abc"})
    assert response.status_code == 200
    assert response.context["commitment_page"].number == 1


def test_the_csv_holds_the_same_table_with_formulas_escaped(client, world):
    world["inclusive"].title = "=HYPERLINK(evil)"
    world["inclusive"].save()
    response = client.get(URL, {"parties": "france,china", "_export": "csv"})
    assert response.status_code == 200
    assert 'filename="aitracker-compare-france-china-' in response["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(b"".join(response.streaming_content).decode("utf-8-sig"))))
    assert rows[0] == [
        "row",
        "instrument",
        "reference",
        "title",
        "france: relation or status",
        "france: date",
        "china: relation or status",
        "china: date",
    ]
    assert ["instrument", "paris", "", "Paris", "signed", "", "signed", ""] in rows
    assert ["commitment", "paris", "§1", "'=HYPERLINK(evil)", "achieved", "2025-06-01", "not_assessed", ""] in rows


@pytest.mark.parametrize(
    ("query", "status"),
    [({"parties": "france", "_export": "csv"}, 400), ({"parties": "france,china", "_export": "xls"}, 400)],
)
def test_a_download_that_cannot_be_made_says_why(client, world, query, status):
    response = client.get(URL, query)
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/plain")


def test_the_compare_link_include_starts_a_comparison_from_a_party(world):
    html = render_to_string("aitracker/includes/compare_link.html", {"party": world["france"]})
    assert '<a href="/compare/?parties=france">Compare France with…</a>' in html


def grow(world, n):
    parties = [world["france"], world["china"]]
    for index in range(n):
        instrument = factories.make_instrument()
        for party in parties:
            factories.make_endorsement(instrument=instrument, party=party)
        for _ in range(3):
            commitment = factories.make_commitment(instrument=instrument)
            factories.make_update(commitment=commitment, state="published", parties=parties[index % 2 :])


@pytest.mark.parametrize("n", [2, 8])
def test_the_page_costs_the_same_queries_however_many_commitments(client, world, django_assert_max_num_queries, n):
    grow(world, n)
    with django_assert_max_num_queries(7):
        response = client.get(URL, {"parties": "france,china,india"})
    assert len(response.context["commitment_rows"]) == 2 + 3 * n


def test_the_page_is_cached_and_cleared_by_a_publication(
    client, world, settings, tmp_path, django_capture_on_commit_callbacks
):
    from django.core.cache import caches

    from aitracker import services

    settings.AITRACKER_PAGE_CACHE_SECONDS = 600
    settings.AITRACKER_SUMMARY_CACHE_SECONDS = 600
    settings.AITRACKER_PAGE_GENERATION_FILE = tmp_path / "generation"
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "compare-test"}
    }
    caches["default"].clear()
    url = f"{URL}?parties=france,china"
    assert client.get(url)["X-Page-Cache"] == "miss"
    assert client.get(url)["X-Page-Cache"] == "hit"
    analyst, editor = factories.make_analyst(), factories.make_editor()
    with django_capture_on_commit_callbacks(execute=True):
        update = services.progress_update_create(
            commitment=world["inclusive"],
            author=analyst,
            reported_on=date(2025, 7, 1),
            status="stalled",
            summary="China paused its programme.",
            parties=[world["china"]],
            sources=[{"url": "https://example.org/news", "title": "News"}],
        )
        services.progress_update_submit(update=update, user=analyst)
        services.progress_update_publish(update=update, editor=editor)
    response = client.get(url)
    assert response["X-Page-Cache"] == "miss"
    rows = {row.subject.title: [cell.key for cell in row.cells] for row in response.context["commitment_rows"]}
    assert rows["Inclusive AI"] == ["achieved", "stalled"]
