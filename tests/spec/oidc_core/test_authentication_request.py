"""The Authentication Request's OpenID-only parameters: OpenID Connect Core 1.0 §3.1.2.1, §6."""

from __future__ import annotations

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
