import sqlite3

import psycopg
from sqlalchemy.exc import IntegrityError, OperationalError

from authserver import create_app
from authserver.views.errors import database_unavailable
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
