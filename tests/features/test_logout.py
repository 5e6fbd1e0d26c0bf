"""Logging out: POST /logout (with "revoke tokens"), and OpenID Connect RP-Initiated Logout 1.0 at
the end_session_endpoint (/oauth/logout)."""

from __future__ import annotations

import base64
import html
import re
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from joserfc import jwt
from joserfc.jwk import RSAKey

from authserver import clock
from authserver.extensions import db
from authserver.services.clients import create_client
from tests import factories
from tests.factories import ClientInfo, UserInfo
from tests.helpers import (
    assert_oauth_error,
    basic_auth,
    csrf_token,
    decode_jwt,
    exchange_code,
    get_code,
    login,
    refresh,
)

APPS = "/account/apps"
BYE = "https://app.example.com/logged-out"
OTHER_BYE = "https://other.example.com/bye"


# --- helpers ------------------------------------------------------------------------------------


def make_rp(app: Flask, name: str = "Example App", logout_uris: list[str] | None = None):
    with app.app_context():
        client, secret = create_client(
            name=name,
            redirect_uris=[factories.REDIRECT_URI],
            scope=factories.ALL_SCOPES,
            post_logout_redirect_uris=[BYE] if logout_uris is None else logout_uris,
        )
        db.session.commit()
        return ClientInfo(client.id, client.client_id, secret, factories.REDIRECT_URI, "")


@pytest.fixture
def rp(app: Flask) -> ClientInfo:
    """A relying party that registered BYE as its post_logout_redirect_uri."""
    return make_rp(app)


@pytest.fixture
def other_rp(app: Flask) -> ClientInfo:
    return make_rp(app, name="Other App", logout_uris=[OTHER_BYE])


def browser_for(app: Flask, person: UserInfo) -> FlaskClient:
    browser = app.test_client()
    assert login(browser, person.email, person.password).status_code == 302
    return browser


def sign_in(browser: FlaskClient, app_client: ClientInfo) -> dict:
    """The RP's sign-in: code flow with openid; its tokens (id_token included)."""
    code, _ = get_code(browser, app_client, scope="openid profile offline_access")
    response = exchange_code(browser, app_client, code)
    assert response.status_code == 200, response.data
    return response.get_json()


def is_logged_in(browser: FlaskClient) -> bool:
    response = browser.get(APPS)
    if response.status_code == 200:
        return True
    assert response.status_code == 302 and response.headers["Location"].startswith("/login")
    return False


def refresh_ok(app: Flask, app_client: ClientInfo, refresh_token: str) -> bool:
    response = refresh(app.test_client(), app_client, refresh_token)
    if response.status_code == 200:
        return True
    assert_oauth_error(response, "invalid_grant")
    return False


def access_active(app: Flask, app_client: ClientInfo, access_token: str) -> bool:
    response = app.test_client().post(
        "/oauth/introspect",
        data={"token": access_token},
        headers=basic_auth(app_client.client_id, app_client.secret),
    )
    assert response.status_code == 200
    return response.get_json()["active"]


def end_session(browser: FlaskClient, method: str = "GET", **params: str):
    if method == "GET":
        return browser.get("/oauth/logout?" + urlencode(params))
    return browser.post("/oauth/logout", data=params)


def assert_confirmation_page(response) -> str:
    """RP-Initiated Logout §6: without a valid id_token_hint, ask the user (CSRF-protected)."""
    assert response.status_code == 200, response.status_code
    assert "Location" not in response.headers
    page = response.get_data(as_text=True)
    assert 'action="/oauth/logout"' in page
    assert 'name="confirm" value="yes"' in page
    csrf_token(page)  # the form has one
    return page


def hidden_fields(page: str) -> dict[str, str]:
    return {
        name: html.unescape(value)
        for name, value in re.findall(r'type="hidden" name="([^"]+)" value="([^"]*)"', page)
    }


def confirm(browser: FlaskClient, page: str, revoke_tokens: bool = False, with_csrf: bool = True):
    data = {k: v for k, v in hidden_fields(page).items() if k != "csrf_token"}
    data["confirm"] = "yes"
    if with_csrf:
        data["csrf_token"] = csrf_token(page)
    if revoke_tokens:
        data["revoke_tokens"] = "y"
    return browser.post("/oauth/logout", data=data)


