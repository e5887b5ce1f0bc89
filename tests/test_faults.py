"""Faults (issue 6): with the database unreachable visitors get a plain 503 page and /readyz says 503, and the
site recovers by itself when the database returns; with Redis unreachable the site keeps serving."""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.db import InterfaceError, OperationalError, connection
from django.http import HttpResponse
from django.test import Client, RequestFactory
from django.urls import path

import aitracker.urls
from aitracker import cache as page_cache
from aitracker import services
from tests import factories
from tests.test_security import assert_security_headers

ROOT = Path(__file__).resolve().parent.parent
SECRET = "db.internal.example:5432 password authentication failed for user aitracker"


def fail_with_runtime_error(request):
    raise RuntimeError(SECRET)


def fail_with_lost_connection(request):
    raise InterfaceError("connection already closed " + SECRET)


def answer_without_the_database(request):
    return HttpResponse("no database needed\n", content_type="text/plain")


# This module is also the URLconf of the tests marked `urls(__name__)`: the site plus views that fail.
urlpatterns = [
    path("test-faults/runtime-error/", fail_with_runtime_error),
    path("test-faults/lost-connection/", fail_with_lost_connection),
    path("test-faults/no-database/", answer_without_the_database),
    *aitracker.urls.urlpatterns,
]


@pytest.fixture(autouse=True)
def no_page_cache(settings):
    settings.AITRACKER_PAGE_CACHE_SECONDS = 0


def assert_plain_error_page(response, status, heading):
    assert response.status_code == status
    html = response.content.decode()
    assert heading in html
    for leak in ("Traceback", "Error", "db.internal.example", "password", 'File "', "psycopg", "sqlite"):
        assert leak not in html, leak
    assert_security_headers(response)


class Database:
    """Switches the database off and on for the test: while it is down, every query fails as it does when the
    server is down or unreachable (with an error message that must never reach a visitor)."""

    def __init__(self, monkeypatch):
        self.monkeypatch = monkeypatch

    @staticmethod
    def _refuse(*args, **kwargs):
        raise OperationalError(f"connection to server at {SECRET} refused")

    def down(self):
        self.monkeypatch.setattr(connection, "ensure_connection", self._refuse)

    def up(self):
        self.monkeypatch.undo()


@pytest.fixture
def database(monkeypatch):
    return Database(monkeypatch)


# ---------------------------------------------------------------------------------------------------------------
# The database is unreachable


@pytest.mark.django_db
def test_visitors_get_a_plain_503_page_while_the_database_is_down_and_the_site_recovers(client, database):
    factories.make_update(state="published")
    database.down()
    commitment_path = "/commitments/"
    for page in ["/", commitment_path, "/updates/", "/feeds/updates.atom", "/instruments/"]:
        response = client.get(page)
        assert_plain_error_page(response, 503, "temporarily unavailable")
        assert response["Retry-After"].isdigit()
        assert "no-store" in response["Cache-Control"]
    assert client.get("/readyz").status_code == 503
    assert client.get("/healthz").status_code == 200  # alive: no reason to restart the process

    database.up()
    assert client.get("/").status_code == 200
    assert client.get(commitment_path).status_code == 200
    assert client.get("/readyz").status_code == 200


@pytest.mark.django_db
def test_staff_get_the_503_page_too_and_keep_their_session(editor, database):
    # Their session cannot be read either: that failure, in a middleware, is a 500 the test client would raise.
    client = Client(raise_request_exception=False)
    client.force_login(editor)
    assert client.get("/admin/").status_code == 200
    database.down()
    assert_plain_error_page(client.get("/admin/"), 503, "temporarily unavailable")
    database.up()
    assert client.get("/admin/").status_code == 200  # still logged in


@pytest.mark.django_db
@pytest.mark.urls(__name__)
def test_a_database_failure_outside_the_view_is_a_503_too(editor, database):
    """A logged-in editor's session is saved after the view, by a middleware: that failure is a 503 as well."""
    client = Client(raise_request_exception=False)
    client.force_login(editor)
    database.down()
    assert_plain_error_page(client.get("/test-faults/no-database/"), 503, "temporarily unavailable")


@pytest.mark.urls(__name__)
def test_a_lost_connection_is_a_503_and_any_other_error_a_plain_500():
    client = Client(raise_request_exception=False)
    assert_plain_error_page(client.get("/test-faults/lost-connection/"), 503, "temporarily unavailable")
    assert_plain_error_page(client.get("/test-faults/runtime-error/"), 500, "Something went wrong")


@pytest.mark.django_db
def test_the_503_page_needs_no_request_no_context_and_no_database(django_assert_num_queries):
    from aitracker.middleware import database_unavailable_response

    with django_assert_num_queries(0):
        response = database_unavailable_response()
    assert response.status_code == 503
    assert "temporarily unavailable" in response.content.decode()


