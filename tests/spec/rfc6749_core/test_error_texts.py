"""Errors that name the fix (issue 19, item 11): ``invalid_scope`` says which scope and why, and
a client that failed to authenticate is told so, with a challenge libraries can parse (RFC 6749
§5.2, RFC 7617 §2), and the developer's console shows the same reason."""

from __future__ import annotations

import base64
import html
import re

import pytest
from werkzeug.datastructures import WWWAuthenticate

from authserver.oauth2.errors import CLIENT_AUTHENTICATION_FAILED
from tests import factories
from tests.helpers import (
    assert_oauth_error,
    assert_redirect_error,
    authorize_url,
    basic_auth,
    refresh,
)
from tests.helpers import user_tokens as _tokens

#: RFC 6749 §5.2: error_description is %x20-21 / %x23-5B / %x5D-7E.
_DESCRIPTION = re.compile(r"[\x20\x21\x23-\x5b\x5d-\x7e]+")
#: A Basic challenge as RFC 7235 §2.1 and RFC 7617 §2 define it: auth-params, realm among them.
_CHALLENGE = re.compile(r'Basic (?P<params>[a-z_]+="[^"\\]*"(, [a-z_]+="[^"\\]*")*)')


def description(response) -> str:
    text = response.get_json()["error_description"]
    assert _DESCRIPTION.fullmatch(text), text
    return text


def activity(browser, client_id: str) -> str:
    page = browser.get(f"/console/clients/{client_id}").get_data(as_text=True)
    return " ".join(html.unescape(page.split("<h2>Recent activity</h2>")[1]).split())


# -- invalid_scope ------------------------------------------------------------------------------


def test_unregistered_scope_names_the_scope_and_the_fix(app, logged_in, user):
    with app.app_context():
        app_client = factories.make_client(owner_email=user.email, scope="openid profile")
    response = logged_in.get(authorize_url(app_client, scope="openid events:write email"))
    query = assert_redirect_error(response, app_client.redirect_uri, "invalid_scope")
    assert query["error_description"].startswith(
        "Scope not registered for this client: events:write email. Add it to the client's "
        "registration"
    )
    assert "scope not allowed: Scope not registered for this client: events:write" in (
        activity(logged_in, app_client.client_id)
    )


def test_missing_scope_says_it_is_missing_and_what_is_registered(logged_in, confidential_client):
    response = logged_in.get(authorize_url(confidential_client, scope=None))
    query = assert_redirect_error(response, confidential_client.redirect_uri, "invalid_scope")
    assert query["error_description"].startswith("Missing 'scope'")
    assert "openid" in query["error_description"]


def test_unknown_scope_names_the_unknown_one(logged_in, confidential_client):
    response = logged_in.get(authorize_url(confidential_client, scope="openid admin"))
    query = assert_redirect_error(response, confidential_client.redirect_uri, "invalid_scope")
    assert query["error_description"] == "Unknown scope: admin."


def test_refresh_wider_than_granted_names_the_extra_scope(logged_in, confidential_client):
    """RFC 6749 §6: a refresh MUST NOT widen the scope; the refusal says what was too much."""
    first = _tokens(logged_in, confidential_client, scope="openid offline_access events:read")
    too_wide = refresh(
        logged_in, confidential_client, first["refresh_token"], scope="events:read events:write"
    )
    body = assert_oauth_error(too_wide, "invalid_scope")
    text = description(too_wide)
    assert text.startswith("Scope wider than granted: events:write.")
    assert "openid offline_access events:read" in text  # what the grant holds
    assert body["error"] == "invalid_scope"
    # Refused, so nothing changed: the refresh token still works.
    assert refresh(logged_in, confidential_client, first["refresh_token"]).status_code == 200
    assert "scope not allowed: Scope wider than granted: events:write" in activity(
        logged_in, confidential_client.client_id
    )