def post_logout(browser: FlaskClient, revoke_tokens: bool, with_csrf: bool = True):
    data = {"csrf_token": csrf_token(browser.get(APPS).data)} if with_csrf else {}
    if revoke_tokens:
        data["revoke_tokens"] = "y"
    return browser.post("/logout", data=data)


# --- POST /logout ------------------------------------------------------------------------------


def test_post_logout_ends_the_session(logged_in):
    response = post_logout(logged_in, revoke_tokens=False)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert not is_logged_in(logged_in)


def test_post_logout_without_csrf_token_keeps_the_session(logged_in):
    """A cross-site form cannot log the user out (and so cannot revoke their apps' tokens)."""
    post_logout(logged_in, revoke_tokens=True, with_csrf=False)
    assert is_logged_in(logged_in)


def test_post_logout_with_the_box_revokes_tokens_apps_got_in_this_session(
    app, logged_in, confidential_client
):
    """The user ticks "revoke_tokens": the refresh tokens (and with them the access tokens) apps
    received during this session are revoked (RFC 7009 §2.1 semantics)."""
    tokens = sign_in(logged_in, confidential_client)
    newer = refresh(app.test_client(), confidential_client, tokens["refresh_token"]).get_json()
    post_logout(logged_in, revoke_tokens=True)
    assert not is_logged_in(logged_in)
    assert not refresh_ok(app, confidential_client, newer["refresh_token"])
    assert not access_active(app, confidential_client, tokens["access_token"])
    assert not access_active(app, confidential_client, newer["access_token"])


def test_post_logout_without_the_box_keeps_the_tokens(app, logged_in, confidential_client):
    tokens = sign_in(logged_in, confidential_client)
    post_logout(logged_in, revoke_tokens=False)
    assert not is_logged_in(logged_in)
    assert access_active(app, confidential_client, tokens["access_token"])
    assert refresh_ok(app, confidential_client, tokens["refresh_token"])


def test_post_logout_with_the_box_spares_other_sessions(app, user, confidential_client, rp):
    earlier = browser_for(app, user)
    kept = sign_in(earlier, rp)
    this = browser_for(app, user)
    gone = sign_in(this, confidential_client)
    post_logout(this, revoke_tokens=True)
    assert not refresh_ok(app, confidential_client, gone["refresh_token"])
    assert refresh_ok(app, rp, kept["refresh_token"])
    assert is_logged_in(earlier)


# --- RP-initiated logout with a valid id_token_hint -------------------------------------------


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_valid_hint_logs_out_and_returns_to_the_registered_uri_with_state(app, user, rp, method):
    """The OP MUST include the state value if the RP's initial Logout Request included state —
    RP-Initiated Logout §3; post_logout_redirect_uri, registered, with a valid id_token_hint:
    redirected there after logout (§2, §3); GET and POST are both supported (§2)."""
    browser = browser_for(app, user)
    tokens = sign_in(browser, rp)
    response = end_session(
        browser,
        method,
        id_token_hint=tokens["id_token"],
        post_logout_redirect_uri=BYE,
        state="af0ifjsldkj",
    )
    assert response.status_code == 302
    assert response.headers["Location"] == f"{BYE}?state=af0ifjsldkj"
    assert not is_logged_in(browser)
    # Logging out alone is not revoking: the RP keeps its tokens unless the user asked.
    assert refresh_ok(app, rp, tokens["refresh_token"])


def test_valid_hint_without_a_redirect_uri_shows_the_logged_out_page(app, user, rp):
    browser = browser_for(app, user)
    tokens = sign_in(browser, rp)
    response = end_session(browser, id_token_hint=tokens["id_token"], state="s")
    assert response.status_code == 200
    assert "You are logged out" in response.get_data(as_text=True)
    assert not is_logged_in(browser)


