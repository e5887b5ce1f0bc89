"""The read API (/api/v1/): every resource, published data only, the tables' filters, ordering and cursors,
JSON errors with the field at fault, CORS, ETag/304, the rate limit, and a cache that a publication clears."""

import csv
import gzip
import io
import uuid

import pytest
from django.core.cache import caches
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from aitracker import services
from aitracker.models import Commitment, Endorsement, ProgressUpdate
from tests import factories
from tests.public_factories import World, grow

pytestmark = pytest.mark.django_db

API = "/api/v1"


@pytest.fixture(autouse=True)
def fresh_cache(settings):
    # The rate limit counts in the cache, which outlives a test's database.
    settings.CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": str(uuid.uuid4())}
    }
    caches["default"].clear()


@pytest.fixture
def world(db):
    return grow(World(), 2)


def get_json(client, url, status=200, **headers):
    response = client.get(url, **headers)
    assert response.status_code == status, (url, response.status_code, response.content[:500])
    assert response["Content-Type"].startswith(("application/json", "application/vnd.oai.openapi+json"))
    return response.json()


def every_row(client, url):
    """Every result of a list, following its `next` links."""
    rows, pages = [], 0
    while url:
        page = get_json(client, url)
        rows += page["results"]
        url = page["next"] and page["next"].removeprefix("http://127.0.0.1:8000")
        pages += 1
        assert pages < 100
    return rows


def test_every_resource_lists_and_shows_its_records(client, world):
    commitment = world.commitments[0]
    party = world.parties[0]
    update = ProgressUpdate.objects.public().filter(commitment=commitment).first()
    endorsement = Endorsement.objects.first()
    for resource, lookup in [
        ("instruments", world.instruments[0].slug),
        ("parties", party.slug),
        ("themes", world.themes[0].slug),
        ("commitments", commitment.slug),
        ("updates", update.pk),
        ("endorsements", endorsement.pk),
    ]:
        listed = get_json(client, f"{API}/{resource}/")
        assert listed["results"], resource
        shown = get_json(client, f"{API}/{resource}/{lookup}/")
        assert shown["url"] == f"http://127.0.0.1:8000{API}/{resource}/{lookup}/"


def test_a_commitment_says_its_overall_and_each_partys_status_with_links(client, world):
    update = factories.make_update(commitment=world.commitments[0], state="published", status="stalled")
    commitment = update.commitment
    shown = get_json(client, f"{API}/commitments/{commitment.slug}/")
    assert shown["status"] == commitment.current_status
    assert shown["html_url"] == f"http://127.0.0.1:8000/commitments/{commitment.slug}/"
    assert shown["instrument_url"] == f"http://127.0.0.1:8000{API}/instruments/{commitment.instrument.slug}/"
    statuses = {row["party"]: row["status"] for row in shown["party_statuses"]}
    assert statuses == dict(commitment.party_statuses.values_list("party__slug", "status"))
    assert shown["status"] == "stalled" and "in_progress" in statuses.values()


def test_links_come_from_the_configured_site_address_not_the_host(client, world, settings):
    settings.AITRACKER_SITE_URL = "https://aitracker.example.org"
    page = get_json(client, f"{API}/commitments/?page_size=1", HTTP_HOST="localhost")
    assert page["next"].startswith("https://aitracker.example.org/api/v1/commitments/?")
    assert page["results"][0]["url"].startswith("https://aitracker.example.org/api/v1/")


def test_an_update_lists_its_sources_parties_and_says_null_status_for_a_check(client, world):
    check = factories.make_update(commitment=world.commitments[0], state="published", kind="check")
    shown = get_json(client, f"{API}/updates/{check.pk}/")
    assert shown["kind"] == "check" and shown["status"] is None and shown["status_label"] is None
    assessment = ProgressUpdate.objects.public().assessments().filter(parties__isnull=False).first()
    shown = get_json(client, f"{API}/updates/{assessment.pk}/")
    assert len(shown["sources"]) == 2 and shown["sources"][0]["url"].startswith("https://")
    assert shown["parties"] == [party.slug for party in assessment.parties.all()]


