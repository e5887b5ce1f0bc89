"""aitracker settings: read once, from the environment, with development defaults that just work.

Production (DJANGO_DEBUG=0) refuses to start without a real secret key and allowed hosts.
"""

import os
import tempfile
from datetime import timedelta
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured
from django.utils.csp import CSP
from django.utils.translation import gettext_lazy as _

BASE_DIR = Path(__file__).resolve().parent.parent


def env_bool(name: str, default: bool) -> bool:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


def env_list(name: str, default: str = "") -> list[str]:
    return [item.strip() for item in os.environ.get(name, default).split(",") if item.strip()]


DEBUG = env_bool("DJANGO_DEBUG", True)

_DEV_SECRET_KEY = "dev-only-insecure-key-never-use-in-production"
SECRET_KEY = os.environ.get("DJANGO_SECRET_KEY", _DEV_SECRET_KEY if DEBUG else "")
if not DEBUG and (not SECRET_KEY or SECRET_KEY == _DEV_SECRET_KEY or len(SECRET_KEY) < 50):
    raise ImproperlyConfigured(
        "DJANGO_DEBUG=0 needs DJANGO_SECRET_KEY set to a random string of at least 50 characters, "
        'for example: python -c "import secrets; print(secrets.token_urlsafe(64))"'
    )

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", "localhost,127.0.0.1,[::1]" if DEBUG else "")
if not DEBUG and not ALLOWED_HOSTS:
    raise ImproperlyConfigured("DJANGO_DEBUG=0 needs DJANGO_ALLOWED_HOSTS (comma-separated host names).")
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS")

# The site's public address: every absolute link (feeds, downloads, the sitemap, canonical links) is built from
# it, never from the Host a request came through (a proxy, an IP address or a forged header would change them).
AITRACKER_SITE_URL = os.environ.get("AITRACKER_SITE_URL", "http://127.0.0.1:8000").strip().rstrip("/")
if not AITRACKER_SITE_URL.startswith(("http://", "https://")) or "/" in AITRACKER_SITE_URL.split("://", 1)[1]:
    raise ImproperlyConfigured(
        "AITRACKER_SITE_URL must be the site's address with its scheme and no path, e.g. https://aitracker.example.org"
    )

INSTALLED_APPS = [
    # Before the admin, so that its admin mixins and the translated fields are in place when the admin loads.
    "modeltranslation",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "django.contrib.humanize",
    "django.contrib.sitemaps",
    # SearchVectorField and the full-text search of aitracker/search.py on PostgreSQL (harmless on SQLite).
    "django.contrib.postgres",
    "django_countries",
    "django_filters",
    "django_tables2",
    "simple_history",
    "import_export",
    "axes",
    "django_tasks_db",
    "rest_framework",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "aitracker",
]

MIDDLEWARE = [
    # First, so that its headers reach every response: redirects, static files and error pages too.
    "aitracker.middleware.SecurityHeadersMiddleware",
    # CORS for the read API (/api/ only): its headers on every API answer, errors included.
    "aitracker.api.middleware.ApiCorsMiddleware",
    # Before anything that reads the body (CSRF, sessions, views): refuses an over-long one unread.
    "aitracker.middleware.RequestBodyLimitMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    # Below whitenoise (static files come precompressed) and above everything that writes a body. Public pages
    # served from the page cache arrive already compressed (aitracker.cache) and pass through untouched.
    "aitracker.middleware.CompressionMiddleware",
    # Below GZip, so that a validator is computed on the plain body: answers If-None-Match and
    # If-Modified-Since (the feeds' Last-Modified) with 304.
    "django.middleware.http.ConditionalGetMiddleware",
    # Above the session and everything below it, so that even an error raised there gets these headers.
    "django.middleware.csp.ContentSecurityPolicyMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "aitracker.middleware.DatabaseUnavailableMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The address alone decides the language (/fr/…, /zh-hans/…, English at the root): never a cookie or the
    # browser's Accept-Language (aitracker.middleware.PathLocaleMiddleware).
    "aitracker.middleware.PathLocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "simple_history.middleware.HistoryRequestMiddleware",
    # axes must come last: it reads the outcome of authentication.
    "axes.middleware.AxesMiddleware",
]