def test_client_id_with_a_matching_hint_is_accepted(app, user, rp):
    """When both client_id and id_token_hint are present, the OP MUST verify that the Client
    Identifier matches the one used as the audience of the ID Token — RP-Initiated Logout §2."""
    browser = browser_for(app, user)
    tokens = sign_in(browser, rp)
    response = end_session(
        browser,
        id_token_hint=tokens["id_token"],
        client_id=rp.client_id,
        post_logout_redirect_uri=BYE,
    )
    assert response.status_code == 302
    assert response.headers["Location"] == BYE


@pytest.mark.parametrize(
    "uri",
    [
        "https://evil.example/steal",
        OTHER_BYE,  # registered, but by another client
        BYE + "/",
        BYE.upper(),
        BYE + "?next=https://evil.example",
        "https://app.example.com/callback",  # a redirect_uri, not a post-logout one
    ],
)
def test_an_unregistered_post_logout_uri_is_never_redirected_to(app, user, rp, other_rp, uri):
    """The OP MUST NOT perform post-logout redirection if the post_logout_redirect_uri value
    supplied does not exactly match one of the previously registered post_logout_redirect_uris
    values — RP-Initiated Logout §3."""
    browser = browser_for(app, user)
    tokens = sign_in(browser, rp)
    response = end_session(
        browser, id_token_hint=tokens["id_token"], post_logout_redirect_uri=uri, state="s"
    )
    assert "Location" not in response.headers, response.headers.get("Location")
    # The hint is valid, so the logout itself happens; only the redirection is withheld.
    assert response.status_code == 200
    assert "You are logged out" in response.get_data(as_text=True)
    assert not is_logged_in(browser)


def test_an_expired_id_token_is_still_a_valid_hint(app, user, rp, fake_clock):
    """The OP SHOULD accept ID Tokens when the RP identified by the ID Token's aud claim ... had
    a recent session at the OP, even when the exp time has passed — RP-Initiated Logout §2."""
    browser = browser_for(app, user)
    tokens = sign_in(browser, rp)
    fake_clock.advance(601)
    response = end_session(browser, id_token_hint=tokens["id_token"], post_logout_redirect_uri=BYE)
    assert response.status_code == 302
    assert response.headers["Location"] == BYE


def assert_offered_the_way_back(response, href: str, host: str, app_name: str = "Example App"):
    """The logged-out page, no redirect (RFC 9700 §4.11.2: the request alone vouches for
    nothing), and a link back to the app that says which host it goes to."""
    assert response.status_code == 200, response.status_code
    assert "Location" not in response.headers
    page = response.get_data(as_text=True)
    assert "You are logged out" in page
    links = {html.unescape(target): html.unescape(text) for target, text in LINK.findall(page)}
    assert href in links, links
    assert app_name in links[href] and host in links[href]


LINK = re.compile(r'<a class="button primary" href="([^"]+)">([^<]+)</a>')


def test_a_user_already_logged_out_is_offered_a_link_back(app, user, rp):
    """Logout is idempotent: the RP's request completes even if the OP session is gone — but
    with no session to end nothing vouches for the redirect, so the way back is a link naming
    its host, with state (RP-Initiated Logout §3), never an automatic redirect."""
    browser = browser_for(app, user)
    tokens = sign_in(browser, rp)
    post_logout(browser, revoke_tokens=False)
    response = end_session(
        browser, id_token_hint=tokens["id_token"], post_logout_redirect_uri=BYE, state="x"
    )
    assert_offered_the_way_back(response, f"{BYE}?state=x", "app.example.com")


@pytest.mark.parametrize("method", ["GET", "POST"])
def test_a_visitor_with_no_session_is_never_redirected_on_an_id_token(
    app, user, rp, fake_clock, method
):
    """RFC 9700 §4.11.2: anyone holding an ID token of a client (expired too) must not be able
    to bounce strangers off this server to the client's post_logout_redirect_uri."""
    tokens = sign_in(browser_for(app, user), rp)
    fake_clock.advance(3600)  # long expired: still a valid hint (§2), still no redirect
    stranger = app.test_client()
    response = end_session(
        stranger,
        method,
        id_token_hint=tokens["id_token"],
        post_logout_redirect_uri=BYE,
        state="s<1>",
        confirm="yes",
    )
    assert_offered_the_way_back(response, f"{BYE}?state=s%3C1%3E", "app.example.com")