def test_drafts_and_deleted_records_never_appear(client, world):
    draft = ProgressUpdate.objects.exclude(state="published").first()
    assert draft is not None
    ids = {row["id"] for row in every_row(client, f"{API}/updates/?page_size=200")}
    assert draft.pk not in ids
    assert ids == set(ProgressUpdate.objects.public().values_list("pk", flat=True))
    get_json(client, f"{API}/updates/{draft.pk}/", status=404)
    gone = world.commitments[-1]
    Commitment.objects.filter(pk=gone.pk).update(deleted_at=timezone.now())
    get_json(client, f"{API}/commitments/{gone.slug}/", status=404)
    assert gone.slug not in {row["slug"] for row in every_row(client, f"{API}/commitments/")}


def test_unknown_slugs_and_ids_are_json_404s(client, world):
    for url in [
        f"{API}/nothing/",
        f"{API}/commitments/a/b/",
        f"{API}/commitments/no-such-thing/",
        f"{API}/parties/%00/",
        f"{API}/updates/abc/",
        f"{API}/updates/0/",
    ]:
        body = get_json(client, url, status=404)
        assert body["detail"]


@pytest.mark.parametrize(
    "query, field",
    [
        ("status=bogus", "status"),
        ("instrument=no-such-instrument", "instrument"),
        ("ordering=text", "ordering"),
        ("cursor=made-up", "cursor"),
        ("page_size=0", "page_size"),
        ("page_size=5000", "page_size"),
        ("status=", "status"),
        ("q=" + "x" * 201, "q"),
    ],
)
def test_bad_parameters_are_400s_naming_the_field(client, world, query, field):
    body = get_json(client, f"{API}/commitments/?{query}", status=400)
    assert field in body["errors"] and body["errors"][field][0]


def test_bad_dates_of_the_updates_filters_are_400s(client, world):
    body = get_json(client, f"{API}/updates/?published_after=0001-01-01", status=400)
    assert "published_after" in body["errors"]


def test_a_cursor_from_another_order_is_refused(client, world):
    page = get_json(client, f"{API}/commitments/?page_size=2&ordering=title")
    cursor = page["next"].split("cursor=")[1].split("&")[0]
    body = get_json(client, f"{API}/commitments/?page_size=2&ordering=status&cursor={cursor}", status=400)
    assert "cursor" in body["errors"]


@pytest.mark.parametrize("ordering", ["instrument", "-status", "title", "-last_update_on", "progress", "-reference"])
def test_cursor_pages_cover_every_row_once_in_order(client, world, ordering):
    rows = every_row(client, f"{API}/commitments/?page_size=3&ordering={ordering}")
    slugs = [row["slug"] for row in rows]
    assert sorted(slugs) == sorted(Commitment.objects.public().values_list("slug", flat=True))
    assert len(set(slugs)) == len(slugs)
    field = {"instrument": None, "status": "status", "title": "title", "last_update_on": "last_update_on",
             "progress": "progress", "reference": "reference"}[ordering.lstrip("-")]  # fmt: skip
    if field:
        values = [
            (row[field] is not None, row[field] or "") if field != "progress" else (row[field] or -1) for row in rows
        ]
        assert values == sorted(values, reverse=ordering.startswith("-"))


def test_previous_links_walk_back_to_the_first_page(client, world):
    first = get_json(client, f"{API}/commitments/?page_size=3&ordering=status")
    second = get_json(client, first["next"].removeprefix("http://127.0.0.1:8000"))
    back = get_json(client, second["previous"].removeprefix("http://127.0.0.1:8000"))
    assert [row["slug"] for row in back["results"]] == [row["slug"] for row in first["results"]]


def test_the_party_filters_are_the_parties_pages(client, world):
    instrument = world.instruments[-1]
    factories.make_endorsement(instrument=instrument, party=factories.make_party(), relation="did_not_sign")
    rows = every_row(client, f"{API}/parties/?instrument={instrument.slug}&relation=did_not_sign")
    expected = Endorsement.objects.filter(instrument=instrument, relation="did_not_sign").values_list(
        "party__slug", flat=True
    )
    assert {row["slug"] for row in rows} == set(expected) and rows


def test_endorsements_filter_by_instrument_party_relation_and_confidence(client, world):
    instrument, party = world.instruments[-1], world.parties[0]
    rows = every_row(
        client, f"{API}/endorsements/?instrument={instrument.slug}&confidence=uncertain&relation=endorsing"
    )
    expected = Endorsement.objects.filter(instrument=instrument, confidence="uncertain").endorsing()
    assert {row["id"] for row in rows} == set(expected.values_list("pk", flat=True)) and rows
    rows = every_row(client, f"{API}/endorsements/?party={party.slug}")
    assert {row["instrument"] for row in rows} == {i.slug for i in world.instruments}


