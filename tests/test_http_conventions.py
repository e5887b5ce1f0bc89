"""What HTTP lets a reader's browser, a feed reader and a CDN do with public responses: take them compressed,
ask again cheaply (304 Not Modified), and keep a public page a short while, never a staff page or a page with a
CSRF token."""

import gzip
from datetime import date

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aitracker import services
from tests import factories

pytestmark = pytest.mark.django_db

GZIP = {"accept-encoding": "gzip, deflate, br"}


@pytest.fixture
def world(db):
    instrument = factories.make_instrument(short_title="Test statement")
    commitment = factories.make_commitment(instrument=instrument, title="Open the archives")
    factories.make_update(
        commitment=commitment, state="published", summary="Old news. " * 200, reported_on=date(2025, 1, 5)
    )
    return {"instrument": instrument, "commitment": commitment}


def body(response):
    content = b"".join(response.streaming_content) if response.streaming else response.content
    return gzip.decompress(content) if response.get("Content-Encoding") == "gzip" else content


def public_urls(world):
    commitment = world["commitment"]
    return [
        reverse("dashboard"),
        reverse("commitment_list"),
        reverse("commitment_list") + "?sort=-last_update_on",
        reverse("commitment_detail", kwargs={"slug": commitment.slug}),
        reverse("instrument_detail", kwargs={"slug": world["instrument"].slug}),
        reverse("feed_updates"),
    ]


def test_public_pages_are_compressed_from_the_first_request_and_from_the_cache(client, cache_on, world):
    for url in public_urls(world):
        plain = client.get(url)
        first = client.get(url + ("&" if "?" in url else "?") + "x=1", headers=GZIP)
        again = client.get(url + ("&" if "?" in url else "?") + "x=1", headers=GZIP)
        assert plain.get("Content-Encoding") is None, url
        assert first["Content-Encoding"] == "gzip" and again["Content-Encoding"] == "gzip", url
        assert again["X-Page-Cache"] == "hit", url
        assert body(first) == body(again), url
        assert len(again.content) < len(body(again)) / 2, url
        assert "Accept-Encoding" in again["Vary"], url


def test_a_page_the_cache_has_not_seen_is_compressed_once(client, cache_on, world, monkeypatch):
    """The copy kept for later visitors is the body sent now: compressing it again for this answer would double
    the cost of every page a crawler asks for."""
    from django.middleware import gzip as gzip_middleware
    from django.utils.text import compress_string

    from aitracker import cache

    calls = []

    def counted(compress):
        def compress_and_count(*args, **kwargs):
            calls.append(1)
            return compress(*args, **kwargs)

        return compress_and_count

    # Where the page cache (and the compression middleware, through it) and Django's own middleware find theirs.
    monkeypatch.setattr(cache, "gzip_page", counted(cache.gzip_page))
    monkeypatch.setattr(gzip_middleware, "compress_string", counted(compress_string))
    for url in public_urls(world):
        calls.clear()
        first = client.get(url, headers=GZIP)
        assert first["X-Page-Cache"] == "miss", url
        assert first["Content-Encoding"] == "gzip" and int(first["Content-Length"]) == len(first.content), url
        assert len(calls) == 1, url
        again = client.get(url, headers=GZIP)
        assert again["X-Page-Cache"] == "hit" and again.content == first.content, url
        assert body(first) == body(client.get(url)), url
        assert first["Vary"] == again["Vary"] and first["ETag"] == again["ETag"], url


def test_downloads_are_compressed(client, cache_on, world):
    for export in ("csv", "json"):
        response = client.get(reverse("commitment_list") + f"?_export={export}", headers=GZIP)
        assert response["Content-Encoding"] == "gzip"
        assert b"Open the archives" in body(response)


