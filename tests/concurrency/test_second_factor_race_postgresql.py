"""One second-factor code sent from several browsers at the same moment, on PostgreSQL: exactly
one of them signs in (SPEC: "A code is accepted once"), for an authenticator code and for a
recovery code alike; the others get the page's refusal, never a 500.

These run against PostgreSQL in every CI pass (a schema of their own when the main run is on
SQLite), fail in CI when it is unreachable, and skip elsewhere.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pyotp
import pytest
from flask import Flask

from authserver.extensions import db
from authserver.models import User
from authserver.services import factors
from tests import factories
from tests.conftest import FakeClock
from tests.helpers import csrf_token, login

pytestmark = pytest.mark.postgresql

BROWSERS = 6


@pytest.fixture
def pg_app(pg_app: Flask) -> Flask:
    pg_app.config["PROPAGATE_EXCEPTIONS"] = False  # a failure is the 500 a browser would get
    pg_app.config["CLOCK"] = FakeClock(datetime(2026, 12, 5, 12, 0, 15, tzinfo=UTC))
    return pg_app


def enrolled_person(app: Flask) -> tuple[factories.UserInfo, str, list[str]]:
    with app.app_context():
        person = factories.make_user()
        user = db.session.get_one(User, person.id)
        secret = factors.start_totp(user)
        codes = factors.confirm_totp(user, pyotp.TOTP(secret).at(app.config["CLOCK"]()))
        assert codes is not None
        db.session.commit()
    app.config["CLOCK"].advance(30)
    return person, secret, codes


def simultaneous_codes(app: Flask, person: factories.UserInfo, code: str) -> list[int]:
    """Each browser passes the password, then all send ``code`` at once: their statuses."""
    browsers = []
    for _ in range(BROWSERS):
        browser = app.test_client()
        login(browser, person.email, person.password)
        browsers.append((browser, csrf_token(browser.get("/login/second-factor").data)))
    barrier = threading.Barrier(BROWSERS)

    def send(pair: tuple) -> int:
        browser, token = pair
        barrier.wait(timeout=10)
        answer = browser.post("/login/second-factor", data={"code": code, "csrf_token": token})
        return answer.status_code

    with ThreadPoolExecutor(max_workers=BROWSERS) as pool:
        return sorted(pool.map(send, browsers))


def test_one_authenticator_code_sent_at_once_signs_in_once(pg_app: Flask) -> None:
    person, secret, _ = enrolled_person(pg_app)
    code = pyotp.TOTP(secret).at(pg_app.config["CLOCK"]())
    assert simultaneous_codes(pg_app, person, code) == [302] + [400] * (BROWSERS - 1)


def test_one_recovery_code_sent_at_once_signs_in_once(pg_app: Flask) -> None:
    person, _, codes = enrolled_person(pg_app)
    assert simultaneous_codes(pg_app, person, codes[0]) == [302] + [400] * (BROWSERS - 1)
    with pg_app.app_context():
        assert factors.recovery_codes_left(db.session.get_one(User, person.id)) == 9
