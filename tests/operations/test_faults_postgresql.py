"""PostgreSQL going away: 503 with Retry-After, nothing half-written, back by itself (SPEC).

The server talks to PostgreSQL through a TCP proxy (``tests/tcp_proxy.py``) that the tests cut:
new connections refused, open ones dropped between requests or in the middle of one. These run
against PostgreSQL in every CI pass, in a schema of their own, fail in CI when it is
unreachable, and skip elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from flask import Flask
from flask_migrate import upgrade
from sqlalchemy import event, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from authserver import create_app
from authserver.extensions import db
from authserver.models import AuthorizationCode, RefreshToken, TokenFamily
from authserver.services import codes, tokens
from authserver.services.keys import new_signing_key
from tests import factories
from tests.databases import (
    drop_postgres_schema,
    postgres_url_for_tests,
    required_postgres_schema,
    schema_options,
)
from tests.helpers import basic_auth, exchange_code, get_code, login, refresh
from tests.tcp_proxy import TcpProxy

pytestmark = pytest.mark.postgresql


@pytest.fixture
def proxy(test_database) -> Iterator[tuple[TcpProxy, str, str]]:
    url = postgres_url_for_tests(test_database)
    schema = required_postgres_schema(url)
    direct = make_url(url)
    with TcpProxy(direct.host or "127.0.0.1", direct.port or 5432) as tcp_proxy:
        proxied = direct.set(host="127.0.0.1", port=tcp_proxy.port)
        yield tcp_proxy, proxied.render_as_string(hide_password=False), schema
    drop_postgres_schema(url, schema)


@pytest.fixture
def app(proxy, signing_pem, tmp_path) -> Iterator[Flask]:
    """The server, its own schema, every connection through the proxy."""
    _, url, schema = proxy
    options = schema_options(schema)
    options["connect_args"] = {**options["connect_args"], "connect_timeout": 2}
    app = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path),
            "DATABASE_URL": url,
            "SQLALCHEMY_ENGINE_OPTIONS": options,
            "SECRET_KEY": "test-secret-key-" + "x" * 32,
            "BCRYPT_ROUNDS": 4,
            "RATELIMIT_ENABLED": False,
        }
    )
    with app.app_context():
        upgrade()
        kid, pem = signing_pem
        db.session.add(new_signing_key(kid, pem))
        db.session.commit()
    yield app
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def tcp(proxy) -> TcpProxy:
    return proxy[0]


@pytest.fixture
def signed_in(app):
    """A person logged in, and an app with the refresh_token grant they can authorize."""
    with app.app_context():
        user = factories.make_user()
        app_client = factories.make_client(owner_email=user.email)
    browser = app.test_client()
    login(browser, user.email, user.password)
    return browser, app_client


def assert_unavailable_json(response) -> None:
    assert response.status_code == 503, response.data
    assert response.get_json()["error"] == "temporarily_unavailable"
    assert response.get_json()["error_description"]
    assert 1 <= int(response.headers["Retry-After"]) <= 30
    assert response.headers["Cache-Control"] == "no-store"


def assert_consistent(app: Flask) -> None:
    """Nothing half-written: every redeemed code bought a grant, every rotated refresh token
    has its successor."""
    with app.app_context():
        redeemed_without_family = db.session.scalar(
            select(func.count())
            .select_from(AuthorizationCode)
            .where(
                AuthorizationCode.redeemed_at.is_not(None),
                ~select(TokenFamily.id)
                .where(TokenFamily.authorization_code_id == AuthorizationCode.id)
                .exists(),
            )
        )
        rotated_without_successor = db.session.scalar(
            select(func.count())
            .select_from(RefreshToken)
            .where(RefreshToken.rotated_at.is_not(None), RefreshToken.successor_id.is_(None))
        )
        assert (redeemed_without_family, rotated_without_successor) == (0, 0)


def test_unreachable_database_answers_503_and_the_server_comes_back_by_itself(app, tcp, signed_in):
    browser, app_client = signed_in
    issued = exchange_code(browser, app_client, get_code(browser, app_client)[0]).get_json()
    code, _ = get_code(browser, app_client)
    tcp.refuse()
    tcp.drop_all()

    http = app.test_client()
    assert_unavailable_json(exchange_code(http, app_client, code))
    assert_unavailable_json(refresh(http, app_client, issued["refresh_token"]))
    assert http.get("/oauth/jwks").status_code == 200  # from memory (the next test)
    bearer = {"Authorization": f"Bearer {issued['access_token']}"}
    assert_unavailable_json(http.get("/oauth/userinfo", headers=bearer))
    client_auth = basic_auth(app_client.client_id, app_client.secret)
    for path in ("/oauth/revoke", "/oauth/introspect"):
        token = {"token": issued["refresh_token"]}
        assert_unavailable_json(http.post(path, data=token, headers=client_auth))
    page = browser.get("/account/apps")
    assert page.status_code == 503
    assert page.mimetype == "text/html"
    assert "try again in a moment" in page.get_data(as_text=True)
    assert int(page.headers["Retry-After"]) > 0
    assert http.get("/readyz").status_code == 503
    assert http.get("/healthz").status_code == 200

    tcp.accept()  # the database is back: no restart, the same app object
    assert http.get("/readyz").status_code == 200
    assert browser.get("/account/apps").status_code == 200
    response = exchange_code(http, app_client, code)
    assert response.status_code == 200, response.data
    assert_consistent(app)


def test_the_jwks_answers_with_the_keys_it_has_while_the_database_is_away(
    app, tcp, fake_clock, caplog
):
    """Resource servers fetch the JWKS to verify tokens already issued: an outage of the
    database must not stop them. Only the stamps' read is tried (and fails), once an interval."""
    http = app.test_client()
    warm = http.get("/oauth/jwks")
    assert warm.status_code == 200
    tcp.refuse()
    tcp.drop_all()
    fake_clock.advance(app.config["CACHE_CHECK_INTERVAL"])  # the version stamps are due

    for _ in range(3):
        during = http.get("/oauth/jwks")
        assert during.status_code == 200, during.data
        assert (during.data, during.headers["ETag"]) == (warm.data, warm.headers["ETag"])
    tried = [r for r in caplog.records if r.name == "authserver.caches"]
    assert [r.getMessage().startswith("cache versions unreadable") for r in tried] == [True]
    assert http.get("/readyz").status_code == 503  # take the node out of the balancer still

    tcp.accept()
    fake_clock.advance(app.config["CACHE_CHECK_INTERVAL"])
    assert http.get("/oauth/jwks").data == warm.data
    assert http.get("/readyz").status_code == 200


