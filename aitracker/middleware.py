"""What the site adds to every response for its own safety, and what it answers when the database is gone.

- `SecurityHeadersMiddleware` (first in MIDDLEWARE, so its headers reach every response, redirects and static
  files included): the Permissions-Policy, Cross-Origin-Resource-Policy (no other site may embed what we
  serve), and `Cache-Control: no-store, private` on anything that belongs to
  one person (admin and staff pages, any response to someone logged in), so neither the browser nor a shared
  cache keeps it.
- `DatabaseUnavailableMiddleware` (above the session middleware, below the ones that add headers): a database
  that cannot be reached gives visitors a plain 503 page (no stack trace, nothing that needs the database)
  instead of a 500, whether a view or a middleware below it met the failure; the error goes to the log.
- `RequestBodyLimitMiddleware` (right below it): a body over the limit is answered 413 unread.
- `CompressionMiddleware`: Django's GZipMiddleware, except on responses that carry a CSRF token or belong to
  one person (BREACH needs a secret in a compressed body that also reflects the attacker's input).
- `lockout_response`: django-axes' lockout page, saying when the visitor may try again.
- `client_ip`: the visitor's address for django-axes, behind as many trusted proxies as configured.
- `PathLocaleMiddleware` (in place of Django's LocaleMiddleware): the address alone decides the language.
"""

import logging
import sys
from datetime import timedelta

from axes.helpers import get_client_username, get_cool_off, get_failure_limit
from axes.models import AccessAttempt
from django.conf import settings
from django.core.signals import got_request_exception
from django.db import InterfaceError, OperationalError
from django.db.models import Max, Sum
from django.dispatch import receiver
from django.http import HttpResponse
from django.middleware.gzip import GZipMiddleware
from django.shortcuts import render
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.cache import patch_vary_headers

from .auth import address_failures
from .cache import GZIP_MIN_BYTES, accepts_gzip, compressed_body, send_compressed
from .i18n import SOURCE_LANGUAGE, hreflang, strip_language_prefix

logger = logging.getLogger(__name__)

# OperationalError covers a refused or dropped connection, a server shutting down, a lock or statement
# timeout; InterfaceError a connection that is already closed. All pass: the visitor may simply retry.
DATABASE_UNAVAILABLE = (OperationalError, InterfaceError)
RETRY_AFTER_SECONDS = 30
_FLAG = "_aitracker_database_unavailable"


def is_private(request, response) -> bool:
    """Whether a response belongs to one person: a staff or admin page, or anything sent to a logged-in user.

    Being logged in is read from the session cookie rather than `request.user`, so that deciding this never
    needs the database (which may be the thing that is failing).
    """
    path = strip_language_prefix(request.path_info)  # /fr/admin/ is as private as /admin/
    if any(path.startswith(prefix) for prefix in settings.AITRACKER_PRIVATE_PATH_PREFIXES):
        return True
    cookie = settings.SESSION_COOKIE_NAME
    return cookie in request.COOKIES or cookie in response.cookies


def database_unavailable_response() -> HttpResponse:
    """The 503 page, rendered without a request: no context processor, no database, no session."""
    try:
        content = render_to_string("503.html")
        content_type = "text/html; charset=utf-8"
    except Exception:  # The error page must never fail: fall back to one line of text.
        logger.exception("could not render 503.html")
        content, content_type = "The site is temporarily unavailable. Please try again in a minute.\n", "text/plain"
    response = HttpResponse(content, status=503, content_type=content_type)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def request_too_large_response(limit: int) -> HttpResponse:
    response = HttpResponse(render_to_string("413.html", {"limit": limit}), status=413)
    response["Cache-Control"] = "no-store"
    return response


