"""Second factors through the pages: setting up an authenticator app, the login's second step
(the ``code`` field), recovery codes, wrong, replayed and brute-forced codes, the operator's
reset, and the section on /account/security."""

from __future__ import annotations

import html
import re

import pyotp
import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from authserver.extensions import db
from authserver.models import AuditEvent, TotpCredential, User, UserSession
from authserver.services import links
from tests import factories
from tests.conftest import FakeClock
from tests.helpers import csrf_token, login


def enrol(browser: FlaskClient, clock: FakeClock) -> tuple[str, list[str]]:
    """Set up an authenticator on /account/security/totp: its secret and the recovery codes."""
    page = browser.get("/account/security/totp")
    assert page.status_code == 200
    text = page.data.decode()
    secret = re.search(r'id="totp-secret" class="copyable">([A-Z2-7]+)<', text).group(1)
    done = browser.post(
        "/account/security/totp",
        data={"code": pyotp.TOTP(secret).at(clock()), "csrf_token": csrf_token(page.data)},
    )
    assert done.status_code == 200, done.data
    codes = re.findall(r"<li><code>([a-z2-9-]+)</code></li>", done.data.decode())
    clock.advance(30)  # the confirming code's step is spent
    return secret, codes


def second_step(browser: FlaskClient, code: str, next_url: str | None = None) -> TestResponse:
    path = "/login/second-factor" + (f"?next={next_url}" if next_url else "")
    page = browser.get(path)
    return browser.post(path, data={"code": code, "csrf_token": csrf_token(page.data)})


@pytest.fixture
def enrolled(app: Flask, user: factories.UserInfo, fake_clock: FakeClock) -> tuple[str, list[str]]:
    browser = app.test_client()
    login(browser, user.email, user.password)
    return enrol(browser, fake_clock)


def audit_events(app: Flask, name: str) -> list[AuditEvent]:
    with app.app_context():
        return list(db.session.scalars(select(AuditEvent).where(AuditEvent.event == name)))


def test_the_setup_page_shows_the_uri_as_text_and_as_an_inline_qr_code(
    logged_in: FlaskClient, fake_clock: FakeClock
) -> None:
    page = logged_in.get("/account/security/totp")
    text = html.unescape(page.data.decode())
    assert re.search(r"otpauth://totp/[^\"<]+secret=[A-Z2-7]+", text)
    assert '<svg role="img"' in text and 'name="code"' in text
    assert "<img" not in text and "https://" not in text  # nothing fetched from elsewhere
    again = logged_in.get("/account/security/totp")  # a reload shows the same secret
    assert re.findall(r"secret=([A-Z2-7]+)", text)[0] in again.data.decode()


def test_a_wrong_code_does_not_turn_it_on(
    app: Flask, logged_in: FlaskClient, fake_clock: FakeClock
) -> None:
    page = logged_in.get("/account/security/totp")
    refused = logged_in.post(
        "/account/security/totp", data={"code": "12345", "csrf_token": csrf_token(page.data)}
    )
    assert refused.status_code == 400
    assert b"That code is not right" in refused.data
    with app.app_context():
        row = db.session.scalar(select(TotpCredential))
        assert row is not None and row.confirmed_at is None


def test_enrolment_shows_ten_recovery_codes_once(
    app: Flask, logged_in: FlaskClient, fake_clock: FakeClock
) -> None:
    _, codes = enrol(logged_in, fake_clock)
    assert len(codes) == 10
    section = logged_in.get("/account/security").data.decode()
    assert "10 unused recovery codes left" in section
    assert codes[0] not in section
    assert audit_events(app, "mfa.totp_enrolled")


def test_a_password_alone_no_longer_signs_in(
    app: Flask, user: factories.UserInfo, enrolled: tuple[str, list[str]]
) -> None:
    browser = app.test_client()
    answer = login(browser, user.email, user.password)
    assert answer.status_code == 302
    assert answer.headers["Location"].startswith("/login/second-factor")
    assert browser.get("/account/apps").status_code == 302  # not signed in yet
    page = browser.get(answer.headers["Location"])
    assert b'name="code"' in page.data and b'autocomplete="one-time-code"' in page.data


