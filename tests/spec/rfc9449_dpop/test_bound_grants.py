"""RFC 9449 across the grants: a public client's refresh tokens bound to its key (§5), a
confidential client's not; ``dpop_jkt`` binding the code (§10) and PAR with a DPoP header
(§10.1); server nonces (§8); clients registered for DPoP-bound tokens (§5.2)."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from authserver import policy
from tests import factories
from tests.conftest import FakeClock
from tests.helpers import (
    assert_oauth_error,
    authorize_url,
    basic_auth,
    consent,
    decode_jwt,
    exchange_code,
    get_code,
    pkce_pair,
    query_of,
)
from tests.spec.rfc8628_device.conftest import answer, enter, started

from .proofs import jkt, key, proof

ISSUER = "http://127.0.0.1:5000"
TOKEN_URL = f"{ISSUER}/oauth/token"
PAR_URL = f"{ISSUER}/oauth/par"


def post_token(http: FlaskClient, app_client, data: dict, dpop: str | None = None):
    headers = {"DPoP": dpop} if dpop else {}
    if app_client.secret:
        headers |= basic_auth(app_client.client_id, app_client.secret)
    else:
        data = {**data, "client_id": app_client.client_id}
    return http.post("/oauth/token", data=data, headers=headers)


def code_tokens(browser, app_client, private=None, **params: str) -> dict:
    """The code flow (PKCE for a public client) redeemed with a proof of ``private``."""
    extra = {}
    if app_client.secret is None:
        verifier, challenge = pkce_pair()
        params.update(code_challenge=challenge, code_challenge_method="S256")
        extra["code_verifier"] = verifier
    code, _ = get_code(browser, app_client, **params)
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": app_client.redirect_uri,
        **extra,
    }
    response = post_token(browser, app_client, data, proof("POST", TOKEN_URL, private=private))
    assert response.status_code == 200, response.data
    return response.get_json()


def refresh_with(http, app_client, refresh_token: str, dpop: str | None):
    data = {"grant_type": "refresh_token", "refresh_token": refresh_token}
    return post_token(http, app_client, data, dpop)


# --- refresh tokens (§5) -------------------------------------------------------------------


def test_a_public_clients_refresh_token_needs_the_same_key(logged_in, public_client) -> None:
    tokens = code_tokens(logged_in, public_client)
    assert tokens["token_type"] == "DPoP"
    refresh_token = tokens["refresh_token"]
    # Without a proof, or with another key's: refused, and the token is not used up.
    assert_oauth_error(
        refresh_with(logged_in, public_client, refresh_token, None), "invalid_dpop_proof"
    )
    other = proof("POST", TOKEN_URL, private=key("ES256", "other"))
    assert_oauth_error(
        refresh_with(logged_in, public_client, refresh_token, other), "invalid_dpop_proof"
    )
    same = refresh_with(logged_in, public_client, refresh_token, proof("POST", TOKEN_URL))
    assert same.status_code == 200, same.data
    assert same.get_json()["token_type"] == "DPoP"
    _, claims = decode_jwt(logged_in, same.get_json()["access_token"])
    assert claims["cnf"] == {"jkt": jkt(key())}
    # The successor is bound as well.
    successor = same.get_json()["refresh_token"]
    assert_oauth_error(
        refresh_with(logged_in, public_client, successor, None), "invalid_dpop_proof"
    )


def test_a_confidential_clients_refresh_token_is_not_bound(logged_in, confidential_client) -> None:
    """§5: a confidential client's authentication already binds its refresh tokens."""
    tokens = code_tokens(logged_in, confidential_client)
    assert tokens["token_type"] == "DPoP"
    plain = refresh_with(logged_in, confidential_client, tokens["refresh_token"], None)
    assert plain.status_code == 200, plain.data
    assert plain.get_json()["token_type"] == "Bearer"
    rebound = proof("POST", TOKEN_URL, private=key("ES256", "other"))
    again = refresh_with(logged_in, confidential_client, plain.get_json()["refresh_token"], rebound)
    assert again.status_code == 200, again.data
    _, claims = decode_jwt(logged_in, again.get_json()["access_token"])
    assert claims["cnf"] == {"jkt": jkt(key("ES256", "other"))}


