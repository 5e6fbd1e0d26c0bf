"""Accounts: signing up, logging in and out, and what the browser session may and may not do."""

from __future__ import annotations

import html
import re
import unicodedata
from urllib.parse import urlencode

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, inspect, select
from sqlalchemy.exc import IntegrityError
from werkzeug.test import TestResponse

from authserver.extensions import db
from authserver.models import AuditEvent, User
from authserver.security.passwords import hash_password
from tests import factories
from tests.factories import PASSWORD
from tests.helpers import csrf_token, login

DEFAULT_LANDING = "/account/apps"


def signup(
    client: FlaskClient, email: str, password: str = PASSWORD, name: str = "Grace", **query: str
) -> TestResponse:
    page = client.get("/signup", query_string=query)
    return client.post(
        "/signup",
        query_string=query,
        data={
            "email": email,
            "password": password,
            "name": name,
            "csrf_token": csrf_token(page.data),
        },
    )


def is_logged_in(client: FlaskClient) -> bool:
    response = client.get(DEFAULT_LANDING)
    if response.status_code == 200:
        return True
    assert response.status_code == 302, response.status_code
    assert response.headers["Location"].startswith("/login"), response.headers["Location"]
    return False


def text_of(response: TestResponse) -> str:
    return html.unescape(response.get_data(as_text=True))


def user_count(app: Flask) -> int:
    with app.app_context():
        return db.session.scalar(select(func.count()).select_from(User))


def field_errors(response: TestResponse, field: str) -> list[str]:
    """The error messages the form shows under one field (``<p class="error" id="F-error">``)."""
    found = re.findall(
        rf'<p class="error" id="{field}-error">([^<]*)</p>', response.get_data(as_text=True)
    )
    return [html.unescape(message) for message in found]


def session_cookie_header(response: TestResponse) -> str:
    headers = [
        h for h in response.headers.getlist("Set-Cookie") if h.startswith("authserver_session=")
    ]
    assert headers, response.headers.getlist("Set-Cookie")
    return headers[-1]


def cookie_attributes(set_cookie: str) -> dict[str, str]:
    attributes = {}
    for part in set_cookie.split(";")[1:]:
        key, _, value = part.strip().partition("=")
        attributes[key.lower()] = value
    return attributes


# --- signing up ---------------------------------------------------------------------------------


def after_signup_location(next_path: str = DEFAULT_LANDING) -> str:
    return "/login?" + urlencode({"next": next_path}, safe="/")


def test_signup_creates_the_account_and_asks_to_log_in(app, client):
    """A new account, then the login form with the address filled in: the same next step an
    address that already has an account gets, so the page tells nobody who is registered."""
    response = signup(client, "grace@example.com", name="Grace Hopper")

    assert response.status_code == 302
    assert response.headers["Location"] == after_signup_location()
    page = client.get(response.headers["Location"])
    assert 'value="grace@example.com"' in page.get_data(as_text=True)
    assert "Log in with your email and password" in text_of(page)
    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "grace@example.com"))
        assert user is not None
        assert user.name == "Grace Hopper"
    assert login(client, "grace@example.com", PASSWORD).status_code == 302
    assert "grace@example.com" in client.get(DEFAULT_LANDING).get_data(as_text=True)


def test_signup_stores_the_email_in_lower_case_and_login_ignores_case(app, client):
    signup(client, "  Grace@Example.COM ")
    assert not is_logged_in(client)

    with app.app_context():
        assert db.session.scalar(select(User.email)) == "grace@example.com"
    response = login(client, "GRACE@example.com", PASSWORD)
    assert response.status_code == 302
    assert is_logged_in(client)


