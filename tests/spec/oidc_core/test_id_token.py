"""The ID token of the authorization code flow: OpenID Connect Core 1.0 §2, §3.1.3.3-3.1.3.7."""

from __future__ import annotations

import time

import pytest
from authlib.oidc.core import CodeIDToken
from authlib.oidc.core.util import create_half_hash
from joserfc import jwt
from joserfc.errors import InvalidClaimError, JoseError
from joserfc.jwk import KeySet

from tests import factories
from tests.helpers import (
    assert_redirect_error,
    authorize_url,
    decode_jwt,
    login,
)
from tests.helpers import user_tokens as token_response

ISSUER = "http://127.0.0.1:5000"


def id_token_of(browser, app_client, **params) -> tuple[dict, dict, dict]:
    """(token response, id_token header, id_token claims), the id_token verified by the JWKS."""
    body = token_response(browser, app_client, **params)
    header, claims = decode_jwt(browser, body["id_token"])
    return body, header, claims


def test_id_token_is_issued_for_openid_and_only_for_it(logged_in, confidential_client):
    """OpenID Connect requests MUST contain the openid scope value — Core §3.1.2.1; a plain
    OAuth 2.0 request gets no ID token."""
    assert "id_token" in token_response(logged_in, confidential_client, scope="openid")
    assert "id_token" not in token_response(logged_in, confidential_client, scope="events:read")


def test_id_token_is_an_rs256_jws_whose_kid_is_in_the_jwks(logged_in, confidential_client):
    """ID Tokens MUST be signed using JWS — Core §2; RS256 is the default — Core §3.1.3.7 (7);
    the kid names the JWKS key that verifies it."""
    body, header, _ = id_token_of(logged_in, confidential_client)
    assert header["alg"] == "RS256"
    jwks = logged_in.get("/oauth/jwks").get_json()
    assert header["kid"] in {key["kid"] for key in jwks["keys"]}
    # The signature is real: a flipped bit fails verification.
    tampered = body["id_token"][:-4] + ("AAAA" if body["id_token"][-4:] != "AAAA" else "BBBB")
    with pytest.raises(JoseError):
        decode_jwt(logged_in, tampered)


def test_id_token_carries_the_required_claims(logged_in, confidential_client, user):
    """iss, sub, aud, exp, iat are REQUIRED; iss is the issuer identifier, aud contains the
    client_id, sub is locally unique and never reassigned — Core §2."""
    _, _, claims = id_token_of(logged_in, confidential_client)
    assert claims["iss"] == ISSUER
    assert claims["sub"] == user.subject
    assert claims["aud"] == confidential_client.client_id
    assert claims["exp"] - claims["iat"] == 600
    assert abs(claims["iat"] - time.time()) < 30
    # sub is opaque: it is not the email address or a row number.
    assert user.email not in claims["sub"]
    assert claims["sub"] != str(user.id)


def test_sub_is_the_same_for_every_client_and_token(app, logged_in, confidential_client, user):
    """subject_types_supported ["public"]: the same sub for this user at every client — Core §8."""
    with app.app_context():
        other = factories.make_client(owner_email=user.email, name="Other App")
    _, _, first = id_token_of(logged_in, confidential_client)
    _, _, second = id_token_of(logged_in, other)
    _, _, again = id_token_of(logged_in, confidential_client)
    assert first["sub"] == second["sub"] == again["sub"] == user.subject


@pytest.mark.parametrize("nonce", ["n-0S6_WzA2Mj", "a nonce with spaces & symbols/+=", "ünïcödé"])
def test_nonce_is_passed_through_unmodified(logged_in, confidential_client, nonce):
    """If present in the Authentication Request, Authorization Servers MUST include a nonce Claim
    in the ID Token with the Claim Value being the nonce value sent — Core §2."""
    _, _, claims = id_token_of(logged_in, confidential_client, nonce=nonce)
    assert claims["nonce"] == nonce


def test_no_nonce_claim_when_none_was_sent(logged_in, confidential_client):
    """nonce is OPTIONAL in the code flow — Core §3.1.2.1; no value, no claim."""
    _, _, claims = id_token_of(logged_in, confidential_client)
    assert "nonce" not in claims


def test_a_nonce_already_used_with_this_client_is_refused(logged_in, confidential_client):
    """The nonce mitigates replay attacks — Core §3.1.2.1, §15.5.2: a request that repeats a
    nonce this client already used is refused with invalid_request, back at the client."""
    id_token_of(logged_in, confidential_client, nonce="once-only")
    response = logged_in.get(authorize_url(confidential_client, nonce="once-only"))
    query = assert_redirect_error(response, confidential_client.redirect_uri, "invalid_request")
    assert query["state"] == "state-123"
    assert "code" not in query


