"""Control characters and absurd lengths in parameters, at every endpoint that reads them.

SPEC, Policy: bad input of any kind gets a 4xx in the RFC's error format, never a 5xx, and changes
nothing. PostgreSQL refuses a NUL byte in a string outright, so these must be stopped at the edge.
"""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import pytest

from authserver.extensions import db
from authserver.models import AuthorizationCode, Consent
from tests.factories import make_service_client
from tests.helpers import (
    assert_oauth_error,
    assert_redirect_error,
    authorize_url,
    basic_auth,
    csrf_token,
    refresh,
    user_tokens,
)

HOSTILE_CLIENT_IDS = {"nul": "abc\x00def", "tab": "abc\tdef", "too_long": "a" * 65}


@pytest.mark.parametrize("client_id", list(HOSTILE_CLIENT_IDS.values()), ids=HOSTILE_CLIENT_IDS)
def test_a_hostile_client_id_at_the_authorization_endpoint_is_an_unknown_client(
    logged_in, client_id
):
    """If the request fails due to a missing, invalid, or mismatching redirection URI, or if the
    client identifier is missing or invalid, the authorization server SHOULD inform the resource
    owner of the error and MUST NOT automatically redirect the user-agent — RFC 6749 §4.1.2.1."""
    response = logged_in.get(
        "/oauth/authorize?"
        + urlencode(
            {
                "response_type": "code",
                "client_id": client_id,
                "redirect_uri": "https://app.example.com/callback",
            }
        )
    )
    assert response.status_code == 400
    assert "Location" not in response.headers


@pytest.mark.parametrize(
    ("client_id", "error"),
    [
        ("abc\x00def", "invalid_request"),
        ("abc\tdef", "invalid_request"),
        ("a" * 65, "invalid_client"),
    ],
    ids=["nul", "tab", "too_long"],
)
def test_a_hostile_client_id_at_revocation_is_refused(client, client_id, error):
    """invalid_request: The request ... is otherwise malformed; invalid_client: Client
    authentication failed (e.g., unknown client) — RFC 6749 §5.2, which RFC 7009 §2.2.1 uses.
    A control character makes the request malformed; a merely too long id is an unknown client."""
    response = client.post("/oauth/revoke", data={"client_id": client_id, "token": "x"})
    assert_oauth_error(response, error)


@pytest.mark.parametrize("client_id", list(HOSTILE_CLIENT_IDS.values()), ids=HOSTILE_CLIENT_IDS)
def test_a_hostile_client_id_in_http_basic_is_invalid_client(client, client_id):
    """If the client attempted to authenticate via the "Authorization" request header field, the
    authorization server MUST respond with an HTTP 401 (Unauthorized) status code — RFC 6749
    §5.2 (invalid_client)."""
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers=basic_auth(client_id, "secret"),
    )
    assert_oauth_error(response, "invalid_client", status=401)


@pytest.mark.parametrize("client_id", list(HOSTILE_CLIENT_IDS.values()), ids=HOSTILE_CLIENT_IDS)
def test_a_hostile_client_id_at_logout_is_an_unknown_client(logged_in, client_id):
    """RP-Initiated Logout §3: no post-logout redirection for a client the OP does not know; §6:
    without a valid id_token_hint the End-User is asked to confirm."""
    response = logged_in.get(
        "/oauth/logout?"
        + urlencode({"client_id": client_id, "post_logout_redirect_uri": "https://x.example/"})
    )
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "csrf_token" in response.get_data(as_text=True)


@pytest.mark.parametrize(
    "gap", ["\t", "\t ", " \t", "  "], ids=["tab", "tab_space", "space_tab", "2sp"]
)
def test_basic_credentials_after_a_tab_that_are_not_utf8_are_invalid_client(client, gap):
    """The client identifier is encoded using the "application/x-www-form-urlencoded" encoding
    algorithm ... and the encoded value is used as the username — RFC 6749 §2.3.1; credentials
    that do not decode are a failed client authentication, 401 — §5.2."""
    garbage = base64.b64encode(b"\xff\xfe:\xff").decode()
    response = client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        headers={"Authorization": f"Basic{gap}{garbage}"},
    )
    assert_oauth_error(response, "invalid_client", status=401)


def _client_credentials(app, client, scope: str):
    with app.app_context():
        service = make_service_client()
    return client.post(
        "/oauth/token",
        data={"grant_type": "client_credentials", "scope": scope},
        headers=basic_auth(service.client_id, service.secret),
    )


