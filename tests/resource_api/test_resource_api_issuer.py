"""Finding and caching the issuer's keys: discovery, JWKS, rotation, outages."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from joserfc.errors import SecurityWarning
from joserfc.jwk import OctKey, RSAKey

from resource_api.protection import token_validator
from tests.wsgi_transport import UnreachableTransport

from .api_testing import ISSUER, assert_invalid_token, assert_json_error, bearer

JWKS = "/oauth/jwks"
DISCOVERY = "/.well-known/openid-configuration"


def test_keys_are_found_through_discovery_and_cached(client, token, transport):
    """The JWKS location comes from the metadata's jwks_uri (OIDC Discovery §3) and is fetched
    once, not per request."""
    for _ in range(3):
        assert client.get("/api/me", headers=bearer(token)).status_code == 200
    assert [call.url for call in transport.sent] == [ISSUER + DISCOVERY, ISSUER + JWKS]


def test_issuer_requests_have_connect_and_read_timeouts(client, token, transport):
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    assert transport.sent
    assert all(call.timeout == (3.0, 5.0) for call in transport.sent)


def test_rotated_key_is_accepted_without_restart(
    client, make_token, issuer, signing_keys, transport, clock
):
    """After `keys rotate` the issuer signs with a new key that appears in its JWKS; a token
    with that new kid makes the API fetch the JWKS again (OIDC Core §10.1.1)."""
    assert client.get("/api/me", headers=bearer(make_token())).status_code == 200

    issuer.published.append(signing_keys[1])
    clock.advance(60)
    new_token = make_token(key=signing_keys[1])
    assert client.get("/api/me", headers=bearer(new_token)).status_code == 200
    assert len(transport.calls_to(JWKS)) == 2
    # The old key stays usable while it is published: tokens it signed have not expired yet.
    assert client.get("/api/me", headers=bearer(make_token())).status_code == 200
    assert len(transport.calls_to(JWKS)) == 2


def test_unknown_kids_cannot_make_the_api_hammer_the_issuer(
    client, make_token, signing_keys, transport, clock
):
    """Refetches caused by unknown kids are spaced by ISSUER_MIN_REFETCH_INTERVAL (10 s)."""
    assert client.get("/api/me", headers=bearer(make_token())).status_code == 200
    clock.advance(10)
    for n in range(20):
        garbage = make_token(key=signing_keys[2], header={"kid": f"made-up-{n}"})
        assert_invalid_token(client.get("/api/me", headers=bearer(garbage)), "does not publish")
        clock.advance(0.1)
    assert len(transport.calls_to(JWKS)) == 2  # the first fetch, then one refetch only
    clock.advance(10)
    garbage = make_token(key=signing_keys[2], header={"kid": "made-up-again"})
    assert client.get("/api/me", headers=bearer(garbage)).status_code == 401
    assert len(transport.calls_to(JWKS)) == 3


def test_withdrawn_key_stops_working_once_the_cached_jwks_ages_out(
    client, make_token, issuer, signing_keys, clock
):
    issuer.published = [signing_keys[0], signing_keys[1]]

    def old_key_token() -> str:
        return make_token(key=signing_keys[0])

    assert client.get("/api/me", headers=bearer(old_key_token())).status_code == 200
    issuer.published = [signing_keys[1]]
    clock.advance(599)
    assert client.get("/api/me", headers=bearer(old_key_token())).status_code == 200
    clock.advance(1)  # JWKS_MAX_AGE is 600 s
    assert_invalid_token(client.get("/api/me", headers=bearer(old_key_token())), "does not publish")


def test_unreachable_issuer_without_cached_keys_is_503(app, token):
    unreachable = UnreachableTransport()
    token_validator(app).issuer.session.mount(ISSUER + "/", unreachable)
    response = app.test_client().get("/api/me", headers=bearer(token))
    body = assert_json_error(response, 503, "temporarily_unavailable")
    assert "authorization server" in body["error_description"]
    assert response.headers["Retry-After"]
    assert "WWW-Authenticate" not in response.headers  # the token was not judged invalid
    assert unreachable.attempts == 1


def test_unreachable_issuer_is_not_retried_on_every_request(app, token, clock):
    unreachable = UnreachableTransport()
    token_validator(app).issuer.session.mount(ISSUER + "/", unreachable)
    client = app.test_client()
    for _ in range(5):
        assert client.get("/api/me", headers=bearer(token)).status_code == 503
    assert unreachable.attempts == 1
    clock.advance(10)
    assert client.get("/api/me", headers=bearer(token)).status_code == 503
    assert unreachable.attempts == 2


def test_issuer_outage_with_cached_keys_keeps_the_api_working(app, token, clock):
    client = app.test_client()
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    token_validator(app).issuer.session.mount(ISSUER + "/", UnreachableTransport())
    clock.advance(601)  # the cached key set is stale, and cannot be refreshed
    assert client.get("/api/me", headers=bearer(token)).status_code == 200


def test_issuer_recovery_after_an_outage_is_noticed(app, token, clock, transport):
    unreachable = UnreachableTransport()
    session = token_validator(app).issuer.session
    session.mount(ISSUER + "/", unreachable)
    client = app.test_client()
    assert client.get("/api/me", headers=bearer(token)).status_code == 503
    session.mount(ISSUER + "/", transport)
    clock.advance(10)
    assert client.get("/api/me", headers=bearer(token)).status_code == 200


def test_discovery_naming_another_issuer_is_refused(client, token, issuer):
    """“The issuer value returned MUST be identical to the Issuer URL that was used as the
    prefix to /.well-known/openid-configuration to retrieve the configuration information.” —
    OIDC Discovery §4.3"""
    issuer.metadata_overrides["issuer"] = "https://evil.example"
    assert_json_error(client.get("/api/me", headers=bearer(token)), 503, "temporarily_unavailable")


def test_jwks_uri_off_https_and_off_loopback_is_refused(client, token, issuer):
    issuer.metadata_overrides["jwks_uri"] = "http://keys.example/jwks"
    assert_json_error(client.get("/api/me", headers=bearer(token)), 503, "temporarily_unavailable")


def test_issuer_answering_garbage_is_503_not_500(client, token, issuer):
    @issuer.app.get("/oauth/garbage")
    def garbage():
        return "<html>not json</html>"

    issuer.metadata_overrides["jwks_uri"] = ISSUER + "/oauth/garbage"
    assert_json_error(client.get("/api/me", headers=bearer(token)), 503, "temporarily_unavailable")


def test_keys_unfit_for_rs256_are_skipped(client, make_token, issuer, signing_keys):
    """RFC 7517 §5: "Implementations SHOULD ignore JWKs within a JWK Set that use "kty" (key
    type) values that are not understood by them"; we also skip keys for other uses, other
    algorithms, too short for RS256 (RFC 7518 §3.3), or published with their private part."""
    with pytest.warns(SecurityWarning):  # joserfc agrees such a key is too weak
        small = RSAKey.generate_key(1024, parameters={"kid": "small"})
    issuer.extra_jwks_entries = [
        OctKey.generate_key(256, parameters={"kid": "hmac"}).as_dict(private=True),
        {**signing_keys[1].as_dict(private=False), "kid": "enc", "use": "enc"},
        {**signing_keys[1].as_dict(private=False), "kid": "ps256", "alg": "PS256"},
        {**signing_keys[2].as_dict(private=True), "kid": "private"},
        small.as_dict(private=False),
        {"kty": "RSA", "kid": "broken", "n": "AQAB", "e": "AQAB"},
        {"kty": "unknown-kind", "kid": "future"},
    ]
    for key, kid in [
        (signing_keys[1], "enc"),
        (signing_keys[1], "ps256"),
        (signing_keys[2], "private"),
        (small, "small"),
    ]:
        token = make_token(key=key, header={"kid": kid})
        assert_invalid_token(client.get("/api/me", headers=bearer(token)), "does not publish")
    # ... while the set's usable key still works.
    assert client.get("/api/me", headers=bearer(make_token())).status_code == 200


def test_stale_discovery_document_is_kept_through_an_outage(
    make_app, make_token, issuer, signing_keys, clock
):
    app = make_app(METADATA_MAX_AGE=60)
    client = app.test_client()
    assert client.get("/api/me", headers=bearer(make_token())).status_code == 200
    unreachable = UnreachableTransport()
    token_validator(app).issuer.session.mount(ISSUER + DISCOVERY, unreachable)
    issuer.published.append(signing_keys[1])
    clock.advance(61)  # discovery is stale and cannot be refreshed; the JWKS still can
    rotated = make_token(key=signing_keys[1])
    assert client.get("/api/me", headers=bearer(rotated)).status_code == 200
    assert unreachable.attempts == 1


def test_simultaneous_requests_with_a_new_kid_cause_one_fetch(
    app, make_token, issuer, signing_keys, transport, clock
):
    validator = token_validator(app)
    validator.validate(make_token())  # keys cached
    issuer.published.append(signing_keys[1])
    issuer.jwks_latency = 0.05  # the others arrive while the first one is fetching
    clock.advance(60)
    rotated = make_token(key=signing_keys[1])
    with ThreadPoolExecutor(max_workers=8) as pool:
        subjects = list(pool.map(lambda _: validator.validate(rotated).sub, range(16)))
    assert subjects == ["alice"] * 16
    assert len(transport.calls_to(JWKS)) == 2


# -- tokens remembered after a full check ------------------------------------------------------


def test_an_accepted_token_is_refused_once_its_key_is_withdrawn(
    client, make_token, issuer, signing_keys, clock
):
    """A token that passed every check is remembered, so the next request with it skips the
    RSA verification; that must never outlive the key in the issuer's JWKS."""
    issuer.published = [signing_keys[0], signing_keys[1]]
    token = make_token(key=signing_keys[0])
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    issuer.published = [signing_keys[1]]
    clock.advance(600)  # JWKS_MAX_AGE: the key set is fetched again, without key-1
    assert_invalid_token(client.get("/api/me", headers=bearer(token)), "does not publish")


def test_an_accepted_token_still_works_after_the_keys_are_fetched_again(
    client, token, transport, clock
):
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    clock.advance(600)  # a fresh fetch makes new key objects: the token is verified again
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    assert len(transport.calls_to(JWKS)) == 2