def test_refresh_with_an_unknown_scope_says_unknown(logged_in, confidential_client):
    first = _tokens(logged_in, confidential_client, scope="openid offline_access events:read")
    response = refresh(logged_in, confidential_client, first["refresh_token"], scope="admin")
    assert_oauth_error(response, "invalid_scope")
    assert description(response) == "Unknown scope: admin."


@pytest.fixture
def service_client(app, user):
    with app.app_context():
        return factories.make_client(
            owner_email=user.email,
            grant_types=["client_credentials"],
            scope="events:read profile",
            redirect_uris=[],
        )


@pytest.mark.parametrize(
    ("scope", "expected"),
    [
        ("events:write", "Scope not registered for this client: events:write."),
        ("profile", "Scope about a person, which a client cannot get for itself: profile"),
    ],
)
def test_client_credentials_scope_refusal_names_the_scope_and_why(
    client, service_client, scope, expected
):
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers=basic_auth(service_client.client_id, service_client.secret),
    )
    assert_oauth_error(response, "invalid_scope")
    assert description(response).startswith(expected)


# -- invalid_client -----------------------------------------------------------------------------


def challenge_params(response) -> dict[str, str]:
    header = response.headers["WWW-Authenticate"]
    match = _CHALLENGE.fullmatch(header)
    assert match, header
    parsed = WWWAuthenticate.from_header(header)  # as an HTTP library reads it
    assert parsed is not None and parsed.type == "basic"
    params = dict(re.findall(r'([a-z_]+)="([^"]*)"', match["params"]))
    assert dict(parsed.parameters) == params
    return params


def test_wrong_secret_by_basic_says_authentication_failed_with_a_realm(client, confidential_client):
    """RFC 6749 §5.2: a client that used the Authorization header gets 401 and a challenge of
    its scheme; RFC 7617 §2: a Basic challenge has a realm, which libraries insist on."""
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(confidential_client.client_id, "not-the-secret"),
    )
    assert_oauth_error(response, "invalid_client", status=401)
    assert description(response) == CLIENT_AUTHENTICATION_FAILED
    assert "method" not in description(response)
    params = challenge_params(response)
    assert params["realm"] == "http://127.0.0.1:5000"
    assert params["error"] == "invalid_client"
    assert params["error_description"] == CLIENT_AUTHENTICATION_FAILED


def test_wrong_secret_in_the_form_says_the_same(client, confidential_client):
    response = client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": confidential_client.client_id,
            "client_secret": "not-the-secret",
        },
    )
    assert response.get_json()["error"] == "invalid_client"
    assert description(response) == CLIENT_AUTHENTICATION_FAILED
    if response.status_code == 401:
        assert challenge_params(response)["realm"] == "http://127.0.0.1:5000"


def test_malformed_basic_credentials_keep_their_own_reason(client):
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": "Basic " + base64.b64encode(b"\xff\xfe").decode()},
    )
    assert_oauth_error(response, "invalid_client", status=401)
    assert description(response) == "Malformed HTTP Basic credentials."
    assert challenge_params(response)["realm"] == "http://127.0.0.1:5000"


def test_revocation_and_introspection_answer_a_wrong_secret_the_same_way(
    client, confidential_client
):
    for path in ("/oauth/revoke", "/oauth/introspect"):
        response = client.post(
            path,
            data={"token": "x"},
            headers=basic_auth(confidential_client.client_id, "not-the-secret"),
        )
        assert response.status_code == 401, path
        assert response.get_json()["error_description"] == CLIENT_AUTHENTICATION_FAILED
        assert challenge_params(response)["realm"] == "http://127.0.0.1:5000"


def test_the_secret_never_appears_in_the_answer(client, confidential_client):
    wrong = "wrong-secret-" + "z" * 20
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(confidential_client.client_id, wrong),
    )
    assert wrong not in response.get_data(as_text=True)
    assert wrong not in response.headers["WWW-Authenticate"]
