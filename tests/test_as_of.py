"""The tracker as of a date (`?as_of=YYYY-MM-DD`): pages, downloads and the functions the API uses."""

import json
from datetime import date, datetime

import pytest
from django.test import RequestFactory
from django.urls import reverse
from django.utils import timezone

from aitracker import asof, services
from aitracker.models import Commitment, PartyStatus, ProgressUpdate
from tests import factories

pytestmark = pytest.mark.django_db


def moment(day, hour=12):
    return timezone.make_aware(datetime.combine(day, datetime.min.time()).replace(hour=hour))


@pytest.fixture
def story(editor):
    """A commitment assessed "in progress" (event 1 March 2025, published 10 March), then "achieved" (event 1
    June, published 20 June 2025); the first update later corrected (its text and its progress)."""
    party = factories.make_party(name="Freedonia", slug="freedonia")
    instrument = factories.make_instrument(slug="paris", short_title="Paris", adopted_on=date(2025, 2, 11))
    factories.make_endorsement(instrument=instrument, party=party, date=date(2025, 2, 11))
    commitment = factories.make_commitment(instrument=instrument, slug="inclusive-ai", title="Inclusive AI")
    first = factories.make_update(
        commitment=commitment,
        state="published",
        reported_on=date(2025, 3, 1),
        published_at=moment(date(2025, 3, 10)),
        status="in_progress",
        progress=30,
        summary="Work began on the observatory.",
    )
    second = factories.make_update(
        commitment=commitment,
        state="published",
        reported_on=date(2025, 6, 1),
        published_at=moment(date(2025, 6, 20)),
        status="achieved",
        progress=100,
        summary="The observatory opened.",
    )
    # Freedonia's own record: stalled, from an update naming it (event 1 May, published 2 May 2025).
    factories.make_update(
        commitment=commitment,
        state="published",
        parties=[party],
        reported_on=date(2025, 5, 1),
        published_at=moment(date(2025, 5, 2)),
        status="stalled",
        progress=None,
        summary="Freedonia paused its part.",
    )
    services.progress_update_correct(
        update=first, editor=editor, note="The progress was overstated.", progress=20, summary="Work began slowly."
    )
    commitment.refresh_from_db()
    return {"commitment": commitment, "first": first, "second": second, "party": party, "instrument": instrument}


def test_the_record_before_a_publication_has_the_earlier_status(story):
    commitment = story["commitment"]
    assert commitment.current_status == "achieved"
    records = asof.records_as_of([commitment.pk], date(2025, 4, 1))
    assert asof.overall_as_of(records, commitment.pk).status == "in_progress"
    # Published on 20 June: not yet public on the 19th, though the event was on 1 June.
    assert asof.overall_as_of(asof.records_as_of([commitment.pk], date(2025, 6, 19)), commitment.pk).status == (
        "in_progress"
    )
    assert asof.overall_as_of(asof.records_as_of([commitment.pk], date(2025, 6, 20)), commitment.pk).status == (
        "achieved"
    )
    # Before the first publication: not yet assessed.
    assert asof.records_as_of([commitment.pk], date(2025, 3, 5))[commitment.pk] == {}


def test_a_correction_after_the_date_shows_the_earlier_text(story):
    updates = asof.as_they_stood(
        asof.updates_as_of(ProgressUpdate.objects.public().filter(pk=story["first"].pk), date(2025, 4, 1))
    )
    assert updates[0].summary == "Work began on the observatory."
    assert updates[0].progress == 30
    assert updates[0].corrected_at is None
    assert "observatory" in updates[0].summary_html
    # Today it is the corrected one.
    assert ProgressUpdate.objects.get(pk=story["first"].pk).progress == 20


def test_the_sql_record_agrees_with_the_services_rule(story):
    for day in (date(2025, 3, 5), date(2025, 4, 1), date(2025, 6, 19), date(2025, 7, 1)):
        row = asof.commitments_as_of(Commitment.objects.public(), day).get(pk=story["commitment"].pk)
        record = asof.overall_as_of(asof.records_as_of([row.pk], day), row.pk)
        assert (row.as_of_status, row.as_of_progress, row.as_of_update_on) == record[:3], day


