"""The authorization endpoint: RFC 6749 §3.1, §4.1.1-4.1.2.1, RFC 9207, and SPEC's policy."""

from __future__ import annotations

import pytest

from authserver.extensions import db
from authserver.models import Consent
from tests import factories
from tests.helpers import (
    assert_redirect_error,
    authorize_url,
    consent,
    csrf_token,
    exchange_code,
    get_code,
    query_of,
)


def assert_error_page(response, text: str | None = None) -> None:
    """An HTML page and no redirect: the redirect target cannot be trusted."""
    assert response.status_code == 400, response.status_code
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"
    if text:
        assert text in response.get_data(as_text=True)


def test_unknown_client_gets_an_error_page_not_a_redirect(logged_in, confidential_client):
    """If the client identifier is invalid, the authorization server SHOULD inform the resource
    owner of the error and MUST NOT automatically redirect the user-agent — RFC 6749 §4.1.2.1."""
    response = logged_in.get(authorize_url(confidential_client, client_id="no-such-client"))
    assert_error_page(response, "not registered")


def test_missing_client_id_gets_an_error_page(logged_in, confidential_client):
    response = logged_in.get(authorize_url(confidential_client, client_id=None))
    assert_error_page(response)


@pytest.mark.parametrize(
    "redirect_uri",
    [
        "https://evil.example/callback",
        "https://app.example.com/callback/extra",
        "https://APP.example.com/callback",
        "https://app.example.com/Callback",
        "https://app.example.com/callback?x=1",
        "https://app.example.com/callback/",
        "http://app.example.com/callback",
        "https://app.example.com:443/callback",
        "https://app.example.com/callback#frag",
    ],
)
def test_redirect_uri_must_match_a_registered_one_exactly(
    logged_in, confidential_client, redirect_uri
):
    """Redirect URIs are compared by exact string match (SPEC; RFC 9700 §4.1.3). A near miss
    gets an error page, never a redirect — RFC 6749 §4.1.2.1."""
    response = logged_in.get(authorize_url(confidential_client, redirect_uri=redirect_uri))
    assert_error_page(response, "not registered")


def test_unknown_client_is_refused_even_before_login(client, confidential_client):
    response = client.get(authorize_url(confidential_client, redirect_uri="https://evil.example/"))
    assert_error_page(response)


def test_omitted_redirect_uri_uses_the_only_registered_one(logged_in, confidential_client):
    """RFC 6749 §3.1.2.3: with a single registered URI the parameter may be omitted."""
    code, _ = get_code(logged_in, confidential_client, redirect_uri=None)
    response = exchange_code(logged_in, confidential_client, code, redirect_uri="")
    assert response.status_code == 200, response.data


def test_omitted_redirect_uri_is_refused_when_several_are_registered(app, logged_in, user):
    with app.app_context():
        app_client = factories.make_client(
            owner_email=user.email,
            redirect_uris=["https://a.example/cb", "https://b.example/cb"],
        )
    response = logged_in.get(authorize_url(app_client, redirect_uri=None))
    assert_error_page(response)


def test_repeated_client_id_gets_an_error_page(logged_in, confidential_client):
    """Request and response parameters MUST NOT be included more than once — RFC 6749 §3.1."""
    url = authorize_url(confidential_client) + f"&client_id={confidential_client.client_id}"
    assert_error_page(logged_in.get(url))


def test_repeated_state_is_invalid_request(logged_in, confidential_client):
    url = authorize_url(confidential_client) + "&state=again"
    response = logged_in.get(url)
    assert_redirect_error(response, confidential_client.redirect_uri, "invalid_request")


def test_anonymous_user_is_sent_to_login_and_back(client, user, confidential_client):
    url = authorize_url(confidential_client)
    response = client.get(url)
    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login?next=")
    login_page = client.get(response.headers["Location"])
    answer = client.post(
        response.headers["Location"],
        data={
            "email": user.email,
            "password": user.password,
            "csrf_token": csrf_token(login_page.data),
        },
    )
    assert answer.status_code == 302
    assert answer.headers["Location"] == url
    assert client.get(url).status_code == 200  # the consent page


def test_unsupported_response_type_redirects_with_error(logged_in, confidential_client):
    """RFC 6749 §4.1.2.1: unsupported_response_type, with state; RFC 9207: with iss."""
    response = logged_in.get(authorize_url(confidential_client, response_type="token"))
    query = assert_redirect_error(
        response, confidential_client.redirect_uri, "unsupported_response_type"
    )
    assert query["state"] == "state-123"


def test_unknown_scope_is_invalid_scope(logged_in, confidential_client):
    """SPEC: an unknown or unregistered scope is invalid_scope."""
    response = logged_in.get(authorize_url(confidential_client, scope="openid admin"))
    query = assert_redirect_error(response, confidential_client.redirect_uri, "invalid_scope")
    assert query["state"] == "state-123"