# Request bodies are bounded here, not only by a proxy in front (`make run` has none): a larger
# Content-Length is answered 413 before anything reads the body (aitracker.middleware.RequestBodyLimitMiddleware),
# and what is accepted fits in memory, so no upload is ever spooled to disk. The largest legitimate body is the
# admin's CSV import (AITRACKER_IMPORT_MAX_BYTES).
AITRACKER_IMPORT_MAX_BYTES = int(os.environ.get("AITRACKER_IMPORT_MAX_BYTES", str(2 * 1024 * 1024)))
# Each row goes through the services, once for the preview and once more when confirmed: measured at 100 to
# 120 ms a row on two cores shared with a heavy load (200 rows: 20 s to preview, 25 s to confirm), so 100
# rows keep either step well inside gunicorn's 30 s timeout. Larger files are split.
AITRACKER_IMPORT_MAX_ROWS = int(os.environ.get("AITRACKER_IMPORT_MAX_ROWS", "100"))
AITRACKER_MAX_REQUEST_BYTES = AITRACKER_IMPORT_MAX_BYTES + 256 * 1024
DATA_UPLOAD_MAX_MEMORY_SIZE = AITRACKER_MAX_REQUEST_BYTES
FILE_UPLOAD_MAX_MEMORY_SIZE = AITRACKER_MAX_REQUEST_BYTES

ROOT_URLCONF = "aitracker.urls"
WSGI_APPLICATION = "aitracker.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.template.context_processors.i18n",
                "django.template.context_processors.csp",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
                "aitracker.context_processors.canonical",
                "aitracker.context_processors.staff",
                "aitracker.context_processors.search_box",
                "aitracker.context_processors.languages",
            ],
        },
    },
]

DATABASES = {
    "default": dj_database_url.config(
        env="DATABASE_URL",
        default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}",
        conn_max_age=int(os.environ.get("DJANGO_CONN_MAX_AGE", "60")),
        conn_health_checks=True,
    )
}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # WAL and a busy timeout let gunicorn workers read while one of them writes.
    DATABASES["default"]["OPTIONS"] = {
        "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        "transaction_mode": "IMMEDIATE",
        "timeout": 20,
    }
    # Connections are kept between requests on SQLite too (DJANGO_CONN_MAX_AGE, 60 s): every public request
    # now reads the data generation from the database, and opening a SQLite connection (with its PRAGMAs) cost
    # more than serving a cached page. Autocommit between requests, so a kept connection never holds a snapshot.

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

REDIS_URL = os.environ.get("REDIS_URL", "")
if REDIS_URL:
    CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "OPTIONS": {
                # A Redis outage must not take the site down. Errors are raised, not swallowed, so that
                # aitracker/cache.py (the only user of this cache) can tell an outage from a miss and leave a
                # failing Redis alone for AITRACKER_CACHE_RETRY_SECONDS instead of waiting on every call.
                "IGNORE_EXCEPTIONS": False,
                "SOCKET_CONNECT_TIMEOUT": 0.5,
                "SOCKET_TIMEOUT": 0.5,
            },
        }
    }
    # The kept fragments (aitracker/fragments.py) in the same Redis, which bounds its memory itself.
    CACHES["fragments"] = CACHES["default"]
else:
    CACHES = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache", "LOCATION": "aitracker"},
        # The kept fragments apart from the pages: many small pieces (a row of the table is about 1 KB), which
        # would push whole pages out of the default cache's 300 entries. Bounded by count, in each worker: at
        # most a few tens of MB (a commitment's parties, the largest piece, are about 100 KB at 200 parties).
        "fragments": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "aitracker-fragments",
            "OPTIONS": {"MAX_ENTRIES": 2000},
        },
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "aitracker.password_validation.UsernameRepeatedValidator"},  # erin-erin-erin for erin
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator", "OPTIONS": {"min_length": 12}},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

# Argon2id at OWASP's minimum, about 40 ms a login (aitracker/auth.py); the PBKDF2 hashers only verify the
# passwords stored before the switch, which are re-hashed with Argon2 at the next login.
PASSWORD_HASHERS = [
    "aitracker.auth.Argon2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2PasswordHasher",
    "django.contrib.auth.hashers.PBKDF2SHA1PasswordHasher",
]

