"""The link checker (issue 15, part 4) against local HTTP servers started here: 200, a 301 chain, a redirect
loop, 404, 410, 500, a stalled response, a robots.txt that forbids; what it records on the sources; its
bounded concurrency and per-host delay; the web archive's copy; the public "may be broken" mark and the
editors' queue."""

import threading
import time
from datetime import date
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from io import StringIO
from itertools import pairwise

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.urls import reverse

from aitracker import cache, linkcheck, services
from aitracker.link_tasks import check_update_sources
from aitracker.linkcheck import Checker
from aitracker.models import LinkStatus, Source
from tests.factories import make_analyst, make_commitment, make_editor, make_update
from tests.mailbox import run_jobs

ROBOTS = "User-agent: *\nDisallow: /private/\n"


class Site:
    """One local web server: its routes, every request it received (method, path, User-Agent, time), and how
    many it was answering at once at most."""

    def __init__(self, *, robots=ROBOTS, slow=0.0):
        self.robots = robots
        self.slow = slow
        self.requests = []
        self.active = 0
        self.max_active = 0
        self.lock = threading.Lock()
        self.release = threading.Event()
        site = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_HEAD(self):
                site.answer(self, "HEAD")

            def do_GET(self):
                site.answer(self, "GET")

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.base = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    def url(self, path):
        return self.base + path

    def close(self):
        self.release.set()
        self.server.shutdown()
        self.server.server_close()

    def answer(self, handler, method):
        path = handler.path
        with self.lock:
            self.requests.append((method, path, handler.headers.get("User-Agent"), time.monotonic()))
            self.active += 1
            self.max_active = max(self.max_active, self.active)
        try:
            if self.slow:
                time.sleep(self.slow)
            status, headers, body = self.route(method, path)
            handler.send_response(status)
            for name, value in headers.items():
                handler.send_header(name, value)
            handler.send_header("Content-Length", str(len(body)))
            handler.end_headers()
            if method == "GET":
                handler.wfile.write(body)
        finally:
            with self.lock:
                self.active -= 1

    def route(self, method, path):
        if path == "/robots.txt":
            if self.robots is None:
                return 404, {}, b"no robots here"
            return 200, {"Content-Type": "text/plain"}, self.robots.encode()
        if path == "/ok":
            return 200, {"Content-Type": "text/html"}, b"<p>fine</p>"
        if path.startswith("/chain/"):
            step = int(path.rsplit("/", 1)[1])
            if step < 3:
                return 301, {"Location": f"/chain/{step + 1}"}, b""
            return 200, {}, b"arrived"
        if path == "/loop/a":
            return 302, {"Location": "/loop/b"}, b""
        if path == "/loop/b":
            return 302, {"Location": self.url("/loop/a")}, b""
        if path.startswith("/endless/"):
            step = int(path.rsplit("/", 1)[1])
            return 302, {"Location": f"/endless/{step + 1}"}, b""
        if path == "/gone":
            return 410, {}, b"gone"
        if path == "/error":
            return 500, {}, b"oops"
        if path == "/head-refused":
            return (405, {}, b"") if method == "HEAD" else (200, {}, b"ok with GET")
        if path == "/big":
            return 200, {}, b"x" * (5 * 1024 * 1024)
        if path == "/stall":
            self.release.wait(5)
            return 200, {}, b"too late"
        if path.startswith("/private/"):
            return 200, {}, b"secret"
        if path.startswith("/slow/"):
            return 200, {}, b"slow"
        return 404, {}, b"not found"


@pytest.fixture
def site():
    server = Site()
    yield server
    server.close()


def checker(**kwargs):
    return Checker(**({"timeout": 0.5, "host_delay": 0.02} | kwargs))


