"""Token endpoint, authorization_code grant: RFC 6749 §4.1.3-4.1.4, §5, RFC 9068, SPEC."""

from __future__ import annotations

import time

from sqlalchemy import select

from authserver.extensions import db
from authserver.models import AccessToken, AuthorizationCode, RefreshToken
from authserver.security.secrets import hash_secret
from tests import factories
from tests.helpers import (
    assert_oauth_error,
    basic_auth,
    decode_jwt,
    exchange_code,
    get_code,
    refresh,
)


def test_token_response_is_a_bearer_jwt_and_not_cached(logged_in, confidential_client, user):
    """RFC 6749 §5.1 (Cache-Control: no-store) and RFC 9068 §2 (typ at+jwt, required claims)."""
    code, _ = get_code(logged_in, confidential_client)
    response = exchange_code(logged_in, confidential_client, code)
    assert response.status_code == 200
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["Pragma"] == "no-cache"
    body = response.get_json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600
    assert len(body["refresh_token"]) >= 43  # 256 bits, base64url
    header, claims = decode_jwt(logged_in, body["access_token"])
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "RS256"
    assert header["kid"]
    assert claims["iss"] == "http://127.0.0.1:5000"
    assert claims["sub"] == user.subject
    assert claims["aud"] == "http://127.0.0.1:5001"
    assert claims["client_id"] == confidential_client.client_id
    assert claims["scope"] == "openid profile offline_access events:read"
    assert claims["exp"] - claims["iat"] == 600
    assert abs(claims["iat"] - time.time()) < 30
    assert claims["jti"]


def test_codes_and_refresh_tokens_are_stored_only_as_hashes(app, logged_in, confidential_client):
    code, _ = get_code(logged_in, confidential_client)
    body = exchange_code(logged_in, confidential_client, code).get_json()
    with app.app_context():
        stored_code = db.session.scalar(select(AuthorizationCode))
        assert stored_code.code_hash == hash_secret(code)
        assert code not in repr(stored_code.__dict__)
        stored_refresh = db.session.scalar(select(RefreshToken))
        assert stored_refresh.token_hash == hash_secret(body["refresh_token"])


def test_second_redemption_fails_and_revokes_first_tokens(app, logged_in, confidential_client):
    """If an authorization code is used more than once, the authorization server MUST deny the
    request and SHOULD revoke all tokens previously issued based on that code — RFC 6749 §4.1.2."""
    code, _ = get_code(logged_in, confidential_client)
    first = exchange_code(logged_in, confidential_client, code).get_json()
    second = exchange_code(logged_in, confidential_client, code)
    assert_oauth_error(second, "invalid_grant")
    assert_oauth_error(
        refresh(logged_in, confidential_client, first["refresh_token"]), "invalid_grant"
    )
    with app.app_context():
        record = db.session.scalar(select(AccessToken))
        assert record.revoked_at is not None


def test_expired_code_is_invalid_grant(logged_in, confidential_client, fake_clock):
    """SPEC: codes live 60 s."""
    code, _ = get_code(logged_in, confidential_client)
    fake_clock.advance(61)
    body = assert_oauth_error(exchange_code(logged_in, confidential_client, code), "invalid_grant")
    assert "expired" in body["error_description"]


def test_code_issued_to_another_client_is_invalid_grant(app, logged_in, confidential_client, user):
    """RFC 6749 §4.1.3: ensure the code was issued to the authenticated confidential client."""
    with app.app_context():
        other = factories.make_client(owner_email=user.email, name="Other")
    code, _ = get_code(logged_in, confidential_client)
    response = exchange_code(logged_in, other, code, redirect_uri=confidential_client.redirect_uri)
    assert_oauth_error(response, "invalid_grant")
    # ...and the rightful client can still redeem it.
    assert exchange_code(logged_in, confidential_client, code).status_code == 200


def test_unknown_code_is_invalid_grant(logged_in, confidential_client):
    assert_oauth_error(exchange_code(logged_in, confidential_client, "made-up"), "invalid_grant")


def test_redirect_uri_must_match_the_authorization_request(logged_in, confidential_client):
    """redirect_uri is REQUIRED if it was included in the authorization request, and the values
    MUST be identical — RFC 6749 §4.1.3."""
    code, _ = get_code(logged_in, confidential_client)
    wrong = exchange_code(
        logged_in, confidential_client, code, redirect_uri="https://app.example.com/other"
    )
    assert_oauth_error(wrong, "invalid_grant")
    missing = exchange_code(logged_in, confidential_client, code, redirect_uri="")
    assert_oauth_error(missing, "invalid_grant")


