"""Accounts people can trust and recover: verified addresses, forgotten passwords, changing
password or address, deleting the account; each through the mail a real SMTP server receives."""

from __future__ import annotations

import html
from collections.abc import Iterator
from datetime import UTC, datetime
from email.message import EmailMessage
from urllib.parse import urlsplit

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select
from werkzeug.test import TestResponse

from authserver import mail
from authserver.extensions import db
from authserver.models import (
    AuditEvent,
    OneTimeLink,
    OutboxMessage,
    RefreshToken,
    User,
    UserSession,
)
from authserver.services import clients, outbox
from authserver.services.claims import user_claims
from tests import factories
from tests.factories import PASSWORD
from tests.helpers import csrf_token, exchange_code, get_code, login, refresh
from tests.mail_server import Inbox, links_in, smtp_server, text_of

NEW_PASSWORD = "a-brand-new-password"


class Mailbox:
    """The test SMTP server's inbox, filled by running the outbox as the server's thread does."""

    def __init__(self, app: Flask, inbox: Inbox) -> None:
        self.app = app
        self.inbox = inbox
        self.read = 0

    def deliver(self) -> list[EmailMessage]:
        with self.app.app_context():
            outbox.deliver_due(mail.DELIVERERS)
        new = self.inbox.messages[self.read :]
        self.read = len(self.inbox.messages)
        return new

    def one_to(self, address: str) -> EmailMessage:
        [message] = [m for m in self.deliver() if m["To"] == address]
        return message


@pytest.fixture
def mailbox(app: Flask) -> Iterator[Mailbox]:
    with smtp_server() as (url, inbox):
        app.config["SMTP_URL"] = url
        yield Mailbox(app, inbox)


def path_of(link: str) -> str:
    parts = urlsplit(link)
    assert f"{parts.scheme}://{parts.netloc}" == "http://127.0.0.1:5000"
    return f"{parts.path}?{parts.query}"


def only_link(message: EmailMessage) -> str:
    [link] = links_in(message)  # a mail asking to act carries exactly one link (SPEC)
    return path_of(link)


def signup(client: FlaskClient, email: str, password: str = PASSWORD) -> TestResponse:
    page = client.get("/signup")
    return client.post(
        "/signup",
        data={
            "email": email,
            "password": password,
            "name": "Grace",
            "csrf_token": csrf_token(page.data),
        },
    )


def post_form(client: FlaskClient, page_url: str, action: str, **data: str) -> TestResponse:
    page = client.get(page_url)
    return client.post(action, data={**data, "csrf_token": csrf_token(page.data)})


