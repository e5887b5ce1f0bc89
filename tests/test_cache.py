"""The public page cache: anonymous visitors get cached pages, staff never do, and every write the public can
see reaches every affected page at once, on every app server."""

import re
import uuid
from datetime import date

import pytest
from django.contrib.auth.models import User
from django.core.cache import caches
from django.db import connection, transaction
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from aitracker import cache as page_cache
from aitracker import services
from aitracker.models import Commitment, Endorsement
from tests import factories

pytestmark = pytest.mark.django_db

LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


@pytest.fixture
def cache_on(settings, tmp_path):
    """The page cache as `make serve` runs it: local memory per worker, the generation in a shared file, the
    site-wide counts kept under the same generation."""
    settings.AITRACKER_PAGE_CACHE_SECONDS = 600
    settings.AITRACKER_SUMMARY_CACHE_SECONDS = 600
    settings.AITRACKER_PAGE_GENERATION_FILE = tmp_path / "generation"
    settings.CACHES = {"default": {**LOCMEM, "LOCATION": f"worker-a-{uuid.uuid4()}"}}
    caches["default"].clear()
    return settings


@pytest.fixture
def world(db):
    """A commitment with one published update, in an instrument a party signed, under a theme."""
    instrument = factories.make_instrument(short_title="Test statement")
    party = factories.make_party(name="Freedonia")
    factories.make_endorsement(instrument=instrument, party=party, relation=Endorsement.Relation.SIGNED)
    theme = factories.make_theme(name="Inclusive testing")
    commitment = factories.make_commitment(instrument=instrument, themes=[theme], title="Open the archives")
    factories.make_update(
        commitment=commitment, state="published", summary="Old news about the archives.", reported_on=date(2025, 1, 5)
    )
    return {"instrument": instrument, "party": party, "theme": theme, "commitment": commitment}


def affected_pages(world):
    """Every public page that shows a commitment's status or its updates: {url: whether it lists updates}."""
    commitment, party, instrument, theme = world["commitment"], world["party"], world["instrument"], world["theme"]
    return {
        reverse("dashboard"): True,
        reverse("commitment_list"): False,
        reverse("commitment_list") + f"?instrument={instrument.slug}&sort=-last_update_on": False,
        reverse("commitment_detail", kwargs={"slug": commitment.slug}): True,
        reverse("instrument_list"): False,
        reverse("instrument_detail", kwargs={"slug": instrument.slug}): False,
        reverse("party_list"): False,
        # A party's page and feed list only the updates naming it (the commitment's status shows on the page).
        reverse("party_detail", kwargs={"slug": party.slug}): False,
        reverse("theme_list"): False,
        reverse("theme_detail", kwargs={"slug": theme.slug}): True,
        reverse("update_list"): True,
        reverse("update_list") + "?published=last_30_days&sort=-published_at": True,
        reverse("party_list") + "?sort=-achieved&kind=organisation": False,
        reverse("feed_updates"): True,
        reverse("feed_commitment", kwargs={"slug": commitment.slug}): True,
        reverse("feed_party", kwargs={"slug": party.slug}): False,
    }


def fill_cache(client, pages):
    for url in pages:
        client.get(url)
        response = client.get(url)
        assert response.status_code == 200, url
        assert response["X-Page-Cache"] == "hit", url


def without_clock(content):
    # A feed with no item says it was updated "now".
    return re.sub(rb"<updated>[^<]*</updated>", b"", content)


def render_without_any_cache(client, settings, url):
    page_seconds, summary_seconds = settings.AITRACKER_PAGE_CACHE_SECONDS, settings.AITRACKER_SUMMARY_CACHE_SECONDS
    settings.AITRACKER_PAGE_CACHE_SECONDS = settings.AITRACKER_SUMMARY_CACHE_SECONDS = 0
    try:
        return client.get(url)
    finally:
        settings.AITRACKER_PAGE_CACHE_SECONDS, settings.AITRACKER_SUMMARY_CACHE_SECONDS = page_seconds, summary_seconds


def assert_fresh(client, settings, pages, *, expect=None):
    """Each page, served with the cache on, is exactly what it renders without the cache; and the pages that
    list updates show `expect`."""
    for url in pages:
        cached = client.get(url)
        assert cached.status_code == 200, url
        assert cached["X-Page-Cache"] == "miss", f"{url} came from the cache after the change"
        fresh = render_without_any_cache(client, settings, url)
        assert without_clock(cached.content) == without_clock(fresh.content), url
        if expect and isinstance(pages, dict) and pages[url]:
            assert expect in cached.content.decode(), url