def test_party_statuses_as_of_use_the_same_rule(story):
    rows = PartyStatus.objects.filter(commitment=story["commitment"])
    assert [row.status for row in rows] == ["stalled"]
    assert [row.status for row in asof.party_statuses_as_of(rows, date(2025, 4, 1))] == ["not_assessed"]
    assert [row.status for row in asof.party_statuses_as_of(rows, date(2025, 5, 2))] == ["stalled"]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("yesterday", "YYYY-MM-DD"),
        ("2025-02-30", "exists"),
        ("1999-01-01", "starts on"),
        ("2999-01-01", "to come"),
        ("9" * 10_000, "YYYY-MM-DD"),
    ],
)
def test_bad_dates_are_refused_with_a_message(story, value, message):
    request = RequestFactory().get("/", {"as_of": value})
    with pytest.raises(asof.AsOfError) as error:
        asof.parse_as_of(request)
    assert message in error.value.messages[0]


def test_no_date_or_today_is_todays_record(story):
    assert asof.parse_as_of(RequestFactory().get("/")) is None
    assert asof.parse_as_of(RequestFactory().get("/", {"as_of": timezone.localdate().isoformat()})) is None
    assert asof.parse_as_of(RequestFactory().get("/", {"as_of": "2025-04-01"})) == date(2025, 4, 1)


# --- On the pages and in the downloads ------------------------------------------------------------------


def test_the_commitment_page_shows_the_earlier_status_text_and_a_banner(client, story):
    url = reverse("commitment_detail", kwargs={"slug": "inclusive-ai"})
    today = client.get(url).content.decode()
    assert "The observatory opened." in today and "Work began slowly." in today
    page = client.get(url, {"as_of": "2025-04-01"})
    assert page.status_code == 200
    html = page.content.decode()
    assert "You are looking at the record as it stood on" in html
    assert "1 Apr 2025" in html
    assert f'href="{url}">see it today</a>' in html
    assert '<meta name="robots" content="noindex' in html
    # The earlier text, before the correction; the later update not yet published.
    assert "Work began on the observatory." in html
    assert "Work began slowly." not in html
    assert "The observatory opened." not in html
    assert 'status-panel-in_progress"' in html
    assert 'status-panel-achieved"' not in html


def test_the_table_and_its_downloads_show_the_status_of_the_day(client, story):
    table = reverse("commitment_list")
    html = client.get(table, {"as_of": "2025-04-01"}).content.decode()
    assert "You are looking at the record as it stood on" in html
    # The filter form keeps the date.
    assert '<input type="hidden" name="as_of" value="2025-04-01">' in html
    assert client.get(table, {"as_of": "2025-04-01", "status": "in_progress"}).context["table"].rows[0].record.pk == (
        story["commitment"].pk
    )
    assert len(client.get(table, {"as_of": "2025-04-01", "status": "achieved"}).context["table"].rows) == 0
    assert len(client.get(table, {"status": "achieved"}).context["table"].rows) == 1
    rows = json.loads(b"".join(client.get(table, {"as_of": "2025-04-01", "_export": "json"}).streaming_content))
    assert [(row["slug"], row["status"], row["progress"], row["last_update_on"]) for row in rows] == [
        ("inclusive-ai", "in_progress", 30, "2025-03-01")
    ]
    csv = b"".join(client.get(table, {"as_of": "2025-04-01", "_export": "csv"}).streaming_content).decode()
    assert "in_progress" in csv and "achieved" not in csv
    now = json.loads(b"".join(client.get(table, {"_export": "json"}).streaming_content))
    assert now[0]["status"] == "achieved"


def test_the_updates_download_shows_each_update_as_it_stood(client, story):
    url = reverse("update_list")
    rows = json.loads(b"".join(client.get(url, {"as_of": "2025-04-01", "_export": "json"}).streaming_content))
    assert [(row["summary"], row["progress"], row["corrected_at"]) for row in rows] == [
        ("Work began on the observatory.", 30, None)
    ]
    html = client.get(url, {"as_of": "2025-05-05"}).content.decode()
    assert "Work began on the observatory." in html and "Freedonia paused its part." in html
    assert "The observatory opened." not in html


