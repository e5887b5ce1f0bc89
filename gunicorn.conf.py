"""gunicorn settings for `make serve` (behind nginx, deploy/serve.py) and the benchmark. Every value can be
overridden on the command line.

Workers are synchronous processes, 2 x CPU cores + 1 by default (WEB_CONCURRENCY to change it): the pages
are short CPU-bound renders, so more processes than cores keep the cores busy while some wait on the
database. The app is loaded once before forking, so workers share its memory until they write to it.
"""

import ctypes
import multiprocessing
import os

from django.conf import settings as django_settings

bind = os.environ.get("GUNICORN_BIND", "127.0.0.1:8000")
workers = int(os.environ.get("WEB_CONCURRENCY") or multiprocessing.cpu_count() * 2 + 1)
worker_class = "sync"
preload_app = True
# A slow client or a full CSV export must not hold a worker forever; the export of 10,000 commitments
# takes well under a second.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "30"))
graceful_timeout = 20
backlog = 2048
accesslog = os.environ.get("GUNICORN_ACCESS_LOG") or None
errorlog = "-"
loglevel = os.environ.get("GUNICORN_LOG_LEVEL", "info")
proc_name = "aitracker"
# gunicorn's runtime control socket sits at one path per user, which several servers on one machine (the
# benchmark, a soak test, `make serve`) would fight over; nothing here uses it.
control_socket_disable = True

# Which forwarded headers gunicorn believes follows Django's own setting, read from it so the two cannot disagree.
# gunicorn's defaults trust X-Forwarded-Proto, X-Forwarded-Ssl and X-Forwarded-Protocol from 127.0.0.1 (and
# from any UNIX-socket peer, unconditionally) and turn them into wsgi.url_scheme, which Django falls back on when
# SECURE_PROXY_SSL_HEADER is unset: a visitor could make a plain-HTTP request look secure. So gunicorn trusts
# exactly the header Django trusts (SECURE_PROXY_SSL_HEADER, from DJANGO_TRUST_X_FORWARDED_PROTO in production),
# from the proxy's address (FORWARDED_ALLOW_IPS, default loopback), and nothing at all otherwise. Nothing here
# uses SCRIPT_NAME/PATH_INFO from a proxy either. Reading the settings loads the settings module only, not the
# app (preload_app loads that).
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aitracker.settings")
_proxy_ssl_header = getattr(django_settings, "SECURE_PROXY_SSL_HEADER", None)
if _proxy_ssl_header:
    _meta_name, _secure_value = _proxy_ssl_header
    secure_scheme_headers = {_meta_name.removeprefix("HTTP_").replace("_", "-"): _secure_value}
    forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1,::1")
else:
    secure_scheme_headers = {}
    forwarded_allow_ips = ""
forwarder_headers = ""

# glibc's malloc serves a large block (above its mmap threshold, 128 KiB at first) with a mapping of its own,
# returned to the system when freed; but each time such a block is freed it raises the threshold (up to 32 MiB),
# so that after a few large pages every later page body, query result and pickled cache entry comes from the
# heap, whose freed space stays in the worker. A crawler that makes every page from nothing grew each worker to
# ~150 MiB at 10,000 commitments that way. Fixing the thresholds (M_MMAP_THRESHOLD, M_TRIM_THRESHOLD, through
# mallopt(3), glibc's public interface) stops the drift: 14 MiB less after 1,500 crawled pages, no slower
# (bench/README.md). Elsewhere than glibc nothing is changed.
MALLOC_MMAP_THRESHOLD_BYTES = 128 * 1024
MALLOC_TRIM_THRESHOLD_BYTES = 128 * 1024
_M_TRIM_THRESHOLD, _M_MMAP_THRESHOLD = -1, -3  # <malloc.h>


def limit_heap_growth() -> bool:
    """Fix glibc's thresholds in this process; whether glibc took them (False elsewhere than glibc)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        return bool(
            libc.mallopt(_M_MMAP_THRESHOLD, MALLOC_MMAP_THRESHOLD_BYTES)
            and libc.mallopt(_M_TRIM_THRESHOLD, MALLOC_TRIM_THRESHOLD_BYTES)
        )
    except (OSError, AttributeError):
        return False


def post_fork(server, worker):
    limit_heap_growth()
