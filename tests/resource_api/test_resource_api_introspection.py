"""RESOURCE_API_INTROSPECTION=1: the issuer's RFC 7662 endpoint is asked too, so that a revoked
token stops working within the cache TTL instead of at its expiry."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs

import pytest

from resource_api import create_app
from resource_api.config import ConfigError
from resource_api.protection import token_validator
from tests.wsgi_transport import UnreachableTransport

from .api_testing import ISSUER, assert_invalid_token, assert_json_error, bearer
from .fake_issuer import INTROSPECTION_CLIENT_ID, INTROSPECTION_CLIENT_SECRET

INTROSPECT = "/oauth/introspect"


@pytest.fixture
def introspecting_client(make_app):
    return make_app(INTROSPECTION=True).test_client()


def test_introspection_request_follows_rfc_7662(introspecting_client, token, transport):
    """“The protected resource calls the introspection endpoint using an HTTP POST request with
    parameters sent as application/x-www-form-urlencoded data” — RFC 7662 §2.1, authenticated
    with client_secret_basic (RFC 6749 §2.3.1)."""
    assert introspecting_client.get("/api/me", headers=bearer(token)).status_code == 200
    (call,) = transport.calls_to(INTROSPECT)
    assert call.method == "POST"
    assert call.headers["Content-Type"] == "application/x-www-form-urlencoded"
    assert parse_qs(call.body.decode()) == {
        "token": [token],
        "token_type_hint": ["access_token"],
    }
    credentials = f"{INTROSPECTION_CLIENT_ID}:{INTROSPECTION_CLIENT_SECRET}".encode()
    assert call.headers["Authorization"] == "Basic " + base64.b64encode(credentials).decode()
    assert call.timeout == (3.0, 5.0)


def test_revoked_token_is_rejected(introspecting_client, token, issuer):
    """“If the introspection call is properly authorized but the token is not active ... the
    authorization server MUST return ... {"active": false}” — RFC 7662 §2.2"""
    issuer.revoked.add(token)
    response = introspecting_client.get("/api/me", headers=bearer(token))
    assert_invalid_token(response, "revoked")


def test_revocation_takes_effect_within_the_cache_ttl(
    introspecting_client, token, issuer, clock, transport
):
    """An active answer is reused for INTROSPECTION_CACHE_TTL (5 s) and no longer."""
    assert introspecting_client.get("/api/me", headers=bearer(token)).status_code == 200
    issuer.revoked.add(token)

    clock.advance(4.9)
    assert introspecting_client.get("/api/me", headers=bearer(token)).status_code == 200
    assert len(transport.calls_to(INTROSPECT)) == 1  # served from the cache

    clock.advance(0.1)
    assert_invalid_token(introspecting_client.get("/api/me", headers=bearer(token)), "revoked")
    assert len(transport.calls_to(INTROSPECT)) == 2


def test_cache_ttl_is_configurable(make_app, token, issuer, clock):
    client = make_app(INTROSPECTION=True, INTROSPECTION_CACHE_TTL=1).test_client()
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    issuer.revoked.add(token)
    clock.advance(1)
    assert client.get("/api/me", headers=bearer(token)).status_code == 401


def test_zero_ttl_asks_the_issuer_every_time(make_app, token, transport):
    client = make_app(INTROSPECTION=True, INTROSPECTION_CACHE_TTL=0).test_client()
    for _ in range(3):
        assert client.get("/api/me", headers=bearer(token)).status_code == 200
    assert len(transport.calls_to(INTROSPECT)) == 3


def test_cached_answer_never_outlives_the_token(make_app, make_token, clock):
    client = make_app(INTROSPECTION=True, INTROSPECTION_CACHE_TTL=60, LEEWAY=0).test_client()
    token = make_token(exp=int(clock()) + 10)
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    clock.advance(10)
    assert_invalid_token(client.get("/api/me", headers=bearer(token)), "expired")


def test_each_token_has_its_own_cached_answer(introspecting_client, make_token, issuer):
    good, revoked = make_token(), make_token()
    issuer.revoked.add(revoked)
    assert introspecting_client.get("/api/me", headers=bearer(good)).status_code == 200
    assert introspecting_client.get("/api/me", headers=bearer(revoked)).status_code == 401


def test_invalid_jwt_is_rejected_without_asking_the_issuer(
    introspecting_client, make_token, transport
):
    token = make_token(aud="https://elsewhere")
    assert introspecting_client.get("/api/me", headers=bearer(token)).status_code == 401
    assert transport.calls_to(INTROSPECT) == []


def test_introspection_off_does_not_see_revocation(client, token, issuer, transport):
    """The trade-off of JWT-only mode: no network hop, revocation only at expiry."""
    issuer.revoked.add(token)
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    assert transport.calls_to(INTROSPECT) == []


def test_unreachable_introspection_fails_closed_with_503(make_app, make_token):
    """When revocation must be honoured, a token the issuer cannot vouch for is not served."""
    app = make_app(INTROSPECTION=True)
    client = app.test_client()
    known = make_token()
    assert client.get("/api/me", headers=bearer(known)).status_code == 200
    unreachable = UnreachableTransport()
    token_validator(app).issuer.session.mount(ISSUER + INTROSPECT, unreachable)

    response = client.get("/api/me", headers=bearer(make_token()))
    assert_json_error(response, 503, "temporarily_unavailable")
    assert unreachable.attempts == 1
    # A token with a fresh cached answer does not need the issuer.
    assert client.get("/api/me", headers=bearer(known)).status_code == 200


def test_issuer_refusing_our_credentials_is_503(make_app, token):
    client = make_app(INTROSPECTION=True, INTROSPECTION_CLIENT_SECRET="wrong").test_client()
    assert_json_error(client.get("/api/me", headers=bearer(token)), 503, "temporarily_unavailable")


def test_introspection_without_credentials_refuses_to_start(database_config):
    with pytest.raises(ConfigError, match="INTROSPECTION_CLIENT_ID"):
        create_app({**database_config, "INTROSPECTION": True})


# -- RESOURCE_API_INTROSPECT_WRITES=1: the issuer is asked about requests that change something

EVENT = {"title": "Standup", "starts_at": "2026-03-02T08:00:00Z", "ends_at": "2026-03-02T08:15:00Z"}


@pytest.fixture
def write_checking_client(make_app):
    return make_app(INTROSPECT_WRITES=True).test_client()


def test_a_revoked_token_can_no_longer_write_when_writes_are_introspected(
    write_checking_client, token, issuer, transport, clock
):
    """A taken-back permission stops writing within the cache TTL, not at the token's expiry;
    reads stay local, accepted until the token expires."""
    created = write_checking_client.post("/api/events", json=EVENT, headers=bearer(token))
    assert created.status_code == 201
    event = created.get_json()["id"]
    issuer.revoked.add(token)
    clock.advance(5)  # RESOURCE_API_INTROSPECTION_CACHE_TTL: the cached "active" is spent

    for method, path, body in [
        ("POST", "/api/events", EVENT),
        ("PATCH", f"/api/events/{event}", {"title": "Moved"}),
        ("DELETE", f"/api/events/{event}", None),
    ]:
        refused = write_checking_client.open(path, method=method, json=body, headers=bearer(token))
        assert_invalid_token(refused, "revoked")
    assert write_checking_client.get("/api/events", headers=bearer(token)).status_code == 200
    assert len(transport.calls_to(INTROSPECT)) == 2  # the first write, then the refused one
    # (each later refusal reuses the cached "inactive")


def test_writes_are_checked_with_the_issuer_and_reads_are_not(
    write_checking_client, make_token, issuer, transport, clock
):
    token = make_token()
    issuer.revoked.add(token)

    read = write_checking_client.get("/api/events", headers=bearer(token))
    assert read.status_code == 200  # locally valid; reads do not ask the issuer
    assert transport.calls_to(INTROSPECT) == []

    written = write_checking_client.post("/api/events", json=EVENT, headers=bearer(token))
    assert_invalid_token(written, "revoked")
    assert len(transport.calls_to(INTROSPECT)) == 1


def test_introspecting_writes_without_credentials_refuses_to_start(database_config):
    with pytest.raises(ConfigError, match="INTROSPECT_WRITES=1 needs"):
        create_app({**database_config, "INTROSPECT_WRITES": True})
