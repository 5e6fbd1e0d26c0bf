"""The UserInfo endpoint: OpenID Connect Core 1.0 §5.3-5.4, with RFC 6750 for the token."""

from __future__ import annotations

import pytest

from tests import factories
from tests.helpers import (
    basic_auth,
    client_credentials_token,
    decode_jwt,
    exchange_code,
    get_code,
    refresh,
)
from tests.helpers import user_tokens as tokens

ISSUER = "http://127.0.0.1:5000"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_bearer_error(response, status: int, error: str | None) -> str:
    """RFC 6750 §3: the status, and the error in a Bearer WWW-Authenticate challenge."""
    assert response.status_code == status, (response.status_code, response.data)
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("Bearer ")
    if error is None:
        assert "error=" not in challenge
    else:
        assert f'error="{error}"' in challenge
    return challenge


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_userinfo_answers_get_and_post_with_a_bearer_header(
    logged_in, confidential_client, user, method
):
    """The Client sends the UserInfo Request using either HTTP GET or HTTP POST. The Access Token
    obtained from an OpenID Connect Authentication Request MUST be sent as a Bearer Token —
    Core §5.3.1. The response is JSON — §5.3.2."""
    access = tokens(logged_in, confidential_client, scope="openid")["access_token"]
    response = logged_in.open("/oauth/userinfo", method=method, headers=bearer(access))
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/json"
    assert response.get_json() == {"sub": user.subject}


def test_userinfo_accepts_the_token_in_a_form_body(logged_in, confidential_client, user):
    """RFC 6750 §2.2 (form-encoded body parameter), which Core §5.3.1 allows."""
    access = tokens(logged_in, confidential_client, scope="openid")["access_token"]
    response = logged_in.post("/oauth/userinfo", data={"access_token": access})
    assert response.status_code == 200, response.data
    assert response.get_json()["sub"] == user.subject


def test_userinfo_sub_is_the_id_tokens_sub(logged_in, confidential_client):
    """The sub Claim in the UserInfo Response MUST be verified to exactly match the sub Claim in
    the ID Token — Core §5.3.2."""
    body = tokens(logged_in, confidential_client, scope="openid profile email")
    _, id_claims = decode_jwt(logged_in, body["id_token"])
    info = logged_in.get("/oauth/userinfo", headers=bearer(body["access_token"])).get_json()
    assert info["sub"] == id_claims["sub"]


@pytest.mark.parametrize(
    ("scope", "claims"),
    [
        ("openid", {"sub"}),
        ("openid profile", {"sub", "name", "updated_at"}),
        ("openid email", {"sub", "email", "email_verified"}),
        (
            "openid profile email",
            {"sub", "name", "updated_at", "email", "email_verified"},
        ),
        ("openid events:read offline_access", {"sub"}),
    ],
)
def test_claims_are_released_by_scope(logged_in, confidential_client, scope, claims):
    """profile: name, updated_at ...; email: email and email_verified —
    Core §5.4. Claims of scopes not granted are not returned."""
    access = tokens(logged_in, confidential_client, scope=scope)["access_token"]
    info = logged_in.get("/oauth/userinfo", headers=bearer(access)).get_json()
    assert set(info) == claims


def test_claim_values_have_the_standard_types(app, logged_in, confidential_client, user):
    """Core §5.1: name string, updated_at a JSON number of seconds since the epoch,
    email_verified a boolean; null values are omitted (§5.3.2)."""
    access = tokens(logged_in, confidential_client, scope="openid profile email")["access_token"]
    info = logged_in.get("/oauth/userinfo", headers=bearer(access)).get_json()
    assert info["name"] == user.name
    assert info["email"] == user.email
    assert isinstance(info["updated_at"], int) and info["updated_at"] > 1_600_000_000
    assert info["email_verified"] is False  # addresses are never confirmed by mail
    assert None not in info.values()


def test_a_scope_the_user_unticked_releases_nothing(logged_in, confidential_client):
    """A token carries only what the user granted (SPEC); UserInfo follows the token's scope."""
    code, _ = get_code(
        logged_in, confidential_client, scopes=["profile"], scope="openid profile email"
    )
    access = exchange_code(logged_in, confidential_client, code).get_json()["access_token"]
    info = logged_in.get("/oauth/userinfo", headers=bearer(access)).get_json()
    assert "email" not in info and "email_verified" not in info
    assert "name" in info


def test_a_narrowed_refresh_narrows_userinfo(logged_in, confidential_client):
    """RFC 6749 §6: a refreshed token with a narrower scope releases only that scope's claims."""
    body = tokens(logged_in, confidential_client, scope="openid profile email offline_access")
    narrowed = refresh(logged_in, confidential_client, body["refresh_token"], scope="openid")
    access = narrowed.get_json()["access_token"]
    assert logged_in.get("/oauth/userinfo", headers=bearer(access)).get_json().keys() == {"sub"}


def test_no_token_is_401_with_a_bare_bearer_challenge(client):
    """If the request lacks any authentication information, the resource server SHOULD NOT
    include an error code — RFC 6750 §3.1; 401 with WWW-Authenticate — §3."""
    challenge = assert_bearer_error(client.get("/oauth/userinfo"), 401, None)
    assert 'realm="' in challenge


@pytest.mark.parametrize("token", ["not-a-jwt", "a.b.c", "x" * 5000])
def test_a_token_we_did_not_issue_is_invalid_token(client, token):
    """invalid_token: The access token provided is expired, revoked, malformed, or invalid —
    RFC 6750 §3.1; Core §5.3.3 uses these errors."""
    assert_bearer_error(client.get("/oauth/userinfo", headers=bearer(token)), 401, "invalid_token")


