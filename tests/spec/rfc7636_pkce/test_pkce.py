"""PKCE: RFC 7636 and SPEC's policy (S256 only; required for public clients)."""

from __future__ import annotations

from tests.helpers import (
    assert_oauth_error,
    assert_redirect_error,
    authorize_url,
    exchange_code,
    get_code,
    pkce_pair,
)


def test_public_client_with_s256_completes_the_flow(logged_in, public_client):
    verifier, challenge = pkce_pair()
    code, _ = get_code(
        logged_in, public_client, code_challenge=challenge, code_challenge_method="S256"
    )
    response = exchange_code(logged_in, public_client, code, code_verifier=verifier)
    assert response.status_code == 200, response.data


def test_public_client_without_challenge_is_refused(logged_in, public_client):
    response = logged_in.get(authorize_url(public_client))
    query = assert_redirect_error(response, public_client.redirect_uri, "invalid_request")
    assert "PKCE" in query["error_description"]


def test_plain_method_is_refused(logged_in, public_client):
    verifier, _ = pkce_pair()
    response = logged_in.get(
        authorize_url(public_client, code_challenge=verifier, code_challenge_method="plain")
    )
    assert_redirect_error(response, public_client.redirect_uri, "invalid_request")


def test_missing_method_defaults_to_plain_and_is_refused(logged_in, public_client):
    """RFC 7636 §4.3: the method defaults to plain, which SPEC does not allow."""
    _, challenge = pkce_pair()
    response = logged_in.get(authorize_url(public_client, code_challenge=challenge))
    assert_redirect_error(response, public_client.redirect_uri, "invalid_request")


def test_malformed_challenge_is_refused(logged_in, public_client):
    response = logged_in.get(
        authorize_url(public_client, code_challenge="short", code_challenge_method="S256")
    )
    assert_redirect_error(response, public_client.redirect_uri, "invalid_request")


def test_wrong_verifier_is_invalid_grant(logged_in, public_client):
    """RFC 7636 §4.6: if the values are not equal, an error response indicating invalid_grant."""
    _, challenge = pkce_pair()
    other_verifier, _ = pkce_pair()
    code, _ = get_code(
        logged_in, public_client, code_challenge=challenge, code_challenge_method="S256"
    )
    response = exchange_code(logged_in, public_client, code, code_verifier=other_verifier)
    assert_oauth_error(response, "invalid_grant")


def test_missing_verifier_is_refused(logged_in, public_client):
    _, challenge = pkce_pair()
    code, _ = get_code(
        logged_in, public_client, code_challenge=challenge, code_challenge_method="S256"
    )
    assert_oauth_error(exchange_code(logged_in, public_client, code), "invalid_request")


def test_confidential_client_that_sent_a_challenge_must_send_the_verifier(
    logged_in, confidential_client
):
    verifier, challenge = pkce_pair()
    code, _ = get_code(
        logged_in, confidential_client, code_challenge=challenge, code_challenge_method="S256"
    )
    assert_oauth_error(exchange_code(logged_in, confidential_client, code), "invalid_request")
    ok = exchange_code(logged_in, confidential_client, code, code_verifier=verifier)
    assert ok.status_code == 200, ok.data


def test_verifier_for_a_code_issued_without_challenge_is_refused(logged_in, confidential_client):
    """SPEC: a verifier sent for a code issued without a challenge is refused (RFC 9700 §4.8.2)."""
    verifier, _ = pkce_pair()
    code, _ = get_code(logged_in, confidential_client)
    response = exchange_code(logged_in, confidential_client, code, code_verifier=verifier)
    assert_oauth_error(response, "invalid_request")


def test_public_client_cannot_skip_pkce_with_a_secretless_exchange(logged_in, public_client):
    """A code of a public client is bound to its challenge: no verifier, no token."""
    _, challenge = pkce_pair()
    code, _ = get_code(
        logged_in, public_client, code_challenge=challenge, code_challenge_method="S256"
    )
    response = exchange_code(logged_in, public_client, code, code_verifier="x" * 43)
    assert_oauth_error(response, "invalid_grant")
