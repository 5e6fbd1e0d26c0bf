# One entry point per task; CI (.ci/run) calls the same targets.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

NODE_INTEROP := tests/interop/node

.PHONY: install node-interop serve test lint format bench

$(BIN)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

install: $(BIN)/.installed

# A Node.js OpenID Connect client (openid-client) for one interop test; skipped without npm.
$(NODE_INTEROP)/node_modules/.installed: $(NODE_INTEROP)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(NODE_INTEROP) --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the Node.js interop test will be skipped"; fi

node-interop: $(NODE_INTEROP)/node_modules/.installed

## Install, migrate, seed the demo user and client, and start both services on SQLite.
serve: install
	bash scripts/serve.sh

## Install and run every test (SQLite by default; set AUTHSERVER_DATABASE_URL for PostgreSQL).
test: install node-interop
	$(BIN)/pytest

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Throughput and latency over HTTP under gunicorn (see the README); e.g. BENCH_ARGS="--db postgresql".
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)
