"""Parameters sent more than once, and bodies that are not forms: RFC 6749 §3.1 and §3.2.

Request and response parameters MUST NOT be included more than once — RFC 6749 §3.1, §3.2.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode

import pytest

from tests.helpers import (
    assert_oauth_error,
    assert_redirect_error,
    authorize_url,
    basic_auth,
    get_code,
    pkce_pair,
    user_tokens,
)

FORM = "application/x-www-form-urlencoded"


def post_form(http, path: str, pairs: list[tuple[str, str]], headers: dict | None = None):
    """POST ``pairs`` as a form body, repeated names and all."""
    return http.post(path, data=urlencode(pairs), content_type=FORM, headers=headers or {})


# --- the token endpoint ------------------------------------------------------------------------


@pytest.mark.parametrize(
    "repeated", ["grant_type", "code", "redirect_uri", "code_verifier", "client_id", "scope"]
)
def test_a_repeated_parameter_at_the_token_endpoint_is_invalid_request(
    app, logged_in, confidential_client, repeated
):
    """Request and response parameters MUST NOT be included more than once — RFC 6749 §3.2;
    invalid_request: The request ... repeats a parameter — §5.2. The code stays unused."""
    verifier, challenge = pkce_pair()
    code, _ = get_code(
        logged_in, confidential_client, code_challenge=challenge, code_challenge_method="S256"
    )
    pairs = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", confidential_client.redirect_uri),
        ("client_id", confidential_client.client_id),
        ("code_verifier", verifier),
        ("scope", "openid"),
    ]
    pairs += [(name, value) for name, value in pairs if name == repeated]
    if repeated != "scope":
        pairs = [(n, v) for n, v in pairs if n != "scope"]
    auth = basic_auth(confidential_client.client_id, confidential_client.secret)
    response = post_form(logged_in, "/oauth/token", pairs, auth)
    assert_oauth_error(response, "invalid_request")
    # Nothing changed: the same code, sent properly, still works.
    single = [(n, v) for n, v in dict(pairs).items() if n != "scope"]
    assert post_form(logged_in, "/oauth/token", single, auth).status_code == 200


def test_a_repeated_refresh_token_is_invalid_request(logged_in, confidential_client):
    """RFC 6749 §3.2 and §5.2, at the refresh_token grant (§6); the token is not rotated."""
    issued = user_tokens(logged_in, confidential_client, scope="openid offline_access")
    auth = basic_auth(confidential_client.client_id, confidential_client.secret)
    pairs = [("grant_type", "refresh_token"), ("refresh_token", issued["refresh_token"])]
    response = post_form(logged_in, "/oauth/token", pairs + pairs[1:], auth)
    assert_oauth_error(response, "invalid_request")
    assert post_form(logged_in, "/oauth/token", pairs, auth).status_code == 200


@pytest.mark.parametrize(
    ("content_type", "body"),
    [
        ("application/json", json.dumps({"grant_type": "client_credentials"})),
        (
            "multipart/form-data; boundary=b",
            (
                '--b\r\nContent-Disposition: form-data; name="grant_type"\r\n\r\n'
                "client_credentials\r\n--b--\r\n"
            ),
        ),
        ("text/plain", "grant_type=client_credentials"),
    ],
    ids=["json", "multipart", "text"],
)
def test_a_token_request_that_is_not_a_form_is_invalid_request(app, client, content_type, body):
    """The client makes a request to the token endpoint by sending the following parameters
    using the "application/x-www-form-urlencoded" format — RFC 6749 §4.4.2 (and §4.1.3, §6)."""
    from tests.factories import make_service_client

    with app.app_context():
        service = make_service_client()
    response = client.post(
        "/oauth/token",
        data=body,
        content_type=content_type,
        headers=basic_auth(service.client_id, service.secret),
    )
    assert_oauth_error(response, "invalid_request")


# --- revocation and introspection --------------------------------------------------------------


@pytest.mark.parametrize("path", ["/oauth/revoke", "/oauth/introspect"])
@pytest.mark.parametrize("repeated", ["token", "token_type_hint", "client_id"])
def test_a_repeated_parameter_at_revocation_or_introspection_is_invalid_request(
    logged_in, confidential_client, path, repeated
):
    """RFC 6749 §3.2, which RFC 7009 §2.1 and RFC 7662 §2.1 build on: invalid_request. A
    revocation so refused revokes nothing."""
    issued = user_tokens(logged_in, confidential_client)
    pairs = [
        ("token", issued["access_token"]),
        ("token_type_hint", "access_token"),
        ("client_id", confidential_client.client_id),
    ]
    pairs += [(name, value) for name, value in pairs if name == repeated]
    auth = basic_auth(confidential_client.client_id, confidential_client.secret)
    assert_oauth_error(post_form(logged_in, path, pairs, auth), "invalid_request")
    answer = post_form(logged_in, "/oauth/introspect", pairs[:1], auth)
    assert answer.get_json()["active"] is True


@pytest.mark.parametrize("path", ["/oauth/revoke", "/oauth/introspect"])
def test_a_revocation_or_introspection_request_in_json_is_invalid_request(
    client, confidential_client, path
):
    """The client constructs the request by including the following parameters using the
    "application/x-www-form-urlencoded" format in the HTTP request entity-body — RFC 7009 §2.1,
    RFC 7662 §2.1."""
    response = client.post(
        path,
        json={"token": "x"},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert_oauth_error(response, "invalid_request")


# --- the authorization endpoint ----------------------------------------------------------------


@pytest.mark.parametrize(
    "repeated",
    ["response_type", "scope", "state", "nonce", "prompt", "code_challenge", "max_age"],
)
def test_a_repeated_authorization_parameter_is_redirected_as_invalid_request(
    logged_in, confidential_client, repeated
):
    """Request and response parameters MUST NOT be included more than once — RFC 6749 §3.1;
    with client and redirect URI verified, the error goes back to the client — §4.1.2.1."""
    values = {
        "response_type": "code",
        "scope": "openid",
        "state": "state-123",
        "nonce": "n-1",
        "prompt": "consent",
        "code_challenge": pkce_pair()[1],
        "max_age": "600",
    }
    url = authorize_url(confidential_client, code_challenge_method="S256", **values)
    url += "&" + urlencode({repeated: values[repeated]})
    response = logged_in.get(url)
    assert_redirect_error(response, confidential_client.redirect_uri, "invalid_request")


@pytest.mark.parametrize("repeated", ["client_id", "redirect_uri"])
def test_a_repeated_client_id_or_redirect_uri_is_an_error_page(
    logged_in, confidential_client, repeated
):
    """If the request fails due to a missing, invalid, or mismatching redirection URI, or if the
    client identifier is missing or invalid, the authorization server ... MUST NOT automatically
    redirect the user-agent — RFC 6749 §4.1.2.1."""
    value = getattr(confidential_client, repeated)
    url = authorize_url(confidential_client) + "&" + urlencode({repeated: value})
    response = logged_in.get(url)
    assert response.status_code == 400
    assert "Location" not in response.headers
