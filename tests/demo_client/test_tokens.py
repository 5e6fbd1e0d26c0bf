"""Tokens over time: refresh with rotation, a revoked grant, log out with revocation."""

from __future__ import annotations

from urllib.parse import parse_qs

from flask.testing import FlaskClient
from sqlalchemy import select

from examples.demo_client.models import SignIn, db
from tests.demo_client.conftest import DEMO, ISSUER, follow, form_token, sign_in
from tests.factories import ClientInfo
from tests.helpers import csrf_token, decode_jwt, query_of, refresh

TTL = 600  # AUTHSERVER_ACCESS_TOKEN_TTL's default
SIGN_IN_AGAIN = "Please sign in again"
WITHOUT_OFFLINE = ["openid", "profile", "email", "events:read", "events:write"]


def _row(demo) -> SignIn | None:
    with demo.app.app_context():
        row = db.session.scalar(select(SignIn))
        if row is not None:
            db.session.expunge(row)
        return row


def _grants(demo) -> list[dict]:
    return [
        {k: v[0] for k, v in parse_qs(sent.body.decode()).items()}
        for sent in demo.auth_transport.calls_to("/oauth/token")
    ]


def _demo_client(demo) -> ClientInfo:
    return ClientInfo(0, "demo-client", demo.secret, f"{DEMO}/callback", "")


def _revoke_at_server(server: FlaskClient) -> None:
    page = server.get("/account/apps")
    assert b"Demo App" in page.data
    response = server.post(
        "/account/apps/demo-client/revoke", data={"csrf_token": csrf_token(page.data)}
    )
    assert response.status_code == 302, response.data


def test_an_expired_access_token_is_refreshed_and_the_rotated_one_kept(
    demo, server_browser, client
):
    browser = demo.browser()
    sign_in(browser, server_browser)
    first = _row(demo)
    assert first.expires_at == int(demo.clock()) + TTL

    browser.get("/dashboard")
    assert [grant["grant_type"] for grant in _grants(demo)] == ["authorization_code"]

    demo.clock.advance(TTL - 10)  # within the leeway: treated as expired
    page = browser.get("/dashboard")
    assert page.status_code == 200
    assert "Your calendar is empty." in page.get_data(as_text=True)
    second = _row(demo)
    assert _grants(demo)[-1] == {
        "grant_type": "refresh_token",
        "refresh_token": first.refresh_token,
    }  # no "scope": asking for more than was granted would be invalid_scope
    assert second.access_token != first.access_token
    assert second.refresh_token != first.refresh_token  # rotated, and the successor stored
    assert second.scope == first.scope
    _, claims = decode_jwt(client, second.access_token)
    assert claims["aud"] == "http://127.0.0.1:5001"
    # The API was called with the new token.
    assert demo.api_transport.sent[-1].headers["Authorization"] == f"Bearer {second.access_token}"

    # And again: only works if the successor was stored (the old one is spent).
    demo.clock.advance(TTL)
    assert browser.get("/dashboard").status_code == 200
    third = _row(demo)
    assert _grants(demo)[-1]["refresh_token"] == second.refresh_token
    assert third.refresh_token not in (first.refresh_token, second.refresh_token)


def test_a_token_still_fresh_is_not_refreshed(demo, server_browser):
    browser = demo.browser()
    sign_in(browser, server_browser)
    for _ in range(3):
        demo.clock.advance(60)
        browser.get("/dashboard")
    assert len(_grants(demo)) == 1


def test_without_offline_access_an_expired_token_means_signing_in_again(demo, server_browser):
    browser = demo.browser()
    sign_in(browser, server_browser, scopes=WITHOUT_OFFLINE)
    row = _row(demo)
    assert row.refresh_token is None and "offline_access" not in row.scopes

    demo.clock.advance(TTL)
    page = browser.get("/dashboard")
    assert SIGN_IN_AGAIN in page.get_data(as_text=True)
    assert _row(demo) is None  # the tokens are gone from the demo client's database
    assert browser.get("/dashboard").headers["Location"] == "/"


