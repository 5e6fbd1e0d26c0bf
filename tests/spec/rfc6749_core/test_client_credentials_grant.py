"""client_credentials grant: RFC 6749 §4.4."""

from __future__ import annotations

import pytest

from tests import factories
from tests.helpers import assert_oauth_error, basic_auth, decode_jwt


@pytest.fixture
def service_client(app, user):
    with app.app_context():
        return factories.make_client(
            owner_email=user.email,
            grant_types=["client_credentials"],
            scope="events:read events:write profile",
            redirect_uris=[],
        )


def _request(http, app_client, **data):
    return http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", **data},
        headers=basic_auth(app_client.client_id, app_client.secret),
    )


def test_client_gets_a_token_for_itself(client, service_client):
    """A refresh token SHOULD NOT be included — RFC 6749 §4.4.3."""
    response = _request(client, service_client, scope="events:read")
    assert response.status_code == 200, response.data
    body = response.get_json()
    assert "refresh_token" not in body
    assert body["scope"] == "events:read"
    _, claims = decode_jwt(client, body["access_token"])
    assert claims["sub"] == service_client.client_id
    assert claims["client_id"] == service_client.client_id


def test_omitted_scope_means_every_non_personal_registered_scope(client, service_client):
    body = _request(client, service_client).get_json()
    assert body["scope"] == "events:read events:write"


def test_personal_scopes_are_invalid_scope(client, service_client):
    assert_oauth_error(_request(client, service_client, scope="profile"), "invalid_scope")


def test_unregistered_scope_is_invalid_scope(app, client, user):
    with app.app_context():
        narrow = factories.make_client(
            owner_email=user.email,
            grant_types=["client_credentials"],
            scope="events:read",
            redirect_uris=[],
        )
    assert_oauth_error(_request(client, narrow, scope="events:write"), "invalid_scope")
    assert_oauth_error(_request(client, narrow, scope="bogus"), "invalid_scope")


def test_client_without_the_grant_is_unauthorized_client(client, confidential_client):
    response = _request(client, confidential_client, scope="events:read")
    assert_oauth_error(response, "unauthorized_client")


def test_public_client_cannot_use_client_credentials(client, public_client):
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "client_id": public_client.client_id},
    )
    assert_oauth_error(response, "invalid_client", 401)


def test_wrong_secret_is_invalid_client(client, service_client):
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(service_client.client_id, service_client.secret + "x"),
    )
    assert_oauth_error(response, "invalid_client", 401)
