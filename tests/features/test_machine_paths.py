"""The machine endpoints: what they cost in database work, what they cache, and that the caches
stay right across workers (two apps on one database stand for two processes)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from flask import Flask
from sqlalchemy import event

from authserver.extensions import db
from tests import factories
from tests.helpers import basic_auth, client_credentials_token


@contextmanager
def statements(app: Flask) -> Iterator[list[str]]:
    """The SQL statements ``app`` sends while the block runs (COMMIT included)."""
    sent: list[str] = []

    def on_execute(conn, cursor, statement, *args) -> None:
        sent.append(statement.split(None, 1)[0].upper())

    def on_commit(conn) -> None:
        sent.append("COMMIT")

    with app.app_context():
        engine = db.engine
    event.listen(engine, "before_cursor_execute", on_execute)
    event.listen(engine, "commit", on_commit)
    try:
        yield sent
    finally:
        event.remove(engine, "before_cursor_execute", on_execute)
        event.remove(engine, "commit", on_commit)


@pytest.fixture
def service(app: Flask) -> factories.ClientInfo:
    with app.app_context():
        return factories.make_service_client()


def test_a_client_credentials_token_is_one_insert_and_one_commit(app, service, fake_clock):
    """Once warm, a token costs one INSERT and one COMMIT: the caches' version stamps were read
    less than CACHE_CHECK_INTERVAL ago (the clock stands still here)."""
    http = app.test_client()
    client_credentials_token(http, service)
    with statements(app) as sent:
        client_credentials_token(http, service)
    assert sent == ["INSERT", "COMMIT"]


@pytest.mark.parametrize("kind", ["access_token", "refresh_token"])
def test_introspection_is_one_query_picked_by_the_tokens_shape(
    app, logged_in, confidential_client, fake_clock, kind
):
    """Issue 15, item 3: a warm introspection reads the token with its grant, client and person
    in one SELECT, and a JWT is never looked up as a refresh token first."""
    from tests.helpers import introspect
    from tests.helpers import user_tokens as tokens

    token = tokens(logged_in, confidential_client)[kind]
    http = app.test_client()
    introspect(http, confidential_client, token)
    with statements(app) as sent:
        answer = introspect(http, confidential_client, token).get_json()
    assert answer["active"] is True
    assert sent == ["SELECT"]


@pytest.mark.parametrize("path", ["/oauth/jwks", "/.well-known/openid-configuration", "/healthz"])
def test_public_documents_and_liveness_do_no_database_work_once_warm(app, client, fake_clock, path):
    client.get(path)
    with statements(app) as sent:
        assert client.get(path).status_code == 200
        assert client.get(path).status_code == 200
    assert sent == []


def test_the_version_stamps_are_read_once_an_interval_by_whichever_request_comes(
    app, client, service, fake_clock
):
    interval = app.config["CACHE_CHECK_INTERVAL"]
    assert interval == 1.0  # the default
    http = app.test_client()
    client_credentials_token(http, service)
    fake_clock.advance(interval)
    with statements(app) as sent:
        client.get("/oauth/jwks")  # reads them, on a connection of its own
        client_credentials_token(http, service)
        client.get("/oauth/jwks")
    assert sent == ["SELECT", "INSERT", "COMMIT"]
    fake_clock.advance(interval - 0.001)
    with statements(app) as sent:
        client.get("/oauth/jwks")
    assert sent == []
    fake_clock.advance(0.001)
    with statements(app) as sent:
        client.get("/oauth/jwks")
    assert sent == ["SELECT"]


@pytest.mark.parametrize("app_config", [{"CACHE_CHECK_INTERVAL": 0}])
def test_with_no_interval_every_request_reads_the_version_stamps_once(app, service):
    http = app.test_client()
    client_credentials_token(http, service)
    with statements(app) as sent:
        client_credentials_token(http, service)
    assert sent == ["SELECT", "INSERT", "COMMIT"]


@pytest.mark.parametrize(
    "path",
    ["/oauth/jwks", "/.well-known/openid-configuration", "/.well-known/oauth-authorization-server"],
)
def test_public_documents_are_cacheable_and_revalidate_with_304(client, path):
    """RFC 9110 §13.1.2: If-None-Match with the current ETag answers 304 with no body."""
    first = client.get(path)
    assert first.status_code == 200
    assert first.headers["Cache-Control"].startswith("public, max-age=")
    etag = first.headers["ETag"]

    again = client.get(path, headers={"If-None-Match": etag})

    assert again.status_code == 304
    assert again.data == b""
    assert client.get(path, headers={"If-None-Match": '"other"'}).status_code == 200


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("POST", "/oauth/token"),
        ("POST", "/oauth/introspect"),
        ("POST", "/oauth/revoke"),
        ("GET", "/oauth/jwks"),
        ("GET", "/.well-known/openid-configuration"),
    ],
)
def test_machine_endpoints_neither_read_nor_set_a_session(logged_in, method, path):
    """Even with a browser's session cookie sent along, a machine endpoint sets no cookie and
    does not vary by it (shared caches may keep the public documents)."""
    response = logged_in.open(path, method=method, data={} if method == "POST" else None)
    assert "Set-Cookie" not in response.headers
    assert "Cookie" not in response.headers.get("Vary", "")


def test_a_key_rotated_on_one_worker_is_used_and_published_by_every_worker(
    app, test_database, tmp_path, service, fake_clock
):
    """After `keys rotate` the new key is active in every process within CACHE_CHECK_INTERVAL
    (the next read of the version stamps), not after its cached copy happens to expire."""
    from tests.conftest import _make_app

    other = _make_app(test_database, tmp_path / "other")
    http = app.test_client()
    old_kid = http.get("/oauth/jwks").get_json()["keys"][0]["kid"]
    client_credentials_token(http, service)  # warms this worker's caches

    result = other.test_cli_runner().invoke(args=["keys", "rotate", "--json"])
    assert result.exit_code == 0, result.output
    fake_clock.advance(app.config["CACHE_CHECK_INTERVAL"])

    published = [k["kid"] for k in http.get("/oauth/jwks").get_json()["keys"]]
    token = client_credentials_token(http, service)
    from joserfc import jws

    assert published[0] != old_kid and old_kid in published
    assert jws.extract_compact(token.encode()).headers()["kid"] == published[0]
    with other.app_context():
        db.engine.dispose()


def test_a_secret_rotated_on_one_worker_is_refused_by_every_worker(
    app, test_database, tmp_path, service, fake_clock
):
    from authserver.services import clients
    from tests.conftest import _make_app

    http = app.test_client()
    client_credentials_token(http, service)  # this worker now caches the client
    other = _make_app(test_database, tmp_path / "other")
    with other.app_context():
        new_secret = clients.rotate_secret(clients.find_client(service.client_id))
        db.session.commit()
        db.engine.dispose()
    fake_clock.advance(app.config["CACHE_CHECK_INTERVAL"])

    stale = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(service.client_id, service.secret),
    )
    fresh = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(service.client_id, new_secret),
    )
    assert stale.status_code == 401
    assert fresh.status_code == 200


def test_a_key_rotated_by_this_process_is_used_and_published_at_once(app, service, fake_clock):
    """A change made here drops this process's caches as it commits: no interval to wait."""
    http = app.test_client()
    old_kid = http.get("/oauth/jwks").get_json()["keys"][0]["kid"]
    client_credentials_token(http, service)

    result = app.test_cli_runner().invoke(args=["keys", "rotate", "--json"])
    assert result.exit_code == 0, result.output
    new_kid = json.loads(result.output)["kid"]

    published = [k["kid"] for k in http.get("/oauth/jwks").get_json()["keys"]]
    token = client_credentials_token(http, service)
    from joserfc import jws

    assert new_kid != old_kid and {new_kid, old_kid} <= set(published)
    assert jws.extract_compact(token.encode()).headers()["kid"] == new_kid


