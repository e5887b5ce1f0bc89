"""The public page cache: whole public pages and feeds, for anonymous visitors, through Django's cache.

Every cached page's key holds the current *data generation*, a number in a one-row table of the database
(`DataGeneration`). Every write the public could see increases it in its own transaction
(`public_pages_changed()`: services, admin, commands), so the new number becomes visible at the same instant
as the write, to every worker on every server, whatever the cache (local memory per worker, or Redis): no
cached page older than the last commit can be reached, and a rolled-back write moves nothing. Nothing has to
be cleared after the commit, so a cache that fails at that moment leaves nobody stale; the old entries simply
expire. A request reads the generation once (one tiny query, even for a page served from the cache).
"""

import hashlib
import logging
import time
from contextvars import ContextVar
from functools import wraps

from django.conf import settings
from django.core.cache import caches
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.models import F, Subquery
from django.http import HttpResponse, HttpResponseNotModified
from django.middleware.csp import get_nonce
from django.utils import timezone
from django.utils.cache import patch_cache_control, patch_vary_headers
from django.utils.translation import get_language

from .compression import gzip_page, pieces_of
from .models import DataGeneration

logger = logging.getLogger(__name__)

GENERATION_PK = 1
PAGE_KEY_PREFIX = "aitracker:page"
SUMMARY_KEY_PREFIX = "aitracker:summary"
STATUS_HEADER = "X-Page-Cache"
# The cookie of django.contrib.messages' CookieStorage: a flash message the page would show and consume.
MESSAGES_COOKIE = "messages"
UNCACHEABLE_CACHE_CONTROL = {"private", "no-cache", "no-store"}
# The request being served by a public view, so that everything it reads under a generation reads the same one.
_current_request = ContextVar("aitracker_current_request", default=None)
REQUEST_ATTRIBUTE = "aitracker_data_generation"
# Compressed as GZipMiddleware would (which skips what is already encoded): the same floor (the same padding:
# compression.py).
GZIP_MIN_BYTES = 200
_READ_GENERATION_SQL = "SELECT {value} FROM {table} WHERE {pk} = %s"


def page_cache_seconds() -> int:
    return settings.AITRACKER_PAGE_CACHE_SECONDS


def _cache(alias="default"):
    # A settings without the alias (a test's own CACHES) keeps everything in the default cache.
    return caches[alias] if alias in settings.CACHES else caches["default"]


# A cache store that fails (Redis refused, or worse, hung until its socket timeout) is left alone by this
# worker for AITRACKER_CACHE_RETRY_SECONDS: a page makes several cache calls, and each would wait for the
# timeout again. The site serves without the cache meanwhile; every call in this module goes through here.
_cache_down_until = 0.0


def _cache_call(method: str, *args, default=None, alias="default", **kwargs):
    if time.monotonic() < _cache_down_until:
        return default
    try:
        return getattr(_cache(alias), method)(*args, **kwargs)
    except Exception:
        _cache_call_failed(method)
        return default


def _cache_call_failed(method: str) -> None:
    global _cache_down_until
    retry = settings.AITRACKER_CACHE_RETRY_SECONDS
    _cache_down_until = time.monotonic() + retry
    logger.exception("the cache failed on %s(); serving without it for %ss", method, retry)


def cache_is_down() -> bool:
    return time.monotonic() < _cache_down_until


def reset_cache_breaker() -> None:
    global _cache_down_until
    _cache_down_until = 0.0


def read_generation(*, using=None) -> int:
    """The data generation as this connection sees it now (a query each time; see current_generation())."""
    connection = connections[using or DEFAULT_DB_ALIAS]
    value = _read_generation_on_kept_connection(connection)
    if value is None:
        # The one query of a page served from the cache, so through the cursor: building it with the ORM cost
        # 25 times as much as running it (0.7 ms against 28 µs on SQLite, measured on the two-core VM).
        with connection.cursor() as cursor:
            cursor.execute(_generation_sql(cursor.db.ops.quote_name, "%s"), [GENERATION_PK])
            row = cursor.fetchone()
        value = row[0] if row else None
    if value is None:
        # The migration creates the row; a flushed database (tests) has lost it.
        value = _create_generation(using)
    return value