def test_an_unchanged_page_is_answered_304_without_reading_or_rendering_it(client, cache_on, world):
    for url in public_urls(world):
        first = client.get(url)
        assert first.status_code == 200
        etag = first["ETag"]
        assert etag.startswith('W/"'), url
        with CaptureQueriesContext(connection) as queries:
            again = client.get(url, headers={"if-none-match": etag})
        assert again.status_code == 304, url
        assert again.content == b""
        assert again["ETag"] == etag
        assert len(queries) <= 1, [q["sql"] for q in queries]  # only the data generation
        # A compressed copy has the same validator: the page is the same.
        assert client.get(url, headers={**GZIP, "if-none-match": etag}).status_code == 304


def test_a_publication_changes_every_validator(client, cache_on, world, editor):
    urls = public_urls(world)
    etags = {url: client.get(url)["ETag"] for url in urls}
    update = factories.make_update(commitment=world["commitment"], state="submitted", summary="Fresh news.")
    services.progress_update_publish(update=update, editor=editor)
    for url in urls:
        response = client.get(url, headers={"if-none-match": etags[url]})
        assert response.status_code == 200, url
        assert response["ETag"] != etags[url]


def test_a_download_answers_304_while_the_data_is_unchanged(client, cache_on, world):
    url = reverse("commitment_list") + "?_export=csv"
    first = client.get(url)
    assert first.status_code == 200 and first.streaming
    assert client.get(url, headers={"if-none-match": first["ETag"]}).status_code == 304
    # Another format or filter is another representation.
    other = client.get(reverse("commitment_list") + "?_export=json", headers={"if-none-match": first["ETag"]})
    assert other.status_code == 200


def test_the_feed_honours_if_modified_since(client, cache_on, world):
    first = client.get(reverse("feed_updates"))
    last_modified = first["Last-Modified"]
    assert client.get(reverse("feed_updates"), headers={"if-modified-since": last_modified}).status_code == 304
    assert (
        client.get(reverse("feed_updates"), headers={"if-modified-since": "Mon, 01 Jan 2001 00:00:00 GMT"}).status_code
        == 200
    )


def test_a_shared_cache_may_keep_a_public_page_briefly_but_browsers_revalidate(client, cache_on, world):
    for url in public_urls(world):
        for response in (client.get(url), client.get(url)):  # a miss, then a hit
            directives = {d.strip() for d in response["Cache-Control"].split(",")}
            assert {"public", "max-age=0", "s-maxage=60"} <= directives, (url, directives)


def test_staff_pages_and_logged_in_visitors_are_never_public_nor_compressed(client, cache_on, world, editor):
    client.force_login(editor)
    for url in [reverse("review_queue"), reverse("dashboard"), "/admin/"]:
        response = client.get(url, headers=GZIP, follow=True)
        directives = {d.strip() for d in response["Cache-Control"].split(",")}
        assert {"no-store", "private"} <= directives, url
        assert "public" not in directives
        assert response.get("Content-Encoding") is None, url


def test_a_page_with_a_csrf_token_is_not_compressed(client, cache_on):
    response = client.get(reverse("login"), headers=GZIP)
    assert response.status_code == 200
    assert b"csrfmiddlewaretoken" in response.content
    assert response.get("Content-Encoding") is None
    assert "public" not in response.get("Cache-Control", "")


def test_a_page_that_is_not_found_has_no_validator(client, cache_on, world):
    response = client.get(reverse("commitment_detail", kwargs={"slug": "no-such-commitment"}))
    assert response.status_code == 404
    assert "public" not in response.get("Cache-Control", "")


@pytest.mark.parametrize(
    ("header", "takes"),
    [
        ("gzip, deflate, br", True),
        ("br;q=1.0, gzip;q=0.8", True),
        ("*", False),
        ("gzip;q=0", False),
        ("gzip;q=0.0, deflate", False),
        ("identity", False),
        ("", False),
        ("gzipx", False),
        ("gzip;q=oops", False),
    ],
)
def test_a_refusal_of_gzip_gets_the_plain_page_from_the_cache_and_from_a_render(client, cache_on, header, takes):
    for _attempt in ("render", "cache"):
        response = client.get(reverse("methodology"), headers={"accept-encoding": header})
        assert response.status_code == 200
        assert (response.get("Content-Encoding") == "gzip") is takes, (header, _attempt)
        assert "Accept-Encoding" in response["Vary"]