# --- One address -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("path", "status", "http_status", "final", "error"),
    [
        ("/ok", LinkStatus.OK, 200, "/ok", ""),
        ("/chain/0", LinkStatus.REDIRECTED, 200, "/chain/3", ""),
        ("/loop/a", LinkStatus.BROKEN, 302, "/loop/a", "redirect loop"),
        ("/endless/0", LinkStatus.BROKEN, 302, "/endless/11", "too many redirects"),
        ("/missing", LinkStatus.BROKEN, 404, "/missing", "HTTP 404"),
        ("/gone", LinkStatus.BROKEN, 410, "/gone", "HTTP 410"),
        ("/error", LinkStatus.BROKEN, 500, "/error", "HTTP 500"),
        ("/stall", LinkStatus.BROKEN, None, "/stall", "timed out"),
        ("/private/report", LinkStatus.BLOCKED, None, "/private/report", "robots.txt"),
        ("/head-refused", LinkStatus.OK, 200, "/head-refused", ""),
    ],
)
def test_each_kind_of_answer_is_recorded_right(site, path, status, http_status, final, error):
    result = checker().check(site.url(path))
    assert (result.status, result.http_status, result.final_url, result.error) == (
        status,
        http_status,
        site.url(final),
        error,
    )


def test_a_redirect_chain_is_followed_and_each_step_recorded(site):
    result = checker().check(site.url("/chain/0"))
    assert result.redirects == tuple(site.url(f"/chain/{step}") for step in range(4))


def test_robots_txt_is_read_once_per_host_and_the_forbidden_address_never_fetched(site):
    check = checker()
    check.check_many([site.url("/ok"), site.url("/private/a"), site.url("/private/b"), site.url("/gone")], workers=4)
    paths = [path for _method, path, _agent, _at in site.requests]
    assert paths.count("/robots.txt") == 1
    assert not any(path.startswith("/private/") for path in paths)


def test_no_robots_txt_allows_everything():
    server = Site(robots=None)
    try:
        assert checker().check(server.url("/private/x")).status == LinkStatus.OK
    finally:
        server.close()


def test_an_honest_user_agent_and_head_before_get(site):
    checker_ = linkcheck.make_checker(timeout=0.5, host_delay=0.02)
    checker_.check(site.url("/ok"))
    agents = {agent for _method, _path, agent, _at in site.requests}
    assert agents == {"aitracker-linkcheck/1.0 (+http://127.0.0.1:8000/methodology/)"}
    assert [(method, path) for method, path, _agent, _at in site.requests] == [("GET", "/robots.txt"), ("HEAD", "/ok")]


def test_a_large_body_is_not_read_whole(site):
    started = time.monotonic()
    status, _headers, body = checker().request("GET", site.url("/big"))
    assert status == 200 and len(body) == linkcheck.MAX_BODY_BYTES
    assert time.monotonic() - started < 2


def test_an_unreachable_host_is_broken_with_the_reason():
    result = checker().check("http://no-such-host.invalid/page")
    assert result.status == LinkStatus.BROKEN and result.http_status is None
    assert result.error  # the resolver's own words, e.g. "Name or service not known"


# --- Many addresses: politeness ---------------------------------------------------------------------------


def test_one_host_is_never_asked_twice_within_the_delay(site):
    check = checker(host_delay=0.25)
    check.check_many([site.url(path) for path in ("/ok", "/gone", "/chain/0")], workers=8)
    times = sorted(at for _method, _path, _agent, at in site.requests)
    # robots.txt, HEAD /ok, HEAD /gone, four steps of the chain: seven requests, all spaced.
    assert len(times) == 7
    gaps = [later - earlier for earlier, later in pairwise(times)]
    # Times of arrival at the server: the checker spaces its sends by 0.25 s, a loaded machine delivers them a few
    # hundredths early or late; eight workers without the delay would arrive within a few milliseconds.
    # One late arrival lengthens the gap before it and shortens the one after: two gaps together still span the
    # two delays.
    assert min(gaps) >= 0.1
    assert all(first + second >= 0.45 for first, second in pairwise(gaps)), gaps
    assert sum(gaps) >= 0.24 * len(gaps)


def test_concurrency_is_bounded_by_the_pool():
    sites = [Site(slow=0.15) for _ in range(9)]
    try:
        check = checker(host_delay=0.0, timeout=2)
        results = check.check_many([server.url("/slow/1") for server in sites], workers=3)
        assert all(result.status == LinkStatus.OK for result in results.values())
        assert check.max_active <= 3
        # And the pool is used: several hosts were being asked at the same time.
        assert check.max_active >= 2
    finally:
        for server in sites:
            server.close()


# --- Recorded on the sources -----------------------------------------------------------------------------