def csv_rows(client, url):
    response = client.get(url)
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    return list(csv.DictReader(io.StringIO(text)))


@pytest.mark.parametrize(
    "query",
    ["", "status=in_progress", "stale=yes", "q=Commitment 1", "status=achieved&theme={theme}", "party={party}",
     "instrument={instrument}&status=not_assessed"],
)  # fmt: skip
def test_the_api_answers_the_rows_of_the_csv_download(client, world, query):
    query = query.format(theme=world.themes[0].slug, party=world.parties[0].slug, instrument=world.instruments[0].slug)
    api_rows = every_row(client, f"{API}/commitments/?{query}&page_size=7".replace("?&", "?"))
    download = csv_rows(client, f"{reverse('data_download', kwargs={'name': 'commitments', 'export': 'csv'})}?{query}")
    assert [(row["slug"], row["status"]) for row in api_rows] == [(row["slug"], row["status"]) for row in download]


@pytest.mark.parametrize(
    "query", ["", "status=partly_achieved", "party={party}", "instrument={instrument}&published=last_30_days"]
)
def test_the_api_answers_the_rows_of_the_updates_download(client, world, query):
    query = query.format(party=world.parties[1].slug, instrument=world.instruments[0].slug)
    api_rows = every_row(client, f"{API}/updates/?{query}&page_size=9")
    download = csv_rows(client, f"{reverse('update_list')}?_export=csv&{query}")
    assert [(row["id"], row["status"] or None) for row in api_rows] == [
        (int(row["id"]), row["status"] or None) for row in download
    ]
    assert api_rows


def test_cors_is_open_for_reading(client, world):
    response = client.get(f"{API}/themes/", HTTP_ORIGIN="https://elsewhere.example")
    assert response["Access-Control-Allow-Origin"] == "*"
    assert "ETag" in response["Access-Control-Expose-Headers"]
    preflight = client.options(
        f"{API}/themes/", HTTP_ORIGIN="https://elsewhere.example", HTTP_ACCESS_CONTROL_REQUEST_METHOD="GET"
    )
    assert preflight.status_code == 204
    assert "GET" in preflight["Access-Control-Allow-Methods"]
    assert client.post(f"{API}/themes/").status_code == 405
    assert "Access-Control-Allow-Origin" not in client.get(reverse("dashboard"))


def test_an_etag_answers_a_repeat_with_304_until_the_data_changes(client, world, editor):
    url = f"{API}/commitments/{world.commitments[0].slug}/"
    first = client.get(url)
    etag = first["ETag"]
    repeat = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert repeat.status_code == 304 and repeat.content == b""
    assert client.get(f"{API}/commitments/", HTTP_IF_NONE_MATCH=etag).status_code == 200
    update = factories.make_update(commitment=world.commitments[0], state="submitted", status="achieved")
    services.progress_update_publish(update=update, editor=editor)
    changed = client.get(url, HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200 and changed["ETag"] != etag
    assert changed.json()["status"] == "achieved"


def test_the_rate_limit_answers_429_with_retry_after(client, world, settings):
    settings.AITRACKER_API_RATE = "3/minute"
    for _ in range(3):
        assert client.get(f"{API}/themes/").status_code == 200
    refused = client.get(f"{API}/themes/")
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) > 0
    assert refused.json()["detail"]
    # Per address: another visitor is still served.
    assert client.get(f"{API}/themes/", REMOTE_ADDR="10.0.0.2").status_code == 200


def test_the_rate_limit_counts_the_visitor_behind_trusted_proxies(client, world, settings):
    settings.AITRACKER_API_RATE = "1/minute"
    settings.AITRACKER_TRUSTED_PROXY_COUNT = 1
    assert client.get(f"{API}/themes/", HTTP_X_FORWARDED_FOR="192.0.2.1").status_code == 200
    assert client.get(f"{API}/themes/", HTTP_X_FORWARDED_FOR="192.0.2.2").status_code == 200
    assert client.get(f"{API}/themes/", HTTP_X_FORWARDED_FOR="192.0.2.1").status_code == 429


