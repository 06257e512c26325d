# Sales Inbox — the two commands a fresh machine needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
# uv installs exactly what uv.lock pins (`uv sync --frozen`). It comes from PATH, or from
# .venv (it is a dev dependency, so the lock keeps it there), or is bootstrapped once with
# pip into var/uv-bootstrap (no virtualenv or ensurepip needed: uv makes .venv itself).
UV_VERSION := 0.13.9
UV_BOOTSTRAP := var/uv-bootstrap
UV := $(or $(shell command -v uv 2>/dev/null),$(wildcard $(BIN)/uv),$(UV_BOOTSTRAP)/bin/uv)
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml uv.lock | sha1sum | cut -c1-12)
export UV_PROJECT_ENVIRONMENT := $(VENV)
export UV_PYTHON := $(PYTHON)

$(UV_BOOTSTRAP)/bin/uv:
	$(PYTHON) -m pip install -q --disable-pip-version-check --target $(UV_BOOTSTRAP) 'uv==$(UV_VERSION)' \
	  || { $(PYTHON) -m venv $(UV_BOOTSTRAP) && $(UV_BOOTSTRAP)/bin/pip install -q 'uv==$(UV_VERSION)'; }
.PHONY: install demo demo-reset test quick lint format bench chaos services typecheck clean

# The demo's web port: `make demo PORT=8001` when 8000 is taken.
PORT ?= 8000

$(STAMP): pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra dev
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

# After changing dependencies in pyproject.toml: refresh uv.lock and commit it.
lock: | $(UV)
	$(UV) lock

demo: install
	PORT=$(PORT) scripts/run-demo.sh --check-port
	DEBUG=1 $(BIN)/python manage.py migrate --noinput -v0
	DEBUG=1 $(BIN)/python manage.py seed_demo
	DEBUG=1 PORT=$(PORT) scripts/run-demo.sh

# Start over: fresh demo data (the SQLite file, the broker's queue, beat's schedule), then run.
demo-reset:
	rm -rf var/db.sqlite3 var/db.sqlite3-* var/broker var/celerybeat-schedule*
	$(MAKE) demo PORT=$(PORT)

services:
	scripts/ensure-test-services.sh

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

# django-stubs' plugin imports config.settings, which needs the variables pytest sets (pyproject's
# [tool.pytest.ini_options] env); the same defaults, unless the environment has its own.
MYPY_APPS := accounts crm inbox sync api config $(wildcard web)
MYPY := DEBUG=$${DEBUG:-0} SECRET_KEY=$${SECRET_KEY:-mypy-secret-key-not-for-production-0123456789} \
	FIELD_ENCRYPTION_KEYS=$${FIELD_ENCRYPTION_KEYS:-RVpRVGtkN3F6cXh2bUhRd0lVVXp5a1dHbHd2b3V3d1E=} \
	ALLOWED_HOSTS=$${ALLOWED_HOSTS:-localhost} $(BIN)/mypy $(MYPY_APPS)

typecheck: install
	$(MYPY)

# pytest-xdist workers for `make test` (tests/plugins/parallel.py gives each its own Redis
# database; pytest-django its own test database). PYTEST_WORKERS=0 runs in one process.
PYTEST_WORKERS ?= 2
# The slow tiers (tests/plugins/tiers.py marks them by what a test uses); `make quick` runs the rest.
QUICK_MARKERS := not browser and not dovecot and not worker and not chaos and not smoke and not matrix and not slow
# Python's bytecode cache (and pytest's cache of rewritten test modules) make a second run
# start in seconds instead of compiling every module again; some shells turn it off.
PYTEST := PYTHONDONTWRITEBYTECODE= $(BIN)/pytest

test: install services
	# --frozen installs uv.lock as it is; this fails when pyproject.toml changed without `make lock`.
	$(UV) lock --check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(MYPY)
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run -v0 || (echo "Missing migrations" && exit 1)
	$(PYTEST) -n $(PYTEST_WORKERS) --dist loadgroup $(PYTEST_ARGS)

# Everything but the slow tiers, in under a minute: the check to run while working. It keeps
# the workers' test databases between runs (--reuse-db still applies new migrations).
quick: install services
	$(PYTEST) -n $(PYTEST_WORKERS) --dist loadgroup --reuse-db -m "$(QUICK_MARKERS)" -q $(PYTEST_ARGS)

bench: install services
	$(UV) sync --frozen --extra dev --extra bench
	command -v mbsync >/dev/null || { $$( [ $$(id -u) = 0 ] || echo sudo ) apt-get update -qq && $$( [ $$(id -u) = 0 ] || echo sudo ) apt-get install -y -qq --no-install-recommends isync >/dev/null; }
	$(BIN)/python bench/run.py

# The long chaos run (1,000 changes, worker kills, Redis restarts, Dovecot down 2 minutes,
# flaky Gmail/Graph); a short variant runs in `make test` (tests/chaos). See docs/chaos.md.
chaos: install services
	$(BIN)/python scripts/chaos.py $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) var