def test_the_right_code_signs_in_and_goes_on_to_next(
    app: Flask, user: factories.UserInfo, enrolled: tuple[str, list[str]], fake_clock: FakeClock
) -> None:
    secret, _ = enrolled
    browser = app.test_client()
    page = browser.get("/login?next=/console/")
    browser.post(
        "/login?next=/console/",
        data={"email": user.email, "password": user.password, "csrf_token": csrf_token(page.data)},
    )
    answer = second_step(browser, pyotp.TOTP(secret).at(fake_clock()), "/console/")
    assert answer.status_code == 302 and answer.headers["Location"] == "/console/"
    assert browser.get("/account/apps").status_code == 200
    (succeeded,) = audit_events(app, "login.succeeded")[-1:]
    assert succeeded.detail["methods"] == "pwd otp mfa"


def test_a_code_used_once_is_refused_the_second_time(
    app: Flask, user: factories.UserInfo, enrolled: tuple[str, list[str]], fake_clock: FakeClock
) -> None:
    secret, _ = enrolled
    code = pyotp.TOTP(secret).at(fake_clock())
    first = app.test_client()
    login(first, user.email, user.password)
    assert second_step(first, code).status_code == 302
    thief = app.test_client()  # saw the code over the person's shoulder, and the password
    login(thief, user.email, user.password)
    replayed = second_step(thief, code)
    assert replayed.status_code == 400
    assert b"already used" in replayed.data
    assert thief.get("/account/apps").status_code == 302
    assert audit_events(app, "mfa.failed")


def test_a_recovery_code_signs_in_once(
    app: Flask, user: factories.UserInfo, enrolled: tuple[str, list[str]]
) -> None:
    _, codes = enrolled
    browser = app.test_client()
    login(browser, user.email, user.password)
    assert second_step(browser, codes[3]).status_code == 302
    again = app.test_client()
    login(again, user.email, user.password)
    assert second_step(again, codes[3]).status_code == 400


def test_guessing_codes_is_throttled_per_account_even_from_many_addresses(
    app: Flask, user: factories.UserInfo, enrolled: tuple[str, list[str]], fake_clock: FakeClock
) -> None:
    secret, _ = enrolled
    right = pyotp.TOTP(secret).at(fake_clock())
    wrong = "000000" if right != "000000" else "111111"
    browser = app.test_client()
    login(browser, user.email, user.password)
    page = browser.get("/login/second-factor")
    token = csrf_token(page.data)
    for attempt in range(5):
        answer = browser.post(
            "/login/second-factor",
            data={"code": wrong, "csrf_token": token},
            environ_base={"REMOTE_ADDR": f"198.51.100.{attempt}"},
        )
        assert answer.status_code == 400
    refused = browser.post("/login/second-factor", data={"code": right, "csrf_token": token})
    assert refused.status_code == 429
    assert "Retry-After" in refused.headers
    assert browser.get("/account/apps").status_code == 302
    assert len(audit_events(app, "mfa.failed")) == 5


def test_the_second_step_expires(
    app: Flask, user: factories.UserInfo, enrolled: tuple[str, list[str]], fake_clock: FakeClock
) -> None:
    secret, _ = enrolled
    browser = app.test_client()
    login(browser, user.email, user.password)
    page = browser.get("/login/second-factor")
    fake_clock.advance(301)
    late = browser.post(
        "/login/second-factor",
        data={"code": pyotp.TOTP(secret).at(fake_clock()), "csrf_token": csrf_token(page.data)},
    )
    assert late.status_code == 302 and late.headers["Location"].startswith("/login")
    assert browser.get("/account/apps").status_code == 302


def test_no_second_step_without_a_password_first(app: Flask, enrolled, fake_clock) -> None:
    stranger = app.test_client()
    answer = stranger.get("/login/second-factor")
    assert answer.status_code == 302 and answer.headers["Location"].startswith("/login")


