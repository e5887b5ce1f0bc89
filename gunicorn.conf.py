"""gunicorn settings for `make serve` (behind nginx, deploy/serve.py) and the benchmark. Every value can be
overridden on the command line.

Workers are synchronous processes, 2 x CPU cores + 1 by default (WEB_CONCURRENCY to change it): the pages
are short CPU-bound renders, so more processes than cores keep the cores busy while some wait on the
database. The app is loaded once before forking, so workers share its memory until they write to it.
"""

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
