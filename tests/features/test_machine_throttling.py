"""Throttling of the machine endpoints: per client (only what it did itself), failed client
authentications per client and address and per address, registration per address; 429 with
Retry-After and an RFC 6749 §5.2 body; counters shared through the database."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from authserver import ratelimit
from authserver.extensions import db
from authserver.models import AccessToken, RateLimitCounter
from tests import factories
from tests.helpers import basic_auth, exchange_code, get_code, login

SERVICE_HOST = "192.0.2.10"  # where the real client's servers run
ATTACKER = "198.51.100.66"
OFFICE = "203.0.113.7"


def token_request(
    http: FlaskClient, client: factories.ClientInfo, secret: str | None = None, address=SERVICE_HOST
) -> TestResponse:
    return http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(client.client_id, secret or client.secret),
        environ_base={"REMOTE_ADDR": address},
    )


def assert_throttled(response: TestResponse, window: int = 60) -> dict:
    """RFC 6585 §4: 429 with Retry-After; RFC 6749 §5.2's JSON shape; never cached."""
    assert response.status_code == 429, response.data
    assert 0 < int(response.headers["Retry-After"]) <= window
    assert response.headers["Cache-Control"] == "no-store"
    body = response.get_json()
    assert body["error"] == "temporarily_unavailable"
    assert "try again in" in body["error_description"]
    return body


def later(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Move the limiter's time (not the server's CLOCK) forward."""
    moved = ratelimit.time.time() + seconds
    monkeypatch.setattr(ratelimit.time, "time", lambda: moved)


@pytest.fixture
def service(app: Flask) -> factories.ClientInfo:
    with app.app_context():
        return factories.make_service_client()


@pytest.mark.parametrize("app_config", [{"MACHINE_RATE_LIMIT_PER_CLIENT": "3 per minute"}])
def test_a_client_is_limited_per_endpoint_and_others_are_not(app, service):
    with app.app_context():
        other = factories.make_service_client()
    http = app.test_client()

    answers = [token_request(http, service).status_code for _ in range(3)]
    refused = token_request(http, service)

    assert answers == [200] * 3
    assert_throttled(refused)
    assert token_request(http, other).status_code == 200
    # Its own budget per endpoint: the token endpoint's is spent, introspection's is not.
    introspected = http.post(
        "/oauth/introspect",
        data={"token": "anything"},
        headers=basic_auth(service.client_id, service.secret),
    )
    assert introspected.status_code == 200


@pytest.mark.parametrize("app_config", [{"MACHINE_RATE_LIMIT_PER_CLIENT": "3 per minute"}])
def test_nobody_else_can_spend_a_clients_budget(app, service):
    """Requests naming the client without its secret do not count against it."""
    http = app.test_client()
    for n in range(10):
        assert token_request(http, service, "wrong", f"198.51.100.{n}").status_code == 401

    assert [token_request(http, service).status_code for _ in range(3)] == [200] * 3


@pytest.mark.parametrize("app_config", [{"MACHINE_AUTH_FAILURES_PER_CLIENT": "3 per minute"}])
def test_guessing_a_secret_is_stopped_from_that_address_only(app, service):
    http = app.test_client()

    answers = [token_request(http, service, "wrong", ATTACKER).status_code for _ in range(3)]
    refused = token_request(http, service, "wrong", ATTACKER)

    assert answers == [401] * 3
    assert_throttled(refused)
    # From there even the right secret waits (else guessing would go on)...
    assert_throttled(token_request(http, service, address=ATTACKER))
    # ...at every machine endpoint, which share the count...
    assert_throttled(
        http.post(
            "/oauth/revoke",
            data={"token": "x"},
            headers=basic_auth(service.client_id, service.secret),
            environ_base={"REMOTE_ADDR": ATTACKER},
        )
    )
    # ...while the client's own servers are not refused anything.
    assert [token_request(http, service).status_code for _ in range(5)] == [200] * 5


@pytest.mark.parametrize("app_config", [{"MACHINE_AUTH_FAILURES_PER_ADDRESS": "5 per minute"}])
def test_spraying_client_ids_from_one_address_is_stopped(app, service):
    http = app.test_client()
    sprayed = [
        http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials"},
            headers=basic_auth(f"guess-{n}", "secret"),
            environ_base={"REMOTE_ADDR": ATTACKER},
        ).status_code
        for n in range(6)
    ]

    assert sprayed == [401] * 5 + [429]
    assert token_request(http, service).status_code == 200


@pytest.mark.parametrize(
    "app_config",
    [
        {
            "MACHINE_RATE_LIMIT_PER_CLIENT": "5 per minute",
            "MACHINE_AUTH_FAILURES_PER_ADDRESS": "5 per minute",
        }
    ],
)
def test_successes_never_count_per_address(app):
    """Many people's devices behind one NAT address, all refreshing through one public app: only
    the app's own budget applies, and failures per address are not touched by successes."""
    with app.app_context():
        apps = [factories.make_service_client() for _ in range(4)]
    http = app.test_client()
    answers = [
        token_request(http, each, address=OFFICE).status_code for each in apps for _ in range(5)
    ]
    assert answers == [200] * 20


