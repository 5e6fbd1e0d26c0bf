"""Fixtures for the resource API: a fake issuer reached through an in-process transport, a
controllable clock, and a database (SQLite file, or a throw-away PostgreSQL schema)."""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
import sqlalchemy as sa
from flask import Flask
from flask.testing import FlaskClient
from joserfc.jwk import RSAKey

from resource_api import create_app
from resource_api.extensions import db
from resource_api.protection import token_validator
from tests.databases import empty_tables
from tests.wsgi_transport import WSGITransport

from .api_testing import AUDIENCE, ISSUER, FakeClock, mint_token
from .fake_issuer import INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET, FakeIssuer


@pytest.fixture(scope="session")
def signing_keys() -> list[RSAKey]:
    """Generated once: RSA key generation is the slowest thing these tests would do."""
    return [
        RSAKey.generate_key(2048, parameters={"kid": f"key-{n}", "use": "sig", "alg": "RS256"})
        for n in (1, 2, 3)
    ]


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def issuer(signing_keys: list[RSAKey]) -> FakeIssuer:
    return FakeIssuer(ISSUER, published=[signing_keys[0]])


@pytest.fixture
def issuer_wsgi_app(issuer: FakeIssuer) -> Any:
    # The WSGI app the API's issuer requests go to. Returning the real authorization server's
    # app here (authserver.create_app(...)) runs these requests against it instead.
    return issuer.app


@pytest.fixture
def transport(issuer_wsgi_app: Any) -> WSGITransport:
    return WSGITransport(issuer_wsgi_app)


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """A developer's own RESOURCE_API_* settings must not change what the tests see."""
    for name in list(os.environ):
        if name.startswith("RESOURCE_API_"):
            monkeypatch.delenv(name)


@contextmanager
def _throwaway_database(
    tmp_path_factory: pytest.TempPathFactory, name: str
) -> Iterator[dict[str, Any]]:
    """A new empty database for this session: a SQLite file by default; with
    RESOURCE_API_DATABASE_URL=postgresql..., a uniquely named schema, dropped at the end."""
    url = os.environ.get("RESOURCE_API_DATABASE_URL", "")
    if not url.startswith("postgresql"):
        path = tmp_path_factory.mktemp("resource_api_db") / f"{name}.sqlite3"
        yield {"DATABASE_URL": f"sqlite:///{path}", "SQLALCHEMY_ENGINE_OPTIONS": {}}
        return

    schema = f"resource_api_test_{name}_{secrets.token_hex(6)}"
    admin = sa.create_engine(url, connect_args={"connect_timeout": 3})
    try:
        with admin.begin() as connection:
            connection.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    except sa.exc.OperationalError as error:
        admin.dispose()
        message = f"RESOURCE_API_DATABASE_URL asks for PostgreSQL, which is unreachable: {error}"
        if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
            pytest.fail(message)  # CI must not go green by skipping the database it was given
        pytest.skip(message)
    try:
        yield {
            "DATABASE_URL": url,
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"options": f"-csearch_path={schema}"}},
        }
    finally:
        with admin.begin() as connection:
            connection.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()


@pytest.fixture(scope="session")
def database_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """The database most tests share: tables made once per session, rows deleted after each
    test (creating and dropping tables per test is most of the time on PostgreSQL)."""
    with _throwaway_database(tmp_path_factory, "shared") as config:
        engine = sa.create_engine(config["DATABASE_URL"], **config["SQLALCHEMY_ENGINE_OPTIONS"])
        db.metadata.create_all(engine)
        engine.dispose()
        yield config


@pytest.fixture(scope="session")
def empty_database_config(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    """A database without tables, for the migration tests; each one leaves it empty again."""
    with _throwaway_database(tmp_path_factory, "empty") as config:
        yield config


@pytest.fixture
def _app_builder(clock: FakeClock, transport: WSGITransport) -> Iterator[Callable[..., Flask]]:
    """Builds API apps wired to the fake issuer and the clock, and cleans up after them: rows
    deleted where the tables are shared, everything dropped where the test made the tables."""
    built: list[tuple[Flask, bool]] = []

    def build(settings: dict[str, Any], *, shared_tables: bool) -> Flask:
        app = create_app(
            {
                "TESTING": True,
                "ISSUER": ISSUER,
                "AUDIENCE": AUDIENCE,
                "CLOCK": clock,
                "INTROSPECTION_CLIENT_ID": INTROSPECTION_CLIENT_ID,
                "INTROSPECTION_CLIENT_SECRET": INTROSPECTION_CLIENT_SECRET,
                **settings,
            }
        )
        token_validator(app).issuer.session.mount(f"{ISSUER}/", transport)
        built.append((app, shared_tables))
        return app

    yield build

    for app, shared_tables in built:
        with app.app_context():
            db.session.remove()
            if shared_tables:
                empty_tables(db.engine, db.metadata)
            else:
                leftovers = sa.MetaData()
                leftovers.reflect(db.engine)
                leftovers.drop_all(db.engine)
            db.engine.dispose()


@pytest.fixture
def make_app(
    _app_builder: Callable[..., Flask], database_config: dict[str, Any]
) -> Callable[..., Flask]:
    """``make_app(INTROSPECTION=True, ...)``: an app on the shared database (tables exist)."""
    return lambda **settings: _app_builder({**database_config, **settings}, shared_tables=True)


@pytest.fixture
def make_bare_app(
    _app_builder: Callable[..., Flask], empty_database_config: dict[str, Any]
) -> Callable[..., Flask]:
    """Like make_app, on a database without tables (for the migration tests)."""
    return lambda **settings: _app_builder(
        {**empty_database_config, **settings}, shared_tables=False
    )


@pytest.fixture
def app(make_app: Callable[..., Flask]) -> Flask:
    return make_app()


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def make_token(signing_keys: list[RSAKey], clock: FakeClock) -> Callable[..., str]:
    """``make_token(sub="bob", scope="events:read", exp=None, key=..., header={...})``."""

    def factory(*, key: RSAKey | None = None, **kwargs: Any) -> str:
        return mint_token(key or signing_keys[0], now=clock(), **kwargs)

    return factory


@pytest.fixture
def token(make_token: Callable[..., str]) -> str:
    """A valid token for alice with every scope."""
    return make_token()
