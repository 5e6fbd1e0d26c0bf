"""id_token_hint at the authorization endpoint (OIDC Core §3.1.2.1) and at logout
(RP-Initiated Logout §2): accepted only if it is an ID token this issuer gave a client."""

from __future__ import annotations

from urllib.parse import urlencode

import pytest

from authserver.security.signing import sign_jwt
from authserver.services.keys import active_key, private_key
from tests import factories
from tests.helpers import (
    assert_redirect_error,
    consent,
    csrf_token,
    decode_jwt,
    exchange_code,
    get_code,
    login,
    query_of,
)
from tests.helpers import authorize_url as url_for_authorize

ISSUER = "http://127.0.0.1:5000"


def sign_in(browser, app_client) -> dict:
    code, _ = get_code(browser, app_client, scope="openid profile")
    response = exchange_code(browser, app_client, code)
    assert response.status_code == 200, response.data
    return response.get_json()


def signed_by_us(app, claims: dict, typ: str = "JWT") -> str:
    """A JWT with our active key: what we would sign, with whatever claims a test needs."""
    with app.app_context():
        return sign_jwt(claims, private_key(active_key()), typ=typ)


def is_logged_in(browser) -> bool:
    return browser.get("/account/apps").status_code == 200


def end_session(browser, **params: str):
    return browser.get("/oauth/logout?" + urlencode(params))


@pytest.fixture
def someone_else(app) -> factories.UserInfo:
    with app.app_context():
        return factories.make_user(email="someone@example.com")


def their_id_token(app, person, app_client) -> str:
    browser = app.test_client()
    assert login(browser, person.email, person.password).status_code == 302
    return sign_in(browser, app_client)["id_token"]


# --- logout ------------------------------------------------------------------------------------


def test_an_access_token_is_no_id_token_hint_at_logout(logged_in, confidential_client):
    """id_token_hint: ID Token previously issued by the OP to the RP — RP-Initiated Logout §2;
    an access token (typ at+jwt, RFC 9068 §2.1) is not one, though we signed it."""
    tokens = sign_in(logged_in, confidential_client)
    response = end_session(logged_in, id_token_hint=tokens["access_token"])
    assert response.status_code == 400
    assert is_logged_in(logged_in)


@pytest.mark.parametrize(
    "change",
    [{"iss": "https://evil.example"}, {"aud": "no-such-client"}, {"aud": None}],
    ids=["other_issuer", "unknown_audience", "no_audience"],
)
def test_a_hint_not_claiming_our_issuer_and_a_client_of_ours_is_refused_at_logout(
    app, logged_in, user, confidential_client, change
):
    """The OP MUST validate that it was the issuer of the ID Token — RP-Initiated Logout §2:
    iss is ours (Core §2) and aud names a client we registered."""
    claims = {"iss": ISSUER, "sub": user.subject, "aud": confidential_client.client_id}
    claims.update(change)
    claims = {k: v for k, v in claims.items() if v is not None}
    response = end_session(logged_in, id_token_hint=signed_by_us(app, claims))
    assert response.status_code == 400
    assert is_logged_in(logged_in)


def current_sid(browser) -> str:
    with browser.session_transaction() as cookie:
        return cookie["sid"]


def test_an_expired_id_token_is_a_good_hint_at_logout(app, logged_in, user, confidential_client):
    """The OP SHOULD accept ID Tokens when the RP identified by the ID Token's aud claim and/or
    sid claim has a current session or had a recent session at the OP, even when the exp time
    has passed — RP-Initiated Logout §2."""
    claims = {
        "iss": ISSUER,
        "sub": user.subject,
        "aud": confidential_client.client_id,
        "sid": current_sid(logged_in),
        "iat": 1_000_000,
        "exp": 1_000_600,
    }
    response = end_session(logged_in, id_token_hint=signed_by_us(app, claims))
    assert response.status_code == 200
    assert "Log out of Authserver?" not in response.get_data(as_text=True)
    assert not is_logged_in(logged_in)


@pytest.mark.parametrize("sid", [None, "an-earlier-session"], ids=["no_sid", "other_sid"])
def test_a_hint_not_from_this_login_session_asks_for_confirmation(
    app, logged_in, user, confidential_client, sid
):
    """The OP SHOULD accept ID Tokens when the RP identified by the ID Token's ... sid claim has
    a current session — RP-Initiated Logout §2: the same sub is not enough; a token without sid,
    or from another session, does not vouch for ending this one (§6: ask the End-User)."""
    claims = {"iss": ISSUER, "sub": user.subject, "aud": confidential_client.client_id}
    if sid is not None:
        claims["sid"] = sid
    response = end_session(logged_in, id_token_hint=signed_by_us(app, claims))
    assert response.status_code == 200
    assert "Log out of Authserver?" in response.get_data(as_text=True)
    assert is_logged_in(logged_in)


# --- the authorization endpoint ----------------------------------------------------------------


def test_prompt_none_with_a_hint_for_someone_else_is_login_required(
    app, logged_in, someone_else, confidential_client
):
    """If the End-User identified by the ID Token is logged in or is logged in by the request,
    then the Authorization Server returns a positive response; otherwise, it SHOULD return an
    error, such as login_required — OIDC Core §3.1.2.1 (id_token_hint)."""
    hint = their_id_token(app, someone_else, confidential_client)
    get_code(logged_in, confidential_client)  # consent, so only the hint stands in the way
    response = logged_in.get(
        url_for_authorize(confidential_client, prompt="none", id_token_hint=hint)
    )
    query = assert_redirect_error(response, confidential_client.redirect_uri, "login_required")
    assert "code" not in query