def publish(commitment, editor, summary, status="achieved"):
    analyst = factories.make_analyst()
    update = services.progress_update_create(
        commitment=commitment,
        author=analyst,
        reported_on=date(2025, 6, 1),
        status=status,
        summary=summary,
        sources=[{"url": "https://example.org/fresh", "title": "Fresh source"}],
    )
    services.progress_update_submit(update=update, user=analyst)
    return services.progress_update_publish(update=update, editor=editor)


# --- Serving --------------------------------------------------------------------------------------------------


def test_anonymous_visitors_get_the_cached_page(client, cache_on, world):
    url = reverse("commitment_detail", kwargs={"slug": world["commitment"].slug})
    first = client.get(url)
    assert first["X-Page-Cache"] == "miss"
    second = client.get(url)
    assert second["X-Page-Cache"] == "hit"
    assert second.content == first.content
    assert second["Content-Type"] == first["Content-Type"]


def test_a_hit_runs_no_query(client, cache_on, world, django_assert_num_queries):
    url = reverse("dashboard")
    client.get(url)
    with django_assert_num_queries(0):
        assert client.get(url)["X-Page-Cache"] == "hit"


def test_the_key_is_the_full_url_with_its_query_string(client, cache_on, world):
    url = reverse("commitment_list")
    client.get(url)
    assert client.get(url + "?status=achieved")["X-Page-Cache"] == "miss"
    assert client.get(url + "?status=achieved")["X-Page-Cache"] == "hit"
    assert client.get(url + "?status=in_progress")["X-Page-Cache"] == "miss"


def test_each_language_has_its_own_page(client, cache_on, world):
    url = reverse("methodology")
    english = client.get(url, headers={"accept-language": "en"})
    french = client.get(url, headers={"accept-language": "fr"})
    assert french["X-Page-Cache"] == "miss"
    assert french["Content-Language"] == "fr" and english["Content-Language"] == "en"
    assert client.get(url, headers={"accept-language": "fr"})["X-Page-Cache"] == "hit"


def test_logged_in_staff_never_get_or_fill_the_cache(client, cache_on, world, editor):
    url = reverse("commitment_detail", kwargs={"slug": world["commitment"].slug})
    client.get(url)
    client.force_login(editor)
    staff = client.get(url)
    assert staff.status_code == 200
    assert "X-Page-Cache" not in staff
    assert "X-Page-Cache" not in client.get(reverse("dashboard"))
    client.logout()
    # The staff visit did not store the dashboard for the public.
    assert client.get(reverse("dashboard"))["X-Page-Cache"] == "miss"


def test_downloads_and_errors_are_not_cached(client, cache_on, world):
    export = reverse("commitment_list") + "?_export=csv"
    for _ in range(2):
        response = client.get(export)
        assert response.streaming and "X-Page-Cache" not in response
        b"".join(response.streaming_content)
    missing = reverse("commitment_detail", kwargs={"slug": "no-such-commitment"})
    assert client.get(missing).status_code == 404
    assert "X-Page-Cache" not in client.get(missing)


def test_a_page_with_a_csrf_token_or_a_cookie_is_never_stored(cache_on, rf: RequestFactory):
    from django.contrib.auth.models import AnonymousUser

    calls = []

    @page_cache.cache_public_page
    def with_token(request):
        calls.append("token")
        return HttpResponse(f"<form>{get_token(request)}</form>")

    @page_cache.cache_public_page
    def with_cookie(request):
        calls.append("cookie")
        response = HttpResponse("hello")
        response.set_cookie("tracking", "1")
        return response

    for view in (with_token, with_cookie, with_token, with_cookie):
        request = rf.get("/somewhere/")
        request.user = AnonymousUser()
        assert "X-Page-Cache" not in view(request)
    assert calls == ["token", "cookie", "token", "cookie"]


def test_a_session_or_messages_cookie_bypasses_the_cache(client, cache_on, world):
    url = reverse("dashboard")
    client.get(url)
    client.cookies["messages"] = "something"
    assert "X-Page-Cache" not in client.get(url)


def test_the_cache_can_be_turned_off(client, cache_on, world):
    cache_on.AITRACKER_PAGE_CACHE_SECONDS = 0
    url = reverse("dashboard")
    client.get(url)
    assert "X-Page-Cache" not in client.get(url)


# --- Invalidation ---------------------------------------------------------------------------------------------


def test_a_publication_shows_at_once_on_every_affected_page(
    client, cache_on, world, editor, django_capture_on_commit_callbacks
):
    pages = affected_pages(world)
    fill_cache(client, pages)
    with django_capture_on_commit_callbacks(execute=True):
        publish(world["commitment"], editor, "Fresh evidence: the archives opened.")
    assert_fresh(client, cache_on, pages, expect="Fresh evidence: the archives opened.")
    assert Commitment.objects.get(pk=world["commitment"].pk).current_status == "achieved"


