"""prompt and max_age: OpenID Connect Core 1.0 §3.1.2.1, §3.1.2.3 and §3.1.2.6."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from tests.helpers import (
    assert_redirect_error,
    authorize_url,
    consent,
    csrf_token,
    decode_jwt,
    exchange_code,
    get_code,
    query_of,
)


def assert_sent_to_login(response) -> str:
    """The user agent goes to the login page (no code, no redirect to the client)."""
    assert response.status_code == 302, (response.status_code, response.data)
    location = response.headers["Location"]
    assert location.startswith("/login?next="), location
    return location


def log_in_at(browser, login_location: str, user) -> str:
    """Fill in the login form the server sent us to; return where it sends us next."""
    page = browser.get(login_location)
    answer = browser.post(
        login_location,
        data={"email": user.email, "password": user.password, "csrf_token": csrf_token(page.data)},
    )
    assert answer.status_code == 302, answer.data
    return answer.headers["Location"]


def id_token_claims(browser, app_client, response) -> dict:
    assert response.status_code == 302, response.data
    location = response.headers["Location"]
    assert location.startswith(app_client.redirect_uri + "?"), f"no code: sent to {location}"
    code = query_of(location)["code"]
    body = exchange_code(browser, app_client, code).get_json()
    return decode_jwt(browser, body["id_token"])[1]


# --- prompt=none -------------------------------------------------------------------------------


def test_prompt_none_without_a_session_is_login_required(client, user, confidential_client):
    """login_required: The Authorization Server requires End-User authentication. This error MAY
    be returned when the prompt parameter value in the Authentication Request is none —
    Core §3.1.2.6; The Authorization Server MUST NOT display any authentication or consent user
    interface pages — §3.1.2.1."""
    response = client.get(authorize_url(confidential_client, prompt="none"))
    query = assert_redirect_error(response, confidential_client.redirect_uri, "login_required")
    assert query["state"] == "state-123"
    assert "code" not in query


def test_prompt_none_without_consent_is_consent_required(logged_in, confidential_client):
    """consent_required: The Authorization Server requires End-User consent. This error MAY be
    returned when the prompt parameter value in the Authentication Request is none —
    Core §3.1.2.6; no consent page is shown."""
    response = logged_in.get(authorize_url(confidential_client, prompt="none"))
    query = assert_redirect_error(response, confidential_client.redirect_uri, "consent_required")
    assert query["state"] == "state-123"


def test_prompt_none_for_scopes_beyond_the_consent_is_consent_required(
    logged_in, confidential_client
):
    get_code(logged_in, confidential_client, scope="openid profile")
    response = logged_in.get(
        authorize_url(confidential_client, scope="openid profile email", prompt="none")
    )
    assert_redirect_error(response, confidential_client.redirect_uri, "consent_required")


def test_prompt_none_with_session_and_consent_issues_a_code_silently(
    logged_in, confidential_client
):
    """prompt=none: the request succeeds without any page when the user is authenticated and
    has consented — Core §3.1.2.1."""
    get_code(logged_in, confidential_client)
    response = logged_in.get(authorize_url(confidential_client, prompt="none"))
    assert response.status_code == 302
    query = query_of(response.headers["Location"])
    assert query["code"] and query["state"] == "state-123"
    assert exchange_code(logged_in, confidential_client, query["code"]).status_code == 200


@pytest.mark.parametrize("prompt", ["none login", "consent none"])
def test_prompt_none_with_another_value_is_invalid_request(logged_in, confidential_client, prompt):
    """If this parameter contains none with any other value, an error is returned — Core
    §3.1.2.1 (invalid_request, §3.1.2.6)."""
    response = logged_in.get(authorize_url(confidential_client, prompt=prompt))
    assert_redirect_error(response, confidential_client.redirect_uri, "invalid_request")


# --- prompt=login ------------------------------------------------------------------------------


def test_prompt_login_reauthenticates_even_with_a_session(
    browser, user, confidential_client, fake_clock
):
    """login: The Authorization Server SHOULD prompt the End-User for reauthentication —
    Core §3.1.2.1; the new authentication is the ID token's auth_time."""
    first_login = fake_clock.timestamp()
    get_code(browser, confidential_client)
    fake_clock.advance(500)
    url = authorize_url(confidential_client, prompt="login")
    back = log_in_at(browser, assert_sent_to_login(browser.get(url)), user)
    # Back at the authorization endpoint, without prompt=login (or it would loop).
    assert back.startswith("/oauth/authorize?")
    assert "prompt" not in parse_qs(urlsplit(back).query)
    claims = id_token_claims(browser, confidential_client, browser.get(back))
    assert claims["auth_time"] == first_login + 500


def test_prompt_login_keeps_other_prompt_values(browser, user, confidential_client):
    get_code(browser, confidential_client)
    url = authorize_url(confidential_client, prompt="login consent")
    back = log_in_at(browser, assert_sent_to_login(browser.get(url)), user)
    assert parse_qs(urlsplit(back).query)["prompt"] == ["consent"]
    assert browser.get(back).status_code == 200  # the consent page, as prompt=consent asks


# --- max_age -----------------------------------------------------------------------------------


def test_max_age_within_the_limit_needs_no_new_login(browser, confidential_client, fake_clock):
    """max_age: ... If the elapsed time is greater than this value, the OP MUST attempt to
    actively re-authenticate — Core §3.1.2.1; within it, no login; auth_time is REQUIRED in the
    ID token when max_age was requested — Core §2."""
    logged_in_at = fake_clock.timestamp()
    get_code(browser, confidential_client)
    fake_clock.advance(299)
    response = browser.get(authorize_url(confidential_client, max_age="300", nonce="m-1"))
    claims = id_token_claims(browser, confidential_client, response)
    assert claims["auth_time"] == logged_in_at