def test_a_hint_from_an_earlier_session_of_the_same_person_asks_for_confirmation(app, user, rp):
    """RP-Initiated Logout §2 (the hint's sid must be a current session) and §6: an ID token
    from a session already ended does not vouch for ending the person's current one."""
    browser = browser_for(app, user)
    old_tokens = sign_in(browser, rp)
    post_logout(browser, revoke_tokens=False)
    assert login(browser, user.email, user.password).status_code == 302
    response = end_session(
        browser, id_token_hint=old_tokens["id_token"], post_logout_redirect_uri=BYE, state="o"
    )
    page = assert_confirmation_page(response)
    assert "app.example.com" in page  # where confirming will send them
    assert is_logged_in(browser)
    # The person confirms: logged out, and back to the app as its request asked.
    answer = confirm(browser, page)
    assert answer.status_code == 302
    assert answer.headers["Location"] == f"{BYE}?state=o"
    assert not is_logged_in(browser)


def test_a_hint_from_this_session_still_logs_out_at_once_after_a_second_login_elsewhere(
    app, user, rp
):
    """The person's other browser logging in does not change which session this hint is from."""
    browser = browser_for(app, user)
    tokens = sign_in(browser, rp)
    browser_for(app, user)
    response = end_session(browser, id_token_hint=tokens["id_token"], post_logout_redirect_uri=BYE)
    assert response.status_code == 302
    assert response.headers["Location"] == BYE
    assert not is_logged_in(browser)


# --- invalid requests: no redirect, no logout --------------------------------------------------


def test_client_id_that_is_not_the_hints_audience_is_refused(app, user, rp, other_rp):
    """RP-Initiated Logout §2 (client_id must match aud); §4: When the OP detects errors in the
    RP-Initiated Logout request, the OP MUST not perform post-logout redirection."""
    browser = browser_for(app, user)
    tokens = sign_in(browser, rp)
    response = end_session(
        browser,
        id_token_hint=tokens["id_token"],
        client_id=other_rp.client_id,
        post_logout_redirect_uri=OTHER_BYE,
    )
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert is_logged_in(browser)


def _forged_hint(app: Flask, user: UserInfo, rp: ClientInfo, real_kid: str) -> str:
    """An ID token with the right claims and kid, signed by a key that is not the server's."""
    key = RSAKey.generate_key(2048, private=True)
    now = int(clock.now().timestamp())
    claims = {
        "iss": "http://127.0.0.1:5000",
        "sub": user.subject,
        "aud": rp.client_id,
        "iat": now,
        "exp": now + 600,
    }
    return jwt.encode({"alg": "RS256", "kid": real_kid}, claims, key, algorithms=["RS256"])


@pytest.mark.parametrize("kind", ["garbage", "forged", "hs256", "unsigned"])
def test_an_id_token_hint_the_op_did_not_issue_is_refused(app, user, rp, kind):
    """When an id_token_hint parameter is present, the OP MUST validate that it was the issuer of
    the ID Token — RP-Initiated Logout §2; on error no redirection — §4."""
    browser = browser_for(app, user)
    tokens = sign_in(browser, rp)
    header, claims = decode_jwt(browser, tokens["id_token"])
    if kind == "garbage":
        hint = "not-a-jwt"
    elif kind == "forged":
        hint = _forged_hint(app, user, rp, header["kid"])
    elif kind == "hs256":
        from joserfc.jwk import OctKey

        hint = jwt.encode({"alg": "HS256"}, claims, OctKey.import_key("s" * 32))
    else:  # alg "none", the claims untouched
        body = tokens["id_token"].split(".")[1]
        hint = base64.urlsafe_b64encode(b'{"alg":"none"}').rstrip(b"=").decode() + f".{body}."
    response = end_session(browser, id_token_hint=hint, post_logout_redirect_uri=BYE)
    assert response.status_code == 400
    assert "Location" not in response.headers
    assert is_logged_in(browser)