def test_auth_time_is_when_the_user_logged_in(browser, confidential_client, fake_clock):
    """auth_time: Time when the End-User authentication occurred — Core §2. A later code in the
    same session keeps the login time; it is not the time of the token request."""
    logged_in_at = fake_clock.timestamp()
    fake_clock.advance(125)
    _, _, claims = id_token_of(browser, confidential_client)
    assert claims["auth_time"] == logged_in_at
    assert claims["iat"] == fake_clock.timestamp()
    fake_clock.advance(300)
    _, _, later = id_token_of(browser, confidential_client, scope="openid")
    assert later["auth_time"] == logged_in_at


def test_auth_time_follows_a_new_login(app, browser, user, confidential_client, fake_clock):
    """A fresh authentication is a new auth_time — Core §2."""
    _, _, first = id_token_of(browser, confidential_client)
    fake_clock.advance(1000)
    login(browser, user.email, user.password)
    _, _, second = id_token_of(browser, confidential_client, scope="openid")
    assert second["auth_time"] == first["auth_time"] + 1000


def test_at_hash_is_the_left_half_of_the_access_tokens_sha256(logged_in, confidential_client):
    """at_hash: the base64url encoding of the left-most half of the hash of the octets of the
    ASCII representation of the access_token value, with the hash of the alg (SHA-256 for
    RS256) — Core §3.1.3.6."""
    body, _, claims = id_token_of(logged_in, confidential_client)
    assert claims["at_hash"] == create_half_hash(body["access_token"], "RS256").decode()
    assert claims["at_hash"] != create_half_hash(body["refresh_token"], "RS256").decode()


def test_azp_is_the_client_the_token_was_issued_to(logged_in, confidential_client):
    """azp: the party to which the ID Token was issued; if present, it MUST contain the OAuth 2.0
    Client ID of this party — Core §2."""
    _, _, claims = id_token_of(logged_in, confidential_client)
    assert claims["azp"] == confidential_client.client_id


def test_sid_names_the_login_session(app, browser, user, confidential_client):
    """sid: Session ID, identifying the session at the OP, the same for every token of one
    session and different for another — Front-Channel/Back-Channel Logout §2 (claims_supported
    lists it)."""
    _, _, first = id_token_of(browser, confidential_client)
    _, _, second = id_token_of(browser, confidential_client, scope="openid")
    assert first["sid"] and first["sid"] == second["sid"]
    other_browser = app.test_client()
    login(other_browser, user.email, user.password)
    _, _, elsewhere = id_token_of(other_browser, confidential_client, scope="openid")
    assert elsewhere["sid"] != first["sid"]


def test_public_client_gets_an_id_token_too(logged_in, public_client, user):
    """Core §3.1.3.7: the client_id of a public client is the audience just the same."""
    _, _, claims = id_token_of(logged_in, public_client, nonce="pub-nonce")
    assert claims["aud"] == public_client.client_id
    assert claims["azp"] == public_client.client_id
    assert claims["sub"] == user.subject
    assert claims["nonce"] == "pub-nonce"


def test_id_token_passes_authlibs_code_id_token_validation(logged_in, confidential_client):
    """Core §3.1.3.7 (ID Token Validation), as Authlib's CodeIDToken performs it: signature by
    the JWKS, iss, aud, azp, exp/iat, nonce and at_hash."""
    body, _, _ = id_token_of(logged_in, confidential_client, nonce="val-nonce")
    keys = KeySet.import_key_set(logged_in.get("/oauth/jwks").get_json())
    token = jwt.decode(body["id_token"], keys, algorithms=["RS256"])
    params = {
        "nonce": "val-nonce",
        "client_id": confidential_client.client_id,
        "access_token": body["access_token"],
    }
    options = {"iss": {"essential": True, "values": [ISSUER]}}
    CodeIDToken(token.claims, token.header, options, params).validate(leeway=60)
    # The same validation rejects a token meant for someone else, or another request's nonce.
    for wrong in (
        {**params, "nonce": "other-nonce"},
        {**params, "client_id": "another-client"},
        {**params, "access_token": body["refresh_token"]},
    ):
        with pytest.raises(InvalidClaimError):
            CodeIDToken(token.claims, token.header, options, wrong).validate(leeway=60)
