"""Back-Channel Logout 1.0 §2.2: backchannel_logout_uri and backchannel_logout_session_required
registered through RFC 7591 (and read back through RFC 7592), and `clients create`."""

from __future__ import annotations

import json

import pytest

from authserver.extensions import db
from authserver.services import operator
from tests.helpers import assert_oauth_error

ISSUER = "http://127.0.0.1:5000"
METADATA = {
    "client_name": "Told App",
    "redirect_uris": ["https://told.example.com/cb"],
    "scope": "openid profile",
}


@pytest.fixture
def app_config() -> dict:
    return {"REGISTRATION_ENABLED": True}


def register(http, **extra):
    return http.post("/oauth/register", json={**METADATA, **extra})


def test_registered_and_echoed_and_read_back(client) -> None:
    response = register(
        client,
        backchannel_logout_uri="https://told.example.com/logout?from=op",
        backchannel_logout_session_required=True,
    )
    assert response.status_code == 201, response.data
    body = response.get_json()
    assert body["backchannel_logout_uri"] == "https://told.example.com/logout?from=op"
    assert body["backchannel_logout_session_required"] is True
    path = body["registration_client_uri"].removeprefix(ISSUER)
    read = client.get(
        path, headers={"Authorization": f"Bearer {body['registration_access_token']}"}
    ).get_json()
    assert read["backchannel_logout_uri"] == body["backchannel_logout_uri"]
    assert read["backchannel_logout_session_required"] is True


def test_an_update_without_it_clears_it(client) -> None:
    """RFC 7592 §2.2: the update replaces the metadata; what it leaves out is gone."""
    body = register(client, backchannel_logout_uri="https://told.example.com/logout").get_json()
    path = body["registration_client_uri"].removeprefix(ISSUER)
    auth = {"Authorization": f"Bearer {body['registration_access_token']}"}
    update = {**METADATA, "client_id": body["client_id"], "client_secret": body["client_secret"]}
    response = client.put(path, json=update, headers=auth)
    assert response.status_code == 200, response.data
    assert "backchannel_logout_uri" not in response.get_json()


def test_without_it_the_client_is_not_told(client) -> None:
    body = register(client).get_json()
    assert "backchannel_logout_uri" not in body


@pytest.mark.parametrize(
    "extra",
    [
        {"backchannel_logout_uri": "http://told.example.com/logout"},  # not https
        {"backchannel_logout_uri": "https://told.example.com/logout#frag"},  # §2.2: no fragment
        {"backchannel_logout_uri": "/logout"},  # not absolute
        {"backchannel_logout_uri": ["https://told.example.com/logout"]},
        {
            "backchannel_logout_uri": "https://told.example.com/logout",
            "backchannel_logout_session_required": "yes",
        },
        {"backchannel_logout_session_required": True},  # requiring sid of nothing
    ],
)
def test_bad_values_are_invalid_client_metadata(client, extra) -> None:
    assert_oauth_error(register(client, **extra), "invalid_client_metadata")


def test_clients_create_takes_the_uri(app) -> None:
    result = app.test_cli_runner().invoke(
        args=[
            "clients",
            "create",
            "--name",
            "Told App",
            "--redirect-uri",
            "https://told.example.com/cb",
            "--scope",
            "openid",
            "--backchannel-logout-uri",
            "https://told.example.com/logout",
            "--json",
        ]
    )
    assert result.exit_code == 0, result.output
    client_id = json.loads(result.output)["client_id"]
    with app.app_context():
        stored = operator.get_client(client_id)
        assert stored.backchannel_logout_uri == "https://told.example.com/logout"
        db.session.rollback()


def test_clients_create_refuses_a_bad_uri(app) -> None:
    result = app.test_cli_runner().invoke(
        args=[
            "clients",
            "create",
            "--name",
            "Told App",
            "--redirect-uri",
            "https://told.example.com/cb",
            "--scope",
            "openid",
            "--backchannel-logout-uri",
            "http://told.example.com/logout",
        ]
    )
    assert result.exit_code != 0
    assert "must use https" in result.output