@pytest.mark.parametrize("app_config", [{"MACHINE_RATE_LIMIT_PER_CLIENT": "1 per minute"}])
def test_a_throttled_request_changes_nothing(app, confidential_client, user, monkeypatch):
    """The refused code redemption never ran: the code is still unused and works later."""
    browser = app.test_client()
    login(browser, user.email, user.password)
    first, _ = get_code(browser, confidential_client)
    second, _ = get_code(browser, confidential_client)
    assert exchange_code(app.test_client(), confidential_client, first).status_code == 200
    with app.app_context():
        issued = db.session.query(AccessToken).count()

    assert_throttled(exchange_code(app.test_client(), confidential_client, second))
    with app.app_context():
        assert db.session.query(AccessToken).count() == issued

    later(monkeypatch, 61)
    redeemed = exchange_code(app.test_client(), confidential_client, second)
    assert redeemed.status_code == 200, redeemed.data


@pytest.mark.parametrize(
    "app_config",
    [
        {
            "MACHINE_RATE_LIMIT_PER_CLIENT": "2 per minute",
            "MACHINE_AUTH_FAILURES_PER_CLIENT": "1 per minute",
        }
    ],
)
def test_introspection_and_revocation_are_throttled_too(app, service):
    http = app.test_client()
    auth = basic_auth(service.client_id, service.secret)
    for path in ("/oauth/introspect", "/oauth/revoke"):
        answers = [http.post(path, data={"token": "x"}, headers=auth).status_code for _ in range(2)]
        assert answers == [200, 200]
        assert_throttled(http.post(path, data={"token": "x"}, headers=auth))


@pytest.mark.parametrize(
    "app_config", [{"REGISTRATION_ENABLED": True, "REGISTRATION_RATE_LIMIT": "2 per hour"}]
)
def test_registration_is_limited_per_address(app):
    http = app.test_client()
    metadata = {"redirect_uris": ["https://app.example/cb"], "client_name": "Self-registered"}

    answers = [
        http.post("/oauth/register", json=metadata, environ_base={"REMOTE_ADDR": OFFICE})
        for _ in range(3)
    ]

    assert [a.status_code for a in answers[:2]] == [201, 201]
    assert_throttled(answers[2], window=3600)
    other = http.post("/oauth/register", json=metadata, environ_base={"REMOTE_ADDR": SERVICE_HOST})
    assert other.status_code == 201


@pytest.mark.parametrize(
    "app_config",
    [
        {
            "MACHINE_RATE_LIMIT_PER_CLIENT": "1 per minute",
            "MACHINE_AUTH_FAILURES_PER_CLIENT": "1 per minute",
            "MACHINE_AUTH_FAILURES_PER_ADDRESS": "1 per minute",
        }
    ],
)
def test_public_documents_are_never_throttled(app):
    http = app.test_client()
    for path in ("/oauth/jwks", "/.well-known/openid-configuration", "/healthz"):
        assert [http.get(path).status_code for _ in range(20)] == [200] * 20
    with app.app_context():
        assert db.session.query(RateLimitCounter).count() == 0


