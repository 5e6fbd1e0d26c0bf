"""Connected apps: what the user granted each app, in plain words, and taking it back."""

from __future__ import annotations

import html

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import AccessToken, Consent
from authserver.scopes import CATALOGUE
from tests import factories
from tests.factories import ClientInfo, UserInfo
from tests.helpers import (
    assert_oauth_error,
    authorize_url,
    consent,
    csrf_token,
    exchange_code,
    get_code,
    login,
    query_of,
    refresh,
)

APPS = "/account/apps"


def sentence(scope: str) -> str:
    return CATALOGUE[scope].description


def apps_page(browser: FlaskClient) -> str:
    """The page's list of connected apps (and its messages), without the sessions and the
    recent activity below it, which name apps too."""
    response = browser.get(APPS)
    assert response.status_code == 200, response.status_code
    page = html.unescape(response.get_data(as_text=True))
    return page.split("<h2>Where you are logged in</h2>")[0]


def connect(
    browser: FlaskClient,
    app_client: ClientInfo,
    scope: str = "openid profile events:read offline_access",
    ticked: list[str] | None = None,
) -> dict:
    """Authorize ``app_client`` through the consent page and redeem the code: its tokens."""
    code, _ = get_code(browser, app_client, scopes=ticked, scope=scope)
    response = exchange_code(browser, app_client, code)
    assert response.status_code == 200, response.data
    return response.get_json()


def revoke(browser: FlaskClient, client_id: str, with_csrf: bool = True):
    data = {"csrf_token": csrf_token(browser.get(APPS).data)} if with_csrf else {}
    return browser.post(f"/account/apps/{client_id}/revoke", data=data)


def refresh_works(app: Flask, app_client: ClientInfo, refresh_token: str) -> dict:
    """Refresh from the client's own server; the new tokens if it worked."""
    response = refresh(app.test_client(), app_client, refresh_token)
    assert response.status_code == 200, response.data
    return response.get_json()


def refresh_refused(app: Flask, app_client: ClientInfo, refresh_token: str) -> None:
    """RFC 6749 §5.2: a revoked refresh token is ``invalid_grant``."""
    assert_oauth_error(refresh(app.test_client(), app_client, refresh_token), "invalid_grant")


def browser_for(app: Flask, person: UserInfo) -> FlaskClient:
    browser = app.test_client()
    assert login(browser, person.email, person.password).status_code == 302
    return browser


@pytest.fixture
def other_user(app: Flask) -> UserInfo:
    with app.app_context():
        return factories.make_user(email="other@example.com", name="Other")


@pytest.fixture
def second_client(app: Flask) -> ClientInfo:
    with app.app_context():
        return factories.make_client(name="Second App")


# --- what the page shows ------------------------------------------------------------------------


def test_no_app_is_connected_at_first(logged_in):
    assert "No app is connected to your account." in apps_page(logged_in)


def test_connected_apps_page_requires_login(client):
    response = client.get(APPS)

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


def test_consented_app_is_listed_with_the_scope_sentences_it_was_granted(
    logged_in, confidential_client
):
    connect(logged_in, confidential_client, scope="openid profile events:read")

    page = apps_page(logged_in)
    assert "Example App" in page
    for granted in ("openid", "profile", "events:read"):
        assert sentence(granted) in page
    for never_asked in ("email", "offline_access", "events:write"):
        assert sentence(never_asked) not in page
    assert "No app is connected" not in page


def test_only_the_ticked_scopes_are_listed_when_the_user_unticked_some(
    logged_in, confidential_client
):
    """SPEC: the user may untick any scope but ``openid``; a token carries only what was granted."""
    tokens = connect(
        logged_in,
        confidential_client,
        scope="openid profile email events:read",
        ticked=["profile"],
    )

    assert tokens["scope"] == "openid profile"
    page = apps_page(logged_in)
    assert sentence("openid") in page
    assert sentence("profile") in page
    assert sentence("email") not in page
    assert sentence("events:read") not in page


def test_each_app_is_listed_once_with_its_own_scopes(logged_in, confidential_client, second_client):
    connect(logged_in, confidential_client, scope="openid profile")
    connect(logged_in, second_client, scope="openid events:read")

    page = apps_page(logged_in)
    first, second = page.index("Example App"), page.index("Second App")
    assert page.count("Example App") == 1
    first_card = page[first:second] if first < second else page[first:]
    second_card = page[second:first] if second < first else page[second:]
    assert sentence("profile") in first_card and sentence("events:read") not in first_card
    assert sentence("events:read") in second_card and sentence("profile") not in second_card


