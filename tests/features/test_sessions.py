"""Logout means logout: sessions have a server-side identity that logout, "log out everywhere",
a password change and the idle and absolute timeouts end, for every copy of the cookie."""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import AuthorizationCode, User, UserSession
from authserver.services import users
from tests.conftest import FakeClock
from tests.helpers import authorize_url, csrf_token, exchange_code, get_code, login, query_of

LANDING = "/account/apps"


def is_logged_in(client: FlaskClient) -> bool:
    return client.get(LANDING).status_code == 200


def copy_of(app: Flask, browser: FlaskClient) -> FlaskClient:
    """Another client holding a copy of ``browser``'s session cookie (a stolen or synced one)."""
    thief = app.test_client()
    cookie = browser.get_cookie("authserver_session")
    assert cookie is not None
    thief.set_cookie("authserver_session", cookie.value)
    return thief


def log_out(browser: FlaskClient, **fields: str) -> None:
    token = csrf_token(browser.get(LANDING).data)
    response = browser.post("/logout", data={"csrf_token": token, **fields})
    assert response.status_code == 302


def later(fake_clock: FakeClock, seconds: int) -> None:
    """Move the server's clock to ``seconds`` after the test began."""
    fake_clock.current = fake_clock.start + timedelta(seconds=seconds)


def test_a_copied_cookie_dies_with_logout(app, logged_in):
    """OWASP Session Management: on logout the server must invalidate the session, not only ask
    the browser to forget its cookie."""
    copy = copy_of(app, logged_in)
    assert is_logged_in(copy)

    log_out(logged_in)

    assert not is_logged_in(copy)
    assert not is_logged_in(logged_in)


def test_log_out_everywhere_ends_every_browser(app, client, user):
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, user.email, user.password)
    login(phone, user.email, user.password)

    log_out(laptop, everywhere="y")

    assert not is_logged_in(phone)
    assert not is_logged_in(laptop)


def test_plain_logout_leaves_other_browsers_logged_in(app, user):
    laptop, phone = app.test_client(), app.test_client()
    login(laptop, user.email, user.password)
    login(phone, user.email, user.password)

    log_out(laptop)

    assert is_logged_in(phone)


def test_a_password_change_ends_every_session(app, logged_in, user):
    """Whoever knew the old password (or holds an old cookie) is out once it changes."""
    with app.app_context():
        users.set_password(db.session.get(User, user.id), "a brand new passphrase")
        db.session.commit()

    assert not is_logged_in(logged_in)
    assert login(app.test_client(), user.email, "a brand new passphrase").status_code == 302


def test_a_session_ends_after_the_idle_timeout(app, logged_in, fake_clock):
    idle = app.config["SESSION_IDLE_TIMEOUT"]
    later(fake_clock, idle - 120)
    assert is_logged_in(logged_in)  # activity moves the idle deadline on

    later(fake_clock, 2 * idle - 240)
    assert is_logged_in(logged_in)

    later(fake_clock, 3 * idle)
    assert not is_logged_in(logged_in)


def test_a_session_ends_at_its_absolute_lifetime_however_active(app, logged_in, fake_clock):
    lifetime = app.config["SESSION_MAX_LIFETIME"]
    step = app.config["SESSION_IDLE_TIMEOUT"] // 2
    elapsed = 0
    while elapsed + step < lifetime:
        elapsed += step
        later(fake_clock, elapsed)
        assert is_logged_in(logged_in), elapsed

    later(fake_clock, lifetime + 1)
    assert not is_logged_in(logged_in)


@pytest.mark.parametrize("app_config", [{"SESSION_IDLE_TIMEOUT": 300}])
def test_the_idle_timeout_is_a_setting(app, logged_in, fake_clock):
    later(fake_clock, 301)
    assert not is_logged_in(logged_in)


def test_the_session_row_records_no_secret_and_ends_on_logout(app, logged_in, user):
    with app.app_context():
        row = db.session.scalar(select(UserSession).where(UserSession.user_id == user.id))
        assert row.ended_at is None
        assert user.password not in str({c.key: getattr(row, c.key) for c in row.__table__.c})
    log_out(logged_in)
    with app.app_context():
        row = db.session.scalar(select(UserSession).where(UserSession.user_id == user.id))
        assert row.ended_at is not None


def test_logging_out_and_disconnecting_apps_discards_codes_not_yet_redeemed(
    app, logged_in, confidential_client
):
    """RFC 6749 §4.1.2 / RFC 9700 §4.14: access the person withdrew must not arrive later through
    a code that was already on its way."""
    code, _ = get_code(logged_in, confidential_client)

    log_out(logged_in, revoke_tokens="y")

    response = exchange_code(app.test_client(), confidential_client, code)
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_grant"
    with app.app_context():
        assert db.session.scalars(select(AuthorizationCode)).all() == []


def test_after_logout_the_authorization_endpoint_asks_to_log_in_again(
    app, logged_in, confidential_client
):
    copy = copy_of(app, logged_in)
    log_out(logged_in)

    response = copy.get(authorize_url(confidential_client))

    assert response.status_code == 302
    assert response.headers["Location"].startswith("/login")
    assert "code" not in query_of(response.headers["Location"])
