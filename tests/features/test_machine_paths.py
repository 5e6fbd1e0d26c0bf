"""The machine endpoints: what they cost in database work, what they cache, and that the caches
stay right across workers (two apps on one database stand for two processes)."""

from __future__ import annotations

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


def test_a_client_credentials_token_is_one_insert_and_one_commit(app, service):
    """Once warm, a token costs one small read (the cache versions), one INSERT, one COMMIT."""
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
    app, test_database, tmp_path, service
):
    """SPEC: after `keys rotate` the new key is active at once — in every process, not after a
    cache timer runs out."""
    from tests.conftest import _make_app

    other = _make_app(test_database, tmp_path / "other")
    http = app.test_client()
    old_kid = http.get("/oauth/jwks").get_json()["keys"][0]["kid"]
    client_credentials_token(http, service)  # warms this worker's caches

    result = other.test_cli_runner().invoke(args=["keys", "rotate", "--json"])
    assert result.exit_code == 0, result.output

    published = [k["kid"] for k in http.get("/oauth/jwks").get_json()["keys"]]
    token = client_credentials_token(http, service)
    from joserfc import jws

    assert published[0] != old_kid and old_kid in published
    assert jws.extract_compact(token.encode()).headers()["kid"] == published[0]
    with other.app_context():
        db.engine.dispose()


def test_a_secret_rotated_on_one_worker_is_refused_by_every_worker(
    app, test_database, tmp_path, service
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
