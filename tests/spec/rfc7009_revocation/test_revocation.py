"""RFC 7009 token revocation at POST /oauth/revoke."""

from __future__ import annotations

import pytest
from flask.testing import FlaskClient

from authserver.extensions import db
from tests import factories
from tests.factories import ClientInfo
from tests.helpers import (
    assert_oauth_error,
    basic_auth,
    refresh,
)
from tests.helpers import user_tokens as tokens


def revoke(http: FlaskClient, app_client: ClientInfo, token: str, hint: str | None = None):
    data = {"token": token}
    if hint:
        data["token_type_hint"] = hint
    headers = {}
    if app_client.secret:
        headers = basic_auth(app_client.client_id, app_client.secret)
    else:
        data["client_id"] = app_client.client_id
    return http.post("/oauth/revoke", data=data, headers=headers)


def active(http: FlaskClient, introspector: ClientInfo, token: str) -> bool:
    response = http.post(
        "/oauth/introspect",
        data={"token": token},
        headers=basic_auth(introspector.client_id, introspector.secret),
    )
    assert response.status_code == 200, response.data
    return response.get_json()["active"]


def userinfo_status(http: FlaskClient, access_token: str) -> int:
    return http.get(
        "/oauth/userinfo", headers={"Authorization": f"Bearer {access_token}"}
    ).status_code


@pytest.mark.parametrize("hint", [None, "access_token", "refresh_token"])
def test_revoking_an_access_token_makes_it_inactive(
    logged_in, confidential_client, resource_server, hint
):
    """The authorization server responds with HTTP status code 200 if the token has been revoked
    successfully — RFC 7009 §2.2; a hint that is wrong does not matter: the server MUST extend
    its search across all of its supported token types — §2.1."""
    body = tokens(logged_in, confidential_client)
    response = revoke(logged_in, confidential_client, body["access_token"], hint)
    assert response.status_code == 200, response.data
    assert not active(logged_in, resource_server, body["access_token"])
    assert userinfo_status(logged_in, body["access_token"]) == 401


@pytest.mark.parametrize("hint", [None, "refresh_token", "access_token"])
def test_revoking_a_refresh_token_ends_it_and_its_access_tokens(
    logged_in, confidential_client, resource_server, hint
):
    """If the particular token is a refresh token and the authorization server supports the
    revocation of access tokens, then the authorization server SHOULD also invalidate all
    access tokens based on the same authorization grant — RFC 7009 §2.1."""
    body = tokens(logged_in, confidential_client)
    assert revoke(logged_in, confidential_client, body["refresh_token"], hint).status_code == 200
    assert_oauth_error(
        refresh(logged_in, confidential_client, body["refresh_token"]), "invalid_grant"
    )
    assert not active(logged_in, resource_server, body["refresh_token"])
    assert not active(logged_in, resource_server, body["access_token"])
    assert userinfo_status(logged_in, body["access_token"]) == 401


def test_revoking_the_newest_refresh_token_ends_every_access_token_of_the_grant(
    logged_in, confidential_client, resource_server
):
    """RFC 7009 §2.1: all access tokens based on the same grant — including ones issued before a
    rotation."""
    first = tokens(logged_in, confidential_client)
    second = refresh(logged_in, confidential_client, first["refresh_token"]).get_json()
    third = refresh(logged_in, confidential_client, second["refresh_token"]).get_json()
    assert active(logged_in, resource_server, first["access_token"])
    assert revoke(logged_in, confidential_client, third["refresh_token"]).status_code == 200
    for access in (first["access_token"], second["access_token"], third["access_token"]):
        assert not active(logged_in, resource_server, access)


def test_revocation_leaves_other_grants_alone(logged_in, confidential_client, resource_server):
    """Only the grant of the revoked token goes (RFC 7009 §2.1, "the same authorization
    grant")."""
    kept = tokens(logged_in, confidential_client)
    gone = tokens(logged_in, confidential_client, scope="openid offline_access")
    revoke(logged_in, confidential_client, gone["refresh_token"])
    assert active(logged_in, resource_server, kept["access_token"])
    assert refresh(logged_in, confidential_client, kept["refresh_token"]).status_code == 200


@pytest.mark.parametrize("token", ["never-issued", "a.b.c", "x" * 500])
def test_an_unknown_token_is_answered_with_200(client, confidential_client, token):
    """Note: invalid tokens do not cause an error response since the client cannot handle such
    an error in a reasonable way — RFC 7009 §2.2."""
    response = revoke(client, confidential_client, token)
    assert response.status_code == 200, response.data


def test_revoking_twice_is_answered_with_200(logged_in, confidential_client):
    """RFC 7009 §2.2: an already invalid token is no error."""
    body = tokens(logged_in, confidential_client)
    assert revoke(logged_in, confidential_client, body["refresh_token"]).status_code == 200
    assert revoke(logged_in, confidential_client, body["refresh_token"]).status_code == 200
    assert revoke(logged_in, confidential_client, body["access_token"]).status_code == 200


