"""The public page cache: anonymous visitors get cached pages, staff never do, and every write the public can
see reaches every affected page at once, on every app server."""

import re
import uuid
from datetime import date

import pytest
from django.contrib.auth.models import User
from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS, connection, connections, transaction
from django.http import HttpResponse
from django.middleware.csrf import get_token
from django.test import RequestFactory
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import translation

from aitracker import cache as page_cache
from aitracker import services
from aitracker.models import Commitment, DataGeneration, Endorsement
from tests import factories

pytestmark = pytest.mark.django_db

LOCMEM = {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}


@pytest.fixture
def world(db):
    return make_world()


def make_world():
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


CACHE_SETTINGS = ("AITRACKER_PAGE_CACHE_SECONDS", "AITRACKER_SUMMARY_CACHE_SECONDS", "AITRACKER_FRAGMENT_CACHE_SECONDS")


def render_without_any_cache(client, settings, url):
    """The page rendered from the database alone: no page cache, no kept counts, no kept fragments."""
    kept = {name: getattr(settings, name) for name in CACHE_SETTINGS}
    for name in CACHE_SETTINGS:
        setattr(settings, name, 0)
    try:
        return client.get(url)
    finally:
        for name, value in kept.items():
            setattr(settings, name, value)


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


def publish(commitment, editor, summary, status="achieved", parties=()):
    analyst = factories.make_analyst()
    update = services.progress_update_create(
        commitment=commitment,
        author=analyst,
        reported_on=date(2025, 6, 1),
        status=status,
        summary=summary,
        parties=parties,
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


def test_a_hit_runs_one_tiny_query_the_data_generation(client, cache_on, world, django_assert_num_queries):
    url = reverse("dashboard")
    client.get(url)
    with django_assert_num_queries(1) as queries:
        assert client.get(url)["X-Page-Cache"] == "hit"
    assert "datageneration" in queries.captured_queries[0]["sql"]


class CountingCursors:
    """The driver's connection, counting the cursors asked of it directly."""

    def __init__(self, real):
        self.real, self.cursors = real, 0

    def cursor(self, *args, **kwargs):
        if not args and not kwargs:
            self.cursors += 1
        return self.real.cursor(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_a_hit_reads_the_generation_on_the_kept_connection(client, cache_on, world):
    url = reverse("dashboard")
    client.get(url)
    wrapper = connections[DEFAULT_DB_ALIAS]
    wrapper.ensure_connection()
    real, django_cursors = wrapper.connection, []
    wrapper.connection = counting = CountingCursors(real)
    wrapper.cursor = lambda: django_cursors.append(1) or type(wrapper).cursor(wrapper)
    try:
        assert client.get(url)["X-Page-Cache"] == "hit"
    finally:
        wrapper.connection = real
        del wrapper.cursor
    # One read on the driver's connection; Django's cursor (and its health check) not used at all.
    assert counting.cursors == 1 and django_cursors == []


def test_the_generation_read_on_the_kept_connection_is_the_one_django_reads(cache_on, world):
    connection.ensure_connection()
    direct = page_cache.read_generation()  # on the driver's connection: no query is being logged
    with CaptureQueriesContext(connection) as queries:
        through_django = page_cache.read_generation()
    assert len(queries) == 1 and direct == through_django
    page_cache.public_pages_changed()
    assert page_cache.read_generation() == direct + 1


class FailingOnce:
    """The driver's connection, whose next cursor fails as one the server has dropped would."""

    def __init__(self, real):
        self.real, self.failures = real, 1

    def cursor(self, *args, **kwargs):
        if self.failures:
            self.failures -= 1
            raise connection.Database.OperationalError("server closed the connection unexpectedly")
        return self.real.cursor(*args, **kwargs)

    def __getattr__(self, name):
        return getattr(self.real, name)


def test_a_failed_read_on_the_kept_connection_is_read_again_through_django(cache_on, world):
    connection.ensure_connection()
    expected = page_cache.read_generation()
    real = connection.connection
    connection.connection = failing = FailingOnce(real)
    try:
        assert page_cache.read_generation() == expected
    finally:
        connection.connection = real
    assert failing.failures == 0


def test_a_request_reads_the_generation_once(client, cache_on, world, django_assert_num_queries):
    """The page and each of its kept counts are kept under the generation the request read first."""
    cache_on.AITRACKER_PAGE_CACHE_SECONDS = 0
    url = reverse("dashboard")
    client.get(url)
    with CaptureQueriesContext(connection) as queries:
        assert client.get(url).status_code == 200
    reads = [q["sql"] for q in queries.captured_queries if "datageneration" in q["sql"]]
    assert len(reads) == 1, reads


def test_the_key_is_the_full_url_with_its_query_string(client, cache_on, world):
    url = reverse("commitment_list")
    client.get(url)
    assert client.get(url + "?status=achieved")["X-Page-Cache"] == "miss"
    assert client.get(url + "?status=achieved")["X-Page-Cache"] == "hit"
    assert client.get(url + "?status=in_progress")["X-Page-Cache"] == "miss"


def test_each_language_has_its_own_page(client, cache_on, world):
    url = reverse("methodology")
    with translation.override("fr"):
        french_url = reverse("methodology")
    english = client.get(url)
    french = client.get(french_url)
    assert french["X-Page-Cache"] == "miss"
    assert french["Content-Language"] == "fr" and english["Content-Language"] == "en"
    assert client.get(french_url)["X-Page-Cache"] == "hit"
    # The browser's language never changes what an address serves.
    assert client.get(url, headers={"accept-language": "fr"})["Content-Language"] == "en"


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


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_a_publication_clears_the_pages_when_it_commits(client, cache_on, world, editor):
    """With real commits: nothing registered by hand, the service's own transaction does it."""
    pages = affected_pages(world)
    fill_cache(client, pages)
    publish(world["commitment"], editor, "Committed evidence about the archives.")
    assert_fresh(client, cache_on, pages, expect="Committed evidence about the archives.")


def test_the_generation_moves_in_the_writes_own_transaction(cache_on, world, django_capture_on_commit_callbacks):
    """Nothing waits for the commit (other connections see it exactly when the write commits:
    tests/test_concurrency.py shows it on PostgreSQL)."""
    before = page_cache.current_generation()
    with django_capture_on_commit_callbacks() as callbacks, transaction.atomic():
        page_cache.public_pages_changed()
        assert page_cache.current_generation() > before
    assert callbacks == []


def test_a_rolled_back_write_keeps_the_cache(cache_on, world):
    before = page_cache.current_generation()
    try:
        with transaction.atomic():
            page_cache.public_pages_changed()
            raise RuntimeError("rolled back")
    except RuntimeError:
        pass
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


def test_a_count_computed_while_a_write_commits_is_not_kept(cache_on, world):
    """What is kept under a generation is exactly that generation's data (the table counts on it)."""
    computed = []

    def count_during_a_commit():
        computed.append(1)
        page_cache.public_pages_changed()  # another request's write, committed meanwhile
        return 41

    assert page_cache.cached_summary("status-counts:racing", count_during_a_commit) == 41
    assert page_cache.cached_summary("status-counts:racing", count_during_a_commit) == 41
    assert len(computed) == 2, "kept under a generation whose data it did not count"
    assert page_cache.cached_summary("status-counts:calm", lambda: computed.append(1) or 7) == 7
    assert page_cache.cached_summary("status-counts:calm", lambda: computed.append(1) or 7) == 7
    assert len(computed) == 3


# --- The table, whatever the kept count says -------------------------------------------------------------------

PER_PAGE = 10
ROWS = 61  # 7 pages: the 4th to the 7th are read from the end


@pytest.fixture
def table_world(cache_on, editor):
    """61 public commitments, one more deleted, of one instrument; the table counted from the kept counts."""
    cache_on.AITRACKER_PAGE_CACHE_SECONDS = 0
    instrument = factories.make_instrument(short_title="Long statement")
    commitments = [factories.make_commitment(instrument=instrument, title=f"Pledge {n:02d}") for n in range(ROWS + 1)]
    services.commitment_delete(commitment=commitments[-1], editor=editor)
    return {"instrument": instrument, "commitments": commitments, "editor": editor}


def table_rows(client, query):
    response = client.get(reverse("commitment_list") + "?" + query)
    assert response.status_code == 200
    html = response.content.decode()
    table = html[html.index('id="commitments-table"') :]
    total = int(re.search(r'class="result-count"[^>]*>\s*(\d+)', html).group(1))
    return re.findall(r'href="/commitments/([\w-]+)/"', table), total


def downloaded(client, query):
    response = client.get(reverse("commitment_list") + "?" + query + "&_export=json")
    import json

    return [row["slug"] for row in json.loads(b"".join(response.streaming_content))]


def every_page(client, query, *, between=lambda: None, after=lambda: None):
    """The rows of every page of the table, in order, and the totals the pages showed."""
    rows, totals, number = [], set(), 1
    while True:
        between()
        page, total = table_rows(client, f"{query}&per_page={PER_PAGE}&page={number}")
        after()
        rows += page
        totals.add(total)
        if number * PER_PAGE >= total:
            return rows, totals
        number += 1


QUERIES = ["sort=title", "sort=-title", "sort=-last_update_on", "instrument={instrument}&sort=reference"]


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("wrong_by", [-1, +1])
def test_a_kept_count_from_before_the_last_write_hides_or_repeats_no_row(
    client, table_world, monkeypatch, query, wrong_by
):
    """The kept count is one off, as when it was kept before the last publication and not cleared since: the
    table counts afresh, and every page is the download's."""
    from aitracker import views

    query = query.format(instrument=table_world["instrument"].slug)
    kept_count = views.CommitmentListView.kept_count
    monkeypatch.setattr(views.CommitmentListView, "kept_count", lambda self: kept_count(self) + wrong_by)
    monkeypatch.setattr(views, "current_generation", lambda: page_cache.current_generation() - 1)
    rows, totals = every_page(client, query)
    assert rows == downloaded(client, query)
    assert len(rows) == ROWS and totals == {ROWS}


@pytest.mark.parametrize("query", QUERIES)
@pytest.mark.parametrize("write", ["delete", "undelete"])
def test_a_write_committed_while_the_table_is_counted_hides_or_repeats_no_row(
    client, table_world, monkeypatch, query, write
):
    """A write commits just after the request took its kept count (the count is then one too many, or one
    too few): every page is the download of after the write, and so is the total."""
    from aitracker import views

    query = query.format(instrument=table_world["instrument"].slug)
    editor, commitments = table_world["editor"], table_world["commitments"]
    victim = commitments[ROWS // 2] if write == "delete" else commitments[-1]
    do = getattr(services, f"commitment_{write}")
    undo = services.commitment_undelete if write == "delete" else services.commitment_delete
    do(commitment=victim, editor=editor)
    expected = downloaded(client, query)
    undo(commitment=victim, editor=editor)
    kept_count = views.CommitmentListView.kept_count

    def count_then_write(self):
        count = kept_count(self)
        do(commitment=victim, editor=editor)
        return count

    monkeypatch.setattr(views.CommitmentListView, "kept_count", count_then_write)
    rows, totals = every_page(client, query, after=lambda: undo(commitment=victim, editor=editor))
    assert rows == expected
    assert totals == {len(expected)}


@pytest.mark.parametrize("write", ["delete", "undelete"])
def test_a_write_committed_between_the_count_and_a_page_hides_or_repeats_no_row(
    client, table_world, monkeypatch, write
):
    """Later still, between the table's count and its page: the page is read from the start, so its rows are
    exactly those at its place in the table as it stands (only the total may be one off, for that request)."""
    from aitracker import tables

    editor, commitments = table_world["editor"], table_world["commitments"]
    victim = commitments[ROWS // 2] if write == "delete" else commitments[-1]
    do = getattr(services, f"commitment_{write}")
    undo = services.commitment_undelete if write == "delete" else services.commitment_delete
    do(commitment=victim, editor=editor)
    expected = downloaded(client, "sort=title")
    undo(commitment=victim, editor=editor)
    count = tables.PageByKeysData._count

    def count_then_write(self):
        counted = count(self)
        do(commitment=victim, editor=editor)
        return counted

    monkeypatch.setattr(tables.PageByKeysData, "_count", count_then_write)
    for number in range(1, 8):
        page, _total = table_rows(client, f"sort=title&per_page={PER_PAGE}&page={number}")
        undo(commitment=victim, editor=editor)
        assert page == expected[(number - 1) * PER_PAGE : number * PER_PAGE], number


# --- Several app servers --------------------------------------------------------------------------------------


def test_a_publication_reaches_the_other_workers(
    client, cache_on, world, editor, settings, django_capture_on_commit_callbacks
):
    """Two gunicorn workers (or servers): separate local-memory caches, one database."""
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


REDIS_URL = "redis://127.0.0.1:6379/7"


def _redis_available():
    try:
        import redis

        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
        return True
    except Exception:
        return False


@pytest.fixture
def redis_cache(settings):
    if not _redis_available():
        pytest.skip("no Redis on 127.0.0.1:6379")
    prefix = f"aitracker-test-{uuid.uuid4().hex}"
    settings.AITRACKER_PAGE_CACHE_SECONDS = 600
    settings.AITRACKER_SUMMARY_CACHE_SECONDS = 600
    # As in production (settings.py): errors reach aitracker/cache.py.
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": prefix,
            "OPTIONS": {"IGNORE_EXCEPTIONS": False, "SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        }
    }
    yield settings
    page_cache.reset_cache_breaker()
    caches["default"].delete_pattern("*")


def test_redis_failing_at_the_moment_of_a_publication_leaves_no_server_stale(client, redis_cache, world, editor):
    """Two servers share Redis; Redis stops answering just as one of them publishes. The other server, whose
    Redis answers again (or never failed), serves the new page at once, not ten minutes later."""
    url = reverse("commitment_detail", kwargs={"slug": world["commitment"].slug})
    client.get(url)
    assert client.get(url)["X-Page-Cache"] == "hit"
    shared = redis_cache.CACHES
    redis_cache.CACHES = {"default": {**shared["default"], "LOCATION": "redis://127.0.0.1:9/7"}}  # refused
    publish(world["commitment"], editor, "Published while Redis was down.")
    redis_cache.CACHES = shared
    page_cache.reset_cache_breaker()  # the other server's process, which knows nothing of the failure
    response = client.get(url)
    assert response["X-Page-Cache"] == "miss"
    assert "Published while Redis was down." in response.content.decode()


def test_without_its_cache_the_site_still_serves_pages(client, settings, world):
    """Redis down: pages are rendered afresh, never an error."""
    settings.AITRACKER_PAGE_CACHE_SECONDS = 600
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:9/0",
            "OPTIONS": {"IGNORE_EXCEPTIONS": False, "SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    response = client.get(reverse("dashboard"))
    assert response.status_code == 200
    assert "X-Page-Cache" not in response


def test_a_lost_generation_never_revives_old_pages(cache_on, world):
    """A flushed database (a test's, or one created anew next to a cache that still holds the old pages) starts
    again from a number never used before."""
    first = page_cache.current_generation()
    DataGeneration.objects.all().delete()
    assert page_cache.current_generation() > first
    assert DataGeneration.objects.get().value > first