AUTHENTICATION_BACKENDS = [
    "axes.backends.AxesStandaloneBackend",
    "django.contrib.auth.backends.ModelBackend",
]
# Lockout per account *and* address: a stranger cannot lock an editor out by failing on purpose from afar.
AXES_FAILURE_LIMIT = int(os.environ.get("AXES_FAILURE_LIMIT", "5"))
AXES_COOLOFF_TIME = timedelta(minutes=int(os.environ.get("AXES_COOLOFF_MINUTES", "60")))
AXES_LOCKOUT_PARAMETERS = [["username", "ip_address"]]
# ...and per address across usernames, so that trying many usernames from one place is throttled too.
AXES_HANDLER = "aitracker.auth.AddressThrottlingHandler"
AITRACKER_LOGIN_FAILURES_PER_ADDRESS = int(os.environ.get("AITRACKER_LOGIN_FAILURES_PER_ADDRESS", "20"))
AXES_RESET_ON_SUCCESS = True
# A refused attempt during a lockout is not recorded: it neither moves the time the lock lifts nor costs the
# database a write, so a flood of them stays cheap.
AXES_RESET_COOL_OFF_ON_FAILURE_DURING_LOCKOUT = False
AXES_LOCKOUT_TEMPLATE = "registration/locked_out.html"
AXES_LOCKOUT_CALLABLE = "aitracker.middleware.lockout_response"  # the template, plus when to try again
# Behind reverse proxies every request comes from a proxy's address: count them to find the visitor's.
AITRACKER_TRUSTED_PROXY_COUNT = int(os.environ.get("DJANGO_TRUSTED_PROXY_COUNT", "0"))
AXES_CLIENT_IP_CALLABLE = "aitracker.middleware.client_ip"

LOGIN_URL = "login"
# Editors land on the review queue, analysts on their own updates (staff_views.StaffHomeView).
LOGIN_REDIRECT_URL = "staff_home"
LOGOUT_REDIRECT_URL = "dashboard"

LANGUAGE_CODE = "en"
LANGUAGES = [("en", _("English")), ("fr", _("French")), ("zh-hans", _("Simplified Chinese"))]
LOCALE_PATHS = [BASE_DIR / "locale"]
# Dates and numbers in each language's own conventions (aitracker/formats/<lang>/formats.py).
FORMAT_MODULE_PATH = ["aitracker.formats"]
# Content (instruments, commitments, themes, updates…) in each language, through django-modeltranslation
# (aitracker/translation.py): English is the default, and the fallback of a field not yet translated.
MODELTRANSLATION_DEFAULT_LANGUAGE = "en"
MODELTRANSLATION_LANGUAGES = ("en", "fr", "zh-hans")
MODELTRANSLATION_FALLBACK_LANGUAGES = ("en",)
TIME_ZONE = "UTC"
# Notes written with a bare domain ("un.org") link to it over HTTPS, as Django 7 will by default.
URLIZE_ASSUME_HTTPS = True
USE_I18N = True
USE_TZ = True

STATIC_URL = "/static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
STATICFILES_DIRS = [BASE_DIR / "static"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"
        if DEBUG
        else "whitenoise.storage.CompressedManifestStaticFilesStorage"
    },
}

# Staff sessions end after 30 minutes without a request, and when the browser closes.
SESSION_COOKIE_AGE = int(os.environ.get("DJANGO_SESSION_COOKIE_AGE", str(30 * 60)))
SESSION_SAVE_EVERY_REQUEST = True
SESSION_EXPIRE_AT_BROWSER_CLOSE = True
SESSION_COOKIE_HTTPONLY = True
SESSION_COOKIE_SAMESITE = "Lax"
CSRF_COOKIE_HTTPONLY = True
CSRF_COOKIE_SAMESITE = "Lax"
LANGUAGE_COOKIE_HTTPONLY = True
LANGUAGE_COOKIE_SAMESITE = "Lax"
# Staff pages: never stored by the browser or a shared cache (SecurityHeadersMiddleware sends no-store).
# /follow/: its pages carry a subscriber's signed token in the address; never kept by a browser or a proxy.
AITRACKER_PRIVATE_PATH_PREFIXES = ("/admin/", "/accounts/", "/review/", "/staff/", "/my/", "/follow/")