def test_duplicate_email_gets_the_same_answer_as_a_new_one(app, client, user):
    """OWASP Authentication Cheat Sheet (account enumeration): sign-up must not confirm that an
    address has an account; the holder is told instead (an audit event on their account)."""
    before = user_count(app)

    response = signup(client, user.email.upper(), password="another long password")
    fresh = signup(app.test_client(), "someone-new@example.com", password="another long pass")

    assert response.status_code == fresh.status_code == 302
    assert response.headers["Location"] == fresh.headers["Location"] == after_signup_location()
    assert user_count(app) == before + 1
    with app.app_context():
        events = db.session.scalars(
            select(AuditEvent).where(AuditEvent.event == "signup.duplicate")
        ).all()
        assert [(e.user_id, e.outcome) for e in events] == [(user.id, "refused")]
        assert "another long password" not in str(events[0].detail)
    assert not is_logged_in(client)
    # The existing account is untouched: its own password still works, the new one does not.
    assert login(client, user.email, "another long password").status_code == 400
    assert login(client, user.email, user.password).status_code == 302


@pytest.mark.parametrize("password", ["", "short", "123456789"])
def test_too_short_password_is_refused(app, client, password):
    """NIST SP 800-63B §5.1.1.2: at least 8 characters; this server asks for 10."""
    response = signup(client, "grace@example.com", password=password)

    assert response.status_code == 400
    errors = field_errors(response, "password")
    assert errors, response.data
    if password:
        assert errors == ["Use a password of at least 10 characters."]
    assert user_count(app) == 0
    assert not is_logged_in(client)


def test_password_of_exactly_the_minimum_length_is_accepted(app, client):
    response = signup(client, "grace@example.com", password="0123456789")

    assert response.status_code == 302
    assert user_count(app) == 1


@pytest.mark.parametrize(
    "email", ["not-an-email", "grace@localhost", "grace @example.com", "@example.com", "a@b@c.com"]
)
def test_invalid_email_is_refused(app, client, email):
    response = signup(client, email)

    assert response.status_code == 400
    assert field_errors(response, "email") == ["Enter a valid email address."]
    assert user_count(app) == 0
    assert not is_logged_in(client)


def test_signup_form_keeps_what_was_typed_except_the_password(client):
    response = signup(client, "not-an-email", password="a secret of some length", name="Grace")

    page = response.get_data(as_text=True)
    assert 'value="not-an-email"' in page
    assert 'value="Grace"' in page
    assert "a secret of some length" not in page


def test_password_is_stored_as_bcrypt_never_in_plaintext(app, client):
    """SPEC: user passwords are stored with bcrypt."""
    signup(client, "grace@example.com", password="a very private passphrase")

    with app.app_context():
        user = db.session.scalar(select(User).where(User.email == "grace@example.com"))
        assert user.password_hash.startswith("$2b$")
        assert len(user.password_hash) == 60
        row = {c.key: getattr(user, c.key) for c in inspect(User).column_attrs}
    assert all("a very private passphrase" not in str(value) for value in row.values())


# --- logging in ---------------------------------------------------------------------------------


def test_login_with_the_right_password_logs_in(client, user):
    response = login(client, user.email, user.password)

    assert response.status_code == 302
    assert response.headers["Location"] == DEFAULT_LANDING
    assert is_logged_in(client)


def test_wrong_password_and_unknown_email_get_the_same_answer(client, user):
    """OWASP Authentication Cheat Sheet: the response must not reveal which of the two was wrong."""
    wrong_password = login(client, user.email, "not the password at all")
    unknown_email = login(client, "nobody@example.com", user.password)

    assert wrong_password.status_code == unknown_email.status_code == 400
    for response in (wrong_password, unknown_email):
        assert "Incorrect email or password." in text_of(response)
    assert not is_logged_in(client)

    def anonymised(response: TestResponse, email: str) -> str:
        page = response.get_data(as_text=True).replace(email, "EMAIL")
        return re.sub(r'name="csrf_token" type="hidden" value="[^"]*"', "CSRF", page)

    assert anonymised(wrong_password, user.email) == anonymised(unknown_email, "nobody@example.com")