def test_an_app_the_user_granted_nothing_is_not_listed(logged_in, confidential_client):
    """Unticking every box and pressing Allow grants nothing (the app gets access_denied), so the
    page that says "These apps can use your account" must not list it."""
    url = authorize_url(confidential_client, scope="profile events:read")

    response = consent(logged_in, url, scopes=[])

    assert query_of(response.headers["Location"])["error"] == "access_denied"
    assert "Example App" not in apps_page(logged_in)


def test_another_users_apps_are_not_shown(app, logged_in, confidential_client, other_user):
    connect(logged_in, confidential_client)

    page = apps_page(browser_for(app, other_user))

    assert "Example App" not in page
    assert "No app is connected to your account." in page


# --- revoking -----------------------------------------------------------------------------------


def test_revoking_removes_the_app_and_stops_its_refresh_token(app, logged_in, confidential_client):
    tokens = connect(logged_in, confidential_client)

    response = revoke(logged_in, confidential_client.client_id)

    assert response.status_code == 302
    assert response.headers["Location"] == APPS
    page = apps_page(logged_in)
    assert "Example App no longer has access to your account." in page
    assert "No app is connected to your account." in page
    refresh_refused(app, confidential_client, tokens["refresh_token"])
    with app.app_context():
        assert db.session.scalar(select(Consent)) is None
        access = db.session.scalars(select(AccessToken)).all()
        assert access and all(token.revoked_at is not None for token in access)


def test_after_revoking_the_app_must_ask_again(logged_in, confidential_client):
    """SPEC: consent skips the page only for scopes already granted; revoking forgets them."""
    connect(logged_in, confidential_client)
    assert logged_in.get(authorize_url(confidential_client)).status_code == 302  # remembered

    revoke(logged_in, confidential_client.client_id)

    page = logged_in.get(authorize_url(confidential_client))
    assert page.status_code == 200
    assert "wants to access your account" in page.get_data(as_text=True)


def test_revoking_one_app_leaves_the_others(app, logged_in, confidential_client, second_client):
    first = connect(logged_in, confidential_client)
    second = connect(logged_in, second_client)

    revoke(logged_in, confidential_client.client_id)

    page = apps_page(logged_in)
    assert "Second App" in page
    refresh_refused(app, confidential_client, first["refresh_token"])
    refresh_works(app, second_client, second["refresh_token"])


def test_revoking_needs_csrf(app, logged_in, confidential_client):
    tokens = connect(logged_in, confidential_client)

    response = revoke(logged_in, confidential_client.client_id, with_csrf=False)

    assert response.status_code == 400
    assert "Example App" in apps_page(logged_in)
    refresh_works(app, confidential_client, tokens["refresh_token"])


def test_revoking_by_get_is_not_allowed(app, logged_in, confidential_client):
    connect(logged_in, confidential_client)

    response = logged_in.get(f"/account/apps/{confidential_client.client_id}/revoke")

    assert response.status_code == 405
    assert "Example App" in apps_page(logged_in)


def test_a_user_cannot_revoke_another_users_app(app, logged_in, confidential_client, other_user):
    tokens = connect(logged_in, confidential_client)
    intruder = browser_for(app, other_user)

    response = revoke(intruder, confidential_client.client_id)

    assert response.status_code == 404
    assert "Example App" in apps_page(logged_in)
    refresh_works(app, confidential_client, tokens["refresh_token"])


def test_revoking_an_app_never_connected_is_not_found(logged_in, confidential_client):
    assert revoke(logged_in, confidential_client.client_id).status_code == 404


def test_revoking_an_unknown_app_is_not_found(logged_in):
    assert revoke(logged_in, "no-such-client").status_code == 404


def test_revoking_requires_login(app, client, confidential_client):
    token = csrf_token(client.get("/login").data)

    response = client.post(
        f"/account/apps/{confidential_client.client_id}/revoke", data={"csrf_token": token}
    )

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")


# --- logging out with "revoke tokens" -----------------------------------------------------------