def test_an_id_token_is_not_an_access_token(logged_in, confidential_client):
    """The UserInfo Endpoint takes the Access Token — Core §5.3.1; an ID token, though signed by
    the same key, is not one (RFC 9068 §4: typ at+jwt) and is invalid_token."""
    body = tokens(logged_in, confidential_client, scope="openid profile")
    response = logged_in.get("/oauth/userinfo", headers=bearer(body["id_token"]))
    assert_bearer_error(response, 401, "invalid_token")


def test_an_expired_token_is_invalid_token(logged_in, confidential_client, fake_clock):
    """RFC 6750 §3.1: an expired token is invalid_token (ACCESS_TOKEN_TTL 600 s)."""
    access = tokens(logged_in, confidential_client, scope="openid")["access_token"]
    fake_clock.advance(601)
    response = logged_in.get("/oauth/userinfo", headers=bearer(access))
    assert_bearer_error(response, 401, "invalid_token")


def test_a_revoked_token_is_invalid_token(logged_in, confidential_client):
    """RFC 7009 §2: after revocation the token is not accepted anywhere."""
    access = tokens(logged_in, confidential_client, scope="openid")["access_token"]
    assert logged_in.get("/oauth/userinfo", headers=bearer(access)).status_code == 200
    logged_in.post(
        "/oauth/revoke",
        data={"token": access, "token_type_hint": "access_token"},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert_bearer_error(
        logged_in.get("/oauth/userinfo", headers=bearer(access)), 401, "invalid_token"
    )


def test_a_token_without_openid_is_insufficient_scope(logged_in, confidential_client):
    """insufficient_scope: The request requires higher privileges than provided by the access
    token; 403, and the scope attribute names what is needed — RFC 6750 §3.1."""
    access = tokens(logged_in, confidential_client, scope="profile events:read")["access_token"]
    challenge = assert_bearer_error(
        logged_in.get("/oauth/userinfo", headers=bearer(access)), 403, "insufficient_scope"
    )
    assert 'scope="openid"' in challenge


def test_a_client_credentials_token_gets_no_userinfo(app, client, user):
    """UserInfo returns Claims about the authenticated End-User — Core §5.3; a token a client
    got for itself names no End-User."""
    with app.app_context():
        machine = factories.make_service_client(owner_email=user.email)
    access = client_credentials_token(client, machine)
    response = client.get("/oauth/userinfo", headers=bearer(access))
    assert_bearer_error(response, 403, "insufficient_scope")


def test_a_token_in_the_query_string_is_invalid_request(logged_in, confidential_client):
    """SPEC and RFC 6750 §2.3 (SHOULD NOT be used): refused with invalid_request (§3.1, 400)."""
    access = tokens(logged_in, confidential_client, scope="openid")["access_token"]
    response = logged_in.get(f"/oauth/userinfo?access_token={access}")
    assert_bearer_error(response, 400, "invalid_request")


def test_two_token_methods_at_once_are_invalid_request(logged_in, confidential_client):
    """Clients MUST NOT use more than one method to transmit the token in each request —
    RFC 6750 §2."""
    access = tokens(logged_in, confidential_client, scope="openid")["access_token"]
    response = logged_in.post(
        "/oauth/userinfo", data={"access_token": access}, headers=bearer(access)
    )
    assert_bearer_error(response, 400, "invalid_request")


def test_userinfo_is_not_cached(logged_in, confidential_client):
    """The claims are personal data: the response is not stored by caches (RFC 9111 no-store)."""
    access = tokens(logged_in, confidential_client, scope="openid email")["access_token"]
    response = logged_in.get("/oauth/userinfo", headers=bearer(access))
    assert "no-store" in response.headers["Cache-Control"]


def test_nothing_derived_from_the_address_leaves_without_the_email_scope(
    app, logged_in, confidential_client, resource_server, user
):
    """Issue 14, item 3 (OIDC Core §5.4): with ``email`` unticked, neither UserInfo, the ID
    token, the access token nor introspection may carry the address, a username made of it, or
    a name made of its local part."""
    from tests.helpers import introspect

    with app.app_context():
        from authserver.extensions import db
        from authserver.models import User

        db.session.get(User, user.id).name = ""  # a person who gave no name
        db.session.commit()
    body = tokens(logged_in, confidential_client, scope="openid profile offline_access")
    info = logged_in.get("/oauth/userinfo", headers=bearer(body["access_token"])).get_json()
    _, id_claims = decode_jwt(logged_in, body["id_token"])
    _, access_claims = decode_jwt(logged_in, body["access_token"])
    local_part = user.email.split("@")[0]
    for token in (body["access_token"], body["refresh_token"]):
        for caller in (confidential_client, resource_server):
            answer = introspect(logged_in, caller, token).get_json()
            assert answer["active"] is True
            assert "username" not in answer
            assert user.email not in str(answer)
    for claims in (info, id_claims, access_claims):
        assert user.email not in str(claims), claims
        assert "preferred_username" not in claims
        assert claims.get("name") != local_part

    # With ``email`` granted, introspection names the person by their address.
    with_email = tokens(logged_in, confidential_client, scope="openid email")["access_token"]
    assert introspect(logged_in, confidential_client, with_email).get_json()["username"] == (
        user.email
    )