def confirm_with_password(browser: FlaskClient, path: str, password: str) -> TestResponse:
    """Open the page that asks for the current password, and send it."""
    page = browser.get(path)
    assert page.status_code == 200, page.data
    assert b'autocomplete="current-password"' in page.data
    return browser.post(path, data={"password": password, "csrf_token": csrf_token(page.data)})


def test_removing_the_authenticator_asks_for_the_password_and_brings_back_password_logins(
    app: Flask, user: factories.UserInfo, fake_clock: FakeClock
) -> None:
    browser = app.test_client()
    login(browser, user.email, user.password)
    enrol(browser, fake_clock)
    page = browser.get("/account/security")
    assert b"Remove authenticator app" in page.data
    removed = confirm_with_password(browser, "/account/security/totp/remove", user.password)
    assert removed.status_code == 302
    other = app.test_client()
    assert login(other, user.email, user.password).headers["Location"] == "/account/apps"
    # Sent again (a double submit): nothing left to remove, no error.
    again = browser.post(
        "/account/security/totp/remove",
        data={"password": user.password, "csrf_token": csrf_token(page.data)},
    )
    assert again.status_code == 302 and again.headers["Location"] == "/account/security"


@pytest.mark.parametrize("password", ["not my password", ""])
def test_a_wrong_password_keeps_the_authenticator_and_the_codes(
    app: Flask, user: factories.UserInfo, fake_clock: FakeClock, password: str
) -> None:
    browser = app.test_client()
    login(browser, user.email, user.password)
    secret, codes = enrol(browser, fake_clock)
    removal = confirm_with_password(browser, "/account/security/totp/remove", password)
    assert removal.status_code == 400
    renewal = confirm_with_password(browser, "/account/security/recovery-codes", password)
    assert renewal.status_code == 400
    if password:
        assert b"That is not your current password." in removal.data
        assert b"That is not your current password." in renewal.data
    assert b"<code>" not in renewal.data  # no new codes shown
    assert audit_events(app, "mfa.totp_removed") == []
    assert audit_events(app, "mfa.recovery_codes_renewed") == []
    # Both factors still stand: the password alone leads to the code step, the old codes work.
    other = app.test_client()
    assert (
        login(other, user.email, user.password)
        .headers["Location"]
        .startswith("/login/second-factor")
    )
    assert second_step(other, codes[0]).status_code == 302


def test_without_the_form_token_nothing_is_removed(
    app: Flask, user: factories.UserInfo, fake_clock: FakeClock
) -> None:
    browser = app.test_client()
    login(browser, user.email, user.password)
    enrol(browser, fake_clock)
    forged = browser.post("/account/security/totp/remove", data={"password": user.password})
    assert forged.status_code == 400
    assert audit_events(app, "mfa.totp_removed") == []


@pytest.mark.parametrize("app_config", [{"ACCOUNT_PASSWORD_FAILURES": "3 per 15 minutes"}])
def test_guessing_the_password_to_remove_a_factor_is_throttled(
    app: Flask, user: factories.UserInfo, fake_clock: FakeClock
) -> None:
    """A stolen session must not become a way to guess the password: the account page's
    limit counts these forms together with the other password forms."""
    browser = app.test_client()
    login(browser, user.email, user.password)
    enrol(browser, fake_clock)
    answers = [
        confirm_with_password(browser, path, "guess").status_code
        for path in (
            "/account/security/totp/remove",
            "/account/security/recovery-codes",
            "/account/security/totp/remove",
        )
    ]
    assert answers == [400, 400, 400]
    refused = confirm_with_password(browser, "/account/security/totp/remove", user.password)
    assert refused.status_code == 429
    assert audit_events(app, "mfa.totp_removed") == []


def test_new_recovery_codes_ask_for_the_password_and_replace_the_old(
    app: Flask, user: factories.UserInfo, fake_clock: FakeClock
) -> None:
    browser = app.test_client()
    login(browser, user.email, user.password)
    _, old = enrol(browser, fake_clock)
    fresh = confirm_with_password(browser, "/account/security/recovery-codes", user.password)
    new = re.findall(r"<li><code>([a-z2-9-]+)</code></li>", fresh.data.decode())
    assert len(new) == 10 and not set(new) & set(old)
    other = app.test_client()
    login(other, user.email, user.password)
    assert second_step(other, old[0]).status_code == 400
    assert second_step(other, new[0]).status_code == 302


