"""Validation of RFC 9068 JWT access tokens: signature, algorithm, type and claims."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from joserfc import jws

from .api_testing import AUDIENCE, assert_bearer_error, assert_invalid_token, bearer


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def unsigned_parts(header: dict, claims: dict) -> str:
    return f"{b64url(json.dumps(header).encode())}.{b64url(json.dumps(claims).encode())}"


def sign_by_hand(header: dict, claims: dict, key) -> str:
    """RS256 without joserfc, for headers joserfc itself refuses to produce."""
    signing_input = unsigned_parts(header, claims)
    signature = key.raw_value.sign(signing_input.encode(), padding.PKCS1v15(), hashes.SHA256())
    return f"{signing_input}.{b64url(signature)}"


def claims_of(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def test_valid_token_is_accepted(client, token):
    response = client.get("/api/me", headers=bearer(token))
    assert response.status_code == 200
    assert response.get_json()["sub"] == "alice"


def test_expired_token_is_rejected(client, make_token, clock):
    """“The resource server MUST check the current time is before the time represented by the
    exp claim.” — RFC 9068 §4"""
    token = make_token(iat=int(clock()) - 700, exp=int(clock()) - 100)
    assert_invalid_token(client.get("/api/me", headers=bearer(token)), "expired")


def test_token_expired_by_less_than_the_leeway_is_accepted(client, make_token, clock):
    """“Implementers MAY provide for some small leeway, usually no more than a few minutes, to
    account for clock skew.” — RFC 7519 §4.1.4"""
    token = make_token(exp=int(clock()) + 600)
    clock.advance(600 + 20)  # the default leeway is 30 seconds
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    clock.advance(20)
    assert_invalid_token(client.get("/api/me", headers=bearer(token)), "expired")


def test_not_yet_valid_token_is_rejected(client, make_token, clock):
    """Before nbf, “the JWT MUST NOT be accepted for processing.” — RFC 7519 §4.1.5"""
    token = make_token(nbf=int(clock()) + 120)
    assert_invalid_token(client.get("/api/me", headers=bearer(token)), "not valid yet")
    clock.advance(121)
    assert client.get("/api/me", headers=bearer(token)).status_code == 200


def test_token_issued_in_the_future_is_rejected(client, make_token, clock):
    token = make_token(iat=int(clock()) + 300)
    assert_invalid_token(client.get("/api/me", headers=bearer(token)), "issued in the future")


def test_wrong_audience_is_rejected(client, make_token):
    """“The resource server MUST validate that the aud claim contains a resource indicator value
    corresponding to an identifier the resource server expects for itself.” — RFC 9068 §4"""
    token = make_token(aud="https://other-api.example")
    assert_invalid_token(client.get("/api/me", headers=bearer(token)), "another audience")


def test_audience_list_containing_this_api_is_accepted(client, make_token):
    """“In the general case, the aud value is an array of case-sensitive strings.” — RFC 7519
    §4.1.3"""
    token = make_token(aud=["https://other-api.example", AUDIENCE])
    assert client.get("/api/me", headers=bearer(token)).status_code == 200


def test_wrong_issuer_is_rejected(client, make_token):
    """“The issuer identifier for the authorization server ... MUST exactly match the value of
    the iss claim.” — RFC 9068 §4"""
    token = make_token(iss="http://127.0.0.1:5999")
    assert_invalid_token(client.get("/api/me", headers=bearer(token)), "another issuer")


@pytest.mark.parametrize("claim", ["iss", "aud", "exp", "sub", "iat", "jti", "client_id"])
def test_token_without_a_required_claim_is_rejected(client, make_token, claim):
    """RFC 9068 §2.2 lists iss, exp, aud, sub, client_id, iat and jti as REQUIRED."""
    token = make_token(**{claim: None})
    assert_invalid_token(client.get("/api/me", headers=bearer(token)), claim)


def test_signature_by_another_key_under_a_published_kid_is_rejected(
    client, make_token, signing_keys
):
    """“The resource server MUST validate the signature of all incoming JWT access tokens
    according to [RFC7515] using the algorithm specified in the JWT alg Header Parameter.” —
    RFC 9068 §4"""
    forged = make_token(key=signing_keys[2], header={"kid": signing_keys[0].kid})
    assert_invalid_token(client.get("/api/me", headers=bearer(forged)), "signature is invalid")


def test_altered_claims_break_the_signature(client, token):
    header, _, signature = token.split(".")
    claims = {**claims_of(token), "sub": "mallory"}
    tampered = f"{header}.{b64url(json.dumps(claims).encode())}.{signature}"
    assert_invalid_token(client.get("/api/me", headers=bearer(tampered)), "signature is invalid")


def test_alg_none_is_rejected(client, token, signing_keys):
    """“The resource server MUST reject any JWT in which the value of alg is none.” — RFC 9068
    §4"""
    header = {"alg": "none", "typ": "at+jwt", "kid": signing_keys[0].kid}
    unsigned = unsigned_parts(header, claims_of(token)) + "."
    assert_invalid_token(client.get("/api/me", headers=bearer(unsigned)), "RS256")


def test_hs256_signed_with_the_public_key_is_rejected(client, token, signing_keys, transport):
    """An attacker who knows the public key must not get it used as an HMAC secret
    (RFC 8725 §2.1, "Weak Signatures and Insufficient Signature Validation")."""
    public_pem = signing_keys[0].as_pem(private=False)
    header = {"alg": "HS256", "typ": "at+jwt", "kid": signing_keys[0].kid}
    signing_input = unsigned_parts(header, claims_of(token))
    mac = hmac.new(public_pem, signing_input.encode(), hashlib.sha256).digest()
    forged = f"{signing_input}.{b64url(mac)}"
    assert_invalid_token(client.get("/api/me", headers=bearer(forged)), "RS256")
    assert transport.sent == [], "the algorithm must be refused before any key is looked up"


def test_token_without_kid_is_rejected(client, make_token):
    token = make_token(header={"kid": None})
    assert_invalid_token(client.get("/api/me", headers=bearer(token)), "kid")


def test_token_with_unknown_kid_is_rejected(client, make_token, signing_keys):
    token = make_token(key=signing_keys[2])  # kid "key-3" is not in the issuer's JWKS
    assert_invalid_token(client.get("/api/me", headers=bearer(token)), "does not publish")


@pytest.mark.parametrize("typ", ["JWT", "jwt", "at+jws", None])
def test_token_of_another_type_is_rejected(client, make_token, typ):
    """“Resource servers MUST verify that the typ header value is at+jwt or application/at+jwt
    and reject tokens carrying any other value.” — RFC 9068 §4"""
    token = make_token(header={"typ": typ})
    assert_invalid_token(client.get("/api/me", headers=bearer(token)), "typ must be at+jwt")


@pytest.mark.parametrize("typ", ["at+jwt", "application/at+jwt", "AT+JWT"])
def test_both_spellings_of_the_access_token_type_are_accepted(client, make_token, typ):
    """RFC 7515 §4.1.9: media type values are compared case-insensitively and the
    "application/" prefix may be omitted."""
    token = make_token(header={"typ": typ})
    assert client.get("/api/me", headers=bearer(token)).status_code == 200


def test_critical_header_extension_is_rejected(client, token, signing_keys):
    """“If any of the listed extension Header Parameters are not understood and supported by the
    recipient, then the JWS is invalid.” — RFC 7515 §4.1.11"""
    header = {
        "alg": "RS256",
        "typ": "at+jwt",
        "kid": signing_keys[0].kid,
        "crit": ["x-new"],
        "x-new": True,
    }
    token = sign_by_hand(header, claims_of(token), signing_keys[0])
    assert_invalid_token(client.get("/api/me", headers=bearer(token)), "header extensions")


@pytest.mark.parametrize(
    "garbage",
    [
        "not-a-jwt",
        "a.b.c",
        "eyJhbGciOiJSUzI1NiJ9.e30.AAAA",
        "e30.e30.e30",  # header without alg
        "a.b.c.d.e",  # the shape of a JWE
        "WyJhbGciXQ.e30.AA",  # header ["alg"]: a list that contains "alg"
        "ImFsZyI.e30.AA",  # header "alg"
        "MQ.e30.AA",  # header 1
        "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6ImtleS0xIn0.bm90IGpzb24.c2ln",
    ],
)
def test_malformed_tokens_are_invalid_tokens_not_server_errors(client, garbage):
    response = client.get("/api/me", headers=bearer(garbage))
    assert_bearer_error(response, 401, "invalid_token")


def test_claims_that_are_not_an_object_are_rejected(client, signing_keys):
    """“The JWT Claims Set represents a JSON object” — RFC 7519 §4"""
    header = {"alg": "RS256", "typ": "at+jwt", "kid": signing_keys[0].kid}
    array_token = jws.serialize_compact(header, b"[1, 2]", signing_keys[0])
    assert_invalid_token(client.get("/api/me", headers=bearer(array_token)), "JSON object")


def test_overlong_sub_is_rejected_before_it_reaches_the_database(client, make_token):
    token = make_token(sub="x" * 256)
    assert_invalid_token(client.get("/api/events", headers=bearer(token)), "sub")


@pytest.mark.parametrize("sub", ["al\x00ice", "\ud800"], ids=["nul", "lone-surrogate"])
@pytest.mark.parametrize("path", ["/api/events", "/api/me"])
def test_sub_the_database_cannot_store_is_rejected_not_a_server_error(
    client, token, signing_keys, path, sub
):
    """Found by tests/fuzz: NUL in ``sub`` was a 500 on PostgreSQL (text cannot hold it), a
    lone surrogate a 500 on both databases; the token is invalid, not the server."""
    header = {"alg": "RS256", "typ": "at+jwt", "kid": signing_keys[0].kid}
    claims = {**claims_of(token), "sub": sub}
    signed = jws.serialize_compact(header, json.dumps(claims).encode(), signing_keys[0])
    assert_invalid_token(client.get(path, headers=bearer(signed)), "sub")


def test_non_string_scope_claim_is_rejected(client, make_token):
    """RFC 9068 §2.2.3: scope is a space-delimited string (RFC 8693 §4.2)."""
    token = make_token(scope=["profile"])
    assert_invalid_token(client.get("/api/me", headers=bearer(token)), "scope")


def test_missing_scope_is_insufficient_scope(client, make_token):
    """“The request requires higher privileges than provided by the access token. The resource
    server SHOULD respond with the HTTP 403 (Forbidden) status code and MAY include the scope
    attribute with the scope necessary to access the protected resource.” — RFC 6750 §3.1"""
    token = make_token(scope="openid profile events:read")
    response = client.post("/api/events", headers=bearer(token), json={})
    body = assert_bearer_error(response, 403, "insufficient_scope", scope="events:write")
    assert body["scope"] == "events:write"


def test_token_without_scope_claim_has_no_scopes(client, make_token):
    token = make_token(scope=None)
    assert_bearer_error(
        client.get("/api/me", headers=bearer(token)), 403, "insufficient_scope", scope="profile"
    )


def test_every_scope_is_checked_per_route(client, make_token):
    read_only = make_token(scope="events:read")
    assert client.get("/api/events", headers=bearer(read_only)).status_code == 200
    assert_bearer_error(
        client.get("/api/me", headers=bearer(read_only)),
        403,
        "insufficient_scope",
        scope="profile",
    )
    assert_bearer_error(
        client.delete("/api/events/1", headers=bearer(read_only)),
        403,
        "insufficient_scope",
        scope="events:write",
    )


def _noncanonical_last_character(segment: str) -> str:
    # 256 signature bytes take 342 base64url characters, the last one carrying 2 bits and 4
    # unused ones; flipping an unused bit leaves the bytes a lenient decoder finds unchanged.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return segment[:-1] + alphabet[alphabet.index(segment[-1]) ^ 1]


@pytest.mark.parametrize(
    "respell",
    [
        lambda token: token + "==",
        lambda token: (
            token.rsplit(".", 1)[0] + "." + _noncanonical_last_character(token.split(".")[2])
        ),
    ],
    ids=["padded-signature", "noncanonical-signature"],
)
def test_other_spellings_of_an_accepted_token_are_refused(client, token, respell):
    """RFC 7515 §2: base64url "with all trailing '=' characters omitted"; one token has one
    spelling, so that a remembered token cannot be replayed under another."""
    assert client.get("/api/me", headers=bearer(token)).status_code == 200
    respelled = respell(token)
    assert respelled != token
    assert_bearer_error(client.get("/api/me", headers=bearer(respelled)), 401, "invalid_token")


def test_a_header_far_longer_than_any_issued_is_refused(client, token, signing_keys):
    header = {"alg": "RS256", "typ": "at+jwt", "kid": signing_keys[0].kid, "x": "y" * 2000}
    token = sign_by_hand(header, claims_of(token), signing_keys[0])
    assert_invalid_token(client.get("/api/me", headers=bearer(token)), "malformed")
