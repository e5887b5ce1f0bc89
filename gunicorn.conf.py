"""gunicorn settings for `make serve` and the benchmark. Every value can be overridden on the command line.

Workers are synchronous processes, 2 x CPU cores + 1 by default (WEB_CONCURRENCY to change it): the pages
are short CPU-bound renders, so more processes than cores keep the cores busy while some wait on the
database. The app is loaded once before forking, so workers share its memory until they write to it.
"""

import multiprocessing
import os

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