def test_another_clients_token_is_refused_and_survives(
    app, logged_in, user, confidential_client, resource_server
):
    """The authorization server ... verifies whether the token was issued to the client making
    the revocation request. If this validation fails, the request is refused — RFC 7009 §2.1;
    the error is RFC 6749 §5.2's invalid_grant ("issued to another client")."""
    with app.app_context():
        other = factories.make_client(owner_email=user.email, name="Other")
    body = tokens(logged_in, confidential_client)
    for token in (body["access_token"], body["refresh_token"]):
        assert_oauth_error(revoke(logged_in, other, token), "invalid_grant")
    assert active(logged_in, resource_server, body["access_token"])
    assert refresh(logged_in, confidential_client, body["refresh_token"]).status_code == 200


def test_a_public_client_revokes_its_own_tokens_with_its_client_id(
    logged_in, public_client, resource_server
):
    """For public clients, the client_id identifies the client (RFC 7009 §2.1, RFC 6749 §2.3);
    "none" is in revocation_endpoint_auth_methods_supported."""
    body = tokens(logged_in, public_client)
    response = revoke(logged_in, public_client, body["refresh_token"])
    assert response.status_code == 200, response.data
    assert not active(logged_in, resource_server, body["access_token"])


def test_client_secret_post_is_accepted(logged_in, confidential_client, resource_server):
    body = tokens(logged_in, confidential_client)
    response = logged_in.post(
        "/oauth/revoke",
        data={
            "token": body["access_token"],
            "client_id": confidential_client.client_id,
            "client_secret": confidential_client.secret,
        },
    )
    assert response.status_code == 200, response.data
    assert not active(logged_in, resource_server, body["access_token"])


def test_missing_client_authentication_is_invalid_client(
    logged_in, confidential_client, resource_server
):
    """The client also includes its authentication credentials as described in Section 2.3 of
    RFC 6749 — RFC 7009 §2.1; failing that, invalid_client (RFC 6749 §5.2)."""
    body = tokens(logged_in, confidential_client)
    response = logged_in.post("/oauth/revoke", data={"token": body["access_token"]})
    assert_oauth_error(response, "invalid_client", status=401)
    assert active(logged_in, resource_server, body["access_token"])


def test_a_confidential_client_cannot_skip_its_secret(
    logged_in, confidential_client, resource_server
):
    """A confidential client must authenticate (RFC 6749 §2.3.1); its client_id alone is not
    the "none" method of a public client."""
    body = tokens(logged_in, confidential_client)
    response = logged_in.post(
        "/oauth/revoke",
        data={"token": body["refresh_token"], "client_id": confidential_client.client_id},
    )
    assert_oauth_error(response, "invalid_client", status=401)
    assert active(logged_in, resource_server, body["refresh_token"])


def test_wrong_secret_is_invalid_client_with_a_basic_challenge(
    logged_in, confidential_client, resource_server
):
    """RFC 6749 §5.2: 401, and WWW-Authenticate when the client used the Authorization
    header."""
    body = tokens(logged_in, confidential_client)
    response = logged_in.post(
        "/oauth/revoke",
        data={"token": body["access_token"]},
        headers=basic_auth(confidential_client.client_id, "wrong"),
    )
    assert_oauth_error(response, "invalid_client", status=401)
    assert response.headers["WWW-Authenticate"].startswith("Basic")
    assert active(logged_in, resource_server, body["access_token"])


def test_missing_token_parameter_is_invalid_request(client, confidential_client):
    """token: REQUIRED — RFC 7009 §2.1; a missing parameter is invalid_request (RFC 6749
    §5.2)."""
    response = client.post(
        "/oauth/revoke",
        data={"token_type_hint": "access_token"},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert_oauth_error(response, "invalid_request")


@pytest.mark.parametrize("hint", ["id_token", "saml2", "authorization_code"])
def test_an_unsupported_token_type_is_unsupported_token_type(
    logged_in, confidential_client, resource_server, hint
):
    """unsupported_token_type: The authorization server does not support the revocation of the
    presented token type — RFC 7009 §2.2.1."""
    body = tokens(logged_in, confidential_client)
    response = revoke(logged_in, confidential_client, body["access_token"], hint)
    assert_oauth_error(response, "unsupported_token_type")
    assert active(logged_in, resource_server, body["access_token"])


def test_two_authentication_methods_at_once_are_invalid_request(logged_in, confidential_client):
    """The client MUST NOT use more than one authentication method in each request — RFC 6749
    §2.3."""
    body = tokens(logged_in, confidential_client)
    response = logged_in.post(
        "/oauth/revoke",
        data={
            "token": body["access_token"],
            "client_id": confidential_client.client_id,
            "client_secret": confidential_client.secret,
        },
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert_oauth_error(response, "invalid_request")


def test_parameters_in_the_query_string_are_not_read(logged_in, confidential_client):
    """The client ... sends the parameters using the "application/x-www-form-urlencoded" format
    in the HTTP request entity-body — RFC 7009 §2.1."""
    body = tokens(logged_in, confidential_client)
    response = logged_in.post(
        f"/oauth/revoke?token={body['refresh_token']}",
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert_oauth_error(response, "invalid_request")
    assert refresh(logged_in, confidential_client, body["refresh_token"]).status_code == 200


def test_revocation_is_recorded_in_the_database(app, logged_in, confidential_client):
    """The revoked grant is marked, not deleted (so a reused value stays recognisable)."""
    from sqlalchemy import select

    from authserver.models import TokenFamily

    body = tokens(logged_in, confidential_client)
    revoke(logged_in, confidential_client, body["refresh_token"])
    with app.app_context():
        family = db.session.scalar(select(TokenFamily))
        assert family.revoked_at is not None