def logout(browser: FlaskClient, revoke_tokens: bool):
    data = {"csrf_token": csrf_token(browser.get(APPS).data)}
    if revoke_tokens:
        data["revoke_tokens"] = "y"
    response = browser.post("/logout", data=data)
    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    return response


def test_logout_with_the_revoke_box_revokes_the_sessions_refresh_tokens(
    app, logged_in, confidential_client
):
    tokens = connect(logged_in, confidential_client)

    logout(logged_in, revoke_tokens=True)

    refresh_refused(app, confidential_client, tokens["refresh_token"])


def test_logout_with_the_revoke_box_also_revokes_rotated_successors(
    app, logged_in, confidential_client
):
    """The whole grant goes, not only the refresh token first issued in the session."""
    tokens = connect(logged_in, confidential_client)
    newer = refresh_works(app, confidential_client, tokens["refresh_token"])

    logout(logged_in, revoke_tokens=True)

    refresh_refused(app, confidential_client, newer["refresh_token"])


def test_logout_without_the_revoke_box_keeps_the_tokens_working(
    app, logged_in, confidential_client
):
    tokens = connect(logged_in, confidential_client)

    logout(logged_in, revoke_tokens=False)

    refresh_works(app, confidential_client, tokens["refresh_token"])


def test_logout_with_the_revoke_box_spares_tokens_from_other_sessions(
    app, user, confidential_client, second_client
):
    """Only what apps received during *this* login session is revoked."""
    earlier_browser = browser_for(app, user)
    earlier = connect(earlier_browser, confidential_client)
    this_browser = browser_for(app, user)
    this_session = connect(this_browser, second_client)

    logout(this_browser, revoke_tokens=True)

    refresh_refused(app, second_client, this_session["refresh_token"])
    refresh_works(app, confidential_client, earlier["refresh_token"])
    assert "Example App" in apps_page(earlier_browser)


def test_unticking_an_already_allowed_scope_takes_it_back_like_take_back(
    app, logged_in, confidential_client, resource_server
):
    """Issue 14, item 2: on a ``prompt=consent`` page the earlier grants are listed as "already
    allowed — untick one to take it back". Unticking does exactly what "Take back" does: the
    old access token stops, the old refresh token issues only what is left, and a taken-back
    ``offline_access`` ends the refresh token."""
    from tests.helpers import introspect

    everything = "openid profile offline_access events:read events:write"
    before = connect(logged_in, confidential_client, scope=everything)
    kept = ["openid", "profile", "offline_access", "events:read"]

    url = authorize_url(confidential_client, scope=everything, prompt="consent")
    page = logged_in.get(url).get_data(as_text=True)
    assert "already allowed" in page.lower()
    assert consent(logged_in, url, scopes=kept).status_code == 302

    assert introspect(logged_in, resource_server, before["access_token"]).get_json() == {
        "active": False
    }
    refreshed = refresh(logged_in, confidential_client, before["refresh_token"])
    assert refreshed.status_code == 200, refreshed.data
    assert "events:write" not in refreshed.get_json()["scope"].split()
    assert sentence("events:write") not in apps_page(logged_in)

    # Unticking offline_access ends the refresh token, as "Take back" does.
    url = authorize_url(confidential_client, scope=everything, prompt="consent")
    assert consent(logged_in, url, scopes=["openid", "profile", "events:read"]).status_code == 302
    assert_oauth_error(
        refresh(logged_in, confidential_client, refreshed.get_json()["refresh_token"]),
        "invalid_grant",
    )
    with app.app_context():
        stored = db.session.scalar(select(Consent)).scope.split()
    assert set(stored) == {"openid", "profile", "events:read"}


def test_double_clicked_allow_is_idempotent(app, logged_in, confidential_client):
    """Issue 14, item 8: the same consent form sent twice (a double click) answers both with a
    code, never a 500, and keeps one consent."""
    url = authorize_url(confidential_client)
    page = logged_in.get(url)
    ticked = ["openid", "profile", "offline_access", "events:read"]
    data = {"csrf_token": csrf_token(page.data), "decision": "allow", "scope": ticked}
    first = logged_in.post(url, data=data)
    second = logged_in.post(url, data=data)
    for response in (first, second):
        assert response.status_code == 302, response.data
        assert "code" in query_of(response.headers["Location"])
    with app.app_context():
        assert len(db.session.scalars(select(Consent)).all()) == 1