@pytest.fixture
def published(db, site):
    """One published update whose sources point at the local site (one address cited twice)."""
    update = make_update(state="published", sources=0)
    for title, path in [("fine", "/ok"), ("moved", "/chain/0"), ("dead", "/gone"), ("dead again", "/gone")]:
        Source.objects.create(update=update, url=site.url(path), title=title)
    return update


def test_a_pass_records_status_final_address_and_failures_without_touching_the_history(published, site):
    history_before = Source.history.count()
    report = linkcheck.check_sources(checker=checker())
    assert (report.sources, report.addresses) == (4, 3)
    assert report.by_status == {"ok": 1, "redirected": 1, "broken": 1}
    sources = {source.title: source for source in Source.objects.all()}
    assert sources["fine"].link_status == LinkStatus.OK and sources["fine"].link_failures == 0
    assert sources["moved"].link_status == LinkStatus.REDIRECTED
    assert sources["moved"].link_final_url == site.url("/chain/3")
    for title in ("dead", "dead again"):
        assert sources[title].link_status == LinkStatus.BROKEN
        assert sources[title].link_http_status == 410 and sources[title].link_failures == 1
        assert sources[title].link_checked_at is not None
    # Bookkeeping, not an edit: no history entry, no correction of the update.
    assert Source.history.count() == history_before
    published.refresh_from_db()
    assert published.corrected_at is None


def test_drafts_sources_are_not_checked(db, site):
    draft = make_update(state="draft", sources=0)
    Source.objects.create(update=draft, url=site.url("/ok"), title="draft")
    assert linkcheck.check_sources(checker=checker()).addresses == 0
    assert site.requests == []


def test_two_failures_in_a_row_mark_the_link_on_the_public_page_and_a_success_clears_it(published, site, client):
    page = published.commitment.get_absolute_url()
    linkcheck.check_sources(checker=checker())
    assert "This link may be broken." not in client.get(page).content.decode()
    generation = cache.read_generation()
    linkcheck.check_sources(checker=checker())
    # The second failure crosses the mark: the cached pages are dropped (the generation moves, once).
    assert cache.read_generation() == generation + 1
    html = client.get(page).content.decode()
    assert html.count("This link may be broken.") == 2
    generation = cache.read_generation()
    linkcheck.check_sources(checker=checker())
    assert cache.read_generation() == generation  # a third failure changes nothing the public sees
    services.source_link_check_record(
        source_ids=Source.objects.filter(title__startswith="dead").values_list("pk", flat=True),
        status=LinkStatus.OK,
        http_status=200,
    )
    assert cache.read_generation() == generation + 1
    assert "This link may be broken." not in client.get(page).content.decode()
    assert set(Source.objects.values_list("link_failures", flat=True)) == {0}


def test_a_check_forbidden_by_robots_leaves_the_failures_as_they_were(db, site):
    update = make_update(state="published", sources=0)
    source = Source.objects.create(update=update, url=site.url("/private/x"), title="private")
    Source.objects.filter(pk=source.pk).update(link_failures=1)
    linkcheck.check_sources(checker=checker())
    source.refresh_from_db()
    assert source.link_status == LinkStatus.BLOCKED and source.link_failures == 1


def test_the_command_checks_now_and_reports(published, settings):
    settings.AITRACKER_LINKCHECK_HOST_DELAY = 0.02
    settings.AITRACKER_LINKCHECK_TIMEOUT = 0.5
    out = StringIO()
    call_command("check_links", stdout=out)
    text = out.getvalue()
    assert "checked 3 addresses of 4 published sources" in text
    assert "broken: 1" in text and "HTTP 410" in text


def test_editors_get_the_queue_of_broken_links(published, client):
    linkcheck.check_sources(checker=checker())
    client.force_login(make_editor())
    response = client.get(reverse("link_problems"))
    assert response.status_code == 200
    html = response.content.decode()
    assert "dead again" in html and "HTTP 410" in html and "fine" not in html
    client.force_login(make_analyst())
    assert client.get(reverse("link_problems")).status_code == 403


# --- Published: checked, and archived --------------------------------------------------------------------


class Archive(Site):
    """A fake Save Page Now: /save/<address> redirects to /web/<timestamp>/<address>, which answers 200."""

    def route(self, method, path):
        if path.startswith("/save/"):
            return 302, {"Location": "/web/20261201000000/" + path.removeprefix("/save/")}, b""
        if path.startswith("/web/"):
            return 200, {}, b"archived"
        return super().route(method, path)