class RequestBodyLimitMiddleware:
    """Refuse a request whose declared body is over AITRACKER_MAX_REQUEST_BYTES, before anything reads it.

    Django's own limits (DATA_UPLOAD_MAX_MEMORY_SIZE) leave file uploads out, and spool those to disk, however
    large. A body sent without a Content-Length (chunked) is never read by Django under WSGI, so the declared
    length is the one to check.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # Django then reads no body at all
        if length > settings.AITRACKER_MAX_REQUEST_BYTES:
            return request_too_large_response(settings.AITRACKER_MAX_REQUEST_BYTES)
        return self.get_response(request)


class CompressionMiddleware(GZipMiddleware):
    """Compresses public responses (pages, feeds, JSON and CSV downloads), never one with a secret in it.

    Django masks its CSRF token afresh for every response and GZipMiddleware pads its output by a random
    length, but a page with a token, or a staff page, is not worth compressing at any risk: it is rare and small.
    """

    def process_response(self, request, response):
        if request.META.get("CSRF_COOKIE_NEEDS_UPDATE") or is_private(request, response):
            return response
        if not accepts_gzip(request):
            # What GZipMiddleware would do, but for "gzip;q=0", which it reads as a yes.
            patch_vary_headers(response, ("Accept-Encoding",))
            return response
        if response.streaming or response.has_header("Content-Encoding") or len(response.content) < GZIP_MIN_BYTES:
            return super().process_response(request, response)
        # What GZipMiddleware does with a body, with the page's kept fragments not compressed again.
        patch_vary_headers(response, ("Accept-Encoding",))
        compressed = compressed_body(response.content, request)
        if compressed is None:
            return response
        send_compressed(response, compressed)
        etag = response.get("ETag")
        if etag and etag.startswith('"'):
            response.headers["ETag"] = "W/" + etag
        return response


class SecurityHeadersMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.PERMISSIONS_POLICY:
            response.setdefault("Permissions-Policy", settings.PERMISSIONS_POLICY)
        if settings.AITRACKER_CROSS_ORIGIN_RESOURCE_POLICY:
            response.setdefault("Cross-Origin-Resource-Policy", settings.AITRACKER_CROSS_ORIGIN_RESOURCE_POLICY)
        if is_private(request, response):
            response["Cache-Control"] = "no-store, private"
            del response["Expires"]
        return response


class DatabaseUnavailableMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code == 500 and getattr(request, _FLAG, False):
            # The database failed in a middleware below (the session, loaded or saved for a logged-in user):
            # Django has made a 500 of it, and logged it; it is still an outage, not a bug.
            response = database_unavailable_response()
        return response

    def process_exception(self, request, exception):
        if not isinstance(exception, DATABASE_UNAVAILABLE):
            return None
        logger.error("database unavailable: %s %s", request.method, request.path, exc_info=exception)
        return database_unavailable_response()


@receiver(got_request_exception)
def flag_database_unavailable(sender, request=None, **kwargs):
    """Mark a request whose uncaught exception is a database outage, for DatabaseUnavailableMiddleware."""
    if request is not None and isinstance(sys.exc_info()[1], DATABASE_UNAVAILABLE):
        setattr(request, _FLAG, True)


def lockout_response(request, original_response=None, credentials=None):
    """django-axes' lockout page (AXES_LOCKOUT_CALLABLE), with the time from which logging in works again.

    Either this account failed too often from this address, or this address failed too often whatever the
    usernames (aitracker.auth). The lock lifts one cool-off period after the last counted failure; failures
    during the lockout are not counted (axes does not record them), so that time does not move while the
    visitor waits.
    """
    cool_off = get_cool_off(request) or timedelta(0)
    now = timezone.now()
    username = get_client_username(request, credentials) or ""
    account = AccessAttempt.objects.filter(username=username, ip_address=getattr(request, "axes_ip_address", None))
    if cool_off:
        account = account.filter(attempt_time__gte=now - cool_off)
    account = account.aggregate(failures=Sum("failures_since_start"), latest=Max("attempt_time"))
    failure_limit = get_failure_limit(request, credentials)
    retry_at = None
    if (account["failures"] or 0) >= failure_limit:
        retry_at = account["latest"] + cool_off
    address_limit = settings.AITRACKER_LOGIN_FAILURES_PER_ADDRESS
    address_count, address_latest = address_failures(request)
    by_address = bool(address_limit) and address_count >= address_limit
    if by_address:
        retry_at = max(retry_at or now, address_latest + cool_off)
    retry_at = retry_at or now + cool_off
    context = {
        "failure_limit": address_limit if by_address else failure_limit,
        "by_address": by_address,
        "username": username,
        "cooloff_minutes": max(1, round(cool_off.total_seconds() / 60)),
        "retry_at": retry_at,
    }
    response = render(request, settings.AXES_LOCKOUT_TEMPLATE, context, status=settings.AXES_HTTP_RESPONSE_CODE)
    response["Retry-After"] = str(max(0, int((retry_at - now).total_seconds())))
    return response


def client_ip(request) -> str | None:
    """The visitor's address (AXES_CLIENT_IP_CALLABLE), so that a lockout is per visitor, not per proxy.

    Behind DJANGO_TRUSTED_PROXY_COUNT reverse proxies, each appending the address it received the request from
    to X-Forwarded-For, the visitor's address is that many entries from the right; anything further left was
    sent by the visitor and proves nothing. With no proxy trusted, it is the connection's own address.
    """
    remote = request.META.get("REMOTE_ADDR")
    proxies = settings.AITRACKER_TRUSTED_PROXY_COUNT
    if not proxies:
        return remote
    forwarded = [part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()]
    return forwarded[-proxies] if len(forwarded) >= proxies else remote


class PathLocaleMiddleware:
    """The language of a page is the one its address names: `/fr/…` French, `/zh-hans/…` Simplified Chinese,
    anything else English (i18n_patterns with prefix_default_language=False, and the unprefixed /healthz,
    /sitemap.xml, /robots.txt…). Neither a cookie nor the browser's Accept-Language changes it, and nothing
    redirects: one address is one page in one language, which the page cache and any CDN can key on the
    address alone (so no `Vary: Accept-Language` either). `Content-Language` names the page's language.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        language = translation.get_language_from_path(request.path_info) or SOURCE_LANGUAGE
        translation.activate(language)
        request.LANGUAGE_CODE = language
        response = self.get_response(request)
        response.headers.setdefault("Content-Language", hreflang(language))
        return response