def test_login_with_empty_fields_asks_for_both(client):
    response = login(client, "", "")

    assert response.status_code == 400
    assert "Enter your email and password." in text_of(response)
    assert not is_logged_in(client)


def test_login_without_csrf_token_is_refused(client, user):
    client.get("/login")
    response = client.post("/login", data={"email": user.email, "password": user.password})

    assert response.status_code == 400
    assert not is_logged_in(client)


def test_login_with_a_forged_csrf_token_is_refused(client, user):
    client.get("/login")
    response = client.post(
        "/login", data={"email": user.email, "password": user.password, "csrf_token": "forged"}
    )

    assert response.status_code == 400
    assert not is_logged_in(client)


def test_signup_without_csrf_token_is_refused(app, client):
    client.get("/signup")
    response = client.post(
        "/signup", data={"email": "grace@example.com", "password": PASSWORD, "name": "Grace"}
    )

    assert response.status_code == 400
    assert user_count(app) == 0
    assert not is_logged_in(client)


def test_login_starts_a_fresh_session(client, user):
    """OWASP Session Management: renew the session at login, so a planted one is worth nothing."""
    client.get("/login")
    with client.session_transaction() as session:
        session["planted"] = "by an attacker"

    login(client, user.email, user.password)

    with client.session_transaction() as session:
        assert "planted" not in session
        assert session.get("_user_id") == str(user.id)


def test_each_login_gets_a_new_session_id(client, user):
    login(client, user.email, user.password)
    with client.session_transaction() as session:
        first = session["sid"]
    client.post("/logout", data={"csrf_token": csrf_token(client.get(DEFAULT_LANDING).data)})

    login(client, user.email, user.password)

    with client.session_transaction() as session:
        assert session["sid"] != first


# --- logging out --------------------------------------------------------------------------------


def test_logout_by_post_with_csrf_ends_the_session(logged_in):
    token = csrf_token(logged_in.get(DEFAULT_LANDING).data)

    response = logged_in.post("/logout", data={"csrf_token": token})

    assert response.status_code == 302
    assert response.headers["Location"] == "/login"
    assert not is_logged_in(logged_in)
    with logged_in.session_transaction() as session:
        assert "_user_id" not in session
        assert "sid" not in session


def test_logout_by_get_is_not_allowed(logged_in):
    """A link or an <img> on another site must not be able to log the user out."""
    response = logged_in.get("/logout")

    assert response.status_code == 405
    assert is_logged_in(logged_in)


def test_logout_without_csrf_token_is_refused(logged_in):
    response = logged_in.post("/logout")

    assert response.status_code == 400
    assert is_logged_in(logged_in)


# --- where to go after login --------------------------------------------------------------------


@pytest.mark.parametrize("target", ["/console/", "/console/clients/new?x=1"])
def test_next_parameter_with_a_local_path_is_followed(client, user, target):
    page = client.get("/login", query_string={"next": target})
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": user.email, "password": user.password, "csrf_token": csrf_token(page.data)},
    )

    assert response.status_code == 302
    assert response.headers["Location"] == target


OFFSITE_TARGETS = [
    "//evil.example",
    "//evil.example/path",
    "///evil.example",
    "https://evil.example",
    "https:evil.example",
    "/\\evil.example",
    "\\\\evil.example",
    "/\t/evil.example",
    "javascript:alert(1)",
    "evil.example",
]


@pytest.mark.parametrize("target", OFFSITE_TARGETS)
def test_next_parameter_never_leads_off_site(client, user, target):
    """RFC 9700 §4.11 and OWASP Unvalidated Redirects: login is not an open redirector."""
    page = client.get("/login", query_string={"next": target})
    assert "evil.example" not in text_of(page)  # not carried into the form or the signup link
    response = client.post(
        "/login",
        query_string={"next": target},
        data={"email": user.email, "password": user.password, "csrf_token": csrf_token(page.data)},
    )

    assert response.status_code == 302
    assert response.headers["Location"] == DEFAULT_LANDING