def test_answers_are_cached_and_a_publication_clears_them(client, world, editor, settings):
    settings.AITRACKER_PAGE_CACHE_SECONDS = 600
    commitment = world.commitments[0]
    url = f"{API}/commitments/?instrument={commitment.instrument.slug}"
    before = get_json(client, url)
    # Written around the services, so the generation does not move: the cached answer is served.
    Commitment.objects.filter(pk=commitment.pk).update(title="Changed behind the cache's back")
    assert get_json(client, url) == before
    update = factories.make_update(commitment=commitment, state="submitted", status="reversed")
    services.progress_update_publish(update=update, editor=editor)
    after = get_json(client, url)
    row = next(row for row in after["results"] if row["slug"] == commitment.slug)
    assert row["status"] == "reversed" and row["title"] == "Changed behind the cache's back"


def test_a_kept_answer_is_the_body_rendered_once_plain_or_compressed(client, world, settings):
    settings.AITRACKER_PAGE_CACHE_SECONDS = 600
    url = f"{API}/commitments/?ordering=-title"
    first = client.get(url)
    with CaptureQueriesContext(connection) as queries:
        plain = client.get(url)
    assert [q["sql"] for q in queries if "datageneration" not in q["sql"]] == []  # served from the cache
    zipped = client.get(url, HTTP_ACCEPT_ENCODING="gzip")
    assert first.content == plain.content and first["Content-Type"] == plain["Content-Type"] == "application/json"
    assert zipped["Content-Encoding"] == "gzip" and gzip.decompress(zipped.content) == plain.content
    for answer in (plain, zipped):
        assert {"Accept", "Accept-Encoding"} <= {v.strip() for v in answer["Vary"].split(",")}
    # One tag for both encodings, so weak (RFC 9110, 8.8.1), and a weak If-None-Match still gets its 304.
    assert plain["ETag"] == zipped["ETag"] == first["ETag"] and plain["ETag"].startswith('W/"')
    assert client.get(url, HTTP_IF_NONE_MATCH=plain["ETag"]).status_code == 304
    # A client that refuses gzip is never sent the compressed copy.
    assert "Content-Encoding" not in client.get(url, HTTP_ACCEPT_ENCODING="gzip;q=0")


def test_an_indented_answer_is_kept_apart_from_the_compact_one(client, world, settings):
    settings.AITRACKER_PAGE_CACHE_SECONDS = 600
    url = f"{API}/themes/"
    compact = client.get(url)
    indented = client.get(url, HTTP_ACCEPT="application/json; indent=2")
    assert b"\n  " in indented.content and b"\n" not in compact.content
    assert indented.json() == compact.json() and indented["ETag"] != compact["ETag"]
    assert client.get(url).content == compact.content


def test_the_schema_and_its_documentation_page(client, db):
    schema = get_json(client, f"{API}/schema/")
    assert schema["openapi"].startswith("3.")
    assert {"/api/v1/commitments/", "/api/v1/updates/{lookup}/", "/api/v1/endorsements/"} <= set(schema["paths"])
    parameters = {p["name"]: p for p in schema["paths"]["/api/v1/commitments/"]["get"]["parameters"]}
    assert {"instrument", "theme", "status", "party", "stale", "q", "ordering", "cursor", "page_size"} <= set(
        parameters
    )
    assert "in_progress" in parameters["status"]["schema"].get("enum", []) or "$ref" in str(parameters["status"])
    docs = client.get(reverse("api:docs"))
    assert docs.status_code == 200
    html = docs.content.decode()
    assert "swagger-ui-bundle.js" in html and "js/api-docs.js" in html and "<script>" not in html


def test_a_row_unpublished_between_the_lists_two_reads_is_left_out_not_an_error(client, world, monkeypatch):
    """The list reads the page's keys, then the rows it has not kept: an update taken down in between is
    simply not listed (as on the next request), never a server error."""
    from aitracker.api.pagination import KeysetCursorPagination

    read_keys = KeysetCursorPagination.paginate_queryset
    gone = []

    def keys_then_a_takedown(self, queryset, request, view=None):
        keys = read_keys(self, queryset, request, view)
        gone.append(keys[0])
        ProgressUpdate.objects.filter(pk=keys[0]).update(state="returned", published_at=None)
        return keys

    monkeypatch.setattr(KeysetCursorPagination, "paginate_queryset", keys_then_a_takedown)
    listed = get_json(client, f"{API}/updates/")
    ids = [row["id"] for row in listed["results"]]
    assert gone and gone[0] not in ids and ids
