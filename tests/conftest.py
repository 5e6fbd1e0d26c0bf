"""Fixtures: a migrated database per test run, emptied after each test; apps; logged-in users.

SQLite by default. With ``AUTHSERVER_DATABASE_URL`` pointing at PostgreSQL the run makes its own
schema there and drops it at the end, so nothing is left behind.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from authserver import create_app
from authserver.extensions import db
from authserver.models import Base
from authserver.security.signing import generate_private_key
from authserver.services.keys import new_signing_key

from . import factories
from .databases import (
    TestDatabase,
    drop_postgres_schema,
    empty_tables,
    make_postgres_schema,
    postgres_url_for_tests,
    required_postgres_schema,
    schema_options,
)
from .helpers import login

# Apps the tests make by other means than ``_make_app`` (create_app in a test, a CLI runner)
# send no mail either: no outbox thread, and an SMTP URL nobody listens on. A test that wants
# mail starts a server and sets both (tests/mail_server.py); subprocess servers get their own.
os.environ.setdefault("AUTHSERVER_OUTBOX_INTERVAL", "")
os.environ.setdefault("AUTHSERVER_SMTP_URL", "smtp://127.0.0.1:9")


@pytest.fixture(scope="session")
def test_database(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestDatabase]:
    url = os.environ.get("AUTHSERVER_DATABASE_URL", "")
    if url.startswith("postgresql"):
        schema = make_postgres_schema(url)  # fails loudly when the server is unreachable
        database = TestDatabase(url, schema_options(schema), schema)
    else:
        path = tmp_path_factory.mktemp("db") / "authserver.sqlite3"
        database = TestDatabase(f"sqlite:///{path}", {"pool_pre_ping": True}, None)
    app = _make_app(database, tmp_path_factory.mktemp("instance"))
    with app.app_context():
        from flask_migrate import upgrade

        upgrade()
        db.engine.dispose()
    yield database
    if database.schema:
        drop_postgres_schema(database.url, database.schema)


@pytest.fixture(scope="session")
def signing_pem() -> tuple[str, str]:
    # One RSA key for the run: generating one costs ~100 ms, parsing it ~39 ms.
    return generate_private_key()


def _make_app(database: TestDatabase, instance: Path, **overrides: object) -> Flask:
    config = {
        "TESTING": True,
        "INSTANCE_PATH": str(instance),
        "DATABASE_URL": database.url,
        "SQLALCHEMY_ENGINE_OPTIONS": database.engine_options,
        "SECRET_KEY": "test-secret-key-" + "x" * 32,
        "BCRYPT_ROUNDS": 4,
        # No mail leaves a test unless it starts an SMTP server and says so (tests/mail_server.py);
        # port 9 (discard) has nobody listening, so a stray delivery fails and is retried.
        "OUTBOX_INTERVAL": None,
        "SMTP_URL": "smtp://127.0.0.1:9",
    }
    config.update(overrides)
    return create_app(config)


@pytest.fixture
def app_config() -> dict:
    """Override in a test module (or parametrize) to change settings for its apps."""
    return {}


@pytest.fixture
def app(
    test_database: TestDatabase, signing_pem: tuple[str, str], tmp_path: Path, app_config: dict
) -> Iterator[Flask]:
    app = _make_app(test_database, tmp_path, **app_config)
    with app.app_context():
        kid, pem = signing_pem
        db.session.add(new_signing_key(kid, pem))
        db.session.commit()
    # No app context stays pushed during the test: a request would reuse it, and with it ``g``
    # (Flask-Login's current user) and the database session, unlike in production.
    yield app
    with app.app_context():
        empty_tables(db.engine, Base.metadata)
        db.engine.dispose()


class FakeClock:
    """The server's "now" (its ``CLOCK`` setting), moved only when a test says so."""

    def __init__(self, start: datetime) -> None:
        self.start = self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)

    def timestamp(self) -> int:
        return int(self.current.timestamp())


@pytest.fixture
def fake_clock(app: Flask) -> FakeClock:
    # Half past a second, as real logins are: whole-second claims must not trip on it.
    clock = FakeClock(datetime.now(UTC).replace(microsecond=500_000))
    app.config["CLOCK"] = clock
    return clock


@pytest.fixture
def client(app: Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def user(app: Flask) -> factories.UserInfo:
    with app.app_context():
        return factories.make_user()


@pytest.fixture
def logged_in(client: FlaskClient, user: factories.UserInfo) -> FlaskClient:
    login(client, user.email, user.password)
    return client


@pytest.fixture
def confidential_client(app: Flask, user: factories.UserInfo) -> factories.ClientInfo:
    with app.app_context():
        return factories.make_client(owner_email=user.email)


@pytest.fixture
def public_client(app: Flask, user: factories.UserInfo) -> factories.ClientInfo:
    with app.app_context():
        return factories.make_client(owner_email=user.email, public=True)


@pytest.fixture
def resource_server(app: Flask) -> factories.ClientInfo:
    """A protected resource registered to introspect every client's tokens (RFC 7662 §2.1)."""
    with app.app_context():
        return factories.make_service_client(name="Resource API", can_introspect_any=True)


@pytest.fixture
def postgres_url(test_database: TestDatabase) -> Iterator[tuple[str, dict]]:
    """A PostgreSQL database for tests that need one; fails in CI, skips elsewhere, if absent."""
    if test_database.is_postgresql:
        yield test_database.url, test_database.engine_options
        return
    url = postgres_url_for_tests(test_database)
    schema = required_postgres_schema(url)
    yield url, schema_options(schema)
    drop_postgres_schema(url, schema)


@pytest.fixture
def pg_app(postgres_url, test_database: TestDatabase, tmp_path: Path) -> Iterator[Flask]:
    """An app on PostgreSQL (the run's own schema, or one made for it on a SQLite run), for the
    concurrency tests; throttling off, tables emptied afterwards."""
    url, engine_options = postgres_url
    app = _make_app(TestDatabase(url, engine_options, None), tmp_path, RATELIMIT_ENABLED=False)
    with app.app_context():
        if not test_database.is_postgresql:
            from flask_migrate import upgrade

            upgrade()
    yield app
    with app.app_context():
        empty_tables(db.engine, Base.metadata)
        db.engine.dispose()
