"""The public page cache: whole public pages and feeds, for anonymous visitors, through Django's cache.

Every cached page's key holds the current *data generation*, a token that changes after every committed
write the public could see (services and admin call `public_pages_changed()`). A new token makes every
cached page unreachable at once, on every app server, so a visitor never sees a page older than the latest
publication; the old entries simply expire.

The generation must be shared by every process that serves pages. With a shared cache backend (Redis,
`REDIS_URL`) it lives in the cache. With a per-process backend (local memory, the default) each gunicorn
worker keeps its own pages, and the generation lives in a small file (`AITRACKER_PAGE_GENERATION_FILE`,
default `.page-generation` in the project folder), which every worker on the machine reads: one `read()`
per request. Several machines need Redis.
"""

import hashlib
import logging
import os
import tempfile
import time
import uuid
from functools import wraps
from pathlib import Path

from django.conf import settings
from django.core.cache import caches
from django.core.cache.backends.dummy import DummyCache
from django.core.cache.backends.locmem import LocMemCache
from django.db import transaction
from django.http import HttpResponse
from django.middleware.csp import get_nonce
from django.utils.translation import get_language

logger = logging.getLogger(__name__)

GENERATION_KEY = "aitracker:generation"
PAGE_KEY_PREFIX = "aitracker:page"
SUMMARY_KEY_PREFIX = "aitracker:summary"
STATUS_HEADER = "X-Page-Cache"
# The cookie of django.contrib.messages' CookieStorage: a flash message the page would show and consume.
MESSAGES_COOKIE = "messages"
UNCACHEABLE_CACHE_CONTROL = {"private", "no-cache", "no-store"}


def page_cache_seconds() -> int:
    return settings.AITRACKER_PAGE_CACHE_SECONDS


def _cache():
    return caches["default"]


# A cache store that fails (Redis refused, or worse, hung until its socket timeout) is left alone by this
# worker for AITRACKER_CACHE_RETRY_SECONDS: a page makes several cache calls, and each would wait for the
# timeout again. The site serves without the cache meanwhile; every call in this module goes through here.
_cache_down_until = 0.0


def _cache_call(method: str, *args, default=None, **kwargs):
    if time.monotonic() < _cache_down_until:
        return default
    try:
        return getattr(_cache(), method)(*args, **kwargs)
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
    global _cache_down_until, _bump_pending
    _cache_down_until = 0.0
    _bump_pending = False


def _generation_in_file() -> bool:
    """Process-local caches cannot share the generation between workers; a file on the machine can."""
    return isinstance(_cache(), LocMemCache | DummyCache)


def generation_file() -> Path:
    return Path(getattr(settings, "AITRACKER_PAGE_GENERATION_FILE", settings.BASE_DIR / ".page-generation"))


def _new_token() -> str:
    # Never reused: a token that was current once can never become current again and revive old pages.
    return f"{time.time_ns():x}-{uuid.uuid4().hex[:8]}"


def _write_generation_file(path: Path) -> str:
    token = _new_token()
    # Write then rename: a reader sees the old token or the new one, never half of one.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".page-generation-")
    try:
        with os.fdopen(fd, "w") as file:
            file.write(token)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return token


def current_generation() -> str | None:
    """The current data generation, or None when it cannot be read (then pages are served uncached)."""
    # A publication that could not clear the cache when it committed must before anything is read from it.
    if _bump_pending and not _retry_bump():
        return None
    if _generation_in_file():
        path = generation_file()
        try:
            return path.read_text() or _write_generation_file(path)
        except FileNotFoundError:
            return _write_generation_file(path)
        except OSError:
            logger.exception("cannot read the page cache generation from %s", path)
            return None
    generation = _cache_call("get", GENERATION_KEY)
    if generation is None and not cache_is_down():
        # First use, or the cache lost the key: start from a token never used before.
        _cache_call("add", GENERATION_KEY, time.time_ns(), timeout=None)
        generation = _cache_call("get", GENERATION_KEY)
    return None if generation is None else str(generation)


def bump_generation() -> None:
    """Make every cached public page unreachable, now."""
    if _generation_in_file():
        _write_generation_file(generation_file())
        return
    # Never skipped by the breaker: a publication must reach the other servers, so a failure here is raised
    # (and logged by _bump_after_commit) rather than assumed away.
    cache = _cache()
    try:
        cache.incr(GENERATION_KEY)
    except ValueError:
        cache.set(GENERATION_KEY, time.time_ns(), timeout=None)


def public_pages_changed(*, using=None) -> None:
    """Call from every write the public can see: clears the public pages once the transaction commits
    (at once outside a transaction), so no visitor can cache a page from before the commit under the new
    generation."""
    transaction.on_commit(_bump_after_commit, using=using)


# Set when a committed write could not move the generation (the cache was down): until a retry succeeds,
# this worker serves nothing from the cache, and it retries before its next read.
_bump_pending = False


def _bump_after_commit():
    global _bump_pending
    try:
        bump_generation()
        _bump_pending = False
    except Exception:
        # The write is committed; a failed clear must not turn it into an error page, but it must be seen.
        _bump_pending = True
        _cache_call_failed("incr")
        logger.error("could not clear the public page cache; this worker will clear it before reading it again")


def _retry_bump() -> bool:
    global _bump_pending
    if cache_is_down():
        return False
    try:
        bump_generation()
    except Exception:
        _cache_call_failed("incr")
        return False
    _bump_pending = False
    return True


def cached_summary(name: str, compute):
    """compute(), kept under the current data generation: for the site-wide counts (commitments per status,
    per instrument, per theme) that cost a pass over every commitment and change only with a write the
    public can see, which moves to a new generation. Whole pages are cached on top of these for anonymous
    visitors; these serve the rest (staff, a page with a new query string, the first visit after a write).

    `name` says what is counted and over what (e.g. "status-counts:party:12"); the value must not depend on
    the language. Off when AITRACKER_SUMMARY_CACHE_SECONDS is 0, as in the tests.
    """
    seconds = settings.AITRACKER_SUMMARY_CACHE_SECONDS
    generation = current_generation() if seconds > 0 else None
    if generation is None:
        return compute()
    key = f"{SUMMARY_KEY_PREFIX}:{generation}:{name}"
    value = _cache_call("get", key)
    if value is None:
        value = compute()
        _cache_call("set", key, value, seconds)
    return value


def _page_key(request, generation: str) -> str:
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


def _cacheable(request, response) -> bool:
    if response.status_code != 200 or response.streaming or response.cookies:
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


def cache_public_page(view):
    """Serve a public page from the cache to anonymous visitors, keyed by generation, language and full URL."""

    @wraps(view)
    def cached_view(request, *args, **kwargs):
        seconds = page_cache_seconds()
        if seconds <= 0 or _bypasses_cache(request):
            return view(request, *args, **kwargs)
        # Read the generation before any query, so the page stored under it is at least as new as it.
        generation = current_generation()
        if generation is None:
            return view(request, *args, **kwargs)
        key = _page_key(request, generation)
        entry = _cache_call("get", key)
        if entry is not None:
            status, content, headers = entry
            response = HttpResponse(content, status=status, headers=headers)
            response[STATUS_HEADER] = "hit"
            return response
        response = view(request, *args, **kwargs)

        def store(response):
            if _cacheable(request, response):
                _cache_call("set", key, (response.status_code, response.content, dict(response.items())), seconds)
                response[STATUS_HEADER] = "miss"

        if callable(getattr(response, "render", None)) and not response.is_rendered:
            response.add_post_render_callback(store)
        else:
            store(response)
        return response

    return cached_view
