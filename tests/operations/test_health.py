import sqlite3

import flask_migrate
import psycopg
from sqlalchemy.exc import IntegrityError, OperationalError

from authserver import create_app
from authserver.extensions import db
from outages import database_unavailable
from tests.helpers import basic_auth


def test_healthz_answers_without_the_database(client):
    assert client.get("/healthz").get_json() == {"status": "ok"}


def test_readyz_reports_a_reachable_database(client):
    assert client.get("/readyz").status_code == 200


def test_readyz_is_503_when_the_database_is_unreachable(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": "postgresql+psycopg://127.0.0.1:1/nothing",
            "SECRET_KEY": "x" * 32,
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 1}},
        }
    )
    response = app.test_client().get("/readyz")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"


def test_public_issuer_must_use_https_and_a_set_secret_key(tmp_path):
    import pytest

    with pytest.raises(RuntimeError, match="https"):
        create_app({"ISSUER": "http://auth.example.com", "INSTANCE_PATH": str(tmp_path)})
    with pytest.raises(RuntimeError, match="SECRET_KEY"):
        create_app({"ISSUER": "https://auth.example.com", "INSTANCE_PATH": str(tmp_path)})


def test_machine_endpoints_answer_503_with_retry_after_when_the_database_is_unreachable(tmp_path):
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": "postgresql+psycopg://127.0.0.1:1/nothing",
            "SECRET_KEY": "x" * 32,
            "SQLALCHEMY_ENGINE_OPTIONS": {"connect_args": {"connect_timeout": 1}},
            "RATELIMIT_ENABLED": False,
            "REGISTRATION_ENABLED": True,
        }
    )
    http = app.test_client()
    registration = {"redirect_uris": ["https://app.example.com/cb"], "client_name": "App"}
    answers = [
        http.post("/oauth/register", json=registration),
        http.get("/oauth/jwks"),
    ]
    response = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth("some-client", "secret"),
    )
    for answer in [response, *answers]:
        assert answer.status_code == 503, answer.data
        assert answer.get_json()["error"] == "temporarily_unavailable"
        assert int(answer.headers["Retry-After"]) > 0
    assert http.get("/healthz").status_code == 200


def test_only_connection_failures_count_as_the_database_being_away():
    """A refused query (a constraint, a missing table) is a bug to see, not an outage to hide."""
    assert database_unavailable(OperationalError("SELECT 1", {}, psycopg.OperationalError("x")))
    assert database_unavailable(
        OperationalError("SELECT 1", {}, Exception(), connection_invalidated=True)
    )
    missing_table = sqlite3.OperationalError("no such table: users")
    assert not database_unavailable(OperationalError("SELECT 1", {}, missing_table))
    duplicate = psycopg.errors.UniqueViolation("duplicate key")
    assert not database_unavailable(IntegrityError("INSERT", {}, duplicate))


def _set_revision(app, revision: str | None) -> None:
    from sqlalchemy import text

    from authserver.extensions import db

    with app.app_context(), db.engine.begin() as connection:
        connection.execute(text("DELETE FROM alembic_version"))
        if revision is not None:
            connection.execute(
                text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": revision}
            )


def _head(app) -> str:
    from authserver.services.schema import shipped_revisions

    with app.app_context():
        (head,) = shipped_revisions(app.extensions["migrate"].directory).heads
    return head


def test_readyz_is_503_while_the_schema_is_behind_the_code(app, client):
    """Issue 19, item 4: a node whose database is a revision behind answers 500 where the code
    reads what the migration adds, so it is not ready until `authserver db upgrade` ran."""
    head = _head(app)
    try:
        _set_revision(app, "0009_email_key")
        response = client.get("/readyz")
        assert response.status_code == 503
        assert "0009_email_key" in response.get_json()["reason"]
        assert "db upgrade" in response.get_json()["reason"]
        _set_revision(app, None)
        assert client.get("/readyz").status_code == 503
        # A revision this code does not know is a newer one: another node already upgraded,
        # and migrations add before they take away, so this one keeps serving.
        _set_revision(app, "9999_from_a_newer_release")
        assert client.get("/readyz").status_code == 200
    finally:
        _set_revision(app, head)
    assert client.get("/readyz").get_json() == {"status": "ok"}


def test_sqlite_that_cannot_be_used_is_an_outage_and_a_refused_query_is_not():
    """Issue 19, item 5: SQLite's "unable to open" and "locked" answered 500."""

    def sqlite_error(message: str, code: int) -> sqlite3.OperationalError:
        error = sqlite3.OperationalError(message)
        error.sqlite_errorcode = code  # as the sqlite3 module sets it
        return error

    for message, code in [
        ("unable to open database file", 14),  # SQLITE_CANTOPEN
        ("database is locked", 5),  # SQLITE_BUSY, past the busy timeout
        ("disk I/O error", 10 | (1 << 8)),  # SQLITE_IOERR_READ: extended codes count too
        ("database or disk is full", 13),
    ]:
        assert database_unavailable(OperationalError("SELECT 1", {}, sqlite_error(message, code)))
        assert database_unavailable(sqlite_error(message, code))  # as a raw driver error
    refused = sqlite_error("no such table: users", 1)  # SQLITE_ERROR
    assert not database_unavailable(OperationalError("SELECT 1", {}, refused))


def test_a_sqlite_file_that_cannot_be_opened_answers_503_and_heals(tmp_path):
    folder = tmp_path / "data"
    folder.mkdir()
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": f"sqlite:///{folder / 'auth.sqlite3'}",
            "SECRET_KEY": "x" * 32,
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        flask_migrate.upgrade()
        db.engine.dispose()
    http = app.test_client()
    assert http.get("/readyz").status_code == 200

    folder.rename(tmp_path / "moved")
    with app.app_context():
        db.engine.dispose()  # open connections would keep the moved file
    token = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth("some-client", "secret"),
    )
    assert token.status_code == 503, token.data
    assert token.get_json()["error"] == "temporarily_unavailable"
    assert int(token.headers["Retry-After"]) > 0
    assert http.get("/readyz").status_code == 503
    assert http.get("/healthz").status_code == 200

    (tmp_path / "moved").rename(folder)
    assert http.get("/readyz").status_code == 200
    refused = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth("some-client", "secret"),
    )
    assert refused.status_code == 401  # answered again: an unknown client, not a 503
    with app.app_context():
        db.engine.dispose()