# ---------------------------------------------------------------------------------------------------------------
# A real outage on PostgreSQL: the connection goes through a TCP proxy that the test cuts and restores.


class TcpProxy:
    """Forwards 127.0.0.1:port to a target address; `cut()` drops the listener and every open connection (as a
    server restart or a network failure does), `restore()` listens again on the same port."""

    def __init__(self, target):
        self.target = target
        self.port = None
        self.sockets = set()
        self.lock = threading.Lock()
        self.restore()

    def restore(self):
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", self.port or 0))
        self.listener.listen(16)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, args=(self.listener,), daemon=True).start()

    def cut(self):
        # shutdown() first: close() alone leaves a thread blocked in accept() listening on Linux.
        with contextlib.suppress(OSError):
            self.listener.shutdown(socket.SHUT_RDWR)
        self.listener.close()
        with self.lock:
            for sock in self.sockets:
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)
                sock.close()
            self.sockets.clear()

    def _accept(self, listener):
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self.lock:
                self.sockets |= {client, upstream}
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    @staticmethod
    def _pump(source, sink):
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


def wsgi_get(handler, path):
    """A request through Django's real WSGI handler: unlike the test client it sends request_started and
    request_finished, which close unusable connections (CONN_HEALTH_CHECKS) as in production."""
    environ = RequestFactory().get(path).environ
    status = {}
    body = b"".join(handler(environ, lambda s, headers, exc_info=None: status.setdefault("code", int(s[:3]))))
    return status["code"], body


@pytest.mark.skipif(connection.vendor != "postgresql", reason="a TCP outage needs a database server")
# serialized_rollback: the flush after a transactional test would also remove the groups the migrations made.
@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_postgresql_outage_gives_503_and_the_site_recovers_by_itself(monkeypatch, settings):
    factories.make_commitment()
    assert connection.settings_dict["CONN_HEALTH_CHECKS"] and connection.settings_dict["CONN_MAX_AGE"] > 0
    proxy = TcpProxy((connection.settings_dict["HOST"] or "127.0.0.1", int(connection.settings_dict["PORT"] or 5432)))
    connection.close()
    monkeypatch.setitem(connection.settings_dict, "HOST", "127.0.0.1")
    monkeypatch.setitem(connection.settings_dict, "PORT", str(proxy.port))
    handler = WSGIHandler()
    try:
        assert wsgi_get(handler, "/commitments/")[0] == 200
        assert connection.connection is not None  # a persistent connection, kept for the next request

        # A restart between two requests: the kept connection is dead, and the health check at the start of
        # the next request sees it and reconnects, so no visitor gets an error for it.
        proxy.cut()
        proxy.restore()
        assert wsgi_get(handler, "/commitments/")[0] == 200

        # The same for a page served from the cache, whose only query (the data generation) is read on the
        # kept connection without Django's health check: that read is the check (aitracker/cache.py).
        settings.AITRACKER_PAGE_CACHE_SECONDS = 600
        cached = wsgi_get(handler, "/commitments/")
        assert cached[0] == 200 and wsgi_get(handler, "/commitments/") == cached
        proxy.cut()
        proxy.restore()
        assert wsgi_get(handler, "/commitments/") == cached
        settings.AITRACKER_PAGE_CACHE_SECONDS = 0

        proxy.cut()  # the server goes away: the kept connection is dead, new ones are refused
        status, body = wsgi_get(handler, "/commitments/")
        assert status == 503 and b"temporarily unavailable" in body and b"Traceback" not in body
        assert wsgi_get(handler, "/readyz")[0] == 503
        assert wsgi_get(handler, "/healthz")[0] == 200

        proxy.restore()  # it comes back: the next request reconnects, nobody restarts anything
        assert wsgi_get(handler, "/commitments/")[0] == 200
        assert wsgi_get(handler, "/readyz")[0] == 200
    finally:
        connection.close()
        proxy.cut()


# ---------------------------------------------------------------------------------------------------------------
# Redis is unreachable: the site serves without its cache, quickly


