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

.PHONY: help run test serve bench soak lint format migrate data clean

help:
	@echo "make run    - set up and serve the site with the real data on http://$(HOST):$(PORT)"
	@echo "make test   - set up and run the whole test suite"
	@echo "make serve  - serve as in production (gunicorn, DJANGO_DEBUG=0)"
	@echo "make bench  - benchmark the public pages at two data sizes"
	@echo "make soak   - five-minute soak test under load while an editor publishes"

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

run: data
	$(PY) manage.py runserver $(HOST):$(PORT)

test: $(VENV)/.installed-dev
	$(PY) -m pytest

lint: $(VENV)/.installed-dev
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: $(VENV)/.installed-dev
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

clean:
	rm -rf $(VENV) staticfiles .pytest_cache