def test_max_age_exceeded_forces_a_login(browser, user, confidential_client, fake_clock):
    """Core §3.1.2.1: elapsed time greater than max_age, so the OP re-authenticates, then the
    request goes on and its ID token carries the new auth_time."""
    get_code(browser, confidential_client)
    fake_clock.advance(301)
    url = authorize_url(confidential_client, max_age="300")
    back = log_in_at(browser, assert_sent_to_login(browser.get(url)), user)
    claims = id_token_claims(browser, confidential_client, browser.get(back))
    assert claims["auth_time"] == fake_clock.timestamp()


def test_max_age_zero_forces_a_login_and_then_completes(
    browser, user, confidential_client, fake_clock
):
    """max_age=0 is a login now (Core §3.1.2.1, like prompt=login): after that login the request
    must complete, not send the user back to the login page for ever."""
    get_code(browser, confidential_client)
    url = authorize_url(confidential_client, max_age="0")
    back = log_in_at(browser, assert_sent_to_login(browser.get(url)), user)
    claims = id_token_claims(browser, confidential_client, browser.get(back))
    assert claims["auth_time"] == fake_clock.timestamp()


def test_max_age_exceeded_with_prompt_none_is_login_required(
    browser, confidential_client, fake_clock
):
    """prompt=none forbids the login page, so a stale session is login_required — Core
    §3.1.2.6."""
    get_code(browser, confidential_client)
    fake_clock.advance(61)
    response = browser.get(authorize_url(confidential_client, max_age="60", prompt="none"))
    assert_redirect_error(response, confidential_client.redirect_uri, "login_required")


@pytest.mark.parametrize("max_age", ["-1", "soon", "1.5", ""])
def test_a_malformed_max_age_is_invalid_request(logged_in, confidential_client, max_age):
    """max_age is a number of seconds — Core §3.1.2.1; anything else is invalid_request."""
    response = logged_in.get(authorize_url(confidential_client, max_age=max_age))
    assert_redirect_error(response, confidential_client.redirect_uri, "invalid_request")


# --- the login page's round trip ---------------------------------------------------------------
# The login page's next is the request without prompt=login, max_age and id_token_hint (or the
# login would loop); what they ask must survive it, kept by the server rather than in the URL.


def next_of(login_location: str) -> str:
    return query_of(login_location)["next"]


REAUTHENTICATIONS = {
    "prompt_login": ({"prompt": "login"}, 0),
    "max_age_0": ({"max_age": "0"}, 0),
    "max_age_elapsed": ({"max_age": "300"}, 301),
}


@pytest.mark.parametrize(("params", "later"), REAUTHENTICATIONS.values(), ids=REAUTHENTICATIONS)
def test_opening_the_login_pages_next_without_logging_in_asks_again(
    browser, user, confidential_client, fake_clock, params, later
):
    """prompt=login / max_age: the OP MUST attempt to actively re-authenticate — Core §3.1.2.1.
    Skipping the login page and opening its next directly is not a re-authentication: no code
    (whose ID token would carry the old auth_time), the login page again."""
    get_code(browser, confidential_client)
    fake_clock.advance(later)
    login_location = assert_sent_to_login(browser.get(authorize_url(confidential_client, **params)))
    next_url = next_of(login_location)
    assert next_url.startswith("/oauth/authorize?")
    again = assert_sent_to_login(browser.get(next_url))
    assert next_of(again) == next_url
    assert_sent_to_login(browser.get(next_url))  # as often as it is tried

    # The login the page asks for completes the request, with the new auth_time.
    fake_clock.advance(7)
    back = log_in_at(browser, again, user)
    assert back == next_url
    claims = id_token_claims(browser, confidential_client, browser.get(back))
    assert claims["auth_time"] == fake_clock.timestamp()


def test_a_login_made_for_one_request_does_not_answer_another(
    browser, user, confidential_client, fake_clock
):
    """Each prompt=login request gets its own re-authentication (Core §3.1.2.1): the login made
    for the first does not let the second's next through."""
    get_code(browser, confidential_client)
    first = assert_sent_to_login(
        browser.get(authorize_url(confidential_client, prompt="login", state="first"))
    )
    second = assert_sent_to_login(
        browser.get(authorize_url(confidential_client, prompt="login", state="second"))
    )
    back = log_in_at(browser, first, user)
    assert_sent_to_login(browser.get(next_of(second)))
    assert query_of(browser.get(back).headers["Location"])["state"] == "first"


def test_after_the_login_the_consent_page_answers_without_another_login(
    browser, user, confidential_client, fake_clock
):
    """prompt=login consent: one login, then the consent page, whose answer issues the code
    (its form posts back to the same address); auth_time is that login's."""
    get_code(browser, confidential_client)
    fake_clock.advance(500)
    url = authorize_url(confidential_client, prompt="login consent")
    back = log_in_at(browser, assert_sent_to_login(browser.get(url)), user)
    logged_in_at = fake_clock.timestamp()
    fake_clock.advance(5)
    claims = id_token_claims(browser, confidential_client, consent(browser, back))
    assert claims["auth_time"] == logged_in_at


def test_prompt_login_asks_again_on_every_request(browser, user, confidential_client):
    """The login made for one prompt=login request counts once: the app's next prompt=login
    request asks again (Core §3.1.2.1)."""
    get_code(browser, confidential_client)
    url = authorize_url(confidential_client, prompt="login")
    back = log_in_at(browser, assert_sent_to_login(browser.get(url)), user)
    assert "code" in query_of(browser.get(back).headers["Location"])
    assert_sent_to_login(browser.get(url))