def test_a_process_that_never_read_the_keys_says_503_for_the_jwks(app, tcp, proxy, tmp_path):
    _, url, schema = proxy
    options = schema_options(schema)
    options["connect_args"] = {**options["connect_args"], "connect_timeout": 2}
    cold = create_app(
        {
            "TESTING": True,
            "INSTANCE_PATH": str(tmp_path / "cold"),
            "DATABASE_URL": url,
            "SQLALCHEMY_ENGINE_OPTIONS": options,
            "SECRET_KEY": "test-secret-key-" + "x" * 32,
        }
    )
    tcp.refuse()
    tcp.drop_all()
    assert_unavailable_json(cold.test_client().get("/oauth/jwks"))
    with cold.app_context():
        db.engine.dispose()


def test_connections_dropped_between_requests_are_replaced_unnoticed(app, tcp, signed_in):
    browser, app_client = signed_in
    for _ in range(3):
        code, _ = get_code(browser, app_client)
        assert tcp.drop_all() >= 1
        # The pool pings before handing out a connection and reconnects instead of failing.
        response = exchange_code(app.test_client(), app_client, code)
        assert response.status_code == 200, response.data
        assert tcp.drop_all() >= 1
        assert browser.get("/account/apps").status_code == 200


@pytest.fixture
def drop_once(tcp, monkeypatch):
    """Arm one cut of every connection at a point of the next request: right after a service
    call, or at the endpoint's one commit (its statements flushed, COMMIT not yet sent)."""
    listeners = []

    def arm(where: str) -> None:
        fired = []

        def cut() -> None:
            if not fired:
                fired.append(True)
                tcp.drop_all()

        if where == "commit":

            def before_commit(session: Session) -> None:
                if not fired:
                    session.flush()
                    cut()

            event.listen(Session, "before_commit", before_commit)
            listeners.append(before_commit)
            return
        module, name = where.split(".")
        target = {"codes": codes, "tokens": tokens}[module]
        original = getattr(target, name)

        def then_cut(*args, **kwargs):
            result = original(*args, **kwargs)
            cut()
            return result

        monkeypatch.setattr(target, name, then_cut)

    yield arm
    for listener in listeners:
        event.remove(Session, "before_commit", listener)


@pytest.mark.parametrize("where", ["codes.claim_code", "commit"])
def test_connection_lost_mid_redemption_leaves_the_code_unused(
    app, tcp, signed_in, drop_once, where
):
    browser, app_client = signed_in
    code, _ = get_code(browser, app_client)
    drop_once(where)
    assert_unavailable_json(exchange_code(app.test_client(), app_client, code))
    with app.app_context():
        # The claim died with its transaction: the code is as it was, nothing was issued.
        assert db.session.scalar(select(AuthorizationCode.redeemed_at)) is None
        assert db.session.scalar(select(func.count()).select_from(TokenFamily)) == 0
    assert_consistent(app)

    retried = exchange_code(app.test_client(), app_client, code)
    assert retried.status_code == 200, retried.data
    assert_consistent(app)


@pytest.mark.parametrize("where", ["tokens.claim_refresh_token", "commit"])
def test_connection_lost_mid_rotation_leaves_the_refresh_token_usable(
    app, tcp, signed_in, drop_once, where
):
    browser, app_client = signed_in
    code, _ = get_code(browser, app_client)
    first = exchange_code(browser, app_client, code).get_json()["refresh_token"]
    drop_once(where)
    assert_unavailable_json(refresh(app.test_client(), app_client, first))
    with app.app_context():
        stored = db.session.scalars(select(RefreshToken)).all()
        assert [(t.rotated_at, t.successor_id) for t in stored] == [(None, None)]
    assert_consistent(app)

    retried = refresh(app.test_client(), app_client, first)
    assert retried.status_code == 200, retried.data
    successor = retried.get_json()["refresh_token"]
    assert refresh(app.test_client(), app_client, successor).status_code == 200
    assert_consistent(app)
