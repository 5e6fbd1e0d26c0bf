"""JWTs that are not JWTs: a Bearer token or an id_token_hint whose parts do not decode.

SPEC, Policy: bad input of any kind gets a 4xx in the RFC's error format, never a 5xx.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.helpers import assert_oauth_error, basic_auth

MALFORMED = {
    # The JWS header is a JSON array, not an object.
    "array_header": "WyJhbGciXQ.e30.c2ln",
    # The header is a JSON string.
    "string_header": "ImFsZyI.e30.c2ln",
    # Not base64url at all.
    "bad_base64": "!!!.e30.c2ln",
    # base64url of bytes that are not UTF-8.
    "not_utf8": "_w.e30.c2ln",
    # base64url of text that is not JSON.
    "not_json": "bm90IGpzb24.e30.c2ln",
    # A proper header, a claims set that is an array.
    "array_claims": "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6IngifQ.WzFd.c2ln",
    # A header with a NUL byte in kid.
    "nul_kid": "eyJhbGciOiJSUzI1NiIsInR5cCI6ImF0K2p3dCIsImtpZCI6Ilx1MDAwMCJ9.e30.c2ln",
}


@pytest.mark.parametrize("token", list(MALFORMED.values()), ids=list(MALFORMED))
def test_userinfo_answers_a_malformed_bearer_token_with_invalid_token(client, token):
    """invalid_token: The access token provided is expired, revoked, malformed, or invalid for
    other reasons. The resource SHOULD respond with the HTTP 401 (Unauthorized) status code —
    RFC 6750 §3.1."""
    response = client.get("/oauth/userinfo", headers={"Authorization": f"Bearer {token}"})
    assert response.status_code == 401
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]


@pytest.mark.parametrize("token", list(MALFORMED.values()), ids=list(MALFORMED))
def test_introspection_of_a_malformed_token_is_inactive(client, resource_server, token):
    """If the introspection call is properly authorized but the token is not active, does not
    exist on this server, or the protected resource is not allowed to introspect this particular
    token, then the authorization server MUST return an introspection response with the "active"
    field set to "false" — RFC 7662 §2.2."""
    response = client.post(
        "/oauth/introspect",
        data={"token": token},
        headers=basic_auth(resource_server.client_id, resource_server.secret),
    )
    assert response.status_code == 200, response.data
    assert response.get_json() == {"active": False}


@pytest.mark.parametrize("token", list(MALFORMED.values()), ids=list(MALFORMED))
def test_revocation_of_a_malformed_token_is_ok(client, confidential_client, token):
    """Note: invalid tokens do not cause an error response since the client cannot handle such
    an error in a reasonable way — RFC 7009 §2.2."""
    response = client.post(
        "/oauth/revoke",
        data={"token": token},
        headers=basic_auth(confidential_client.client_id, confidential_client.secret),
    )
    assert response.status_code == 200, response.data


@pytest.mark.parametrize("hint", list(MALFORMED.values()), ids=list(MALFORMED))
def test_logout_with_a_malformed_id_token_hint_is_an_error_page(logged_in, hint):
    """When an id_token_hint parameter is present, the OP MUST validate that it was the issuer of
    the ID Token — RP-Initiated Logout §2; When the OP detects errors in the RP-Initiated Logout
    request, the OP MUST not perform post-logout redirection — §4."""
    response = logged_in.get("/oauth/logout?" + urlencode({"id_token_hint": hint}))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"


def test_a_revocation_request_with_only_a_public_client_id_is_invalid_request(
    client, public_client
):
    """token REQUIRED. The token that the client wants to get revoked — RFC 7009 §2.1;
    invalid_request: The request is missing a required parameter — RFC 6749 §5.2."""
    response = client.post("/oauth/revoke", data={"client_id": public_client.client_id})
    assert_oauth_error(response, "invalid_request")