@pytest.mark.django_db(transaction=True)
def test_a_publication_clears_the_pages_when_it_commits(client, cache_on, world, editor):
    """With real commits: nothing registered by hand, the service's own transaction does it."""
    pages = affected_pages(world)
    fill_cache(client, pages)
    publish(world["commitment"], editor, "Committed evidence about the archives.")
    assert_fresh(client, cache_on, pages, expect="Committed evidence about the archives.")


def test_the_generation_changes_only_after_the_commit(cache_on, world):
    before = page_cache.current_generation()
    with transaction.atomic():
        page_cache.public_pages_changed()
        assert page_cache.current_generation() == before
    # The test's own transaction never commits; run what Django would run on commit.
    page_cache.bump_generation()
    assert page_cache.current_generation() != before


def test_a_rolled_back_write_keeps_the_cache(cache_on, world, django_capture_on_commit_callbacks):
    before = page_cache.current_generation()
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        try:
            with transaction.atomic():
                page_cache.public_pages_changed()
                raise RuntimeError("rolled back")
        except RuntimeError:
            pass
    assert callbacks == []
    assert page_cache.current_generation() == before


def _published_update(world):
    return world["commitment"].updates.get()


SERVICES = {
    "unpublish": lambda w, editor: services.progress_update_unpublish(
        update=_published_update(w), editor=editor, note="Wrong source."
    ),
    "correct": lambda w, editor: services.progress_update_correct(
        update=_published_update(w), editor=editor, note="Typo.", summary="Corrected news about the archives."
    ),
    "delete update": lambda w, editor: services.progress_update_delete(update=_published_update(w), editor=editor),
    "delete commitment": lambda w, editor: services.commitment_delete(commitment=w["commitment"], editor=editor),
}


@pytest.mark.parametrize("action", SERVICES)
def test_every_service_that_changes_a_public_page_clears_the_cache(
    client, cache_on, world, editor, action, django_capture_on_commit_callbacks
):
    pages = [
        reverse("dashboard"),
        reverse("commitment_list"),
        reverse("update_list"),
        reverse("feed_updates"),
        reverse("instrument_detail", kwargs={"slug": world["instrument"].slug}),
    ]
    fill_cache(client, pages)
    with django_capture_on_commit_callbacks(execute=True):
        SERVICES[action](world, editor)
    assert_fresh(client, cache_on, pages)


def test_undoing_a_deletion_clears_the_cache(client, cache_on, world, editor, django_capture_on_commit_callbacks):
    update = _published_update(world)
    with django_capture_on_commit_callbacks(execute=True):
        services.progress_update_delete(update=update, editor=editor)
        services.commitment_delete(commitment=world["commitment"], editor=editor)
    pages = [reverse("dashboard"), reverse("commitment_list"), reverse("update_list")]
    fill_cache(client, pages)
    with django_capture_on_commit_callbacks(execute=True):
        services.commitment_undelete(commitment=world["commitment"], editor=editor)
    assert_fresh(client, cache_on, pages)
    fill_cache(client, pages)
    with django_capture_on_commit_callbacks(execute=True):
        services.progress_update_undelete(update=update, editor=editor)
    assert_fresh(client, cache_on, pages, expect="Old news about the archives.")


def test_an_admin_edit_clears_the_cache(client, cache_on, world, django_capture_on_commit_callbacks):
    pages = [reverse("commitment_list"), reverse("commitment_detail", kwargs={"slug": world["commitment"].slug})]
    fill_cache(client, pages)
    admin = User.objects.create_superuser("root", password=factories.PASSWORD)
    staff = type(client)()
    staff.force_login(admin)
    party = world["party"]
    url = reverse("admin:aitracker_party_change", args=[party.pk])
    with django_capture_on_commit_callbacks(execute=True):
        response = staff.post(
            url, {"slug": party.slug, "name": "Freedonia Republic", "kind": party.kind, "country": ""}
        )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert_fresh(client, cache_on, [reverse("party_list"), reverse("party_detail", kwargs={"slug": party.slug})])
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(reverse("admin:aitracker_theme_delete", args=[world["theme"].pk]), {"post": "yes"})
    assert_fresh(client, cache_on, pages)


def summary_pages(world):
    """The pages that show kept counts: site-wide, per instrument, per theme, per party, and the table's total."""
    return [
        reverse("dashboard"),
        reverse("commitment_list"),
        reverse("instrument_list"),
        reverse("theme_list"),
        reverse("instrument_detail", kwargs={"slug": world["instrument"].slug}),
        reverse("theme_detail", kwargs={"slug": world["theme"].slug}),
        reverse("party_detail", kwargs={"slug": world["party"].slug}),
        # The table's total comes from the kept counts for these filters.
        reverse("commitment_list") + "?status=achieved",
        reverse("commitment_list") + f"?theme={world['theme'].slug}&status=in_progress&sort=-last_update_on",
        reverse("commitment_list") + f"?instrument={world['instrument'].slug}",
    ]