@pytest.mark.parametrize("scope", ["events:read\x00", "events:read\x01events:write", "\x7f"])
def test_control_characters_in_a_scope_are_invalid_request(app, client, scope):
    """invalid_request: The request ... includes an unsupported parameter value ... or is
    otherwise malformed — RFC 6749 §5.2. A control character is refused before the scope is even
    read as scope (we refuse control characters in every parameter at this endpoint)."""
    assert_oauth_error(_client_credentials(app, client, scope), "invalid_request")


@pytest.mark.parametrize("scope", ['events"read', "events\\read", "événements"])
def test_a_scope_outside_the_scope_token_grammar_is_invalid_scope(app, client, scope):
    """scope-token = 1*( %x21 / %x23-5B / %x5D-7E ) — RFC 6749 §3.3; invalid_scope: The
    requested scope is invalid, unknown, malformed — §5.2."""
    assert_oauth_error(_client_credentials(app, client, scope), "invalid_scope")


def test_control_characters_in_a_refresh_scope_change_nothing(logged_in, confidential_client):
    """RFC 6749 §5.2 (invalid_request) at the refresh_token grant (§6); SPEC: bad input changes
    nothing."""
    issued = user_tokens(logged_in, confidential_client, scope="openid offline_access")
    response = refresh(logged_in, confidential_client, issued["refresh_token"], scope="openid\x00")
    assert_oauth_error(response, "invalid_request")
    # Nothing changed: the refresh token still works.
    assert refresh(logged_in, confidential_client, issued["refresh_token"]).status_code == 200


@pytest.mark.parametrize(
    "nonce", ["n\x00once", "n\nonce", "x" * 256, "x" * 5000], ids=["nul", "newline", "256", "5000"]
)
def test_a_hostile_nonce_is_invalid_request_at_the_client(logged_in, confidential_client, nonce):
    """nonce: String value used to associate a Client session with an ID Token — OIDC Core
    §3.1.2.1; a value we could not store and send back unchanged is a malformed request:
    invalid_request, redirected to the (verified) client — RFC 6749 §4.1.2.1."""
    response = logged_in.get(authorize_url(confidential_client, nonce=nonce))
    query = assert_redirect_error(response, confidential_client.redirect_uri, "invalid_request")
    assert query["state"] == "state-123"


def test_a_nonce_of_255_characters_is_accepted(logged_in, confidential_client):
    """OIDC Core §3.1.2.1: any string value; 255 characters is well within what we keep."""
    response = logged_in.get(authorize_url(confidential_client, nonce="x" * 255))
    assert response.status_code == 200  # the consent page


def test_allowing_a_request_with_a_hostile_nonce_stores_nothing(
    app, logged_in, confidential_client
):
    """SPEC: bad input changes nothing. Even a consent form posted for such a request (the page
    is never shown for it) records no consent and issues no code."""
    page = logged_in.get(authorize_url(confidential_client))
    url = authorize_url(confidential_client, nonce="x" * 501)
    response = logged_in.post(
        url,
        data={"csrf_token": csrf_token(page.data), "decision": "allow", "scope": ["openid"]},
    )
    assert_redirect_error(response, confidential_client.redirect_uri, "invalid_request")
    with app.app_context():
        assert db.session.query(Consent).count() == 0
        assert db.session.query(AuthorizationCode).count() == 0


@pytest.mark.parametrize("max_age", ["9" * 5000, "1" + "0" * 30], ids=["5000_digits", "1e30"])
def test_an_absurd_max_age_is_invalid_request(logged_in, confidential_client, max_age):
    """max_age: Maximum Authentication Age. Specifies the allowable elapsed time in seconds —
    OIDC Core §3.1.2.1. We take at most ten digits (over 300 years); anything longer cannot be a
    real limit, and we refuse it as invalid_request (§3.1.2.6) rather than guess."""
    response = logged_in.get(authorize_url(confidential_client, max_age=max_age))
    assert_redirect_error(response, confidential_client.redirect_uri, "invalid_request")


def test_a_max_age_of_ten_digits_is_a_limit_far_away(logged_in, confidential_client):
    """OIDC Core §3.1.2.1: a long but real max_age is honoured (the recent login satisfies it)."""
    response = logged_in.get(authorize_url(confidential_client, max_age="9" * 10))
    assert response.status_code == 200  # the consent page