def test_a_grant_revoked_at_the_server_asks_to_sign_in_again(demo, server_browser):
    browser = demo.browser()
    sign_in(browser, server_browser)
    assert browser.get("/dashboard").status_code == 200
    _revoke_at_server(server_browser)

    demo.clock.advance(TTL)
    page = browser.get("/dashboard")
    assert page.status_code == 200
    text = page.get_data(as_text=True)
    assert SIGN_IN_AGAIN in text and "Sign in with Authserver" in text
    assert _grants(demo)[-1]["grant_type"] == "refresh_token"
    assert _row(demo) is None
    assert browser.get("/dashboard").headers["Location"] == "/"

    # Signing in again works, and asks for consent again.
    response = sign_in(browser, server_browser)
    assert response.headers["Location"] == "/dashboard"
    assert browser.get("/dashboard").status_code == 200


def test_a_revoked_grant_seen_by_an_introspecting_api_asks_to_sign_in_again(
    make_api, make_demo, resource_server, api_clock, server_browser
):
    """The API answers 401 invalid_token at once; the refresh fails too (invalid_grant)."""
    api = make_api(
        INTROSPECTION=True,
        INTROSPECTION_CLIENT_ID=resource_server.client_id,
        INTROSPECTION_CLIENT_SECRET=resource_server.secret,
    )
    demo = make_demo(api)
    browser = demo.browser()
    sign_in(browser, server_browser)
    assert "Your calendar is empty." in browser.get("/dashboard").get_data(as_text=True)

    _revoke_at_server(server_browser)
    api_clock.advance(5.1)  # RESOURCE_API_INTROSPECTION_CACHE_TTL
    page = browser.get("/dashboard")  # no clock change at the demo client: the token looks fresh
    assert SIGN_IN_AGAIN in page.get_data(as_text=True)
    assert _grants(demo)[-1]["grant_type"] == "refresh_token"
    assert _row(demo) is None


def test_a_401_with_a_working_refresh_token_is_retried_once(demo, server_browser):
    browser = demo.browser()
    sign_in(browser, server_browser)
    with demo.app.app_context():
        row = db.session.scalar(select(SignIn))
        row.access_token = "not-a-token"
        db.session.commit()
    page = browser.get("/dashboard")
    assert "Your calendar is empty." in page.get_data(as_text=True)
    assert [grant["grant_type"] for grant in _grants(demo)] == [
        "authorization_code",
        "refresh_token",
    ]
    assert len(demo.api_transport.calls_to("/api/events")) == 2


def test_logout_revokes_the_refresh_token_and_ends_the_server_session(
    app, demo, server_browser, client
):
    browser = demo.browser()
    sign_in(browser, server_browser)
    row = _row(demo)

    response = browser.post("/logout", data={"csrf_token": form_token(browser)})
    assert response.status_code == 302
    location = response.headers["Location"]
    assert location.startswith(f"{ISSUER}/oauth/logout?")
    query = query_of(location)
    assert query["id_token_hint"] == row.id_token
    assert query["post_logout_redirect_uri"] == f"{DEMO}/"
    assert query["state"]

    # RFC 7009 at the server's revocation endpoint, with the refresh token.
    [revocation] = demo.auth_transport.calls_to("/oauth/revoke")
    sent = {k: v[0] for k, v in parse_qs(revocation.body.decode()).items()}
    assert sent == {"token": row.refresh_token, "token_type_hint": "refresh_token"}
    assert revocation.headers["Authorization"].startswith("Basic ")
    dead = refresh(client, _demo_client(demo), row.refresh_token)
    assert dead.status_code == 400 and dead.get_json()["error"] == "invalid_grant"
    assert _row(demo) is None

    # The server ends its session too (the id_token_hint vouches) and sends the browser back.
    back = server_browser.get(location[len(ISSUER) :])
    assert back.status_code == 302, back.data
    assert back.headers["Location"].startswith(f"{DEMO}/?")
    assert query_of(back.headers["Location"])["state"] == query["state"]
    home = follow(browser, back.headers["Location"])
    assert "You are signed out, here and at Authserver." in home.get_data(as_text=True)
    assert "Sign up with Authserver" in home.get_data(as_text=True)
    assert browser.get("/dashboard").headers["Location"] == "/"
    assert server_browser.get("/account/apps").status_code == 302  # logged out there too