SECURE_CONTENT_TYPE_NOSNIFF = True
SECURE_REFERRER_POLICY = "strict-origin-when-cross-origin"
SECURE_CROSS_ORIGIN_OPENER_POLICY = "same-origin"
# Sent on every response by SecurityHeadersMiddleware: no other site embeds our pages, images, styles or feeds
# (feed readers and API clients are not browsers, and CORP does not apply to them).
AITRACKER_CROSS_ORIGIN_RESOURCE_POLICY = "same-origin"
# whitenoise answers `Access-Control-Allow-Origin: *` by default; nothing on another origin needs our static
# files through CORS (no web fonts, no scripts loaded elsewhere).
WHITENOISE_ALLOW_ALL_ORIGINS = False
X_FRAME_OPTIONS = "DENY"
SECURE_CSP = {
    "default-src": [CSP.SELF],
    "script-src": [CSP.SELF],
    "style-src": [CSP.SELF],
    "img-src": [CSP.SELF, "data:"],
    "font-src": [CSP.SELF],
    "connect-src": [CSP.SELF],
    "object-src": [CSP.NONE],
    "base-uri": [CSP.NONE],
    "frame-ancestors": [CSP.NONE],
    "form-action": [CSP.SELF],
}
# Sent by aitracker.middleware.SecurityHeadersMiddleware: no page needs any of these. (browsing-topics replaced
# FLoC's interest-cohort, which browsers no longer know.)
PERMISSIONS_POLICY = (
    "accelerometer=(), browsing-topics=(), camera=(), display-capture=(), geolocation=(), gyroscope=(), "
    "magnetometer=(), microphone=(), midi=(), payment=(), usb=()"
)

if not DEBUG:
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SECURE_SSL_REDIRECT", True)
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    CSRF_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    LANGUAGE_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", True)
    SECURE_HSTS_SECONDS = int(os.environ.get("DJANGO_HSTS_SECONDS", str(60 * 60 * 24 * 365)))
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    # Preloading is hard to undo (browsers ship the list), so it is opted into, never a default.
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", False)
    if SECURE_HSTS_PRELOAD and (SECURE_HSTS_SECONDS < 60 * 60 * 24 * 365 or not SECURE_HSTS_INCLUDE_SUBDOMAINS):
        raise ImproperlyConfigured(
            "DJANGO_HSTS_PRELOAD=1 needs DJANGO_HSTS_SECONDS of at least a year and HSTS on subdomains."
        )
    if not SECURE_HSTS_PRELOAD:
        SILENCED_SYSTEM_CHECKS = ["security.W021"]  # "preload is not set": deliberate, see above
    # Only behind a proxy that terminates TLS and always sets (never forwards) X-Forwarded-Proto.
    if env_bool("DJANGO_TRUST_X_FORWARDED_PROTO", False):
        SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

DJANGO_TABLES2_TEMPLATE = "django_tables2/semantic.html"
IMPORT_EXPORT_USE_TRANSACTIONS = True
# The import's uploaded file, kept between its preview and its confirmation: in a folder of its own, removed
# on every outcome (aitracker/imports.py).
IMPORT_EXPORT_TMP_STORAGE_CLASS = "aitracker.imports.ImportFileStorage"
AITRACKER_IMPORT_TMP_DIR = Path(
    os.environ.get("AITRACKER_IMPORT_TMP_DIR") or Path(tempfile.gettempdir()) / "aitracker-imports"
)
# A preview that is never confirmed leaves its file; the next import removes files older than this.
AITRACKER_IMPORT_TMP_MAX_AGE_SECONDS = 60 * 60
IMPORT_EXPORT_SKIP_ADMIN_LOG = False
SIMPLE_HISTORY_REVERT_DISABLED = False

