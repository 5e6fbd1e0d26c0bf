# One entry point per task; CI (.ci/run) calls the same targets.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

.PHONY: install serve test lint format bench

$(BIN)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

## Install, migrate, seed the demo user and client, and start both services on SQLite.
serve: install
	bash scripts/serve.sh

## Install and run every test (SQLite by default; set AUTHSERVER_DATABASE_URL for PostgreSQL).
test: install
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

bench: install
	$(BIN)/python -m bench