def test_unregistered_scope_is_invalid_scope(app, logged_in, user):
    with app.app_context():
        app_client = factories.make_client(owner_email=user.email, scope="openid profile")
    response = logged_in.get(authorize_url(app_client, scope="openid events:write"))
    assert_redirect_error(response, app_client.redirect_uri, "invalid_scope")


def test_missing_scope_is_invalid_scope(logged_in, confidential_client):
    """RFC 6749 §3.3: the server either uses a default or fails with invalid_scope; we fail."""
    response = logged_in.get(authorize_url(confidential_client, scope=None))
    assert_redirect_error(response, confidential_client.redirect_uri, "invalid_scope")


def test_client_without_code_grant_is_unauthorized_client(app, logged_in, user):
    with app.app_context():
        app_client = factories.make_client(
            owner_email=user.email, grant_types=["client_credentials"], scope="events:read"
        )
    response = logged_in.get(authorize_url(app_client, scope="events:read"))
    assert_redirect_error(response, app_client.redirect_uri, "unauthorized_client")


def test_consent_page_names_the_client_and_each_scope_in_plain_words(
    logged_in, confidential_client
):
    page = logged_in.get(
        authorize_url(confidential_client, scope="openid profile events:read events:write")
    )
    html = page.get_data(as_text=True)
    assert page.status_code == 200
    assert "Example App" in html
    for sentence in (
        "Confirm who you are",
        "See your name and basic profile",
        "See your calendar events",
        "Create, change and delete your calendar events",
    ):
        assert sentence in html
    for scope in ("profile", "events:read", "events:write"):
        assert f'name="scope" value="{scope}" checked' in html
    # openid is shown ticked and disabled, and always kept.
    assert "checked disabled" in html
    assert 'name="decision" value="allow"' in html
    assert 'name="decision" value="deny"' in html


def test_deny_redirects_with_access_denied_and_state(logged_in, confidential_client):
    response = consent(logged_in, authorize_url(confidential_client), decision="deny")
    query = assert_redirect_error(response, confidential_client.redirect_uri, "access_denied")
    assert query["state"] == "state-123"
    assert "code" not in query


def test_success_carries_state_and_iss(logged_in, confidential_client):
    """RFC 9207 §2: the iss parameter in every authorization response."""
    _, query = get_code(logged_in, confidential_client)
    assert query["state"] == "state-123"
    assert query["iss"] == "http://127.0.0.1:5000"


def test_partial_consent_grants_only_the_ticked_scopes(logged_in, confidential_client):
    """SPEC: the user may untick any scope but openid; a token carries only what was granted."""
    url = authorize_url(confidential_client, scope="openid profile events:read events:write")
    response = consent(logged_in, url, scopes=["events:read"])
    code = query_of(response.headers["Location"])["code"]
    token = exchange_code(logged_in, confidential_client, code).get_json()
    assert token["scope"] == "openid events:read"


def test_unticking_everything_is_a_denial(logged_in, confidential_client):
    url = authorize_url(confidential_client, scope="profile events:read")
    response = consent(logged_in, url, scopes=[])
    assert_redirect_error(response, confidential_client.redirect_uri, "access_denied")


def test_ticking_a_scope_that_was_not_requested_adds_nothing(logged_in, confidential_client):
    url = authorize_url(confidential_client, scope="openid profile")
    response = consent(logged_in, url, scopes=["profile", "events:write"])
    code = query_of(response.headers["Location"])["code"]
    token = exchange_code(logged_in, confidential_client, code).get_json()
    assert token["scope"] == "openid profile"


def test_consent_is_stored_and_a_repeat_request_skips_the_page(app, logged_in, confidential_client):
    get_code(logged_in, confidential_client)
    with app.app_context():
        stored = db.session.query(Consent).one()
        assert stored.scope == "openid profile offline_access events:read"
    again = logged_in.get(authorize_url(confidential_client, scope="openid events:read"))
    assert again.status_code == 302
    assert "code" in query_of(again.headers["Location"])


def test_prompt_consent_shows_the_page_again(logged_in, confidential_client):
    get_code(logged_in, confidential_client)
    again = logged_in.get(authorize_url(confidential_client, prompt="consent"))
    assert again.status_code == 200
    assert 'name="decision"' in again.get_data(as_text=True)


def test_a_scope_not_yet_granted_asks_again(logged_in, confidential_client):
    get_code(logged_in, confidential_client, scope="openid profile")
    again = logged_in.get(authorize_url(confidential_client, scope="openid profile email"))
    assert again.status_code == 200


def test_consent_post_without_csrf_token_issues_no_code(logged_in, confidential_client):
    url = authorize_url(confidential_client)
    logged_in.get(url)
    response = logged_in.post(url, data={"decision": "allow", "scope": ["profile"]})
    assert response.status_code == 400
    assert "Location" not in response.headers
