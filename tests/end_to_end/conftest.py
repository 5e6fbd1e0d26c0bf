"""The resource API wired to the real authorization server, in-process.

The API reaches the server only through its HTTP interface (discovery, JWKS, introspection),
sent through a transport that calls the server's WSGI app; it shares no code or database.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask
from flask_migrate import upgrade

import resource_api
from resource_api.extensions import db as api_db
from resource_api.protection import token_validator
from tests.databases import drop_postgres_schema, empty_tables, make_postgres_schema, schema_options
from tests.resource_api.api_testing import FakeClock
from tests.wsgi_transport import WSGITransport

ISSUER = "http://127.0.0.1:5000"
AUDIENCE = "http://127.0.0.1:5001"


@pytest.fixture(scope="session")
def api_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict]:
    """The API's own database for the run, its schema made by the real migrations."""
    url = os.environ.get("RESOURCE_API_DATABASE_URL", "")
    schema = None
    if url.startswith("postgresql"):
        schema = make_postgres_schema(url)
        config = {"DATABASE_URL": url, "SQLALCHEMY_ENGINE_OPTIONS": schema_options(schema)}
    else:
        path = tmp_path_factory.mktemp("api_db") / "resource_api.sqlite3"
        config = {"DATABASE_URL": f"sqlite:///{path}", "SQLALCHEMY_ENGINE_OPTIONS": {}}
    app = resource_api.create_app({"TESTING": True, **config})
    with app.app_context():
        upgrade()
        api_db.engine.dispose()
    yield config
    if schema:
        drop_postgres_schema(url, schema)


@pytest.fixture
def api_clock() -> FakeClock:
    import time

    return FakeClock(time.time())


@pytest.fixture
def make_api(app: Flask, api_database: dict, api_clock: FakeClock, tmp_path: Path):
    """``make_api(INTROSPECTION=True, ...)``: a resource API trusting ``app``, the real server."""
    built: list[Flask] = []

    def build(**settings: object) -> Flask:
        api = resource_api.create_app(
            {
                "TESTING": True,
                "ISSUER": ISSUER,
                "AUDIENCE": AUDIENCE,
                "CLOCK": api_clock,
                **api_database,
                **settings,
            }
        )
        token_validator(api).issuer.session.mount(f"{ISSUER}/", WSGITransport(app))
        built.append(api)
        return api

    yield build
    for api in built:
        with api.app_context():
            api_db.session.remove()
            empty_tables(api_db.engine, api_db.metadata)
            api_db.engine.dispose()


@pytest.fixture
def api(make_api) -> Flask:
    return make_api()