@pytest.mark.parametrize(
    "app_config",
    [{"MACHINE_AUTH_FAILURES_PER_CLIENT": "4 per minute", "RATELIMIT_SYNC_INTERVAL": 0}],
)
def test_two_nodes_share_one_count_in_the_database(app, service, test_database, tmp_path):
    from tests.conftest import _make_app

    node_b = _make_app(
        test_database,
        tmp_path / "b",
        **{
            "MACHINE_AUTH_FAILURES_PER_CLIENT": "4 per minute",
            "RATELIMIT_SYNC_INTERVAL": 0,
        },
    )
    try:
        for n in range(4):
            node = app if n % 2 else node_b
            assert token_request(node.test_client(), service, "wrong", ATTACKER).status_code == 401
        assert_throttled(token_request(app.test_client(), service, "wrong", ATTACKER))
        assert_throttled(token_request(node_b.test_client(), service, "wrong", ATTACKER))
        with app.app_context():
            keys = [row.key for row in db.session.query(RateLimitCounter)]
        assert any(service.client_id in key for key in keys)
    finally:
        with node_b.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("app_config", [{"MACHINE_RATE_LIMIT_PER_CLIENT": "10 per minute"}])
def test_batched_counts_reach_the_other_nodes_within_the_sync_interval(
    app, service, test_database, tmp_path, monkeypatch
):
    """The per-client budget is counted in each process and written at most once a second
    (RATELIMIT_SYNC_INTERVAL): another node sees it that late, and the total is kept."""
    from tests.conftest import _make_app

    node_b = _make_app(test_database, tmp_path / "b", MACHINE_RATE_LIMIT_PER_CLIENT="10 per minute")
    try:
        assert [token_request(app.test_client(), service).status_code for _ in range(6)] == [
            200
        ] * 6
        later(monkeypatch, 1.5)
        # Node A writes what it counted with its next request; node B reads it a second later.
        assert token_request(app.test_client(), service).status_code == 200
        later(monkeypatch, 3)
        answers = [token_request(node_b.test_client(), service).status_code for _ in range(5)]
        # B knows A's first six: four more, not ten. A's seventh still waits in A's memory for
        # its next request: the documented overshoot of about a second's traffic.
        assert answers == [200] * 4 + [429]
    finally:
        with node_b.app_context():
            db.engine.dispose()


@pytest.mark.parametrize("app_config", [{"MACHINE_AUTH_FAILURES_PER_CLIENT": "3 per minute"}])
def test_an_ipv6_64_is_one_address_for_the_machine_limits(app, service):
    """Guessing a secret from every address of one /64 is guessing from one address (RFC 6177:
    a subscriber gets the /64); the neighbouring /64 is someone else."""
    http = app.test_client()
    attackers = ["2001:db8:66::1", "2001:db8:66:0:1::2", "2001:db8:66::ffff"]

    answers = [token_request(http, service, "wrong", address).status_code for address in attackers]

    assert answers == [401] * 3
    assert_throttled(token_request(http, service, "wrong", "2001:db8:66::4242"))
    assert token_request(http, service, "wrong", "2001:db8:66:1::1").status_code == 401


@pytest.mark.parametrize(
    "app_config", [{"REGISTRATION_ENABLED": True, "REGISTRATION_RATE_LIMIT": "2 per hour"}]
)
def test_registration_is_limited_per_ipv6_64(app):
    http = app.test_client()
    metadata = {"redirect_uris": ["https://app.example/cb"], "client_name": "Self-registered"}

    def register(address: str) -> TestResponse:
        return http.post("/oauth/register", json=metadata, environ_base={"REMOTE_ADDR": address})

    assert [register(a).status_code for a in ("2001:db8:7::1", "2001:db8:7::2")] == [201, 201]
    assert_throttled(register("2001:db8:7:0:abcd::3"), window=3600)
    assert register("::ffff:192.0.2.10").status_code == 201
    assert register("192.0.2.10").status_code == 201
    assert_throttled(register("::ffff:192.0.2.10"), window=3600)