def text(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def user_row(app: Flask, email: str) -> User | None:
    with app.app_context():
        found = db.session.scalar(select(User).where(User.email == email))
        if found is not None:
            db.session.expunge(found)
        return found


def signed_in(client: FlaskClient) -> bool:
    return client.get("/account/apps").status_code == 200


# --- sign-up and verification -------------------------------------------------------------------


def test_signup_mails_a_link_that_verifies_and_signs_in(app, client, mailbox, fake_clock) -> None:
    assert signup(client, "grace@example.com").status_code == 302
    assert not signed_in(client)
    assert user_row(app, "grace@example.com").email_verified_at is None
    with app.app_context():
        assert user_claims(db.session.scalar(select(User)), ["email"])["email_verified"] is False
    message = mailbox.one_to("grace@example.com")
    assert message["Subject"] == "Confirm your email address"
    link = only_link(message)
    assert link.startswith("/signup/verify?token=")

    browser = FlaskClient(app, use_cookies=True)  # another browser: the link alone signs in
    followed = browser.get(link)
    assert followed.status_code == 302 and followed.headers["Location"] == "/account/apps"
    assert signed_in(browser)
    assert user_row(app, "grace@example.com").email_verified_at is not None
    with app.app_context():
        assert user_claims(db.session.scalar(select(User)), ["email"])["email_verified"] is True

    again = FlaskClient(app).get(link)  # the same link twice
    assert again.status_code == 400 and "used already" in text(again)


def test_a_verification_link_expires_after_24_hours(app, client, mailbox, fake_clock) -> None:
    signup(client, "late@example.com")
    link = only_link(mailbox.one_to("late@example.com"))
    fake_clock.advance(24 * 3600 + 1)
    page = client.get(link)
    assert page.status_code == 400 and "expired" in text(page)
    assert user_row(app, "late@example.com").email_verified_at is None
    assert not signed_in(client)


@pytest.mark.parametrize("token", ["", "forged", "x" * 500, "%00"])
def test_forged_links_are_refused_and_change_nothing(app, client, user, token) -> None:
    for path in ("/signup/verify", "/password/reset"):
        page = client.get(path, query_string={"token": token})
        assert page.status_code == 400 and "not valid" in text(page)
    assert not signed_in(client)


def test_a_taken_address_answers_alike_and_its_owner_is_told(app, client, mailbox, user) -> None:
    new = signup(client, "someone-new@example.com")
    taken = signup(FlaskClient(app), user.email.upper())
    assert (taken.status_code, taken.headers["Location"]) == (
        new.status_code,
        new.headers["Location"],
    )
    delivered = mailbox.deliver()
    [told] = [m for m in delivered if m["To"] == user.email]
    assert told["Subject"] == "Someone tried to sign up with your address"
    assert only_link(told).startswith("/password/reset?token=")
    assert not [m for m in delivered if m["To"] == user.email and "Confirm" in m["Subject"]]


def test_no_link_token_in_any_audit_row_or_log(app, client, mailbox, capsys) -> None:
    signup(client, "audit@example.com")
    link = only_link(mailbox.one_to("audit@example.com"))
    token = link.split("token=")[1]
    client.get(link)
    with app.app_context():
        for event in db.session.scalars(select(AuditEvent)):
            assert token not in repr(event.detail) and token not in (event.actor or "")
        stored = db.session.scalars(select(OneTimeLink.token_hash)).all()
    assert token not in stored  # hashed
    out = capsys.readouterr()
    # The request log line names the path, never its query.
    assert token not in out.out + out.err


# --- forgotten passwords ------------------------------------------------------------------------


def forgot(client: FlaskClient, email: str) -> TestResponse:
    return post_form(client, "/password/forgot", "/password/forgot", email=email)


def test_forgot_answers_every_address_alike(app, client, mailbox, user) -> None:
    known = forgot(client, user.email)
    unknown = forgot(client, "nobody@example.com")
    assert known.status_code == unknown.status_code == 200
    assert text(known).replace(user.email, "X") == text(unknown).replace("nobody@example.com", "X")
    delivered = mailbox.deliver()
    assert [m["To"] for m in delivered] == [user.email]
    assert delivered[0]["Subject"] == "Choose a new password"


def test_forgot_does_the_same_work_for_every_address(app, client, user) -> None:
    """One sealed outbox row each, looked at in the background: no link, no mail, no audit
    row differs while the page is answered."""
    for email in (user.email, "nobody@example.com"):
        forgot(client, email)
    with app.app_context():
        queued = db.session.scalars(select(OutboxMessage).order_by(OutboxMessage.id)).all()
        assert [(m.kind, m.recipient) for m in queued] == [
            ("reset_request", user.email),
            ("reset_request", "nobody@example.com"),
        ]
        assert all(user.email not in (m.payload or "") for m in queued)  # sealed
        assert db.session.scalars(select(OneTimeLink)).all() == []


def test_a_disabled_account_gets_no_reset_mail(app, client, mailbox, user) -> None:
    with app.app_context():
        db.session.scalar(select(User)).disabled_at = datetime.now(UTC)
        db.session.commit()
    assert forgot(client, user.email).status_code == 200
    assert mailbox.deliver() == []


def reset_link(client: FlaskClient, mailbox: Mailbox, email: str) -> str:
    forgot(client, email)
    return only_link(mailbox.one_to(email))


def choose_password(client: FlaskClient, link: str, password: str = NEW_PASSWORD) -> TestResponse:
    page = client.get(link)
    assert page.status_code == 200, text(page)
    token = link.split("token=")[1]
    return client.post(
        "/password/reset",
        data={"token": token, "password": password, "csrf_token": csrf_token(page.data)},
    )


def test_reset_ends_every_session_and_refresh_token_and_mails(
    app, client, mailbox, user, confidential_client
) -> None:
    elsewhere = app.test_client()
    login(elsewhere, user.email, user.password)
    code, _ = get_code(elsewhere, confidential_client, scope="openid offline_access")
    tokens = exchange_code(elsewhere, confidential_client, code).get_json()
    assert "refresh_token" in tokens
    link = reset_link(client, mailbox, user.email)

    done = choose_password(client, link)
    assert done.status_code == 302 and done.headers["Location"] == "/login"
    assert not signed_in(elsewhere)
    assert (
        refresh(app.test_client(), confidential_client, tokens["refresh_token"]).status_code == 400
    )
    with app.app_context():
        assert (
            db.session.scalars(select(UserSession).where(UserSession.ended_at.is_(None))).all()
            == []
        )
        assert all(t.family.revoked_at for t in db.session.scalars(select(RefreshToken)))
    confirmation = mailbox.one_to(user.email)
    assert confirmation["Subject"] == "Your password was changed"
    assert login(app.test_client(), user.email, user.password).status_code == 400
    assert login(app.test_client(), user.email, NEW_PASSWORD).status_code == 302
    # Following the link proved the address too.
    assert user_row(app, user.email).email_verified_at is not None

    reused = choose_password_again(client, link)
    assert reused.status_code == 400 and "used already" in text(reused)


def choose_password_again(client: FlaskClient, link: str) -> TestResponse:
    page = client.get("/password/forgot")
    return client.post(
        "/password/reset",
        data={
            "token": link.split("token=")[1],
            "password": "another-password-1",
            "csrf_token": csrf_token(page.data),
        },
    )


def test_a_refused_password_keeps_the_link_usable(app, client, mailbox, user) -> None:
    link = reset_link(client, mailbox, user.email)
    short = choose_password(client, link, password="short")
    assert short.status_code == 400 and "at least" in text(short)
    assert choose_password(client, link).status_code == 302


def test_a_reset_link_expires_after_30_minutes(app, client, mailbox, user, fake_clock) -> None:
    link = reset_link(client, mailbox, user.email)
    fake_clock.advance(30 * 60 + 1)
    page = client.get(link)
    assert page.status_code == 400 and "expired" in text(page)
    assert choose_password_again(client, link).status_code == 400
    assert login(app.test_client(), user.email, user.password).status_code == 302


def test_a_new_reset_kills_older_links(app, client, mailbox, user) -> None:
    first = reset_link(client, mailbox, user.email)
    second = reset_link(client, mailbox, user.email)
    assert choose_password(client, second).status_code == 302
    assert client.get(first).status_code == 400


@pytest.mark.parametrize("app_config", [{"PASSWORD_RESET_PER_ACCOUNT": "3 per hour"}])
def test_forgot_is_throttled_per_account(app, client, mailbox, user) -> None:
    for _ in range(3):
        assert forgot(app.test_client(), user.email).status_code == 200
    assert forgot(app.test_client(), user.email.upper()).status_code == 429
    # An address with no account is counted the same: the 429 tells nothing.
    for _ in range(3):
        forgot(client, "ghost@example.com")
    assert forgot(client, "ghost@example.com").status_code == 429
    assert len(mailbox.deliver()) == 3


# --- the security page --------------------------------------------------------------------------


def test_the_security_page_lists_methods_and_events(app, logged_in, user) -> None:
    page = logged_in.get("/account/security")
    assert page.status_code == 200
    body = text(page)
    assert user.email in body and "not verified yet" in body and "Signed in" in body


def test_changing_the_password_asks_for_the_current_one(app, logged_in, mailbox, user) -> None:
    other = app.test_client()
    login(other, user.email, user.password)
    wrong = post_form(
        logged_in,
        "/account/security",
        "/account/security/password",
        current_password="not-my-password",
        password=NEW_PASSWORD,
    )
    assert wrong.status_code == 400 and "not your current password" in text(wrong)
    assert signed_in(other)
    ok = post_form(
        logged_in,
        "/account/security",
        "/account/security/password",
        current_password=user.password,
        password=NEW_PASSWORD,
    )
    assert ok.status_code == 302
    assert signed_in(logged_in) and not signed_in(other)
    assert mailbox.one_to(user.email)["Subject"] == "Your password was changed"


@pytest.mark.parametrize("app_config", [{"ACCOUNT_PASSWORD_FAILURES": "3 per 15 minutes"}])
def test_wrong_current_passwords_are_throttled(app, logged_in, user) -> None:
    for _ in range(3):
        response = post_form(
            logged_in,
            "/account/security",
            "/account/security/password",
            current_password="guess",
            password=NEW_PASSWORD,
        )
        assert response.status_code == 400
    refused = post_form(
        logged_in,
        "/account/security",
        "/account/security/password",
        current_password=user.password,
        password=NEW_PASSWORD,
    )
    assert refused.status_code == 429


def test_a_new_address_takes_effect_only_when_its_link_is_followed(
    app, logged_in, mailbox, user
) -> None:
    asked = post_form(
        logged_in,
        "/account/security",
        "/account/security/email",
        email="new-me@example.com",
        email_password=user.password,
    )
    assert asked.status_code == 302
    delivered = mailbox.deliver()
    [confirm] = [m for m in delivered if m["To"] == "new-me@example.com"]
    [notice] = [m for m in delivered if m["To"] == user.email]
    assert "new-me@example.com" in text_of(notice)
    assert user_row(app, user.email) is not None  # not moved yet
    followed = logged_in.get(only_link(confirm))
    assert followed.status_code == 302
    moved = user_row(app, "new-me@example.com")
    assert moved is not None and moved.email_verified_at is not None
    assert login(app.test_client(), "new-me@example.com", user.password).status_code == 302


def test_a_taken_new_address_answers_alike_and_mails_it_nothing(
    app, logged_in, mailbox, user
) -> None:
    with app.app_context():
        factories.make_user(email="taken@example.com")
    asked = post_form(
        logged_in,
        "/account/security",
        "/account/security/email",
        email="taken@example.com",
        email_password=user.password,
    )
    assert asked.status_code == 302
    assert [m["To"] for m in mailbox.deliver()] == [user.email]


def test_changing_the_address_needs_the_password(app, logged_in, mailbox, user) -> None:
    wrong = post_form(
        logged_in,
        "/account/security",
        "/account/security/email",
        email="new-me@example.com",
        email_password="nope-nope-nope",
    )
    assert wrong.status_code == 400
    assert mailbox.deliver() == []


def test_deleting_the_account(app, logged_in, mailbox, user, confidential_client) -> None:
    code, _ = get_code(logged_in, confidential_client, scope="openid offline_access")
    tokens = exchange_code(logged_in, confidential_client, code).get_json()
    wrong = post_form(logged_in, "/account/security", "/account/delete", delete_password="x" * 12)
    assert wrong.status_code == 400 and user_row(app, user.email) is not None
    # The user owns the client fixture's app: that must go first.
    owns = post_form(
        logged_in, "/account/security", "/account/delete", delete_password=user.password
    )
    assert owns.status_code == 400 and "delete them first" in text(owns)
    with app.app_context():
        clients.delete_client(clients.find_client(confidential_client.client_id))
        db.session.commit()
    gone = post_form(
        logged_in, "/account/security", "/account/delete", delete_password=user.password
    )
    assert gone.status_code == 302
    assert user_row(app, user.email) is None
    assert not signed_in(logged_in)
    assert mailbox.one_to(user.email)["Subject"] == "Your account was deleted"
    assert tokens["refresh_token"]


def test_smtp_down_never_fails_the_page_and_the_mail_goes_later(app, client, fake_clock) -> None:
    app.config["SMTP_URL"] = "smtp://127.0.0.1:9"  # nobody listens
    assert signup(client, "patient@example.com").status_code == 302
    with app.app_context():
        assert outbox.deliver_due(mail.DELIVERERS).failed["mail"] == 1
    fake_clock.advance(3600)
    with smtp_server() as (url, inbox):
        app.config["SMTP_URL"] = url
        with app.app_context():
            assert outbox.deliver_due(mail.DELIVERERS).sent["mail"] == 1
    [late] = inbox.messages
    assert late["To"] == "patient@example.com"
    assert client.get(only_link(late)).status_code == 302  # its link still works (24 h)
    assert signed_in(client)


def test_the_verification_link_goes_on_to_where_sign_up_was_going(app, client, mailbox) -> None:
    page = client.get("/signup?next=/console/")
    client.post(
        "/signup?next=/console/",
        data={
            "email": "dev@example.com",
            "password": PASSWORD,
            "csrf_token": csrf_token(page.data),
        },
    )
    link = only_link(mailbox.one_to("dev@example.com"))
    browser = app.test_client()
    assert browser.get(link).headers["Location"] == "/console/"
    # ...but never off this server, whatever the link is made to say.
    signup(app.test_client(), "other@example.com")
    link = only_link(mailbox.one_to("other@example.com"))
    evil = link.replace("next=%2Faccount%2Fapps", "next=https%3A%2F%2Fevil.example%2F")
    assert evil != link
    assert app.test_client().get(evil).headers["Location"] == "/account/apps"
