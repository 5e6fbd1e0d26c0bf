"""Connected apps in detail: when each was granted and last used, taking back one permission,
where the person is logged in, and their own recent activity."""

from __future__ import annotations

import html
import re

from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import Consent
from tests import factories
from tests.helpers import (
    assert_oauth_error,
    csrf_token,
    exchange_code,
    get_code,
    login,
    refresh,
    user_tokens,
)

APPS = "/account/apps"
ISSUER = "http://127.0.0.1:5000"


def page_text(browser: FlaskClient) -> str:
    response = browser.get(APPS)
    assert response.status_code == 200
    # The words a person reads: markup dropped, whitespace collapsed.
    text = re.sub(r"<[^>]+>", " ", response.get_data(as_text=True))
    return " ".join(html.unescape(text).split())


def take_back(browser: FlaskClient, client_id: str, scope: str):
    token = csrf_token(browser.get(APPS).data)
    return browser.post(
        f"/account/apps/{client_id}/revoke-scope", data={"csrf_token": token, "scope": scope}
    )


def consent_row(app: Flask) -> dict | None:
    with app.app_context():
        row = db.session.scalar(select(Consent))
        if row is None:
            return None
        return {"scope": row.scope, "last_used_at": row.last_used_at, "created_at": row.created_at}


def introspect(app: Flask, token: str) -> dict:
    with app.app_context():
        server = factories.make_service_client(name="RS", can_introspect_any=True)
    from tests.helpers import basic_auth

    response = app.test_client().post(
        "/oauth/introspect",
        data={"token": token},
        headers=basic_auth(server.client_id, server.secret),
    )
    return response.get_json()


# --- granted and last used ----------------------------------------------------------------------


def test_the_page_says_when_an_app_was_granted_and_last_used(
    app, logged_in, confidential_client, fake_clock
):
    code, _ = get_code(logged_in, confidential_client)
    assert "Not used yet." in page_text(logged_in)

    exchange_code(logged_in, confidential_client, code)

    row = consent_row(app)
    assert row["last_used_at"] == fake_clock.current
    page = page_text(logged_in)
    assert "Connected on" in page
    assert f"Last used {fake_clock.current.strftime('%d %B %Y, %H:%M UTC')}" in page


def test_last_used_is_written_at_most_once_a_minute(
    app, logged_in, confidential_client, fake_clock
):
    issued = user_tokens(logged_in, confidential_client)
    first = consent_row(app)["last_used_at"]

    fake_clock.advance(30)
    issued = refresh(app.test_client(), confidential_client, issued["refresh_token"]).get_json()
    assert consent_row(app)["last_used_at"] == first

    fake_clock.advance(31)
    refresh(app.test_client(), confidential_client, issued["refresh_token"])
    assert consent_row(app)["last_used_at"] == fake_clock.current


# --- taking one permission back -----------------------------------------------------------------


def test_taking_back_one_scope_ends_it_at_once_and_the_grant_keeps_the_rest(
    app, logged_in, confidential_client
):
    """Issue 9: revoking a single scope replaces or revokes the app's tokens so the scope is
    gone at once: its access tokens stop working, and a refresh gives only what is left."""
    issued = user_tokens(
        logged_in, confidential_client, scope="openid profile offline_access events:read"
    )

    response = take_back(logged_in, confidential_client.client_id, "events:read")

    assert response.status_code == 302
    assert consent_row(app)["scope"] == "openid profile offline_access"
    assert introspect(app, issued["access_token"]) == {"active": False}
    refreshed = refresh(app.test_client(), confidential_client, issued["refresh_token"])
    assert refreshed.status_code == 200
    assert refreshed.get_json()["scope"] == "openid profile offline_access"
    assert_oauth_error(
        refresh(
            app.test_client(),
            confidential_client,
            refreshed.get_json()["refresh_token"],
            scope="events:read",
        ),
        "invalid_scope",
    )
    page = page_text(logged_in)
    assert "Example App no longer has this permission: See your calendar events." in page
    apps_part = page.split("Where you are logged in")[0]
    assert "See your calendar events" not in apps_part.split("ask you again later.")[1]
    assert "See your name and basic profile" in apps_part


def test_taking_back_one_scope_leaves_tokens_without_it_alone(app, logged_in, confidential_client):
    with_it = user_tokens(logged_in, confidential_client, scope="openid events:read")
    without = user_tokens(logged_in, confidential_client, scope="openid profile")

    take_back(logged_in, confidential_client.client_id, "events:read")

    assert introspect(app, with_it["access_token"]) == {"active": False}
    assert introspect(app, without["access_token"])["active"] is True


def test_taking_back_a_scope_discards_codes_not_yet_redeemed_that_carry_it(
    app, logged_in, confidential_client
):
    code, _ = get_code(logged_in, confidential_client, scope="openid events:read")

    take_back(logged_in, confidential_client.client_id, "events:read")

    assert exchange_code(app.test_client(), confidential_client, code).status_code == 400


