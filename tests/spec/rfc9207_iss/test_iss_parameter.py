"""RFC 9207: the ``iss`` parameter in every authorization response, success and error."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests import factories
from tests.helpers import authorize_url, consent, get_code

ISSUER = "http://127.0.0.1:5000"
REDIRECT = factories.REDIRECT_URI


def iss_of(response, redirect_uri: str) -> tuple[str, dict[str, list[str]]]:
    """The single ``iss`` of an authorization response that goes back to the client."""
    assert response.status_code == 302, (response.status_code, response.data)
    location = response.headers["Location"]
    assert location.startswith(redirect_uri + "?"), location
    query = parse_qs(urlsplit(location).query)
    assert len(query.get("iss", [])) == 1, query  # exactly once (RFC 6749 §3.1)
    return query["iss"][0], query


def test_metadata_says_iss_is_supported(client):
    """authorization_response_iss_parameter_supported: Boolean parameter indicating whether the
    authorization server provides the iss parameter in the authorization response — RFC 9207
    §3."""
    metadata = client.get("/.well-known/oauth-authorization-server").get_json()
    assert metadata["authorization_response_iss_parameter_supported"] is True


def test_successful_response_carries_iss(logged_in, confidential_client):
    """In authorization responses to the client, including error responses, an authorization
    server supporting this specification MUST indicate its identity by including the iss
    parameter — RFC 9207 §2."""
    url = authorize_url(confidential_client)
    iss, query = iss_of(consent(logged_in, url), confidential_client.redirect_uri)
    assert iss == ISSUER
    assert query["code"] and query["state"] == ["state-123"]


def test_silent_response_without_a_consent_page_carries_iss(logged_in, confidential_client):
    get_code(logged_in, confidential_client)
    response = logged_in.get(authorize_url(confidential_client))
    iss, query = iss_of(response, confidential_client.redirect_uri)
    assert iss == ISSUER and "code" in query


def _public_without_pkce(app, user):
    with app.app_context():
        return factories.make_client(owner_email=user.email, public=True)


def _client_credentials_only(app, user):
    with app.app_context():
        return factories.make_client(
            owner_email=user.email, grant_types=["client_credentials"], scope="events:read"
        )


ERROR_CASES = {
    "access_denied": lambda browser, app_client: consent(
        browser, authorize_url(app_client), decision="deny"
    ),
    "invalid_scope": lambda browser, app_client: browser.get(
        authorize_url(app_client, scope="openid admin")
    ),
    "unsupported_response_type": lambda browser, app_client: browser.get(
        authorize_url(app_client, response_type="token")
    ),
    "invalid_request": lambda browser, app_client: browser.get(
        authorize_url(app_client, prompt="none login")
    ),
    "consent_required": lambda browser, app_client: browser.get(
        authorize_url(app_client, prompt="none")
    ),
}


@pytest.mark.parametrize("error", list(ERROR_CASES))
def test_error_responses_carry_iss(logged_in, confidential_client, error):
    """RFC 9207 §2: including error responses. The value is the issuer identifier of the
    authorization server — RFC 9207 §2 (and RFC 8414's issuer)."""
    response = ERROR_CASES[error](logged_in, confidential_client)
    iss, query = iss_of(response, confidential_client.redirect_uri)
    assert query["error"] == [error]
    assert query["state"] == ["state-123"]
    assert iss == ISSUER


def test_login_required_carries_iss(client, confidential_client):
    response = client.get(authorize_url(confidential_client, prompt="none"))
    iss, query = iss_of(response, confidential_client.redirect_uri)
    assert query["error"] == ["login_required"]
    assert iss == ISSUER


def test_pkce_refusal_carries_iss(app, logged_in, user):
    """A public client without a code_challenge is refused (RFC 7636 §4.4.1) — with iss."""
    app_client = _public_without_pkce(app, user)
    iss, query = iss_of(logged_in.get(authorize_url(app_client)), app_client.redirect_uri)
    assert query["error"] == ["invalid_request"]
    assert iss == ISSUER


def test_unauthorized_client_carries_iss(app, logged_in, user):
    app_client = _client_credentials_only(app, user)
    iss, query = iss_of(
        logged_in.get(authorize_url(app_client, scope="events:read")), app_client.redirect_uri
    )
    assert query["error"] == ["unauthorized_client"]
    assert iss == ISSUER


def test_iss_is_added_to_a_redirect_uri_with_its_own_query(app, logged_in, user):
    """RFC 6749 §3.1.2: the redirect URI's query component MUST be retained when adding
    parameters; iss is one more parameter."""
    with app.app_context():
        app_client = factories.make_client(
            owner_email=user.email, redirect_uris=["https://app.example.com/cb?tenant=7"]
        )
    response = consent(logged_in, authorize_url(app_client))
    iss, query = iss_of(response, "https://app.example.com/cb")
    assert query["tenant"] == ["7"]
    assert iss == ISSUER


@pytest.mark.parametrize("app_config", [{"ISSUER": "https://login.example.org"}])
def test_iss_is_the_configured_issuer(app_config, logged_in, confidential_client):
    """RFC 9207 §2.4: clients compare iss with the issuer of the metadata, so the two agree."""
    metadata = logged_in.get("/.well-known/openid-configuration").get_json()
    iss, _ = iss_of(consent(logged_in, authorize_url(confidential_client)), REDIRECT)
    assert iss == metadata["issuer"] == "https://login.example.org"
    iss, _ = iss_of(logged_in.get(authorize_url(confidential_client, scope="x")), REDIRECT)
    assert iss == "https://login.example.org"


def test_error_page_for_an_untrusted_redirect_has_no_redirect_at_all(
    logged_in, confidential_client
):
    """When the redirect URI cannot be trusted there is no authorization response to the client
    (RFC 6749 §4.1.2.1), so nothing carries iss anywhere."""
    response = logged_in.get(
        authorize_url(confidential_client, redirect_uri="https://evil.example/cb")
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