@pytest.mark.parametrize("target", ["//evil.example", "https://evil.example", "/\\evil.example"])
def test_signup_next_parameter_never_leads_off_site(client, target):
    response = signup(client, "grace@example.com", next=target)

    assert response.status_code == 302
    assert response.headers["Location"] == after_signup_location()


def test_signup_next_parameter_with_a_local_path_is_followed(client):
    response = signup(client, "grace@example.com", next="/console/")

    assert response.status_code == 302
    assert response.headers["Location"] == after_signup_location("/console/")
    page = client.get(response.headers["Location"])
    follow = client.post(
        response.headers["Location"],
        data={
            "email": "grace@example.com",
            "password": PASSWORD,
            "csrf_token": csrf_token(page.data),
        },
    )
    assert follow.headers["Location"] == "/console/"


# --- the session cookie -------------------------------------------------------------------------


def test_session_cookie_is_httponly_and_samesite_lax(client, user):
    """OWASP Session Management: HttpOnly keeps scripts out; SameSite=Lax keeps cross-site
    subrequests (and cross-site POSTs) from carrying the session."""
    response = login(client, user.email, user.password)

    attributes = cookie_attributes(session_cookie_header(response))
    assert "httponly" in attributes
    assert attributes.get("samesite", "").lower() == "lax"


@pytest.mark.parametrize(
    "app_config",
    [{"ISSUER": "https://auth.example.com", "SECRET_KEY": "a-production-key-" + "y" * 32}],
)
def test_session_cookie_is_secure_when_the_issuer_is_https(client):
    """RFC 6265 §4.1.2.5: a cookie for an https site must not travel over plain http."""
    response = client.get("/login", base_url="https://auth.example.com")

    attributes = cookie_attributes(session_cookie_header(response))
    assert "secure" in attributes
    assert "httponly" in attributes


def test_session_cookie_is_not_secure_for_a_loopback_http_issuer(client):
    """Development on http://127.0.0.1 must keep working: no Secure flag there."""
    response = client.get("/login")

    assert "secure" not in cookie_attributes(session_cookie_header(response))


# --- throttling: see test_login_throttling.py --------------------------------------------------


@pytest.mark.parametrize("email", ["grace\x00@example.com", "grace@exa\x01mple.com", "\x7f@x.com"])
def test_control_characters_in_the_email_are_refused_not_a_server_error(app, client, email):
    """Bad input gets a 4xx and changes nothing (PostgreSQL refuses NUL outright)."""
    response = signup(client, email)
    assert response.status_code == 400
    assert field_errors(response, "email") == ["Enter a valid email address."]
    assert login(client, email, PASSWORD).status_code == 400
    assert user_count(app) == 0


def test_control_characters_in_the_name_are_refused(app, client):
    response = signup(client, "grace@example.com", name="Grace\x00Hopper")
    assert response.status_code == 400
    assert field_errors(response, "name") == ["A name cannot contain control characters."]
    assert user_count(app) == 0


def test_a_failed_statement_shows_its_sql_but_not_its_values(app, user):
    """The sign-up's duplicate row once put the bcrypt hash in the error and its log line:
    no SQL parameter reaches an error message (hide_parameters). PostgreSQL's own DETAIL names
    the duplicate key (the address) and nothing else."""
    password_hash = hash_password("a private passphrase", 4)
    with app.app_context():
        db.session.add(User(email=user.email, name="Ada the Second", password_hash=password_hash))
        with pytest.raises(IntegrityError) as failed:
            db.session.flush()
        db.session.rollback()

    message = str(failed.value)
    assert "INSERT INTO users" in message
    assert "SQL parameters hidden" in message
    assert password_hash not in message
    assert "Ada the Second" not in message


# --- addresses that read alike are one address ----------------------------------------------------