def test_the_app_may_ask_for_a_scope_again_after_it_was_taken_back(
    app, logged_in, confidential_client
):
    get_code(logged_in, confidential_client, scope="openid events:read")
    take_back(logged_in, confidential_client.client_id, "events:read")

    from tests.helpers import authorize_url

    page = logged_in.get(authorize_url(confidential_client, scope="openid events:read"))
    assert page.status_code == 200  # the consent page asks again
    assert 'value="events:read" checked' in page.get_data(as_text=True)


def test_taking_back_the_last_scope_disconnects_the_app(app, logged_in, confidential_client):
    get_code(logged_in, confidential_client, scope="openid")

    take_back(logged_in, confidential_client.client_id, "openid")

    assert consent_row(app) is None
    assert "No app is connected to your account." in page_text(logged_in)


def test_taking_back_a_scope_not_granted_or_unknown_is_not_found(
    app, logged_in, confidential_client
):
    get_code(logged_in, confidential_client, scope="openid profile")
    before = consent_row(app)

    for scope in ("events:write", "nope", ""):
        assert take_back(logged_in, confidential_client.client_id, scope).status_code == 404
    assert take_back(logged_in, "no-such-client", "profile").status_code == 404
    assert consent_row(app) == before


def test_taking_back_a_scope_needs_the_csrf_token(app, logged_in, confidential_client):
    get_code(logged_in, confidential_client, scope="openid profile")
    before = consent_row(app)

    response = logged_in.post(
        f"/account/apps/{confidential_client.client_id}/revoke-scope", data={"scope": "profile"}
    )

    assert response.status_code == 400
    assert consent_row(app) == before


def test_taking_back_a_scope_is_recorded(app, logged_in, confidential_client, user):
    get_code(logged_in, confidential_client, scope="openid profile")

    take_back(logged_in, confidential_client.client_id, "profile")

    page = page_text(logged_in)
    activity = page.split("Recent activity")[1]
    assert "Took a permission back from an app: Example App (See your name and basic profile)" in (
        activity
    )


# --- sessions and activity ----------------------------------------------------------------------


FIREFOX = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"
SAFARI_IPHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)


def test_the_page_lists_the_persons_live_sessions_with_their_browsers(app, user):
    phone, laptop = app.test_client(), app.test_client()
    phone.environ_base["HTTP_USER_AGENT"] = SAFARI_IPHONE
    laptop.environ_base["HTTP_USER_AGENT"] = FIREFOX
    login(phone, user.email, user.password)
    login(laptop, user.email, user.password)

    sessions = page_text(laptop).split("Where you are logged in")[1].split("Recent activity")[0]

    assert "Firefox on Linux (this browser)" in sessions
    assert "Safari on iOS" in sessions
    assert sessions.count("127.0.0.1") == 2


def test_log_out_everywhere_ends_every_session(app, user):
    phone = app.test_client()
    laptop = app.test_client()
    login(phone, user.email, user.password)
    login(laptop, user.email, user.password)
    page = laptop.get(APPS)
    assert b"Log out everywhere" in page.data

    laptop.post("/logout", data={"csrf_token": csrf_token(page.data), "everywhere": "y"})

    assert phone.get(APPS).status_code == 302
    assert laptop.get(APPS).status_code == 302


def test_recent_activity_shows_sign_ins_failures_and_a_duplicate_sign_up(app, client, user):
    login(client, user.email, "wrong password, surely")
    signup = app.test_client()
    page = signup.get("/signup")
    signup.post(
        "/signup",
        data={
            "email": user.email,
            "password": "someone else's password",
            "name": "Mallory",
            "csrf_token": csrf_token(page.data),
        },
    )
    login(client, user.email, user.password)

    activity = page_text(client).split("Recent activity")[1]

    assert "Failed sign-in attempt (wrong password)" in activity
    assert "Someone tried to sign up with your address" in activity
    assert "Signed in" in activity
    assert "from 127.0.0.1" in activity


def test_recent_activity_is_the_persons_own(app, client, user, confidential_client):
    with app.app_context():
        other = factories.make_user(email="other@example.com")
    stranger = app.test_client()
    login(stranger, other.email, "wrong password, surely")
    login(client, user.email, user.password)

    activity = page_text(client).split("Recent activity")[1]
    assert "Failed sign-in" not in activity
    assert ISSUER  # the page is served by the issuer; nothing else to check


def test_taking_back_offline_access_ends_the_grants_refresh_tokens(
    app, logged_in, confidential_client
):
    """Without offline_access the app may not keep access while the person is away."""
    issued = user_tokens(logged_in, confidential_client, scope="openid offline_access events:read")

    take_back(logged_in, confidential_client.client_id, "offline_access")

    assert_oauth_error(
        refresh(app.test_client(), confidential_client, issued["refresh_token"]), "invalid_grant"
    )