@pytest.mark.parametrize("action", ["publish", *SERVICES])
def test_with_the_page_cache_off_the_kept_counts_still_follow_every_write(
    client, cache_on, world, editor, action, django_capture_on_commit_callbacks
):
    """`AITRACKER_PAGE_CACHE_SECONDS=0` (the benchmark's uncached runs) still keeps the site-wide counts: a page
    rendered afresh after a write shows the counts of after the write."""
    cache_on.AITRACKER_PAGE_CACHE_SECONDS = 0
    pages = summary_pages(world)
    before = {url: client.get(url).content for url in pages}
    with django_capture_on_commit_callbacks(execute=True):
        if action == "publish":
            publish(world["commitment"], editor, "Fresh evidence: the archives opened.")
        else:
            SERVICES[action](world, editor)
    for url in pages:
        kept = client.get(url)
        assert kept.content == render_without_any_cache(client, cache_on, url).content, url
    assert any(client.get(url).content != before[url] for url in pages)


def test_kept_counts_save_the_queries_that_count_every_commitment(client, cache_on, world):
    cache_on.AITRACKER_PAGE_CACHE_SECONDS = 0
    url = reverse("dashboard")
    with CaptureQueriesContext(connection) as first:
        client.get(url)
    with CaptureQueriesContext(connection) as second:
        response = client.get(url)
    counting = [q["sql"] for q in second.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counting == [], counting
    assert len(second.captured_queries) < len(first.captured_queries)
    assert response.status_code == 200


# --- Several app servers --------------------------------------------------------------------------------------


def test_a_publication_reaches_the_other_workers(
    client, cache_on, world, editor, settings, django_capture_on_commit_callbacks
):
    """Two gunicorn workers: separate local-memory caches, one generation file."""
    url = reverse("commitment_detail", kwargs={"slug": world["commitment"].slug})
    worker_a = dict(settings.CACHES)
    worker_b = {"default": {**LOCMEM, "LOCATION": f"worker-b-{uuid.uuid4()}"}}
    settings.CACHES = worker_b
    client.get(url)
    assert client.get(url)["X-Page-Cache"] == "hit"
    settings.CACHES = worker_a
    with django_capture_on_commit_callbacks(execute=True):
        publish(world["commitment"], editor, "Seen by every worker.")
    settings.CACHES = worker_b
    response = client.get(url)
    assert response["X-Page-Cache"] == "miss"
    assert "Seen by every worker." in response.content.decode()


def _redis_available():
    try:
        import redis

        redis.Redis.from_url("redis://127.0.0.1:6379/5", socket_connect_timeout=0.5).ping()
        return True
    except Exception:
        return False


@pytest.fixture
def redis_cache(settings, tmp_path):
    if not _redis_available():
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"aitracker-test-{uuid.uuid4().hex}"
    settings.AITRACKER_PAGE_CACHE_SECONDS = 600
    # A file that must not be used: with a shared cache the generation lives in Redis.
    settings.AITRACKER_PAGE_GENERATION_FILE = tmp_path / "unused" / "generation"
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:6379/5",
            "KEY_PREFIX": prefix,
            "OPTIONS": {"IGNORE_EXCEPTIONS": True},
        }
    }
    yield settings
    caches["default"].delete_pattern("*")


def test_with_redis_the_generation_lives_in_redis(
    client, redis_cache, world, editor, django_capture_on_commit_callbacks
):
    url = reverse("commitment_detail", kwargs={"slug": world["commitment"].slug})
    client.get(url)
    assert client.get(url)["X-Page-Cache"] == "hit"
    generation = caches["default"].get(page_cache.GENERATION_KEY)
    assert generation is not None
    assert not page_cache.generation_file().exists()
    with django_capture_on_commit_callbacks(execute=True):
        publish(world["commitment"], editor, "Published through Redis.")
    assert caches["default"].get(page_cache.GENERATION_KEY) == generation + 1
    response = client.get(url)
    assert response["X-Page-Cache"] == "miss"
    assert "Published through Redis." in response.content.decode()


def test_without_its_cache_the_site_still_serves_pages(client, settings, world):
    """Redis down: pages are rendered afresh, never an error."""
    settings.AITRACKER_PAGE_CACHE_SECONDS = 600
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"IGNORE_EXCEPTIONS": True, "SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert "X-Page-Cache" not in response


def test_a_lost_generation_never_revives_old_pages(cache_on, world):
    first = page_cache.current_generation()
    page_cache.generation_file().unlink()
    assert page_cache.current_generation() not in (None, first)