JOSE_NFC = "jos\u00e9@example.com"  # "é" as one character
JOSE_NFD = "jose\u0301@example.com"  # "e" and a combining acute accent: the same on screen


def duplicate_events(app: Flask) -> list[int]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(AuditEvent.user_id).where(AuditEvent.event == "signup.duplicate")
            )
        )


def test_an_address_typed_in_another_unicode_normalization_is_the_same_address(app, client):
    """Unicode NFC: "é" typed precomposed or decomposed is one address, one account."""
    first = signup(client, JOSE_NFD)
    again = signup(app.test_client(), JOSE_NFC, password="another long password")

    assert first.status_code == again.status_code == 302
    assert first.headers["Location"] == again.headers["Location"]
    with app.app_context():
        assert db.session.scalars(select(User.email)).all() == [JOSE_NFC]
        owner = db.session.scalar(select(User.id))
    assert duplicate_events(app) == [owner]
    assert login(app.test_client(), JOSE_NFC, PASSWORD).status_code == 302
    assert login(app.test_client(), JOSE_NFD, PASSWORD).status_code == 302


@pytest.mark.parametrize(
    "look_alike",
    [
        "\uff47\uff52\uff41\uff43\uff45@example.com",  # fullwidth "ｇｒａｃｅ"
        "\uff27\uff32\uff21\uff23\uff25@EXAMPLE.COM",  # fullwidth capitals
        "\u1d4drace@example.com",  # modifier letter small g
    ],
    ids=["fullwidth", "fullwidth-capitals", "modifier-letter"],
)
def test_a_look_alike_of_a_taken_address_answers_as_taken(app, look_alike):
    """A compatibility form of a taken address (NFKC, case folded) is that address: refused,
    with the very answer a taken address gets (and a new one), and its holder is told."""
    with app.app_context():
        existing = factories.make_user("grace@example.com")
    before = user_count(app)

    response = signup(app.test_client(), look_alike, password="another long password")
    fresh = signup(app.test_client(), "someone-new@example.com")

    assert response.status_code == fresh.status_code == 302
    assert response.headers["Location"] == fresh.headers["Location"]
    assert user_count(app) == before + 1
    assert duplicate_events(app) == [existing.id]


def test_sharp_s_and_ss_are_one_address(app):
    """Full case folding: "STRASSE" and "straße" are the same name to a reader."""
    assert signup(app.test_client(), "strasse@example.de").status_code == 302
    assert signup(app.test_client(), "Stra\u00dfe@example.de").status_code == 302
    with app.app_context():
        assert db.session.scalars(select(User.email)).all() == ["strasse@example.de"]


@pytest.mark.parametrize(
    "email",
    [
        "grace\u200b@example.com",  # zero-width space
        "grace@exa\u200dmple.com",  # zero-width joiner
        "\u202egrace@example.com",  # right-to-left override: shows the rest reversed
        "grace\ufe0f@example.com",  # variation selector
    ],
)
def test_an_address_with_invisible_characters_is_refused(app, client, email):
    """It would show as another address (on a page, in a listing): not a valid address here."""
    response = signup(client, email)

    assert response.status_code == 400
    assert field_errors(response, "email") == ["Enter a valid email address."]
    assert user_count(app) == 0


def test_guesses_under_look_alike_spellings_count_against_the_one_account(app, user):
    """The account is found under any spelling that reads like its address, so the guesses
    are counted against it under every one of them too (one per-account budget)."""
    spellings = [user.email, user.email.upper(), unicodedata.normalize("NFKC", user.email)]
    spellings.append("".join(chr(ord(ch) + 0xFEE0) if ch.isalnum() else ch for ch in user.email))

    answers = [
        login(app.test_client(), spellings[n % len(spellings)], "not the password at all")
        for n in range(10)
    ]

    assert [a.status_code for a in answers] == [400] * 10
    assert login(app.test_client(), user.email, user.password).status_code == 429