# Where the list of the 193 UN member states in fixtures/parties.json comes from (shown on the methodology page).
AITRACKER_UN_MEMBER_STATES_SOURCE = "https://www.un.org/en/about-us/member-states"
# How many days without a published update make a commitment "stale".
AITRACKER_STALE_AFTER_DAYS = 365
# Seconds a public page stays in the cache; publications and edits clear it at once.
AITRACKER_PAGE_CACHE_SECONDS = int(os.environ.get("AITRACKER_PAGE_CACHE_SECONDS", "600"))
# How long a shared cache in front of the site (a CDN) may serve a public page without asking again
# (`s-maxage`); browsers always revalidate (`max-age=0`, answered 304 while the page is unchanged).
AITRACKER_SHARED_CACHE_SECONDS = int(os.environ.get("AITRACKER_SHARED_CACHE_SECONDS", "60"))
# After a cache failure (Redis down or hung), each worker serves without the cache this long, then tries again.
AITRACKER_CACHE_RETRY_SECONDS = float(os.environ.get("AITRACKER_CACHE_RETRY_SECONDS", "30"))
# The site-wide counts under the same data generation (aitracker/cache.py: cached_summary); 0 turns them off.
AITRACKER_SUMMARY_CACHE_SECONDS = int(os.environ.get("AITRACKER_SUMMARY_CACHE_SECONDS", "600"))
# HTML fragments shared across pages and addresses under the same data generation (aitracker/fragments.py: a
# commitment's row, its timeline, a party's tables...), for the pages the page cache has not seen; 0 turns them off.
AITRACKER_FRAGMENT_CACHE_SECONDS = int(os.environ.get("AITRACKER_FRAGMENT_CACHE_SECONDS", "600"))

# --- Background jobs (aitracker/tasks.py) ------------------------------------------------------------------
# django.tasks with django-tasks-db: the queue is a table of the database every app server already shares, and
# `manage.py db_worker` (started by `make run` and `make serve`, or on any other machine pointed at the same
# DATABASE_URL) runs what is in it. Jobs are enqueued on commit; aitracker/tasks.py retries a failed one later.
TASKS = {"default": {"BACKEND": "django_tasks_db.backend.DatabaseBackend", "QUEUES": ["default"]}}
# A failed job runs again up to this many times in all, after 1, 4, 16... minutes (AITRACKER_JOB_RETRY_BASE_SECONDS
# times 4 to the attempt's number).
AITRACKER_JOB_MAX_ATTEMPTS = int(os.environ.get("AITRACKER_JOB_MAX_ATTEMPTS", "5"))
AITRACKER_JOB_RETRY_BASE_SECONDS = int(os.environ.get("AITRACKER_JOB_RETRY_BASE_SECONDS", "60"))
# A job still marked running this long after it started belongs to a worker that died: `manage.py
# requeue_stalled_jobs` (and every worker that `make run`/`make serve` starts) puts it back in the queue.
AITRACKER_JOB_STALLED_AFTER_SECONDS = int(os.environ.get("AITRACKER_JOB_STALLED_AFTER_SECONDS", str(15 * 60)))

# --- E-mail ------------------------------------------------------------------------------------------------
# Django 6.1's MAILERS: SMTP when EMAIL_HOST is set (production), else messages are printed by the worker
# (development). EMAIL_PORT, EMAIL_HOST_USER, EMAIL_HOST_PASSWORD, EMAIL_USE_TLS (on by default with a host: port
# 587), EMAIL_USE_SSL (port 465), EMAIL_TIMEOUT (seconds) configure the SMTP connection.
_EMAIL_HOST = os.environ.get("EMAIL_HOST", "")
if _EMAIL_HOST:
    _email_ssl = env_bool("EMAIL_USE_SSL", False)
    _email_tls = env_bool("EMAIL_USE_TLS", not _email_ssl)
    MAILERS = {
        "default": {
            "BACKEND": "django.core.mail.backends.smtp.EmailBackend",
            "OPTIONS": {
                "host": _EMAIL_HOST,
                "port": int(os.environ.get("EMAIL_PORT") or (465 if _email_ssl else 587 if _email_tls else 25)),
                "username": os.environ.get("EMAIL_HOST_USER", ""),
                "password": os.environ.get("EMAIL_HOST_PASSWORD", ""),
                "use_tls": _email_tls,
                "use_ssl": _email_ssl,
                "timeout": int(os.environ.get("EMAIL_TIMEOUT", "20")),
            },
        }
    }
else:
    MAILERS = {"default": {"BACKEND": "django.core.mail.backends.console.EmailBackend"}}
