"""RFC 7662 token introspection at POST /oauth/introspect."""

from __future__ import annotations

import json
import time

import pytest
from flask.testing import FlaskClient

from tests import factories
from tests.factories import ClientInfo
from tests.helpers import (
    assert_oauth_error,
    basic_auth,
    client_credentials_token,
    decode_jwt,
    refresh,
)
from tests.helpers import user_tokens as tokens

ISSUER = "http://127.0.0.1:5000"
INACTIVE = {"active": False}


def introspect(http: FlaskClient, caller: ClientInfo, token: str, hint: str | None = None):
    data = {"token": token}
    if hint:
        data["token_type_hint"] = hint
    return http.post(
        "/oauth/introspect", data=data, headers=basic_auth(caller.client_id, caller.secret)
    )


def answer(http: FlaskClient, caller: ClientInfo, token: str, hint: str | None = None) -> dict:
    response = introspect(http, caller, token, hint)
    assert response.status_code == 200, response.data
    assert response.mimetype == "application/json"
    return response.get_json()


@pytest.fixture
def other_client(app, user) -> ClientInfo:
    with app.app_context():
        return factories.make_client(owner_email=user.email, name="Other App")


def test_an_active_access_token_is_described(logged_in, confidential_client, user):
    """active is REQUIRED; scope, client_id, username, token_type, exp, iat, sub, aud, iss, jti
    are OPTIONAL members with the meanings of RFC 7662 §2.2."""
    body = tokens(logged_in, confidential_client)
    _, claims = decode_jwt(logged_in, body["access_token"])
    info = answer(logged_in, confidential_client, body["access_token"])
    assert info["active"] is True
    assert info["scope"] == "openid profile offline_access events:read"
    assert info["client_id"] == confidential_client.client_id
    assert info["sub"] == user.subject
    assert "username" not in info  # the address only with the email scope (issue 14, item 3)
    assert info["token_type"] == "Bearer"
    assert info["iss"] == ISSUER
    assert info["aud"] == "http://127.0.0.1:5001"
    assert info["jti"] == claims["jti"]
    assert info["exp"] == claims["exp"]
    assert info["iat"] == claims["iat"]
    assert abs(info["iat"] - time.time()) < 30


def test_an_active_refresh_token_is_described(logged_in, confidential_client, user):
    body = tokens(logged_in, confidential_client)
    info = answer(logged_in, confidential_client, body["refresh_token"])
    assert info["active"] is True
    assert info["client_id"] == confidential_client.client_id
    assert info["scope"] == "openid profile offline_access events:read"
    assert info["sub"] == user.subject
    assert info["exp"] - info["iat"] == 2_592_000


@pytest.mark.parametrize("hint", ["access_token", "refresh_token"])
def test_a_wrong_hint_does_not_hide_the_token(logged_in, confidential_client, hint):
    """If the server is unable to locate the token using the given hint, it MUST extend its
    search across all of its supported token types — RFC 7662 §2.1."""
    body = tokens(logged_in, confidential_client)
    for token in (body["access_token"], body["refresh_token"]):
        assert answer(logged_in, confidential_client, token, hint)["active"] is True


def test_a_narrowed_token_reports_its_own_scope(logged_in, confidential_client):
    body = tokens(logged_in, confidential_client)
    narrowed = refresh(
        logged_in, confidential_client, body["refresh_token"], scope="events:read"
    ).get_json()
    assert answer(logged_in, confidential_client, narrowed["access_token"])["scope"] == (
        "events:read"
    )


def test_a_client_credentials_token_names_the_client_as_subject(app, client, user):
    with app.app_context():
        machine = factories.make_service_client(owner_email=user.email)
    access = client_credentials_token(client, machine)
    info = answer(client, machine, access)
    assert info["active"] is True
    assert info["sub"] == machine.client_id
    assert info["scope"] == "events:read"
    assert "username" not in info


@pytest.mark.parametrize("token", ["never-issued", "a.b.c", "x" * 500, ""])
def test_an_unknown_token_is_just_inactive(client, confidential_client, token):
    """If the introspection call is properly authorized but the token is not active, does not
    exist on this server, or the protected resource is not allowed to introspect this particular
    token, then the authorization server MUST return an introspection response with the "active"
    field set to "false" — RFC 7662 §2.2."""
    assert answer(client, confidential_client, token) == INACTIVE


def test_an_expired_access_token_is_inactive(logged_in, confidential_client, fake_clock):
    """RFC 7662 §2.2: an expired token is not active (ACCESS_TOKEN_TTL 600 s)."""
    body = tokens(logged_in, confidential_client)
    fake_clock.advance(601)
    assert answer(logged_in, confidential_client, body["access_token"]) == INACTIVE
    # The refresh token lives on.
    assert answer(logged_in, confidential_client, body["refresh_token"])["active"] is True


def test_an_expired_refresh_token_is_inactive(logged_in, confidential_client, fake_clock):
    body = tokens(logged_in, confidential_client)
    fake_clock.advance(2_592_001)
    assert answer(logged_in, confidential_client, body["refresh_token"]) == INACTIVE


def test_a_rotated_refresh_token_is_inactive_and_its_successor_active(
    logged_in, confidential_client
):
    body = tokens(logged_in, confidential_client)
    newer = refresh(logged_in, confidential_client, body["refresh_token"]).get_json()
    assert answer(logged_in, confidential_client, body["refresh_token"]) == INACTIVE
    assert answer(logged_in, confidential_client, newer["refresh_token"])["active"] is True


