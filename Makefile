# aitracker: `make run` serves the site with the real data, `make test` runs the whole suite.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON_WANTED := $(shell cat .python-version 2>/dev/null)
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(PY) -m pip --disable-pip-version-check -q
HOST ?= 127.0.0.1
PORT ?= 8000

# The newest suitable Python: the one .python-version names, else any 3.12+.
FIND_PYTHON := for candidate in python$(PYTHON_WANTED) python3.13 python3.12 python3 python; do \
	  if command -v $$candidate >/dev/null 2>&1 && \
	     $$candidate -c 'import sys; sys.exit(sys.version_info < (3, 12))' >/dev/null 2>&1; then \
	    echo $$candidate; break; \
	  fi; \
	done

.PHONY: help run test serve bench slowclients soak lint format migrate data clean messages

help:
	@echo "make run    - set up and serve the site with the real data on http://$(HOST):$(PORT), and the job worker"
	@echo "make test   - set up and run the whole test suite"
	@echo "make serve  - serve as in production (nginx in front of gunicorn, DJANGO_DEBUG=0; needs nginx)"
	@echo "make bench  - benchmark the public pages at 10,000 and 100,000 commitments, hit, missed and cold, and a crawl"
	@echo "make slowclients - 50 slow clients for 60 s against gunicorn alone and behind nginx"
	@echo "make soak   - five-minute soak test under load while an editor publishes"
	@echo "make messages - extract the interface's strings into locale/*/django.po and compile them (translators)"

$(PY):
	@python=$$($(FIND_PYTHON)); \
	if [ -z "$$python" ]; then \
	  echo "aitracker needs Python 3.12 or newer ($(PYTHON_WANTED) preferred) and found none on PATH." >&2; \
	  echo "Install it (e.g. 'apt install python3.13 python3.13-venv', or pyenv) and run make again." >&2; \
	  exit 1; \
	fi; \
	echo "Creating $(VENV) with $$python ($$($$python --version))"; \
	$$python -m venv $(VENV) || { echo "Could not create $(VENV): install the venv module for $$python." >&2; exit 1; }

$(VENV)/.installed-run: requirements.txt | $(PY)
	$(PIP) install -r requirements.txt
	@touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(PY)
	$(PIP) install -r requirements-dev.txt
	@touch $@ $(VENV)/.installed-run

migrate: $(VENV)/.installed-run
	$(PY) manage.py migrate --noinput

data: migrate
	$(PY) manage.py load_real_data

# The background-job worker (aitracker/tasks.py: e-mail alerts) runs beside runserver, started first and stopped
# (gracefully, SIGTERM) when runserver stops, however it stops. Jobs a killed worker left running go back first.
WORKER := $(PY) manage.py db_worker --no-reload --queue-name '*' --interval 1

run: data
	@export AITRACKER_SITE_URL="$${AITRACKER_SITE_URL:-http://$(HOST):$(PORT)}"; \
	$(PY) manage.py requeue_stalled_jobs; \
	$(WORKER) & worker=$$!; \
	trap 'kill -TERM $$worker 2>/dev/null; wait $$worker 2>/dev/null' EXIT; \
	echo "Background-job worker started (pid $$worker)"; \
	$(PY) manage.py runserver $(HOST):$(PORT)

SECRET_KEY_FILE := .secret_key

# As in production: nginx on $(HOST):$(PORT) (deploy/nginx.conf.template, rendered into the git-ignored
# .run/serve-$(PORT)/) buffering every request and response in front of gunicorn on a private UNIX socket
# (gunicorn.conf.py: 2 x cores + 1 sync workers, WEB_CONCURRENCY to change it); deploy/serve.py starts both and
# stops both on Ctrl-C. DJANGO_DEBUG=0, whitenoise serving the collected, compressed and hashed static files,
# plain HTTP. The secret key is DJANGO_SECRET_KEY, else one generated once into the git-ignored .secret_key.
# Needs nginx (Debian: apt-get install nginx-light).
serve: data
	@if [ -z "$$DJANGO_SECRET_KEY" ]; then \
	  if [ ! -s $(SECRET_KEY_FILE) ]; then \
	    (umask 077 && $(PY) -c 'import secrets; print(secrets.token_urlsafe(64))' > $(SECRET_KEY_FILE)) && \
	    echo "Generated a secret key into $(SECRET_KEY_FILE) (git-ignored, kept for the next runs)."; \
	  else \
	    echo "Using the secret key in $(SECRET_KEY_FILE); set DJANGO_SECRET_KEY to use another."; \
	  fi; \
	fi
	@export DJANGO_SECRET_KEY="$${DJANGO_SECRET_KEY:-$$(cat $(SECRET_KEY_FILE))}" DJANGO_DEBUG=0 \
	  DJANGO_SECURE_SSL_REDIRECT="$${DJANGO_SECURE_SSL_REDIRECT:-0}" \
	  DJANGO_ALLOWED_HOSTS="$${DJANGO_ALLOWED_HOSTS:-$(HOST),localhost}" \
	  AITRACKER_SITE_URL="$${AITRACKER_SITE_URL:-http://$(HOST):$(PORT)}"; \
	$(PY) manage.py collectstatic --noinput -v0 && \
	exec $(PY) -m deploy.serve --host $(HOST) --port $(PORT)

# Issue 16's targets at 10,000 and 100,000 commitments (see bench/README.md): every page in three modes (page
# cache hit, missed with the kept fragments and counts, everything cold), then a crawl of 5,000 distinct URLs;
# BENCH_DATABASE=postgres to run it on PostgreSQL, BENCH_SIZES or --quick for shorter runs. Needs wrk (apt-get install wrk).
bench: $(VENV)/.installed-run
	$(PY) -m bench.run

# 50 slow clients (slowloris: a header line every few seconds) for 60 s against gunicorn alone and against
# `make serve`'s nginx front, /healthz and /commitments/ latency measured meanwhile; the table goes to
# bench/results/<date>-slowclients.md (see bench/slowclients.py). Loopback only, about three minutes. Needs nginx.
slowclients: $(VENV)/.installed-run
	$(PY) -m bench.slowclients

# Five minutes (SOAK_SECONDS) at concurrency 32 over the public pages while an editor publishes; errors, latency,
# worker memory and whether every publication shows go to bench/results/soak-<date>-<db>.md (see bench/soak.py;
# SOAK_DATABASE=postgres for PostgreSQL). Needs wrk.
soak: $(VENV)/.installed-run
	$(PY) -m bench.soak

test: $(VENV)/.installed-dev
	$(PY) -m pytest

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.installed-dev
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

# Translators (README, "Translating aitracker"): the strings of the code and templates into the French and Chinese
# catalogues (needs GNU gettext: apt-get install gettext), then compiled to the committed .mo files with polib.
# File names without line numbers, and no obsolete entries, so that the .po files change only when strings do.
MAKEMESSAGES_OPTIONS := --locale=fr --locale=zh_Hans --no-obsolete --add-location=file \
	--ignore=staticfiles --ignore=tests --ignore=bench --ignore=deploy --ignore=fixtures
messages: $(VENV)/.installed-run
	@command -v xgettext >/dev/null 2>&1 || { echo "make messages needs GNU gettext (apt-get install gettext)." >&2; exit 1; }
	$(PY) manage.py makemessages $(MAKEMESSAGES_OPTIONS)
	$(PY) manage.py compile_catalogues

clean:
	rm -rf $(VENV) staticfiles .pytest_cache .run
