"""Authorization errors go back to the client only once the person is known.

RFC 9700 §4.11.2: an authorization server that redirects anyone's click straight to a client's
redirect URI with an error is an open redirector. So errors other than prompt=none's own wait
for a login; where a login makes no sense (a silent request) they are shown as a page.
"""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from tests.helpers import assert_redirect_error, authorize_url, csrf_token

BAD_REQUESTS = {
    "request": ({"request": "eyJhbGciOiJub25lIn0.e30."}, "request_not_supported"),
    "request_uri": ({"request_uri": "https://app.example.com/r.jwt"}, "request_uri_not_supported"),
    "max_age": ({"max_age": "x"}, "invalid_request"),
    "nonce": ({"nonce": "n" * 300}, "invalid_request"),
    "id_token_hint": ({"id_token_hint": "not-a-jwt"}, "invalid_request"),
}


def log_in_at(browser, login_location: str, user) -> str:
    """Fill in the login form the server sent us to; return where it sends us next."""
    page = browser.get(login_location)
    answer = browser.post(
        login_location,
        data={"email": user.email, "password": user.password, "csrf_token": csrf_token(page.data)},
    )
    assert answer.status_code == 302, answer.data
    return answer.headers["Location"]


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_a_bad_request_from_a_stranger_goes_to_the_login_page_first(
    client, user, confidential_client, case
):
    """The authorization server ... SHOULD only automatically redirect the user agent if it
    trusts the redirect URI — RFC 9700 §4.11.2; with nobody logged in, nobody is known to have
    asked, so the visitor logs in first, and then the error goes back to the client."""
    params, error = BAD_REQUESTS[case]
    url = authorize_url(confidential_client, **params)
    response = client.get(url)
    assert response.status_code == 302
    login_location = response.headers["Location"]
    assert login_location.startswith("/login?"), login_location
    back = log_in_at(client, login_location, user)
    assert back == url  # the request, unchanged
    query = assert_redirect_error(client.get(back), confidential_client.redirect_uri, error)
    assert query["state"] == "state-123"


@pytest.mark.parametrize("case", list(BAD_REQUESTS))
def test_a_bad_request_from_a_logged_in_person_is_redirected_at_once(
    logged_in, confidential_client, case
):
    """If the resource owner denies the access request or if the request fails for reasons other
    than a missing or invalid redirection URI, the authorization server informs the client —
    RFC 6749 §4.1.2.1."""
    params, error = BAD_REQUESTS[case]
    response = logged_in.get(authorize_url(confidential_client, **params))
    assert_redirect_error(response, confidential_client.redirect_uri, error)


@pytest.mark.parametrize(
    "params",
    [{"prompt": "none login"}, {"prompt": "none", "request": "eyJhbGciOiJub25lIn0.e30."}],
    ids=["none_login", "none_with_request"],
)
def test_a_malformed_silent_request_from_a_stranger_is_an_error_page(
    client, confidential_client, params
):
    """RFC 9700 §4.11.2: no redirect before the person is known; a silent request (prompt=none)
    must not show a login page — OIDC Core §3.1.2.1 — so the error is shown as a page."""
    response = client.get(authorize_url(confidential_client, **params))
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert response.mimetype == "text/html"


def test_a_malformed_silent_request_from_a_logged_in_person_is_redirected(
    logged_in, confidential_client
):
    """If this parameter contains none with any other value, an error is returned — OIDC Core
    §3.1.2.1; the person is known, so it goes back to the client."""
    response = logged_in.get(authorize_url(confidential_client, prompt="none login"))
    assert_redirect_error(response, confidential_client.redirect_uri, "invalid_request")


def test_prompt_none_without_a_session_still_redirects_login_required(client, confidential_client):
    """login_required ... MAY be returned when the prompt parameter value in the Authentication
    Request is none — OIDC Core §3.1.2.6: silent authentication relies on this answer."""
    response = client.get(authorize_url(confidential_client, prompt="none"))
    assert_redirect_error(response, confidential_client.redirect_uri, "login_required")


def test_an_unknown_client_is_never_redirected_to(client, confidential_client):
    """RFC 6749 §4.1.2.1: an invalid redirect URI gets a page, logged in or not."""
    url = "/oauth/authorize?" + urlencode(
        {
            "response_type": "code",
            "client_id": confidential_client.client_id,
            "redirect_uri": "https://evil.example/cb",
            "request": "x",
        }
    )
    response = client.get(url)
    assert response.status_code == 400
    assert "Location" not in response.headers