def test_missing_code_is_invalid_request(logged_in, confidential_client):
    response = logged_in.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "redirect_uri": confidential_client.redirect_uri},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert_oauth_error(response, "invalid_request")


def test_wrong_secret_is_401_invalid_client_with_www_authenticate(logged_in, confidential_client):
    """If the client attempted to authenticate via the Authorization header, the server MUST
    respond with 401 and include WWW-Authenticate — RFC 6749 §5.2."""
    code, _ = get_code(logged_in, confidential_client)
    response = logged_in.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": confidential_client.redirect_uri,
        },
        headers=basic_auth(confidential_client.client_id, "wrong-secret"),
    )
    assert_oauth_error(response, "invalid_client", status=401)
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert response.headers["Cache-Control"] == "no-store"
    # The code survives a failed attempt by someone without the secret.
    assert exchange_code(logged_in, confidential_client, code).status_code == 200


def test_unknown_client_is_invalid_client(logged_in):
    response = logged_in.post(
        "/oauth/token",
        data={"grant_type": "authorization_code", "code": "x"},
        headers=basic_auth("nobody", "nothing"),
    )
    assert_oauth_error(response, "invalid_client", status=401)


def test_missing_client_authentication_is_invalid_client(logged_in, confidential_client):
    code, _ = get_code(logged_in, confidential_client)
    response = logged_in.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "client_id": confidential_client.client_id,
            "redirect_uri": confidential_client.redirect_uri,
        },
    )
    assert_oauth_error(response, "invalid_client", status=401)


def test_client_secret_post_is_accepted(logged_in, confidential_client):
    code, _ = get_code(logged_in, confidential_client)
    response = logged_in.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": confidential_client.redirect_uri,
            "client_id": confidential_client.client_id,
            "client_secret": confidential_client.secret,
        },
    )
    assert response.status_code == 200, response.data


def test_two_authentication_methods_at_once_are_invalid_request(logged_in, confidential_client):
    """The client MUST NOT use more than one authentication method in each request — RFC 6749
    §2.3."""
    code, _ = get_code(logged_in, confidential_client)
    response = logged_in.post(
        "/oauth/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": confidential_client.redirect_uri,
            "client_id": confidential_client.client_id,
            "client_secret": confidential_client.secret,
        },
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert_oauth_error(response, "invalid_request")


def test_credentials_in_the_query_string_are_not_read(logged_in, confidential_client):
    """RFC 6749 §2.3.1: the client secret MUST NOT be included in the request URI."""
    code, _ = get_code(logged_in, confidential_client)
    response = logged_in.post(
        f"/oauth/token?client_id={confidential_client.client_id}"
        f"&client_secret={confidential_client.secret}",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": confidential_client.redirect_uri,
        },
    )
    assert_oauth_error(response, "invalid_client", status=401)


def test_malformed_authorization_header_is_invalid_client_not_a_crash(logged_in):
    """Bad input gets a 4xx in the RFC 6749 §5.2 shape, never a 5xx, at every endpoint that
    authenticates clients."""
    headers = ("Basic !!!not-base64", "Basic " + "//79", "Basic", "Basic ", "Bearer ", "x ")
    for path in ("/oauth/token", "/oauth/revoke", "/oauth/introspect"):
        for header in headers:
            response = logged_in.post(
                path,
                data={"grant_type": "authorization_code", "code": "x", "token": "x"},
                headers={"Authorization": header},
            )
            assert response.status_code in (400, 401), (path, header, response.status_code)
            assert response.get_json()["error"] in ("invalid_client", "invalid_request")


def test_unsupported_grant_type(logged_in, confidential_client):
    response = logged_in.post(
        "/oauth/token",
        data={"grant_type": "password", "username": "a", "password": "b"},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert_oauth_error(response, "unsupported_grant_type")


def test_missing_grant_type_is_an_error_not_a_crash(logged_in, confidential_client):
    response = logged_in.post(
        "/oauth/token",
        data={},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert response.status_code == 400
    assert response.get_json()["error"] in ("unsupported_grant_type", "invalid_request")


def test_token_endpoint_refuses_get(logged_in):
    response = logged_in.get("/oauth/token?grant_type=authorization_code")
    assert response.status_code == 405


def test_client_without_refresh_grant_gets_no_refresh_token(app, logged_in, user):
    """SPEC: a refresh token is issued to clients that hold the refresh_token grant."""
    with app.app_context():
        app_client = factories.make_client(
            owner_email=user.email, grant_types=["authorization_code"]
        )
    code, _ = get_code(logged_in, app_client)
    body = exchange_code(logged_in, app_client, code).get_json()
    assert "refresh_token" not in body
