# Sales Inbox — the two commands a fresh machine needs: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml | sha1sum | cut -c1-12)

.PHONY: install demo demo-reset test lint format bench chaos services typecheck clean

# The demo's web port: `make demo PORT=8001` when 8000 is taken.
PORT ?= 8000

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

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

typecheck: install
	$(BIN)/mypy accounts crm inbox sync api config

test: install services
	$(BIN)/ruff check .
	DEBUG=1 $(BIN)/python manage.py makemigrations --check --dry-run -v0 || (echo "Missing migrations" && exit 1)
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install services
	$(BIN)/pip install -q -e '.[dev,bench]'
	command -v mbsync >/dev/null || { $$( [ $$(id -u) = 0 ] || echo sudo ) apt-get update -qq && $$( [ $$(id -u) = 0 ] || echo sudo ) apt-get install -y -qq --no-install-recommends isync >/dev/null; }
	$(BIN)/python bench/run.py

# The long chaos run (1,000 changes, worker kills, Redis restarts, Dovecot down 2 minutes,
# flaky Gmail/Graph); a short variant runs in `make test` (tests/chaos). See docs/chaos.md.
chaos: install services
	$(BIN)/python scripts/chaos.py $(CHAOS_ARGS)

clean:
	rm -rf $(VENV) var
