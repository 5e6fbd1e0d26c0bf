"""Simultaneous sign-ups with one new address on PostgreSQL: one account, and every one of them
answered as a sign-up of a taken address is (SPEC: a new and a taken address answer alike).

These run against PostgreSQL in every CI pass (a schema of their own when the main run is on
SQLite), fail in CI when it is unreachable, and skip elsewhere.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from sqlalchemy import func, select

from authserver.extensions import db
from authserver.models import AuditEvent, User
from authserver.services.users import email_key
from tests.factories import PASSWORD
from tests.helpers import csrf_token

pytestmark = pytest.mark.postgresql

SIGNUPS = 6
ROUNDS = 5


@pytest.fixture
def pg_app(pg_app: Flask) -> Flask:
    """The shared PostgreSQL app (conftest), answering a failure as the 500 a browser would get
    rather than raising it in the test's thread."""
    pg_app.config["PROPAGATE_EXCEPTIONS"] = False
    return pg_app


def simultaneous_signups(app: Flask, emails: list[str]) -> list[tuple[int, str]]:
    """A browser per address opens the form, then all send it at once: (status, Location)."""
    barrier = threading.Barrier(len(emails))

    def sign_up(email: str) -> tuple[int, str]:
        browser = app.test_client()
        token = csrf_token(browser.get("/signup").data)
        barrier.wait(timeout=10)
        response = browser.post(
            "/signup",
            data={"email": email, "password": PASSWORD, "name": "Grace", "csrf_token": token},
        )
        return response.status_code, response.headers.get("Location", "")

    with ThreadPoolExecutor(max_workers=len(emails)) as pool:
        return list(pool.map(sign_up, emails))


def assert_one_account_and_alike_answers(
    app: Flask, answers: list[tuple[int, str]], email: str
) -> None:
    assert len(set(answers)) == 1, answers
    status, location = answers[0]
    assert status == 302
    assert location.startswith("/login")
    with app.app_context():
        accounts = db.session.scalars(select(User).where(User.email_key == email_key(email))).all()
        assert [account.email for account in accounts] == [email]
        # The others were sign-ups of a taken address: the holder is told of each.
        duplicates = db.session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.event == "signup.duplicate", AuditEvent.user_id == accounts[0].id)
        )
        assert duplicates == len(answers) - 1


def test_simultaneous_signups_with_one_new_address_make_one_account_and_answer_alike(pg_app):
    for round_number in range(ROUNDS):
        email = f"grace{round_number}@example.com"

        answers = simultaneous_signups(pg_app, [email] * SIGNUPS)

        assert_one_account_and_alike_answers(pg_app, answers, email)

    # The same answer a sign-up of an address taken long ago gets.
    assert simultaneous_signups(pg_app, ["grace0@example.com"]) == [answers[0]]


def test_simultaneous_signups_with_spellings_of_one_address_make_one_account(pg_app):
    """The unique key of the address's skeleton decides the race, not only the exact address."""
    for round_number in range(ROUNDS):
        plain = f"ada{round_number}@example.com"
        fullwidth = "".join(chr(ord(c) + 0xFEE0) if c.isalnum() else c for c in plain)
        spellings = [plain, plain.upper(), fullwidth, fullwidth.upper(), plain, fullwidth]

        answers = simultaneous_signups(pg_app, spellings)

        with pg_app.app_context():
            winner = db.session.scalar(select(User.email).where(User.email_key == email_key(plain)))
        assert_one_account_and_alike_answers(pg_app, answers, winner)