def test_publishing_checks_the_sources_and_records_an_archived_copy(
    db, site, settings, django_capture_on_commit_callbacks
):
    archive = Archive()
    settings.AITRACKER_ARCHIVE_SUBMIT_URL = archive.url("/save/")
    settings.AITRACKER_LINKCHECK_HOST_DELAY = 0.02
    settings.AITRACKER_LINKCHECK_TIMEOUT = 0.5
    try:
        analyst, editor = make_analyst(), make_editor()
        update = services.progress_update_create(
            commitment=make_commitment(),
            author=analyst,
            reported_on=date(2025, 5, 1),
            status="in_progress",
            summary="Done.",
            sources=[
                {"url": site.url("/ok"), "title": "fine"},
                {"url": site.url("/chain/0"), "title": "moved", "archived_url": "https://kept.example/copy"},
            ],
        )
        services.progress_update_submit(update=update, user=analyst)
        with django_capture_on_commit_callbacks(execute=True):
            services.progress_update_publish(update=update, editor=editor)
        run_jobs()
        fine, moved = Source.objects.order_by("pk")
        assert fine.link_status == LinkStatus.OK and moved.link_status == LinkStatus.REDIRECTED
        assert fine.archived_url == archive.url("/web/20261201000000/" + site.url("/ok"))
        assert moved.archived_url == "https://kept.example/copy"  # an editor's own copy is kept
        assert fine.history.first().history_change_reason == "Archived copy recorded"
        # Run again (a retry): nothing new is asked for.
        asked = len(archive.requests)
        check_update_sources.call(update_id=update.pk)
        assert len(archive.requests) == asked
    finally:
        archive.close()


def test_no_archive_is_asked_when_none_is_configured(published, settings):
    settings.AITRACKER_ARCHIVE_SUBMIT_URL = ""
    settings.AITRACKER_LINKCHECK_HOST_DELAY = 0.02
    settings.AITRACKER_LINKCHECK_TIMEOUT = 0.5
    assert check_update_sources.call(update_id=published.pk) == {"addresses": 3, "archived": 0}
    assert set(Source.objects.values_list("archived_url", flat=True)) == {""}


def test_an_unresolvable_hosts_addresses_are_reported_without_asking_again():
    log = []
    check = checker(host_delay=5, request_log=log)
    started = time.monotonic()
    results = check.check_many(["http://gone.invalid/a", "http://gone.invalid/b", "http://gone.invalid/c"])
    assert {result.status for result in results.values()} == {LinkStatus.BROKEN}
    assert len({result.error for result in results.values()}) == 1
    assert len(log) == 1  # robots.txt only, and no five-second wait between the three
    assert time.monotonic() - started < 5


def test_a_pass_in_which_no_server_answers_records_nothing_and_says_why(db):
    update = make_update(state="published", sources=0)
    for number in range(linkcheck.OFFLINE_MIN_ADDRESSES):
        Source.objects.create(update=update, url=f"https://offline.invalid/{number}", title=f"source {number}")
    report = linkcheck.check_sources(checker=checker())
    assert report.offline and report.by_status == {"broken": linkcheck.OFFLINE_MIN_ADDRESSES}
    assert "nothing was recorded" in report.lines()[0]
    assert set(Source.objects.values_list("link_status", "link_failures")) == {(LinkStatus.UNCHECKED, 0)}
    # The command says so, and fails, so that cron or the timer shows it.
    with pytest.raises(CommandError, match="no server answered"):
        call_command("check_links", stdout=StringIO())


def test_one_answering_server_is_enough_for_the_failures_to_count(db, site):
    update = make_update(state="published", sources=0)
    for number in range(linkcheck.OFFLINE_MIN_ADDRESSES):
        Source.objects.create(update=update, url=f"https://offline.invalid/{number}", title=f"source {number}")
    Source.objects.create(update=update, url=site.url("/ok"), title="fine")
    report = linkcheck.check_sources(checker=checker())
    assert not report.offline
    assert Source.objects.filter(link_status=LinkStatus.BROKEN, link_failures=1).count() == 10