DEFAULT_FROM_EMAIL = os.environ.get("DEFAULT_FROM_EMAIL", "aitracker <alerts@localhost>")
SERVER_EMAIL = DEFAULT_FROM_EMAIL
# Where to write to have one's data deleted (the privacy page); also the mailto: unsubscribe address if set.
AITRACKER_CONTACT_EMAIL = os.environ.get("AITRACKER_CONTACT_EMAIL", "")
AITRACKER_UNSUBSCRIBE_MAILTO = os.environ.get("AITRACKER_UNSUBSCRIBE_MAILTO", "")
# How long a confirmation link works, and how long an address nobody confirmed is kept (the privacy page says so).
AITRACKER_CONFIRM_DAYS = int(os.environ.get("AITRACKER_CONFIRM_DAYS", "7"))
# Subscription requests per hour from one address (IP), and for one e-mail address.
AITRACKER_FOLLOW_RATE_PER_HOUR = int(os.environ.get("AITRACKER_FOLLOW_RATE_PER_HOUR", "5"))
# The read API (/api/v1/, aitracker/api/): public data only, no sessions, JSON only.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.AllowAny"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [],
    "DEFAULT_THROTTLE_CLASSES": ["aitracker.api.throttling.AddressRateThrottle"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "EXCEPTION_HANDLER": "aitracker.api.views.api_exception_handler",
    "UNAUTHENTICATED_USER": None,
}
# Requests per address (behind DJANGO_TRUSTED_PROXY_COUNT proxies) to the API: "N/second|minute|hour|day";
# empty for no limit. Over it: 429 with Retry-After.
AITRACKER_API_RATE = os.environ.get("AITRACKER_API_RATE", "300/minute")
SPECTACULAR_SETTINGS = {
    "TITLE": "aitracker API",
    "DESCRIPTION": (
        "Read-only access to everything aitracker publishes: instruments, parties and their endorsements, themes, "
        "commitments with their overall and per-party status, and published progress updates with their sources. "
        "Lists take the same filters as the site's tables, an `ordering`, and are paged by cursor (follow `next`). "
        "Data licence: CC BY 4.0 (our summaries, statuses and structured data; not the texts of third-party "
        "sources or the official texts)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SCHEMA_PATH_PREFIX": "/api/v1",
    "COMPONENT_SPLIT_REQUEST": False,
    "ENUM_NAME_OVERRIDES": {
        "StatusEnum": "aitracker.models.Status",
        "ConfidenceEnum": "aitracker.models.Confidence",
    },
    "LICENSE": {"name": "CC BY 4.0 (data)", "url": "https://creativecommons.org/licenses/by/4.0/"},
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    # A visitor's 400 or 403 is one line, not a traceback (aitracker/log.py); 5xx keep theirs.
    "filters": {"one_line_client_errors": {"()": "aitracker.log.OneLineClientErrors"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "filters": ["one_line_client_errors"]}},
    "root": {"handlers": ["console"], "level": os.environ.get("DJANGO_LOG_LEVEL", "WARNING")},
}

# The link checker (aitracker/linkcheck.py, `manage.py check_links`): parallel workers, seconds between two
# requests to one host, and the connect/read timeout of each request.
AITRACKER_LINKCHECK_WORKERS = int(os.environ.get("AITRACKER_LINKCHECK_WORKERS", "8"))
AITRACKER_LINKCHECK_HOST_DELAY = float(os.environ.get("AITRACKER_LINKCHECK_HOST_DELAY", "1"))
AITRACKER_LINKCHECK_TIMEOUT = float(os.environ.get("AITRACKER_LINKCHECK_TIMEOUT", "10"))
# A web archive's submission address (e.g. https://web.archive.org/save/): when set, each newly published
# source is submitted to it and the copy's address recorded. Empty: no archive is asked.
AITRACKER_ARCHIVE_SUBMIT_URL = os.environ.get("AITRACKER_ARCHIVE_SUBMIT_URL", "").strip()
# Suggestions from readers: the least seconds between showing the form and sending it (faster is a robot),
# and how many one address may send per hour.
AITRACKER_SUGGEST_MIN_SECONDS = float(os.environ.get("AITRACKER_SUGGEST_MIN_SECONDS", "3"))
AITRACKER_SUGGEST_PER_HOUR = int(os.environ.get("AITRACKER_SUGGEST_PER_HOUR", "5"))