def test_the_party_and_instrument_pages_as_of_a_day(client, story):
    party = client.get(reverse("party_detail", kwargs={"slug": "freedonia"}), {"as_of": "2025-04-01"})
    assert party.status_code == 200
    assert [record.status for record in party.context["records"]] == ["not_assessed"]
    assert [record.commitment.current_status for record in party.context["records"]] == ["in_progress"]
    assert "Freedonia paused its part." not in party.content.decode()
    instrument = client.get(reverse("instrument_detail", kwargs={"slug": "paris"}), {"as_of": "2025-04-01"})
    assert instrument.context["status_counts"]["in_progress"] == 1
    assert instrument.context["status_counts"]["achieved"] == 0
    assert "You are looking at the record as it stood on" in instrument.content.decode()


def test_endorsements_dated_after_the_day_are_not_shown(client, story):
    later = factories.make_party(name="Latecomer", slug="latecomer")
    factories.make_endorsement(
        instrument=story["instrument"], party=later, relation="joined_later", date=date(2025, 9, 1)
    )
    url = reverse("instrument_detail", kwargs={"slug": "paris"})
    assert "Latecomer" in client.get(url).content.decode()
    assert "Latecomer" not in client.get(url, {"as_of": "2025-04-01"}).content.decode()


@pytest.mark.parametrize("value", ["not-a-date", "2025-02-30", "2001-01-01", "2999-12-31", "x" * 10_000])
@pytest.mark.parametrize(
    "page",
    [
        ("commitment_list", {}),
        ("commitment_list", {"_export": "csv"}),
        ("commitment_detail", {"slug": "inclusive-ai"}),
        ("party_detail", {"slug": "freedonia"}),
        ("instrument_detail", {"slug": "paris"}),
        ("update_list", {"_export": "json"}),
    ],
)
def test_a_bad_date_is_a_400_with_a_message_never_a_500(client, story, value, page):
    name, params = page
    kwargs = {"slug": params["slug"]} if "slug" in params else {}
    query = {key: item for key, item in params.items() if key != "slug"} | {"as_of": value}
    response = client.get(reverse(name, kwargs=kwargs), query)
    assert response.status_code == 400
    html = response.content.decode()
    assert "No record for this date" in html
    assert "See this page as it stands today" in html


# --- In the API --------------------------------------------------------------------------------------------

API = "/api/v1"


@pytest.fixture
def api_cache(settings):
    # The API's rate limit and answers are kept in the cache, which outlives a test's database.
    import uuid

    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": str(uuid.uuid4())}
    }


def api_get(client, url, params=None, status=200):
    response = client.get(url, params or {})
    assert response.status_code == status, (url, params, response.content[:500])
    assert response["Content-Type"].startswith(("application/json", "application/vnd.oai.openapi+json"))
    return response.json()


def test_the_api_shows_a_commitments_status_and_each_partys_as_of_the_day(client, story, api_cache):
    detail = f"{API}/commitments/inclusive-ai/"
    today = api_get(client, detail)
    assert (today["status"], today["progress"]) == ("achieved", 100)
    assert [(row["party"], row["status"]) for row in today["party_statuses"]] == [("freedonia", "stalled")]
    then = api_get(client, detail, {"as_of": "2025-04-01"})
    assert (then["status"], then["status_label"], then["progress"], then["last_update_on"]) == (
        "in_progress",
        "In progress",
        30,
        "2025-03-01",
    )
    assert [(row["party"], row["status"]) for row in then["party_statuses"]] == [("freedonia", "not_assessed")]
    listed = api_get(client, f"{API}/commitments/", {"as_of": "2025-04-01"})["results"]
    assert [(row["slug"], row["status"], row["progress"]) for row in listed] == [("inclusive-ai", "in_progress", 30)]
    # The filters and the order go by the status of the day, as on the table.
    assert api_get(client, f"{API}/commitments/", {"as_of": "2025-04-01", "status": "achieved"})["results"] == []
    assert len(api_get(client, f"{API}/commitments/", {"as_of": "2025-04-01", "status": "in_progress"})["results"])
    assert api_get(client, f"{API}/commitments/", {"status": "achieved"})["results"][0]["slug"] == "inclusive-ai"
    assert api_get(client, f"{API}/commitments/", {"as_of": "2025-04-01", "ordering": "-status"})["results"]
    # Before the first assessment was published: not yet assessed.
    before = api_get(client, detail, {"as_of": "2025-03-05"})
    assert (before["status"], before["progress"]) == ("not_assessed", None)


