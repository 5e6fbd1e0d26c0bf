"""How a request carries its bearer token, and how errors are answered (RFC 6750 §2, §3)."""

from __future__ import annotations

import pytest

from .api_testing import AUDIENCE, REALM, assert_bearer_error, bearer, challenge_params

RESOURCE_METADATA = f"{AUDIENCE}/.well-known/oauth-protected-resource"
#: RFC 9449 §7.1: every 401 offers the DPoP scheme beside Bearer, with its proof algorithms.
DPOP_CHALLENGE = 'DPoP algs="ES256 RS256 PS256 EdDSA"'

FORM = "application/x-www-form-urlencoded"


def test_request_without_token_gets_a_bare_challenge(client):
    """“If the request lacks any authentication information (e.g., the client was unaware that
    authentication is necessary or attempted using an unsupported authentication method), the
    resource server SHOULD NOT include an error code or other error information.” — RFC 6750
    §3.1"""
    response = client.get("/api/events")
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="{REALM}", resource_metadata="{RESOURCE_METADATA}", {DPOP_CHALLENGE}'
    )
    assert response.get_json()["error"] == "unauthorized"


def test_other_authentication_scheme_gets_a_bare_challenge(client):
    response = client.get("/api/events", headers={"Authorization": "Basic YWxpY2U6c2VjcmV0"})
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="{REALM}", resource_metadata="{RESOURCE_METADATA}", {DPOP_CHALLENGE}'
    )


def test_invalid_token_challenge_carries_error_and_description(client, make_token):
    """“invalid_token: The access token provided is expired, revoked, malformed, or invalid for
    other reasons. The resource SHOULD respond with the HTTP 401 (Unauthorized) status code.” —
    RFC 6750 §3.1"""
    response = client.get("/api/me", headers=bearer(make_token(aud="https://elsewhere")))
    assert_bearer_error(response, 401, "invalid_token")
    assert response.headers["WWW-Authenticate"] == (
        f'Bearer realm="{REALM}", error="invalid_token", '
        'error_description="The access token is meant for another audience.", '
        f'resource_metadata="{RESOURCE_METADATA}", {DPOP_CHALLENGE}'
    )


def test_insufficient_scope_challenge_names_the_needed_scope(client, make_token):
    response = client.get("/api/events", headers=bearer(make_token(scope="profile")))
    assert_bearer_error(response, 403, "insufficient_scope", scope="events:read")
    assert response.headers["WWW-Authenticate"].endswith(', scope="events:read"')


def test_scheme_name_is_case_insensitive(client, token):
    """RFC 9110 §11.1: "It uses a case-insensitive token to identify the authentication
    scheme"."""
    response = client.get("/api/me", headers={"Authorization": f"bearer {token}"})
    assert response.status_code == 200


@pytest.mark.parametrize("value", ["Bearer", "Bearer ", "Bearer a b", "Bearer tok\u00e9n"])
def test_malformed_authorization_header_is_invalid_request(client, value):
    """invalid_request: the request "is otherwise malformed" — RFC 6750 §3.1; the credentials
    must be a b64token (§2.1)."""
    response = client.get("/api/me", headers={"Authorization": value})
    assert_bearer_error(response, 400, "invalid_request")


def test_two_authorization_headers_are_invalid_request(client, token):
    response = client.get(
        "/api/me", headers=[("Authorization", f"Bearer {token}"), ("Authorization", "Bearer x")]
    )
    assert_bearer_error(response, 400, "invalid_request")


def test_query_token_is_refused_by_default(client, token):
    """Sending the token in the URI "SHOULD NOT be used unless it is impossible to transport
    the access token in the Authorization request header field or the HTTP request
    entity-body." — RFC 6750 §2.3"""
    response = client.get("/api/me", query_string={"access_token": token})
    body = assert_bearer_error(response, 400, "invalid_request")
    assert "query string" in body["error_description"]


def test_query_token_is_accepted_when_enabled(make_app, token):
    client = make_app(ALLOW_QUERY_TOKEN=True).test_client()
    response = client.get("/api/me", query_string={"access_token": token})
    assert response.status_code == 200
    assert response.get_json()["sub"] == "alice"


def test_header_and_query_token_together_are_invalid_request(make_app, token):
    """“Clients MUST NOT use more than one method to transmit the token in each request.” —
    RFC 6750 §2"""
    client = make_app(ALLOW_QUERY_TOKEN=True).test_client()
    response = client.get("/api/me", headers=bearer(token), query_string={"access_token": token})
    body = assert_bearer_error(response, 400, "invalid_request")
    assert "more than one way" in body["error_description"]


def test_repeated_query_token_is_invalid_request(make_app, token):
    client = make_app(ALLOW_QUERY_TOKEN=True).test_client()
    response = client.get("/api/me", query_string=[("access_token", token)] * 2)
    assert_bearer_error(response, 400, "invalid_request")


def test_form_body_token_is_accepted_on_post(client, token):
    """RFC 6750 §2.2: the token may travel in a form-encoded body of a method whose body has
    defined semantics. The token is accepted; the body then is no JSON event (415)."""
    response = client.post("/api/events", data={"access_token": token}, content_type=FORM)
    assert response.status_code == 415
    assert response.get_json()["error"] == "unsupported_media_type"


def test_form_body_token_under_missing_scope_is_checked(client, make_token):
    token = make_token(scope="events:read")
    response = client.post("/api/events", data={"access_token": token}, content_type=FORM)
    assert_bearer_error(response, 403, "insufficient_scope", scope="events:write")


@pytest.mark.parametrize("method", ["GET", "DELETE"])
def test_form_body_token_on_a_method_without_body_semantics_is_invalid_request(
    client, token, method
):
    """“The HTTP request method is one for which the request-body has defined semantics. In
    particular, this means that the "GET" method MUST NOT be used.” — RFC 6750 §2.2"""
    response = client.open(
        "/api/events/1", method=method, data={"access_token": token}, content_type=FORM
    )
    assert_bearer_error(response, 400, "invalid_request")


def test_header_and_form_body_token_together_are_invalid_request(client, token):
    response = client.post(
        "/api/events", headers=bearer(token), data={"access_token": token}, content_type=FORM
    )
    assert_bearer_error(response, 400, "invalid_request")


def test_access_token_in_a_json_body_is_not_a_token(client, token):
    """“The entity-body has a single part ... [and] the HTTP request entity-header includes the
    "Content-Type" header field set to "application/x-www-form-urlencoded".” — RFC 6750 §2.2"""
    response = client.post("/api/events", json={"access_token": token})
    assert response.status_code == 401
    assert "error" not in challenge_params(response)


def test_error_description_never_breaks_the_header_syntax(app):
    """error_description may only hold %x20-21 / %x23-5B / %x5D-7E — RFC 6750 §3."""
    from resource_api.protection import InvalidToken

    with app.test_request_context():
        error = InvalidToken('a "quoted" \\ and\nnewline é')
    description = challenge_params_from(error.headers["WWW-Authenticate"])["error_description"]
    assert all(0x20 <= ord(c) <= 0x7E and c not in '"\\' for c in description)


def challenge_params_from(header: str) -> dict[str, str]:
    class Carrier:
        headers = {"WWW-Authenticate": header}

    return challenge_params(Carrier())
