"""The resource API for the fuzz tests, under names of its own (``api_*``): this folder also
uses the authorization server's ``app`` and ``client`` from tests/conftest.py.

The API trusts the fake issuer of tests/resource_api, reached in-process; its database is a
SQLite file or, with RESOURCE_API_DATABASE_URL=postgresql..., a throw-away schema, made by the
API's real migrations.
"""

from __future__ import annotations

import base64
import json
import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from flask import Flask
from flask_migrate import upgrade
from joserfc import jws
from joserfc.jwk import RSAKey

import resource_api
from resource_api.extensions import db as api_db
from resource_api.protection import token_validator
from tests.databases import drop_postgres_schema, empty_tables, make_postgres_schema, schema_options
from tests.resource_api.api_testing import AUDIENCE, ISSUER, FakeClock, mint_token
from tests.resource_api.fake_issuer import (
    INTROSPECTION_CLIENT_ID,
    INTROSPECTION_CLIENT_SECRET,
    FakeIssuer,
)
from tests.wsgi_transport import WSGITransport

from .strategies import table_digests


@pytest.fixture(scope="session")
def api_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    url = os.environ.get("RESOURCE_API_DATABASE_URL", "")
    schema = None
    if url.startswith("postgresql"):
        schema = make_postgres_schema(url)  # fails loudly when the server is unreachable
        config = {"DATABASE_URL": url, "SQLALCHEMY_ENGINE_OPTIONS": schema_options(schema)}
    else:
        path = tmp_path_factory.mktemp("fuzz_api_db") / "resource_api.sqlite3"
        config = {"DATABASE_URL": f"sqlite:///{path}", "SQLALCHEMY_ENGINE_OPTIONS": {}}
    app = resource_api.create_app({"TESTING": True, **config})
    with app.app_context():
        upgrade()
        api_db.engine.dispose()
    yield config
    if schema:
        drop_postgres_schema(url, schema)


@pytest.fixture(scope="session")
def api_signing_key() -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": "fuzz-key", "use": "sig", "alg": "RS256"})


@pytest.fixture
def api_clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api_issuer(api_signing_key: RSAKey) -> FakeIssuer:
    return FakeIssuer(ISSUER, published=[api_signing_key])


@pytest.fixture
def make_api(
    api_database: dict[str, Any], api_issuer: FakeIssuer, api_clock: FakeClock
) -> Iterator[Callable[..., Flask]]:
    """``make_api(INTROSPECTION=True, ...)``: a resource API trusting the fake issuer."""
    built: list[Flask] = []

    def build(**settings: Any) -> Flask:
        app = resource_api.create_app(
            {
                "TESTING": True,
                "ISSUER": ISSUER,
                "AUDIENCE": AUDIENCE,
                "CLOCK": api_clock,
                "INTROSPECTION_CLIENT_ID": INTROSPECTION_CLIENT_ID,
                "INTROSPECTION_CLIENT_SECRET": INTROSPECTION_CLIENT_SECRET,
                **api_database,
                **settings,
            }
        )
        token_validator(app).issuer.session.mount(f"{ISSUER}/", WSGITransport(api_issuer.app))
        built.append(app)
        return app

    yield build
    for app in built:
        with app.app_context():
            api_db.session.remove()
            empty_tables(api_db.engine, api_db.metadata)
            api_db.engine.dispose()


@pytest.fixture
def api_token(api_signing_key: RSAKey, api_clock: FakeClock) -> Callable[..., str]:
    """``api_token(sub=..., scope=..., header={...})``: signed by the key the issuer publishes."""

    def factory(*, header: dict[str, Any] | None = None, **claims: Any) -> str:
        try:
            return mint_token(api_signing_key, now=api_clock(), header=header, **claims)
        except UnicodeEncodeError:
            # A lone surrogate: joserfc will not encode it, but a JSON escape carries it.
            full = {**claims_of(mint_token(api_signing_key, now=api_clock())), **claims}
            full = {name: value for name, value in full.items() if value is not None}
            jose = {"alg": "RS256", "typ": "at+jwt", "kid": api_signing_key.kid, **(header or {})}
            return jws.serialize_compact(jose, json.dumps(full).encode(), api_signing_key)

    return factory


def claims_of(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def api_snapshot(app: Flask) -> Callable[[], dict[str, str]]:
    def snapshot() -> dict[str, str]:
        with app.app_context(), api_db.engine.connect() as connection:
            return table_digests(connection, api_db.metadata.sorted_tables)

    return snapshot