def test_the_api_shows_the_updates_as_they_stood(client, story, api_cache):
    rows = api_get(client, f"{API}/updates/", {"as_of": "2025-04-01"})["results"]
    assert [(row["summary"], row["progress"], row["corrected_at"]) for row in rows] == [
        ("Work began on the observatory.", 30, None)
    ]
    first = api_get(client, f"{API}/updates/{story['first'].pk}/", {"as_of": "2025-04-01"})
    assert (first["summary"], first["progress"], first["correction_note"]) == ("Work began on the observatory.", 30, "")
    assert api_get(client, f"{API}/updates/{story['first'].pk}/")["progress"] == 20
    # Not yet published on that day.
    api_get(client, f"{API}/updates/{story['second'].pk}/", {"as_of": "2025-04-01"}, status=404)
    assert len(api_get(client, f"{API}/updates/")["results"]) == 3


def test_the_api_leaves_out_endorsements_and_instruments_after_the_day(client, story, api_cache):
    later = factories.make_party(name="Latecomer", slug="latecomer")
    factories.make_endorsement(
        instrument=story["instrument"], party=later, relation="joined_later", date=date(2025, 9, 1)
    )
    seoul = factories.make_instrument(slug="seoul", short_title="Seoul", adopted_on=date(2025, 5, 21))
    # An undated signature of an instrument adopted after the day is not in that day's record either.
    factories.make_endorsement(instrument=seoul, party=factories.make_party(name="Undated", slug="undated"))
    parties = [row["party"] for row in api_get(client, f"{API}/endorsements/")["results"]]
    assert sorted(parties) == ["freedonia", "latecomer", "undated"]
    then = api_get(client, f"{API}/endorsements/", {"as_of": "2025-04-01"})["results"]
    assert [row["party"] for row in then] == ["freedonia"]
    assert {row["slug"] for row in api_get(client, f"{API}/instruments/")["results"]} == {"paris", "seoul"}
    assert [row["slug"] for row in api_get(client, f"{API}/instruments/", {"as_of": "2025-04-01"})["results"]] == [
        "paris"
    ]


@pytest.mark.parametrize("value", ["not-a-date", "2025-02-30", "2001-01-01", "2999-12-31", "x" * 10_000, ""])
@pytest.mark.parametrize(
    "path", ["commitments/", "commitments/inclusive-ai/", "updates/", "endorsements/", "instruments/"]
)
def test_a_bad_date_in_the_api_is_a_json_400_naming_as_of(client, story, api_cache, value, path):
    body = api_get(client, f"{API}/{path}", {"as_of": value}, status=400)
    assert list(body["errors"]) == ["as_of"] and body["errors"]["as_of"][0]


def test_the_schema_documents_as_of(client, db):
    schema = api_get(client, f"{API}/schema/")
    for path in ("/api/v1/commitments/", "/api/v1/commitments/{lookup}/", "/api/v1/updates/", "/api/v1/endorsements/"):
        parameters = {parameter["name"]: parameter for parameter in schema["paths"][path]["get"]["parameters"]}
        assert parameters["as_of"]["schema"] == {"type": "string", "format": "date"}, path


# --- The downloads page's downloads and the parties table ---------------------------------------------------


def download_json(client, name, params=None):
    response = client.get(reverse("data_download", kwargs={"name": name, "export": "json"}), params or {})
    assert response.status_code == 200, (name, params, response.status_code)
    return json.loads(b"".join(response.streaming_content))


