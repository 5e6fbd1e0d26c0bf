"""What registration echoes is what is stored, and what a later read returns (RFC 7591 §3.2.1,
RFC 7592 §2.1-2.2)."""

from __future__ import annotations

import pytest

from .test_registration import ENABLED, manage, registered

#: Shown once and never readable again: not part of what a read can repeat.
ONE_TIME = ("client_secret", "registration_access_token")

#: A metadata document a real client might send, with what a server may normalize: duplicates,
#: another order, a method the server may substitute, fields it may not keep.
RICH = {
    "client_name": "Rich App",
    "redirect_uris": [
        "https://rich.example.com/cb",
        "https://rich.example.com/cb",
        "http://127.0.0.1:8765/cb",
    ],
    "post_logout_redirect_uris": ["https://rich.example.com/bye"],
    "grant_types": ["refresh_token", "authorization_code", "client_credentials"],
    "response_types": ["code"],
    "scope": "profile openid profile email events:read",
    "token_endpoint_auth_method": "client_secret_post",
    "client_uri": "https://rich.example.com/",
    "logo_uri": "https://rich.example.com/logo.png",
    "tos_uri": "https://rich.example.com/tos",
    "policy_uri": "https://rich.example.com/privacy",
    "contacts": ["ops@rich.example.com"],
    "software_id": "4NRB1-0XZABZI9E6-5SM3R",
    "software_version": "2.1",
}


@pytest.fixture
def app_config() -> dict:
    return ENABLED


def repeatable(body: dict) -> dict:
    """The client information response without the values shown only once."""
    return {k: v for k, v in body.items() if k not in ONE_TIME}


def test_the_registration_response_is_what_a_later_read_returns(client):
    """The response contains the client identifier as well as ... all registered metadata about
    the client, including any fields provisioned by the authorization server itself. The
    authorization server MAY reject or replace any of the client's requested metadata values
    submitted during the registration and substitute them with suitable values — RFC 7591
    §3.2.1; a Client Read Request returns the same client information response — RFC 7592 §2.1,
    §3."""
    body = registered(client, metadata=RICH)
    read = manage(client, body)
    assert read.status_code == 200, read.data
    assert repeatable(body) == repeatable(read.get_json())


def test_the_update_response_is_what_a_later_read_returns(client):
    """Upon successful update, the authorization server responds with ... the client information
    response as described in Section 3 — RFC 7592 §2.2; a later read returns the same."""
    body = registered(client)
    update = {
        "client_id": body["client_id"],
        **RICH,
        "client_name": "Rich App, renamed",
        "scope": "email openid email",
        "grant_types": ["refresh_token", "authorization_code"],
    }
    response = manage(client, body, "PUT", json=update)
    assert response.status_code == 200, response.data
    updated = response.get_json()
    assert updated["client_name"] == "Rich App, renamed"
    assert repeatable(updated) == repeatable(manage(client, body).get_json())
    assert set(repeatable(updated)) == set(repeatable(body))


def test_the_registration_response_names_what_was_stored_not_what_was_asked(client):
    """The authorization server MAY ... substitute them with suitable values. The client or
    developer can check the values in the response to determine if the registration is
    sufficient for use — RFC 7591 §3.2.1: duplicates are gone, the order is the server's, and
    the method is the one the server will hold the client to."""
    body = registered(client, metadata=RICH)
    assert body["redirect_uris"] == ["https://rich.example.com/cb", "http://127.0.0.1:8765/cb"]
    assert sorted(body["grant_types"]) == sorted(set(RICH["grant_types"]))
    assert sorted(body["scope"].split()) == ["email", "events:read", "openid", "profile"]
    assert body["token_endpoint_auth_method"] in ("client_secret_basic", "client_secret_post")


@pytest.mark.parametrize(
    "field",
    ["client_uri", "logo_uri", "tos_uri", "policy_uri", "contacts", "software_id"],
)
def test_metadata_the_server_does_not_keep_is_not_echoed_as_registered(client, field):
    """The response contains ... all registered metadata about the client — RFC 7591 §3.2.1;
    a field the server does not register is not in it, so the client is not told it was kept
    when a read would not return it (RFC 7592 §3)."""
    body = registered(client, metadata=RICH)
    assert field not in body
    assert field not in manage(client, body).get_json()