def test_a_hint_for_another_user_asks_for_confirmation(app, user, rp):
    """A hint naming someone else does not vouch for this user's logout (§6): ask first."""
    with app.app_context():
        someone = factories.make_user(email="someone@example.com")
    other_browser = browser_for(app, someone)
    their_tokens = sign_in(other_browser, rp)
    browser = browser_for(app, user)
    response = end_session(
        browser, id_token_hint=their_tokens["id_token"], post_logout_redirect_uri=BYE
    )
    assert_confirmation_page(response)
    assert is_logged_in(browser)


# --- without a hint: the user confirms ---------------------------------------------------------


def test_without_a_hint_the_user_is_asked_to_confirm(app, user, rp):
    """Logout requests without a valid id_token_hint value are a potential means of denial of
    service; therefore, OPs should obtain explicit confirmation from the End-User before acting
    upon them — RP-Initiated Logout §6."""
    browser = browser_for(app, user)
    response = end_session(
        browser, client_id=rp.client_id, post_logout_redirect_uri=BYE, state="st-1"
    )
    page = assert_confirmation_page(response)
    assert "Example App" in page
    assert hidden_fields(page)["state"] == "st-1"
    assert hidden_fields(page)["post_logout_redirect_uri"] == BYE
    assert is_logged_in(browser)


def test_confirmation_without_csrf_token_does_not_log_out(app, user, rp):
    """The confirmation is a CSRF-protected form: a forged POST changes nothing."""
    browser = browser_for(app, user)
    page = assert_confirmation_page(end_session(browser, client_id=rp.client_id))
    response = confirm(browser, page, with_csrf=False)
    assert_confirmation_page(response)
    assert is_logged_in(browser)
    # A POST straight to the endpoint with confirm=yes but no token is the same.
    assert_confirmation_page(browser.post("/oauth/logout", data={"confirm": "yes"}))
    assert is_logged_in(browser)


def test_confirming_logs_out(app, user, rp):
    """After confirming, the session ends; without a hint the OP MUST NOT redirect unless it
    has other means of confirming the legitimacy of the target (§3) — if it does, it is the
    registered URI, with state."""
    browser = browser_for(app, user)
    page = assert_confirmation_page(
        end_session(browser, client_id=rp.client_id, post_logout_redirect_uri=BYE, state="s2")
    )
    response = confirm(browser, page)
    assert not is_logged_in(browser)
    if response.status_code == 302:
        assert response.headers["Location"] == f"{BYE}?state=s2"
    else:
        assert response.status_code == 200
        assert "You are logged out" in response.get_data(as_text=True)


def test_confirming_without_a_hint_never_redirects_to_an_unregistered_uri(app, user, rp):
    browser = browser_for(app, user)
    page = assert_confirmation_page(
        end_session(
            browser,
            client_id=rp.client_id,
            post_logout_redirect_uri="https://evil.example/x",
        )
    )
    response = confirm(browser, page)
    assert "Location" not in response.headers
    assert not is_logged_in(browser)


def test_confirming_with_the_box_revokes_this_sessions_tokens(app, user, rp, confidential_client):
    browser = browser_for(app, user)
    first = sign_in(browser, rp)
    second = sign_in(browser, confidential_client)
    page = assert_confirmation_page(end_session(browser, client_id=rp.client_id))
    confirm(browser, page, revoke_tokens=True)
    assert not is_logged_in(browser)
    assert not refresh_ok(app, rp, first["refresh_token"])
    assert not refresh_ok(app, confidential_client, second["refresh_token"])


def test_confirming_without_the_box_keeps_the_tokens(app, user, rp):
    browser = browser_for(app, user)
    tokens = sign_in(browser, rp)
    page = assert_confirmation_page(end_session(browser, client_id=rp.client_id))
    confirm(browser, page, revoke_tokens=False)
    assert not is_logged_in(browser)
    assert refresh_ok(app, rp, tokens["refresh_token"])


def test_anonymous_visitor_without_a_hint_sees_the_logged_out_page(client):
    response = end_session(client, post_logout_redirect_uri=BYE)
    assert response.status_code == 200
    assert "Location" not in response.headers
    assert "You are logged out" in response.get_data(as_text=True)