def test_prompt_none_with_the_users_own_expired_hint_answers_with_a_code(
    app, logged_in, user, confidential_client
):
    """Core §3.1.2.1: the hint names the logged-in End-User, so a positive response; an expired
    ID token is still a hint (exp has passed, the identity has not changed)."""
    get_code(logged_in, confidential_client)
    claims = {
        "iss": ISSUER,
        "sub": user.subject,
        "aud": confidential_client.client_id,
        "iat": 1_000_000,
        "exp": 1_000_600,
    }
    url = url_for_authorize(
        confidential_client, prompt="none", id_token_hint=signed_by_us(app, claims)
    )
    response = logged_in.get(url)
    assert response.status_code == 302
    assert "code" in query_of(response.headers["Location"])


@pytest.mark.parametrize("kind", ["garbage", "access_token", "other_issuer"])
def test_prompt_none_with_a_hint_that_is_no_id_token_of_ours_is_invalid_request(
    app, logged_in, user, confidential_client, kind
):
    """invalid_request: The request ... includes an invalid parameter value — RFC 6749 §4.1.2.1;
    a hint we did not issue as an ID token proves nothing (Core §3.1.2.1)."""
    tokens = sign_in(logged_in, confidential_client)
    hint = {
        "garbage": "WyJhbGciXQ.e30.c2ln",
        "access_token": tokens["access_token"],
        "other_issuer": signed_by_us(
            app, {"iss": "https://evil.example", "sub": user.subject, "aud": "x"}
        ),
    }[kind]
    response = logged_in.get(
        url_for_authorize(confidential_client, prompt="none", id_token_hint=hint)
    )
    assert_redirect_error(response, confidential_client.redirect_uri, "invalid_request")


def log_in_at(browser, login_location: str, person) -> str:
    """Fill in the login form the server sent us to; return where it sends us next."""
    page = browser.get(login_location)
    answer = browser.post(
        login_location,
        data={
            "email": person.email,
            "password": person.password,
            "csrf_token": csrf_token(page.data),
        },
    )
    assert answer.status_code == 302, answer.data
    return answer.headers["Location"]


def sent_to_login(response) -> str:
    assert response.status_code == 302, response.data
    location = response.headers["Location"]
    assert location.startswith("/login?"), location
    return location


def test_a_hint_for_someone_else_sends_the_person_to_log_in_as_them(
    app, logged_in, user, someone_else, confidential_client
):
    """Core §3.1.2.1: the RP believes someone else is signed in. We ask who is here (like
    prompt=login); the person the hint names logs in, and the request completes for them."""
    hint = their_id_token(app, someone_else, confidential_client)
    get_code(logged_in, confidential_client)
    login_location = sent_to_login(
        logged_in.get(url_for_authorize(confidential_client, id_token_hint=hint))
    )
    back = log_in_at(logged_in, login_location, someone_else)
    assert "id_token_hint" not in back  # or it would loop back to the login page
    response = consent(logged_in, back)  # they have not allowed all of this yet
    assert response.status_code == 302
    code = query_of(response.headers["Location"])["code"]
    id_token = exchange_code(logged_in, confidential_client, code).get_json()["id_token"]
    assert decode_jwt(logged_in, id_token)[1]["sub"] == someone_else.subject


def test_logging_in_again_as_someone_other_than_the_hint_names_is_login_required(
    app, logged_in, user, someone_else, confidential_client
):
    """If the End-User identified by the ID Token is logged in or is logged in by the request,
    then the Authorization Server returns a positive response; otherwise, it SHOULD return an
    error, such as login_required — Core §3.1.2.1. No code for the wrong person, and no loop."""
    hint = their_id_token(app, someone_else, confidential_client)
    get_code(logged_in, confidential_client)
    login_location = sent_to_login(
        logged_in.get(url_for_authorize(confidential_client, id_token_hint=hint))
    )
    back = log_in_at(logged_in, login_location, user)
    query = assert_redirect_error(
        logged_in.get(back), confidential_client.redirect_uri, "login_required"
    )
    assert query["state"] == "state-123" and "code" not in query
    # Opening the same address again does not turn the refusal into a code for them.
    sent_to_login(logged_in.get(back))


def test_opening_the_login_pages_next_without_logging_in_asks_again_for_the_hinted_person(
    app, logged_in, user, someone_else, confidential_client
):
    """The hint survives the login page's round trip (kept by the server, not in its next):
    opening next directly while logged in as someone else is no answer for the hinted person."""
    hint = their_id_token(app, someone_else, confidential_client)
    get_code(logged_in, confidential_client)
    login_location = sent_to_login(
        logged_in.get(url_for_authorize(confidential_client, id_token_hint=hint))
    )
    next_url = query_of(login_location)["next"]
    assert "id_token_hint" not in next_url
    assert query_of(sent_to_login(logged_in.get(next_url)))["next"] == next_url
    # Nor is sending it again with a hint of one's own: the remembered one stands.
    own_hint = sign_in(logged_in, confidential_client)["id_token"]
    sent_to_login(logged_in.get(next_url + "&" + urlencode({"id_token_hint": own_hint})))


def test_a_hint_for_the_logged_in_user_changes_nothing(app, logged_in, confidential_client):
    """Core §3.1.2.1: the hint names the logged-in End-User: the request goes on as usual."""
    hint = sign_in(logged_in, confidential_client)["id_token"]
    url = url_for_authorize(confidential_client, scope="openid profile", id_token_hint=hint)
    response = logged_in.get(url)
    assert response.status_code == 302
    assert "code" in query_of(response.headers["Location"])