def _generation_sql(quote, placeholder) -> str:
    opts = DataGeneration._meta
    return (
        _READ_GENERATION_SQL.format(
            value=quote(opts.get_field("value").column), table=quote(opts.db_table), pk=quote(opts.pk.column)
        )
        % placeholder
    )


def _read_generation_on_kept_connection(connection) -> int | None:
    """The generation read on the driver's connection that Django keeps between requests (`connection.connection`),
    or None to read it through Django's cursor: no connection is open yet, queries are being logged (DEBUG, a
    test's CaptureQueriesContext, so that they count it), no row, or the kept connection failed.

    Why: it is the only query of a page served from the cache, and the first of every public request. Through
    Django's cursor on a kept connection it is preceded by Django's health check (CONN_HEALTH_CHECKS), a
    `SELECT 1` of its own: on PostgreSQL two round trips instead of one, and hits served at 0.5 to 0.6 of /healthz.
    This read is the health check: if the server dropped the connection (a restart, an idle timeout), the
    driver's error is caught here, the connection closed outside a transaction, and Django's cursor opens a new
    one and reads again, so no visitor sees the failure (tests/test_faults.py, tests/test_cache.py). Every
    later query of the request still goes through Django, health check included.
    """
    raw = connection.connection
    if raw is None or connection.queries_logged:
        return None
    try:
        cursor = raw.cursor()
        try:
            # The key is a constant integer, so no parameter (and no placeholder style to tell apart).
            cursor.execute(_generation_sql(connection.ops.quote_name, str(int(GENERATION_PK))))
            row = cursor.fetchone()
        finally:
            cursor.close()
    except connection.Database.Error:
        # Closed only if it is dead and holds no transaction: a busy database or a timeout leaves it as it is.
        if not connection.in_atomic_block and connection.get_autocommit() and not connection.is_usable():
            connection.close()
        return None
    return row[0] if row else None


def _create_generation(using) -> int:
    row, _created = DataGeneration.objects.using(using).get_or_create(
        pk=GENERATION_PK, defaults={"value": time.time_ns()}
    )
    return row.value


def generation_expression() -> Subquery:
    """The data generation as a column, for a query that must tell which generation's data it read: a
    statement reads one snapshot, so its rows are exactly that generation's."""
    return Subquery(DataGeneration.objects.filter(pk=GENERATION_PK).values("value")[:1])


def current_generation(request=None) -> int:
    """The data generation, read once per request (kept on the request the public view is serving)."""
    request = request if request is not None else _current_request.get()
    if request is None:
        return read_generation()
    if not hasattr(request, REQUEST_ATTRIBUTE):
        setattr(request, REQUEST_ATTRIBUTE, read_generation())
    return getattr(request, REQUEST_ATTRIBUTE)


def public_pages_changed(*, using=None) -> None:
    """Call from every write the public can see, inside its transaction and BEFORE its first lock or write.

    It increases the data generation in that transaction (UPDATE ... SET value = value + 1): every cached page
    and kept count becomes unreachable on every server when the write commits, not a moment later, and not at
    all if it rolls back. The UPDATE locks the generation's row until the commit, which puts the public writes
    in one order; taking it first keeps the order of locks the same in every transaction (the generation, then
    the update, then the commitments by key), so two writes never wait for each other in a circle.
    Outside a transaction (autocommit), call it after the write instead: it commits at once.
    """
    updated = DataGeneration.objects.using(using).filter(pk=GENERATION_PK).update(value=F("value") + 1)
    if not updated:
        _create_generation(using)


def cached_summary(name: str, compute):
    """compute(), kept under the current data generation: for the site-wide counts (commitments per status,
    per instrument, per theme) that cost a pass over every commitment and change only with a write the
    public can see, which moves to a new generation. Whole pages are cached on top of these for anonymous
    visitors; these serve the rest (staff, a page with a new query string, the first visit after a write).

    `name` says what is counted and over what (e.g. "status-counts:party:12"). The key holds the language
    too, so that a kept value holding names or labels (the map's party names) is never shown in another
    language. Off when AITRACKER_SUMMARY_CACHE_SECONDS is 0, as in the tests.
    """
    seconds = settings.AITRACKER_SUMMARY_CACHE_SECONDS
    if seconds <= 0:
        return compute()
    generation = current_generation()
    key = f"{SUMMARY_KEY_PREFIX}:{generation}:{get_language()}:{name}"
    value = _cache_call("get", key)
    if value is None:
        value = compute()
        # Kept only if no write committed between reading the generation and computing: what is kept under a
        # generation is then exactly that generation's data, which the table relies on (tables.PageByKeysData).
        if not cache_is_down() and read_generation() == generation:
            _cache_call("set", key, value, seconds)
    return value