def verification_link(app: Flask, user_id: int) -> str:
    """A verification link for the person's address, as the mail carries it."""
    with app.app_context():
        person = db.session.get_one(User, user_id)
        token = links.issue(person, "verify", new_email=person.email)
        db.session.commit()
    return f"/signup/verify?token={token}"


def sessions_of(app: Flask, user_id: int) -> dict[str, str]:
    with app.app_context():
        rows = db.session.scalars(select(UserSession).where(UserSession.user_id == user_id))
        return {row.sid: row.amr for row in rows}


def test_a_mailed_link_does_not_stand_in_for_the_second_factor(
    app: Flask, user: factories.UserInfo, fake_clock: FakeClock
) -> None:
    browser = app.test_client()
    login(browser, user.email, user.password)
    enrol(browser, fake_clock)
    link = verification_link(app, user.id)  # e.g. "Mail me a new verification link"
    before = sessions_of(app, user.id)

    elsewhere = app.test_client()  # whoever reads the mail, in a browser with no session
    followed = elsewhere.get(link)
    assert followed.status_code == 302
    assert followed.headers["Location"].startswith("/login?next=")
    assert elsewhere.get("/account/apps").status_code == 302  # not signed in
    assert sessions_of(app, user.id) == before
    with app.app_context():
        assert db.session.get_one(User, user.id).email_verified_at is not None
    # Logging in from there asks for the code, as any login does.
    assert (
        login(elsewhere, user.email, user.password)
        .headers["Location"]
        .startswith("/login/second-factor")
    )


def test_a_mailed_link_followed_where_the_person_is_signed_in_keeps_that_session(
    app: Flask, user: factories.UserInfo, fake_clock: FakeClock
) -> None:
    browser = app.test_client()
    login(browser, user.email, user.password)
    secret, _ = enrol(browser, fake_clock)
    signed_in = app.test_client()
    login(signed_in, user.email, user.password)
    assert second_step(signed_in, pyotp.TOTP(secret).at(fake_clock())).status_code == 302
    before = sessions_of(app, user.id)
    assert any("mfa" in amr.split() for amr in before.values())

    followed = signed_in.get(verification_link(app, user.id))
    assert followed.status_code == 302 and followed.headers["Location"] == "/account/apps"
    assert signed_in.get("/account/apps").status_code == 200
    assert sessions_of(app, user.id) == before  # no new session, the factor passed stays


def test_the_operator_resets_a_persons_factors(
    app: Flask, user: factories.UserInfo, enrolled: tuple[str, list[str]]
) -> None:
    result = app.test_cli_runner().invoke(
        args=["users", "reset-mfa", "--email", user.email, "--json"]
    )
    assert result.exit_code == 0, result.output
    assert '"totp": 1' in result.output
    browser = app.test_client()
    assert login(browser, user.email, user.password).headers["Location"] == "/account/apps"
    (event,) = audit_events(app, "mfa.reset")
    assert event.actor == "operator"
    unknown = app.test_cli_runner().invoke(
        args=["users", "reset-mfa", "--email", "no@body.example"]
    )
    assert unknown.exit_code != 0


def test_no_code_or_secret_is_in_any_audit_row(
    app: Flask, user: factories.UserInfo, enrolled: tuple[str, list[str]], fake_clock: FakeClock
) -> None:
    secret, codes = enrolled
    browser = app.test_client()
    login(browser, user.email, user.password)
    second_step(browser, "123456")
    second_step(browser, codes[0])
    with app.app_context():
        rows = " ".join(f"{e.event} {e.detail}" for e in db.session.scalars(select(AuditEvent)))
    assert secret not in rows and codes[0] not in rows and "123456" not in rows


def test_settings_pages_need_a_login(client: FlaskClient) -> None:
    for path in ("/account/security", "/account/security/totp"):
        assert client.get(path).status_code == 302