def test_a_public_client_without_dpop_keeps_bearer_tokens(logged_in, public_client) -> None:
    verifier, challenge = pkce_pair()
    code, _ = get_code(
        logged_in, public_client, code_challenge=challenge, code_challenge_method="S256"
    )
    response = exchange_code(logged_in, public_client, code, code_verifier=verifier)
    assert response.get_json()["token_type"] == "Bearer"
    again = refresh_with(logged_in, public_client, response.get_json()["refresh_token"], None)
    assert again.status_code == 200, again.data


# --- dpop_jkt and PAR (§10) ----------------------------------------------------------------


def test_dpop_jkt_binds_the_code_to_that_key(logged_in, public_client) -> None:
    verifier, challenge = pkce_pair()
    code, _ = get_code(
        logged_in,
        public_client,
        code_challenge=challenge,
        code_challenge_method="S256",
        dpop_jkt=jkt(key()),
    )
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": public_client.redirect_uri,
        "code_verifier": verifier,
    }
    assert_oauth_error(post_token(logged_in, public_client, data), "invalid_dpop_proof")
    other = proof("POST", TOKEN_URL, private=key("ES256", "other"))
    assert_oauth_error(post_token(logged_in, public_client, data, other), "invalid_dpop_proof")
    right = post_token(logged_in, public_client, data, proof("POST", TOKEN_URL))
    assert right.status_code == 200, right.data  # the refused attempts did not use the code up


def test_a_malformed_dpop_jkt_is_an_invalid_request(logged_in, confidential_client) -> None:
    url = authorize_url(confidential_client, dpop_jkt="not a thumbprint")
    response = logged_in.get(url)
    assert response.status_code == 302
    assert query_of(response.headers["Location"])["error"] == "invalid_request"


def push(http, app_client, dpop: str | None = None, **params: str):
    data = {
        "response_type": "code",
        "redirect_uri": app_client.redirect_uri,
        "scope": "openid offline_access events:read",
        **params,
    }
    headers = {"DPoP": dpop} if dpop else {}
    headers |= basic_auth(app_client.client_id, app_client.secret)
    return http.post("/oauth/par", data=data, headers=headers)


def test_par_with_a_proof_binds_the_code_to_its_key(logged_in, confidential_client) -> None:
    response = push(logged_in, confidential_client, proof("POST", PAR_URL))
    assert response.status_code == 201, response.data
    url = "/oauth/authorize?" + "&".join(
        [
            f"client_id={confidential_client.client_id}",
            f"request_uri={response.get_json()['request_uri']}",
        ]
    )
    redirect = consent(logged_in, url)
    code = query_of(redirect.headers["Location"])["code"]
    data = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": confidential_client.redirect_uri,
    }
    other = proof("POST", TOKEN_URL, private=key("ES256", "other"))
    assert_oauth_error(
        post_token(logged_in, confidential_client, data, other), "invalid_dpop_proof"
    )
    assert (
        post_token(logged_in, confidential_client, data, proof("POST", TOKEN_URL)).status_code
        == 200
    )


def test_par_refuses_a_dpop_jkt_that_is_not_the_proofs_key(client, confidential_client) -> None:
    other = jkt(key("ES256", "other"))
    response = push(client, confidential_client, proof("POST", PAR_URL), dpop_jkt=other)
    assert_oauth_error(response, "invalid_dpop_proof")


def test_par_refuses_a_proof_made_for_the_token_endpoint(client, confidential_client) -> None:
    response = push(client, confidential_client, proof("POST", TOKEN_URL))
    assert_oauth_error(response, "invalid_dpop_proof")


# --- the device grant ----------------------------------------------------------------------


@pytest.fixture
def device_client(app) -> factories.ClientInfo:
    with app.app_context():
        return factories.make_client(
            public=True,
            grant_types=[policy.DEVICE_CODE_GRANT, "refresh_token"],
            redirect_uris=[],
            scope="openid offline_access events:read",
        )


