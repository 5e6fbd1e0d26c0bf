"""Sign up, sign in again, decline, and answers the demo client must refuse."""

from __future__ import annotations

import base64
import json
import zlib

from flask import Flask
from sqlalchemy import select

from authserver.extensions import db as server_db
from authserver.models import User as ServerUser
from examples.demo_client.models import SignIn, User, db
from tests.demo_client.conftest import (
    DEMO,
    DEMO_EMAIL,
    ISSUER,
    authorize,
    follow,
    form_token,
    sign_in,
    start_sign_in,
)
from tests.helpers import csrf_token, query_of


def _users(demo) -> list[User]:
    with demo.app.app_context():
        users = list(db.session.scalars(select(User).order_by(User.id)))
        db.session.expunge_all()
        return users


def _server_user(app: Flask) -> ServerUser:
    with app.app_context():
        user = server_db.session.scalar(select(ServerUser).where(ServerUser.email == DEMO_EMAIL))
        server_db.session.expunge(user)
        return user


def _session_of(browser) -> dict:
    """The demo client's cookie, decoded (it is signed, not encrypted)."""
    cookie = browser.get_cookie("demo_client_session")
    assert cookie is not None
    payload = cookie.value.lstrip(".").split(".")[0]
    data = base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    if cookie.value.startswith("."):
        data = zlib.decompress(data)
    return json.loads(data)


def test_first_sign_in_creates_a_local_user(app, demo, server_browser):
    browser = demo.browser()
    response = sign_in(browser, server_browser)
    assert response.status_code == 302, response.data
    assert response.headers["Location"] == "/dashboard"

    server_user = _server_user(app)
    [user] = _users(demo)
    assert (user.issuer, user.subject) == (ISSUER, server_user.subject)
    assert (user.email, user.name) == (DEMO_EMAIL, "Demo User")

    page = browser.get("/dashboard")
    assert page.status_code == 200, page.data
    text = page.get_data(as_text=True)
    assert "Your account here is ready" in text
    assert DEMO_EMAIL in text and "Demo User" in text


def test_tokens_stay_on_the_server_the_cookie_holds_only_a_reference(demo, server_browser):
    browser = demo.browser()
    sign_in(browser, server_browser)
    with demo.app.app_context():
        [row] = db.session.scalars(select(SignIn))
        assert row.access_token and row.refresh_token and row.id_token
        tokens = (row.access_token, row.refresh_token, row.id_token)
        sign_in_id = row.id
    cookie = browser.get_cookie("demo_client_session").value
    assert not any(token in cookie for token in tokens)
    assert {k: v for k, v in _session_of(browser).items() if k != "_flashes"} == {
        "sign_in": sign_in_id
    }


def test_second_sign_in_updates_name_and_email_and_keeps_one_user(app, demo, server_browser):
    sign_in(demo.browser(), server_browser)
    [first] = _users(demo)
    with app.app_context():
        user = server_db.session.scalar(select(ServerUser).where(ServerUser.email == DEMO_EMAIL))
        user.name, user.email = "Renamed Person", "renamed@example.com"
        server_db.session.commit()

    browser = demo.browser()
    response = sign_in(browser, server_browser)  # consent already given: no page this time
    assert response.status_code == 302, response.data
    [again] = _users(demo)
    assert again.id == first.id
    assert (again.name, again.email) == ("Renamed Person", "renamed@example.com")
    assert "Welcome back, Renamed Person" in browser.get("/dashboard").get_data(as_text=True)


def test_same_email_from_another_issuer_or_subject_is_another_user(app, demo, server_browser):
    """Users are keyed by (iss, sub), never by email: an email proves nothing on its own."""
    subject = _server_user(app).subject
    with demo.app.app_context():
        db.session.add_all(
            [
                User(issuer="https://other-issuer.example", subject=subject, email=DEMO_EMAIL),
                User(issuer=ISSUER, subject="someone-else", email=DEMO_EMAIL, name="Else"),
            ]
        )
        db.session.commit()

    sign_in(demo.browser(), server_browser)
    users = _users(demo)
    assert len(users) == 3
    other, someone_else, mine = users
    assert (mine.issuer, mine.subject, mine.email) == (ISSUER, subject, DEMO_EMAIL)
    assert (other.issuer, other.name) == ("https://other-issuer.example", None)
    assert (someone_else.subject, someone_else.name) == ("someone-else", "Else")


def test_authorization_request_uses_state_nonce_and_pkce(demo):
    browser = demo.browser()
    location = start_sign_in(browser)
    query = query_of(location)
    assert query["response_type"] == "code"
    assert query["client_id"] == "demo-client"
    assert query["redirect_uri"] == f"{DEMO}/callback"
    assert query["scope"] == "openid profile email offline_access events:read events:write"
    assert query["code_challenge_method"] == "S256"
    assert len(query["code_challenge"]) == 43
    assert len(query["state"]) >= 20 and len(query["nonce"]) >= 20
    # The authorization endpoint came from discovery.
    assert demo.auth_transport.calls_to("/.well-known/openid-configuration")


