"""The Authentication Request's OpenID-only parameters: OpenID Connect Core 1.0 §3.1.2.1, §6."""

from __future__ import annotations

from urllib.parse import parse_qsl, urlsplit

import pytest

from tests.helpers import assert_redirect_error, authorize_url, get_code


def test_metadata_says_request_objects_are_not_supported(client):
    """request_parameter_supported / request_uri_parameter_supported — Discovery §3."""
    metadata = client.get("/.well-known/openid-configuration").get_json()
    assert metadata["request_parameter_supported"] is False
    assert metadata["request_uri_parameter_supported"] is False


@pytest.mark.parametrize(
    ("parameter", "value", "error"),
    [
        ("request", "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9.", "request_not_supported"),
        ("request_uri", "https://app.example.com/request.jwt", "request_uri_not_supported"),
    ],
    ids=["request", "request_uri"],
)
def test_an_unsupported_request_object_is_refused_by_name(
    logged_in, confidential_client, parameter, value, error
):
    """Should an OP not support this parameter and an RP uses it, the OP MUST return the
    request_not_supported error — Core §6.1; likewise request_uri_not_supported — §6.2. Silently
    ignoring it would act on parameters the RP did not mean (those inside the object)."""
    response = logged_in.get(authorize_url(confidential_client, **{parameter: value}))
    query = assert_redirect_error(response, confidential_client.redirect_uri, error)
    assert query["state"] == "state-123"
    assert "code" not in query


def test_an_unsupported_request_object_is_refused_even_after_consent(
    logged_in, confidential_client
):
    """Core §6.1: refused, not quietly answered with a code from the stored consent."""
    get_code(logged_in, confidential_client)
    response = logged_in.get(authorize_url(confidential_client, request="eyJhbGciOiJub25lIn0.e30."))
    assert_redirect_error(response, confidential_client.redirect_uri, "request_not_supported")


def test_a_posted_authorization_request_is_its_get(logged_in, confidential_client):
    """Authorization Servers MUST support the use of the HTTP GET and POST methods ... If using
    the HTTP POST method, the request parameters are serialized using Form Serialization —
    Core §3.1.2.1. The POST is sent to the same request by GET (303), every parameter kept."""
    url = authorize_url(confidential_client, nonce="n-1")
    params = dict(parse_qsl(urlsplit(url).query))
    response = logged_in.post("/oauth/authorize", data=params)
    assert response.status_code == 303
    location = response.headers["Location"]
    assert urlsplit(location).path == "/oauth/authorize"
    assert dict(parse_qsl(urlsplit(location).query)) == params


def test_a_posted_request_is_checked_like_its_get(logged_in, confidential_client):
    """A POSTed request gains nothing over a link: an unregistered redirect_uri still gets the
    error page and no redirect (RFC 6749 §4.1.2.1); a consent answer without its query string
    is no request, and without a valid CSRF token it is refused (400), changing nothing."""
    params = dict(parse_qsl(urlsplit(authorize_url(confidential_client)).query))
    params["redirect_uri"] = "https://evil.example/cb"
    followed = logged_in.post("/oauth/authorize", data=params, follow_redirects=True)
    assert followed.status_code == 400
    assert b"not registered" in followed.data
    forged = logged_in.post(
        "/oauth/authorize", data={"csrf_token": "forged", "decision": "allow", **params}
    )
    assert forged.status_code == 400
    assert "Location" not in forged.headers