def test_the_device_grant_binds_its_tokens(client, logged_in, device_client) -> None:
    device = started(client, device_client, scope="openid offline_access events:read")
    answer(logged_in, enter(logged_in, device["user_code"]))
    data = {"grant_type": policy.DEVICE_CODE_GRANT, "device_code": device["device_code"]}
    response = post_token(client, device_client, data, proof("POST", TOKEN_URL))
    assert response.status_code == 200, response.data
    assert response.get_json()["token_type"] == "DPoP"
    refresh_token = response.get_json()["refresh_token"]
    assert_oauth_error(
        refresh_with(client, device_client, refresh_token, None), "invalid_dpop_proof"
    )


# --- nonces (§8) ---------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [{"DPOP_NONCE_REQUIRED": True}])
def test_the_nonce_flow(app, client, fake_clock: FakeClock, app_config) -> None:
    with app.app_context():
        service = factories.make_service_client()
    data = {"grant_type": "client_credentials"}
    first = post_token(client, service, data, proof("POST", TOKEN_URL, iat=fake_clock.timestamp()))
    assert_oauth_error(first, "use_dpop_nonce")
    nonce = first.headers["DPoP-Nonce"]
    assert nonce
    bogus = proof("POST", TOKEN_URL, iat=fake_clock.timestamp(), nonce="1.forged")
    assert_oauth_error(post_token(client, service, data, bogus), "use_dpop_nonce")
    good = proof("POST", TOKEN_URL, iat=fake_clock.timestamp(), nonce=nonce)
    assert post_token(client, service, data, good).status_code == 200
    # A nonce lives one more window, then the client must fetch a new one.
    fake_clock.advance(policy.DPOP_NONCE_WINDOW)
    later = proof("POST", TOKEN_URL, iat=fake_clock.timestamp(), nonce=nonce)
    assert post_token(client, service, data, later).status_code == 200
    fake_clock.advance(policy.DPOP_NONCE_WINDOW)
    stale = proof("POST", TOKEN_URL, iat=fake_clock.timestamp(), nonce=nonce)
    refused = post_token(client, service, data, stale)
    assert_oauth_error(refused, "use_dpop_nonce")
    assert refused.headers["DPoP-Nonce"] != nonce


def test_nonces_are_off_by_default(client, service_for_default) -> None:
    response = post_token(
        client, service_for_default, {"grant_type": "client_credentials"}, proof("POST", TOKEN_URL)
    )
    assert response.status_code == 200


@pytest.fixture
def service_for_default(app) -> factories.ClientInfo:
    assert app.config["DPOP_NONCE_REQUIRED"] is False
    with app.app_context():
        return factories.make_service_client()


# --- token exchange (RFC 8693) -------------------------------------------------------------


def test_token_exchange_binds_the_exchanged_token(app, logged_in, confidential_client) -> None:
    with app.app_context():
        exchanger = factories.make_client(
            grant_types=[policy.TOKEN_EXCHANGE_GRANT],
            redirect_uris=[],
            scope="openid events:read",
            dpop_bound_access_tokens=True,
        )
    subject = code_tokens(
        logged_in, confidential_client, resource=policy.client_resource(exchanger.client_id)
    )["access_token"]
    data = {
        "grant_type": policy.TOKEN_EXCHANGE_GRANT,
        "subject_token": subject,
        "subject_token_type": policy.ACCESS_TOKEN_TYPE,
        "resource": "http://127.0.0.1:5001",
        "scope": "events:read",
    }
    assert_oauth_error(post_token(logged_in, exchanger, data), "invalid_dpop_proof")
    exchanged = post_token(logged_in, exchanger, data, proof("POST", TOKEN_URL))
    assert exchanged.status_code == 200, exchanged.data
    assert exchanged.get_json()["token_type"] == "DPoP"
    _, claims = decode_jwt(logged_in, exchanged.get_json()["access_token"])
    assert claims["cnf"] == {"jkt": jkt(key())}
