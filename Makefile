# One entry point per task; CI (.ci/run) calls the same targets.
VENV ?= .venv
PYTHON ?= python3
BIN := $(VENV)/bin

NODE_INTEROP := tests/interop/node
BROWSER_SPA := tests/browser/spa

.PHONY: install node-interop browser-npm serve test lint format bench docs

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

# oidc-client-ts and axe-core for the browser tests (tests/browser/); they also need Chromium at
# /usr/bin/chromium (`apt-get install chromium`; .ci/run does it) and are skipped without it here.
$(BROWSER_SPA)/node_modules/.installed: $(BROWSER_SPA)/package-lock.json
	@if command -v npm >/dev/null 2>&1; then \
		npm ci --prefix $(BROWSER_SPA) --no-audit --no-fund --loglevel=error && touch $@; \
	else echo "npm not found: the browser tests will be skipped"; fi

browser-npm: $(BROWSER_SPA)/node_modules/.installed

## Install, migrate, seed the demo user and client, and start the services on SQLite: the server
## on BIND, the API one port up, the demo client two up (make serve BIND=127.0.0.1:8000).
BIND ?= 127.0.0.1:5000
serve: install
	BIND=$(BIND) bash scripts/serve.sh

## Install and run every test (SQLite by default; set AUTHSERVER_DATABASE_URL for PostgreSQL).
# Two processes on these two-core machines (pytest-xdist); a file's tests stay in one process, so
# the module-scoped servers (the nodes, the browser's services) start once.
test: install node-interop browser-npm
	$(BIN)/pytest -n auto --dist loadfile

# mypy checks the packages setup.cfg's [mypy] section names: about 9 s from a fresh clone,
# under a second again with its cache (.mypy_cache).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

format: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Throughput and latency over HTTP under gunicorn (docs/development.md); e.g. BENCH_ARGS="--db postgresql".
bench: install
	$(BIN)/python -m bench $(BENCH_ARGS)

## Regenerate docs/configuration.md from the DefaultConfig classes (tests/project/test_docs.py checks it).
docs: install
	$(BIN)/python -m scripts.config_docs