def _page_key(request, generation: int) -> str:
    url = hashlib.sha256(request.build_absolute_uri().encode()).hexdigest()
    return f"{PAGE_KEY_PREFIX}:{generation}:{get_language()}:{url}"


def _bypasses_cache(request) -> bool:
    if request.method != "GET":
        return True
    if settings.SESSION_COOKIE_NAME in request.COOKIES or MESSAGES_COOKIE in request.COOKIES:
        # Staff see their own pages (forms, links to edit, messages); an expired cookie only costs a miss.
        return True
    user = getattr(request, "user", None)
    return bool(user is not None and user.is_authenticated)


def _public(request, response) -> bool:
    """Whether a response is the same for every anonymous visitor: a page, a feed or a download anyone gets."""
    if response.status_code != 200 or response.cookies:
        return False
    # A page holding a CSRF token or a CSP nonce belongs to one visitor.
    if request.META.get("CSRF_COOKIE_NEEDS_UPDATE") or get_nonce(request):
        return False
    # A page that wrote to the visitor's session or queued a message for them is theirs alone.
    session = getattr(request, "session", None)
    if session is not None and session.modified:
        return False
    messages = getattr(request, "_messages", None)
    if messages is not None and len(messages):
        return False
    directives = {d.split("=")[0].strip().lower() for d in response.get("Cache-Control", "").split(",")}
    return not directives & UNCACHEABLE_CACHE_CONTROL


def _cacheable(request, response) -> bool:
    return not response.streaming and _public(request, response)


def _page_etag(key: str) -> str:
    """The validator of a public response: its cache key (generation, language, full URL) and today's date.

    Weak, because the same page is sent compressed or not. The date is in it because a page says how stale an
    assessment is by today's date: yesterday's copy is not today's page even under the same generation.
    """
    digest = hashlib.sha256(f"{key}:{timezone.localdate().isoformat()}".encode()).hexdigest()[:32]
    return f'W/"{digest}"'


def _etag_matches(request, etag: str) -> bool:
    header = request.META.get("HTTP_IF_NONE_MATCH", "")
    if not header:
        return False
    if header.strip() == "*":
        return True
    # If-None-Match compares weakly (RFC 9110, 13.1.2): W/"x" matches "x" and W/"x".
    wanted = etag.removeprefix("W/")
    return any(tag.strip().removeprefix("W/") == wanted for tag in header.split(","))


def _mark_public(response, etag: str) -> None:
    """What lets a browser revalidate cheaply and a shared cache (a CDN in front of the site) keep a public
    response for a short while; staff pages never reach here (SecurityHeadersMiddleware marks them no-store)."""
    response["ETag"] = etag
    patch_cache_control(response, public=True, max_age=0, s_maxage=settings.AITRACKER_SHARED_CACHE_SECONDS)


def _not_modified(etag: str) -> HttpResponseNotModified:
    response = HttpResponseNotModified()
    _mark_public(response, etag)
    response[STATUS_HEADER] = "revalidated"
    return response


def accepts_gzip(request) -> bool:
    """Whether the client takes gzip (RFC 9110, 12.5.3): named, with a q-value above 0 (a bare `*` is not taken as
    gzip, as Django's GZipMiddleware does not). The page cache and the compression middleware ask the same
    question, and both read "gzip;q=0" as the refusal it is."""
    weights = {}
    for item in request.META.get("HTTP_ACCEPT_ENCODING", "").split(","):
        coding, *params = (part.strip() for part in item.split(";"))
        weight = 1.0
        for param in params:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    weight = float(value)
                except ValueError:
                    weight = 0.0
        if coding:
            weights[coding.lower()] = weight
    return weights.get("gzip", 0.0) > 0