def test_the_endorsements_download_leaves_out_those_dated_after_the_day(client, story):
    later = factories.make_party(name="Latecomer", slug="latecomer")
    factories.make_endorsement(
        instrument=story["instrument"], party=later, relation="joined_later", date=date(2025, 9, 1)
    )
    assert sorted(row["party"] for row in download_json(client, "endorsements")) == ["freedonia", "latecomer"]
    assert [row["party"] for row in download_json(client, "endorsements", {"as_of": "2025-04-01"})] == ["freedonia"]
    csv = client.get(
        reverse("data_download", kwargs={"name": "endorsements", "export": "csv"}), {"as_of": "2025-04-01"}
    )
    assert "latecomer" not in b"".join(csv.streaming_content).decode()


def test_the_parties_table_and_download_count_as_of_the_day(client, story):
    later = factories.make_party(name="Latecomer", slug="latecomer")
    factories.make_endorsement(
        instrument=story["instrument"], party=later, relation="joined_later", date=date(2025, 9, 1)
    )
    today = {row["slug"]: row for row in download_json(client, "parties")}
    assert (today["freedonia"]["stalled"], today["freedonia"]["not_assessed"]) == (1, 0)
    assert today["latecomer"]["instruments_endorsed"] == 1
    then = {row["slug"]: row for row in download_json(client, "parties", {"as_of": "2025-04-01"})}
    assert (then["freedonia"]["stalled"], then["freedonia"]["not_assessed"]) == (0, 1)
    assert then["freedonia"]["commitments_binding"] == 1
    assert then["latecomer"]["instruments_endorsed"] == 0
    # The table's own download link, and the table itself, say the same.
    listed = json.loads(
        b"".join(client.get(reverse("party_list"), {"as_of": "2025-04-01", "_export": "json"}).streaming_content)
    )
    assert {row["slug"]: row["stalled"] for row in listed} == {"freedonia": 0, "latecomer": 0}
    page = client.get(reverse("party_list"), {"as_of": "2025-04-01"})
    assert "You are looking at the record as it stood on" in page.content.decode()
    rows = {row.record.slug: row.record for row in page.context["table"].paginated_rows}
    assert rows["freedonia"].status_counts["stalled"] == 0 and rows["freedonia"].status_counts["not_assessed"] == 1
    assert rows["latecomer"].endorsed_count == 0
    assert client.get(reverse("party_list")).context["table"].paginated_rows[0].record.status_counts["stalled"] == 1


def test_the_commitments_and_instruments_downloads_follow_as_of(client, story):
    factories.make_instrument(slug="seoul", short_title="Seoul", adopted_on=date(2025, 5, 21))
    assert [row["status"] for row in download_json(client, "commitments", {"as_of": "2025-04-01"})] == ["in_progress"]
    assert [row["status"] for row in download_json(client, "commitments")] == ["achieved"]
    assert [row["slug"] for row in download_json(client, "instruments", {"as_of": "2025-04-01"})] == ["paris"]
    assert len(download_json(client, "instruments")) == 2


@pytest.mark.parametrize("name", ["endorsements", "parties", "commitments", "updates", "instruments"])
def test_a_bad_date_on_a_download_is_a_400_with_a_message(client, story, name):
    response = client.get(reverse("data_download", kwargs={"name": name, "export": "csv"}), {"as_of": "2025-02-30"})
    assert response.status_code == 400
    assert "No record for this date" in response.content.decode()


def test_the_parties_table_sorts_by_the_counts_of_the_day_it_shows(client, story):
    """Sorted by a status column as of a day, the order is that of the day's counts, which the cells show."""
    zembla = factories.make_party(name="Zembla", slug="zembla")
    factories.make_endorsement(instrument=story["instrument"], party=zembla, date=date(2025, 2, 11))
    for day, status in ((date(2025, 3, 15), "stalled"), (date(2025, 6, 25), "in_progress")):
        factories.make_update(
            commitment=story["commitment"],
            state="published",
            parties=[zembla],
            reported_on=day,
            published_at=moment(day),
            status=status,
        )

    def order(**query):
        table = client.get(reverse("party_list"), {"sort": "-stalled", **query}).context["table"]
        return [(row.record.slug, row.record.status_counts["stalled"]) for row in table.paginated_rows]

    # Today Freedonia is stalled, Zembla in progress; on 1 April 2025, the other way round.
    assert order() == [("freedonia", 1), ("zembla", 0)]
    assert order(as_of="2025-04-01") == [("zembla", 1), ("freedonia", 0)]