def test_code_is_exchanged_server_side_with_secret_verifier_and_redirect_uri(demo, server_browser):
    sign_in(demo.browser(), server_browser)
    [exchange] = demo.auth_transport.calls_to("/oauth/token")
    body = dict(pair.split("=", 1) for pair in exchange.body.decode().split("&"))
    assert body["grant_type"] == "authorization_code"
    assert body["code_verifier"]
    assert body["redirect_uri"] == "http%3A%2F%2F127.0.0.1%3A5002%2Fcallback"
    expected = base64.b64encode(f"demo-client:{demo.secret}".encode()).decode()
    assert exchange.headers["Authorization"] == f"Basic {expected}"
    assert demo.auth_transport.calls_to("/oauth/userinfo")
    assert demo.auth_transport.calls_to("/oauth/jwks")  # the ID token's signature was checked
    # Every call the demo client makes has a timeout.
    assert all(sent.timeout for sent in demo.auth_transport.sent)


def test_access_denied_shows_a_friendly_page(demo, server_browser):
    browser = demo.browser()
    back = authorize(server_browser, start_sign_in(browser), decision="deny")
    assert query_of(back)["error"] == "access_denied"
    page = follow(browser, back)
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert "You did not sign in" in text and "nothing was shared" in text
    assert "Sign up with Authserver" in text
    assert _users(demo) == []
    assert not demo.auth_transport.calls_to("/oauth/token")


def test_callback_for_another_browsers_state_is_refused(demo, server_browser):
    """A code delivered to a browser that did not start that sign-in (login CSRF) is refused."""
    victim, attacker = demo.browser(), demo.browser()
    start_sign_in(victim)
    back = authorize(server_browser, start_sign_in(attacker))
    refused = follow(victim, back)
    assert refused.status_code == 400
    assert "could not match this answer" in refused.get_data(as_text=True)
    assert _users(demo) == []
    assert not demo.auth_transport.calls_to("/oauth/token")


def test_callback_with_a_changed_state_is_refused(demo, server_browser):
    browser = demo.browser()
    back = authorize(server_browser, start_sign_in(browser))
    forged = back.replace("state=", "state=x")
    assert follow(browser, forged).status_code == 400
    assert _users(demo) == []


def test_callback_naming_another_issuer_is_refused(demo, server_browser):
    """RFC 9207: an ``iss`` that is not our issuer means a mix-up; the code is not sent."""
    browser = demo.browser()
    back = authorize(server_browser, start_sign_in(browser))
    forged = back.replace("iss=http%3A%2F%2F127.0.0.1%3A5000", "iss=https%3A%2F%2Fevil.example")
    assert forged != back
    assert follow(browser, forged).status_code == 400
    assert not demo.auth_transport.calls_to("/oauth/token")


def test_session_cookie_is_demo_client_session_httponly_lax(demo):
    browser = demo.browser()
    page = browser.get("/")
    cookies = page.headers.getlist("Set-Cookie")
    assert len(cookies) == 1, cookies
    cookie = cookies[0]
    assert cookie.startswith("demo_client_session=")
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie
    assert browser.get_cookie("session") is None


def test_signing_in_again_in_the_same_browser_replaces_its_tokens(demo, server_browser):
    browser = demo.browser()
    sign_in(browser, server_browser)
    with demo.app.app_context():
        [first] = db.session.scalars(select(SignIn))
        old_refresh = first.refresh_token
    # Signed in, the home page has no button; a second tab's form still posts to /login.
    again = browser.post("/login", data={"csrf_token": form_token(browser)})
    follow(browser, authorize(server_browser, again.headers["Location"]))
    with demo.app.app_context():
        [second] = db.session.scalars(select(SignIn))
        assert second.refresh_token != old_refresh
    [revocation] = demo.auth_transport.calls_to("/oauth/revoke")
    assert old_refresh in revocation.body.decode()
    assert browser.get("/dashboard").status_code == 200


def test_an_unreachable_server_gets_a_plain_page_not_a_crash(make_demo):
    from tests.wsgi_transport import UnreachableTransport

    demo = make_demo(
        HTTP_SESSION_HOOK=lambda session: session.mount(ISSUER, UnreachableTransport())
    )
    browser = demo.browser()
    page = browser.get("/")
    assert page.status_code == 200
    response = browser.post("/login", data={"csrf_token": csrf_token(page.data)})
    assert response.status_code == 502
    assert "not answering right now" in response.get_data(as_text=True)