def compressed_body(content: bytes, request=None) -> bytes | None:
    """A public body compressed once, to be kept beside it, rather than by GZipMiddleware on every hit; None when
    compressing does not pay (as GZipMiddleware decides). BREACH needs a secret in the page and an attacker's
    input reflected beside it; a public answer holds no secret, and gzip still pads the header by a random
    length as Django's middleware does. The kept fragments in it are not compressed again (compression.py)."""
    compressed = gzip_page(content, pieces_of(request if request is not None else _current_request.get()))
    if len(content) < GZIP_MIN_BYTES or len(compressed) >= len(content):
        return None
    return compressed


def send_compressed(response, compressed: bytes) -> None:
    response.content = compressed
    response["Content-Encoding"] = "gzip"
    response["Content-Length"] = str(len(compressed))
    patch_vary_headers(response, ("Accept-Encoding",))


def kept_response(request, content: bytes, compressed: bytes | None, *, status=200, headers=None) -> HttpResponse:
    """A kept public body as a response: compressed if the client takes gzip and a compressed copy was kept
    (compression middleware leaves an encoded response alone), varying on Accept-Encoding either way."""
    if compressed is not None and accepts_gzip(request):
        response = HttpResponse(status=status, headers=headers)
        send_compressed(response, compressed)
    else:
        response = HttpResponse(content, status=status, headers=headers)
        patch_vary_headers(response, ("Accept-Encoding",))
    return response


def cache_public_page(view):
    """Serve a public page from the cache to anonymous visitors, keyed by generation, language and full URL."""

    @wraps(view)
    def cached_view(request, *args, **kwargs):
        token = _current_request.set(request)
        try:
            response = serve(request, *args, **kwargs)
            # Rendered here, while the request is current: the template's fragments (aitracker/fragments.py) are
            # read under the generation the request read first, as the view's kept counts are.
            if callable(getattr(response, "render", None)) and not response.is_rendered:
                response.render()
            return response
        finally:
            _current_request.reset(token)

    def serve(request, *args, **kwargs):
        seconds = page_cache_seconds()
        if seconds <= 0 or _bypasses_cache(request):
            return view(request, *args, **kwargs)
        # Read the generation before any other query, so the page stored under it is at least as new as it.
        generation = current_generation(request)
        key = _page_key(request, generation)
        etag = _page_etag(key)
        if _etag_matches(request, etag):
            # The visitor (or a CDN) holds this very page: nothing to read, nothing to render.
            return _not_modified(etag)
        entry = _cache_call("get", key)
        if entry is not None:
            status, content, headers, compressed = entry
            response = kept_response(request, content, compressed, status=status, headers=headers)
            response[STATUS_HEADER] = "hit"
            return response
        response = view(request, *args, **kwargs)

        def store(response):
            if not _public(request, response):
                return
            _mark_public(response, etag)
            if response.streaming:
                return
            content = response.content
            compressed = compressed_body(content, request)
            headers = dict(response.items())
            _cache_call("set", key, (response.status_code, content, headers, compressed), seconds)
            if compressed is not None and accepts_gzip(request):
                # The copy just kept is what this visitor gets too: the compression middleware leaves an encoded
                # answer alone, so the page is compressed once, not twice.
                send_compressed(response, compressed)
            if not cache_is_down():
                response[STATUS_HEADER] = "miss"

        if callable(getattr(response, "render", None)) and not response.is_rendered:
            response.add_post_render_callback(store)
        else:
            store(response)
        return response

    return cached_view


API_KEY_PREFIX = "aitracker:api"


def cached_api_data(generation: int, identity: str, compute):
    """An API answer (its body as sent, and compressed), kept under the data generation read at the start of the
    request and the answer's identity (address, language, day, indentation): like a cached page, unreachable once
    a write commits.

    Kept only if no write committed while it was computed, as for cached_summary. Off when
    AITRACKER_PAGE_CACHE_SECONDS is 0 (as in the tests)."""
    seconds = page_cache_seconds()
    if seconds <= 0:
        return compute()
    key = f"{API_KEY_PREFIX}:{generation}:{identity}"
    value = _cache_call("get", key)
    if value is None:
        value = compute()
        if value is not None and not cache_is_down() and read_generation() == generation:
            _cache_call("set", key, value, seconds)
    return value