def test_revoked_tokens_are_inactive(logged_in, confidential_client):
    """RFC 7662 §2.2: a revoked token is not active; RFC 7009 §2.1: revoking the refresh token
    invalidates the access tokens of the same grant."""
    body = tokens(logged_in, confidential_client)
    logged_in.post(
        "/oauth/revoke",
        data={"token": body["refresh_token"]},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert answer(logged_in, confidential_client, body["refresh_token"]) == INACTIVE
    assert answer(logged_in, confidential_client, body["access_token"]) == INACTIVE


def test_a_reused_refresh_token_makes_the_whole_grant_inactive(
    logged_in, confidential_client, fake_clock
):
    """SPEC / RFC 9700 §4.14.2: reuse revokes the family, which introspection reflects."""
    body = tokens(logged_in, confidential_client)
    newer = refresh(logged_in, confidential_client, body["refresh_token"]).get_json()
    fake_clock.advance(11)  # past the retry window
    refresh(logged_in, confidential_client, body["refresh_token"])  # reuse
    for token in (body["access_token"], newer["access_token"], newer["refresh_token"]):
        assert answer(logged_in, confidential_client, token) == INACTIVE


def test_a_client_learns_nothing_about_another_clients_tokens(
    logged_in, confidential_client, other_client
):
    """The authorization server MUST determine whether or not the token can be used at the
    protected resource making the introspection call — RFC 7662 §2.1; a client fishing for
    others' tokens gets exactly {"active": false} — §4 (token scanning)."""
    body = tokens(logged_in, confidential_client)
    for token in (body["access_token"], body["refresh_token"]):
        response = introspect(logged_in, other_client, token)
        assert response.status_code == 200
        assert response.get_json() == INACTIVE
        assert json.loads(response.data) == INACTIVE


def test_a_resource_server_may_introspect_any_token(
    logged_in, confidential_client, resource_server, user
):
    """RFC 7662 §2.1: a protected resource authorized to introspect sees the token's
    metadata."""
    body = tokens(logged_in, confidential_client)
    info = answer(logged_in, resource_server, body["access_token"])
    assert info["active"] is True
    assert info["client_id"] == confidential_client.client_id
    assert info["sub"] == user.subject


def test_a_resource_server_from_the_command_line_may_introspect_any_token(
    app, logged_in, confidential_client
):
    """`flask --app authserver clients create ... --resource-server` registers such a client."""
    result = app.test_cli_runner().invoke(
        args=[
            "clients",
            "create",
            "--name",
            "Events API",
            "--scope",
            "events:read",
            "--grant-type",
            "client_credentials",
            "--resource-server",
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    created = json.loads(result.output)
    rs = ClientInfo(0, created["client_id"], created["client_secret"], None, "events:read")
    body = tokens(logged_in, confidential_client)
    assert answer(logged_in, rs, body["access_token"])["active"] is True
    # Without the flag, the same command makes an ordinary client that learns nothing.
    plain = json.loads(
        app.test_cli_runner()
        .invoke(
            args=[
                "clients",
                "create",
                "--name",
                "Plain",
                "--scope",
                "events:read",
                "--grant-type",
                "client_credentials",
                "--json",
            ]
        )
        .output
    )
    ordinary = ClientInfo(0, plain["client_id"], plain["client_secret"], None, "events:read")
    assert answer(logged_in, ordinary, body["access_token"]) == INACTIVE


def test_introspection_requires_client_authentication(logged_in, confidential_client):
    """To prevent token scanning attacks, the endpoint MUST also require some form of
    authorization to access this endpoint — RFC 7662 §2.1; failing it: 401 invalid_client
    (§2.3, RFC 6749 §5.2)."""
    body = tokens(logged_in, confidential_client)
    response = logged_in.post("/oauth/introspect", data={"token": body["access_token"]})
    assert_oauth_error(response, "invalid_client", status=401)
    assert "active" not in response.get_json()


def test_wrong_secret_is_invalid_client(logged_in, confidential_client):
    body = tokens(logged_in, confidential_client)
    response = logged_in.post(
        "/oauth/introspect",
        data={"token": body["access_token"]},
        headers=basic_auth(confidential_client.client_id, "wrong"),
    )
    assert_oauth_error(response, "invalid_client", status=401)
    assert response.headers["WWW-Authenticate"].startswith("Basic")


def test_a_public_client_cannot_introspect(logged_in, public_client, confidential_client):
    """introspection_endpoint_auth_methods_supported has no "none": a client_id alone is no
    authentication — RFC 7662 §2.1, RFC 8414 §2."""
    body = tokens(logged_in, confidential_client)
    response = logged_in.post(
        "/oauth/introspect",
        data={"token": body["access_token"], "client_id": public_client.client_id},
    )
    assert_oauth_error(response, "invalid_client", status=401)


def test_client_secret_post_is_accepted(logged_in, confidential_client):
    body = tokens(logged_in, confidential_client)
    response = logged_in.post(
        "/oauth/introspect",
        data={
            "token": body["access_token"],
            "client_id": confidential_client.client_id,
            "client_secret": confidential_client.secret,
        },
    )
    assert response.status_code == 200
    assert response.get_json()["active"] is True


def test_missing_token_parameter_is_invalid_request(client, confidential_client):
    """token: REQUIRED — RFC 7662 §2.1; RFC 6749 §5.2 invalid_request."""
    response = client.post(
        "/oauth/introspect",
        data={},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert_oauth_error(response, "invalid_request")


def test_introspection_is_not_cached(logged_in, confidential_client):
    """RFC 7662 §4: responses carry sensitive data; caching is the server's policy, here
    none."""
    body = tokens(logged_in, confidential_client)
    response = introspect(logged_in, confidential_client, body["access_token"])
    assert response.headers["Cache-Control"] == "no-store"