def test_a_client_disabled_by_this_process_is_refused_at_once(app, service, fake_clock):
    http = app.test_client()
    client_credentials_token(http, service)
    result = app.test_cli_runner().invoke(args=["clients", "disable", service.client_id])
    assert result.exit_code == 0, result.output
    refused = http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(service.client_id, service.secret),
    )
    assert refused.status_code == 401


def test_a_change_rolled_back_leaves_no_trace_in_the_cache(app, service, fake_clock):
    """What a transaction read after its bump may never be committed: dropped on rollback."""
    from authserver.services import clients

    http = app.test_client()
    client_credentials_token(http, service)
    with app.app_context():
        client = clients.find_client(service.client_id)
        clients.rotate_secret(client)
        from authserver.oauth2.storage import query_client

        query_client(service.client_id)  # caches the uncommitted secret in this process
        db.session.rollback()
    assert (
        http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic_auth(service.client_id, service.secret),
        ).status_code
        == 200
    )


def test_a_fresh_install_makes_its_first_key_once(app, client):
    """With no key yet, the first JWKS request makes one and keeps it: every later request (and
    every token) names the same kid."""
    from authserver.models import SigningKey

    with app.app_context():
        db.session.query(SigningKey).delete()
        db.session.commit()
    first = client.get("/oauth/jwks").get_json()["keys"]
    second = client.get("/oauth/jwks").get_json()["keys"]
    assert [k["kid"] for k in first] == [k["kid"] for k in second]
    with app.app_context():
        assert db.session.query(SigningKey).count() == 1