def redis_caches(url: str) -> dict:
    """CACHES exactly as settings.py builds them for REDIS_URL=url (settings are read once, at import)."""
    script = "import json, django; django.setup(); from django.conf import settings; print(json.dumps(settings.CACHES))"
    environment = {k: v for k, v in os.environ.items() if not k.startswith("DJANGO_")} | {"REDIS_URL": url}
    result = subprocess.run(
        [sys.executable, "-c", script],
        cwd=ROOT,
        env=environment | {"DJANGO_SETTINGS_MODULE": "aitracker.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(result.stdout)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture
def hung_redis():
    """A port that accepts connections and never answers: the worst case, where only timeouts help."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(64)
    yield listener.getsockname()[1]
    listener.close()


PAGES = ["/", "/commitments/", "/updates/"]


def fastest_load(client, page, tries=2) -> float:
    """The quickest of a few loads of a page (the machine may be busy with other work), after a warm-up."""
    assert client.get(page).status_code == 200, page
    times = []
    for _ in range(tries):
        started = time.monotonic()
        response = client.get(page)
        times.append(time.monotonic() - started)
        assert response.status_code == 200, page
    return min(times)


@pytest.mark.django_db
@pytest.mark.parametrize("redis", ["refused", "hung"])
def test_the_site_keeps_serving_without_redis(client, settings, redis, hung_redis):
    port = closed_port() if redis == "refused" else hung_redis
    caches = redis_caches(f"redis://127.0.0.1:{port}/9")
    # Errors reach aitracker/cache.py, which tells an outage from a miss.
    assert caches["default"]["OPTIONS"]["IGNORE_EXCEPTIONS"] is False
    timeout = caches["default"]["OPTIONS"]["SOCKET_TIMEOUT"]
    assert timeout <= 0.5 and caches["default"]["OPTIONS"]["SOCKET_CONNECT_TIMEOUT"] <= 0.5
    factories.make_update(state="published")
    settings.AITRACKER_PAGE_CACHE_SECONDS = 600  # the page cache is on, and the kept counts
    settings.AITRACKER_SUMMARY_CACHE_SECONDS = 600
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.dummy.DummyCache"}}
    without_cache = {page: fastest_load(client, page) for page in PAGES}
    settings.CACHES = caches  # ... and cannot reach its store
    started = time.monotonic()
    assert client.get(PAGES[0]).status_code == 200
    # The first call finds the store down: at most one timeout, not one per cache call of the page.
    assert time.monotonic() - started < without_cache[PAGES[0]] + 2 * timeout + 0.3
    for page in PAGES:
        # Then the worker leaves it alone for a while: the pages cost what they cost without a cache.
        delay = fastest_load(client, page) - without_cache[page]
        assert delay < 0.3, (page, delay)


class FailingStore:
    """A cache store that is down: every call raises, as django-redis does when Redis cannot be reached."""

    def __init__(self):
        self.calls = 0

    def __getattr__(self, name):
        def call(*args, **kwargs):
            self.calls += 1
            raise ConnectionError("Redis is down")

        return call


@pytest.mark.django_db
def test_a_failing_cache_is_left_alone_for_a_while_then_tried_again(settings, monkeypatch, caplog):
    settings.AITRACKER_SUMMARY_CACHE_SECONDS = 600
    settings.AITRACKER_CACHE_RETRY_SECONDS = 30
    settings.CACHES = {"default": {"BACKEND": "django_redis.cache.RedisCache", "LOCATION": "redis://127.0.0.1:1/9"}}
    store = FailingStore()
    monkeypatch.setattr(page_cache, "_cache", lambda alias="default": store)
    now = [1000.0]
    monkeypatch.setattr(page_cache.time, "monotonic", lambda: now[0])
    computed = []
    assert page_cache.cached_summary("counts", lambda: computed.append(1) or 42) == 42
    assert store.calls == 1, "after the first failure, no further call in the same page"
    assert "serving without it for 30" in caplog.text
    for _ in range(5):
        assert page_cache.cached_summary("counts", lambda: 42) == 42
    assert store.calls == 1
    now[0] += 31
    assert page_cache.cached_summary("counts", lambda: 42) == 42
    assert store.calls == 2, "tried again once the retry time has passed"


@pytest.mark.django_db
def test_a_publication_made_while_the_cache_fails_leaves_no_worker_stale(client, settings, monkeypatch, editor):
    """The cache fails in the worker that publishes, just then; another worker (another process, which knows
    nothing of the failure) serves the new page from its own working cache at once."""
    from django.core.cache import caches

    settings.AITRACKER_PAGE_CACHE_SECONDS = 600
    settings.CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "b"}}
    caches["default"].clear()
    update = factories.make_update(state="submitted", summary="Fresh news from the archives.")
    factories.make_update(commitment=update.commitment, state="published", summary="Old news.")
    url = update.commitment.get_absolute_url()
    client.get(url)
    assert client.get(url)["X-Page-Cache"] == "hit"
    working = page_cache._cache
    monkeypatch.setattr(page_cache, "_cache", lambda alias="default": FailingStore())
    services.progress_update_publish(update=update, editor=editor)
    monkeypatch.setattr(page_cache, "_cache", working)
    page_cache.reset_cache_breaker()  # the other worker
    response = client.get(url)
    assert response["X-Page-Cache"] == "miss"
    assert "Fresh news from the archives." in response.content.decode()
