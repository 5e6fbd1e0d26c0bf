"""Two new passwords sent at once with one reset link, on PostgreSQL: one wins, the other is
told the link was used, and the password is the winner's."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from flask import Flask
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import User
from authserver.security.passwords import check_password
from authserver.services import accounts, links
from tests import factories
from tests.helpers import csrf_token

pytestmark = pytest.mark.postgresql

ATTEMPTS = 4


@pytest.fixture
def pg_app(pg_app: Flask) -> Flask:
    pg_app.config["PROPAGATE_EXCEPTIONS"] = False  # a failure is the 500 a browser would get
    return pg_app


def test_one_link_two_resets_at_once_one_wins(pg_app: Flask) -> None:
    with pg_app.app_context():
        person = factories.make_user(email="race@example.com")
        user = db.session.scalar(select(User).where(User.email == person.email))
        token = links.issue(user, "reset")
        db.session.commit()
    barrier = threading.Barrier(ATTEMPTS)

    def reset(number: int) -> int:
        browser = pg_app.test_client()
        page = browser.get(f"/password/reset?token={token}")
        assert page.status_code == 200
        barrier.wait(timeout=10)
        return browser.post(
            "/password/reset",
            data={
                "token": token,
                "password": f"new-password-number-{number}",
                "csrf_token": csrf_token(page.data),
            },
        ).status_code

    with ThreadPoolExecutor(max_workers=ATTEMPTS) as pool:
        statuses = list(pool.map(reset, range(ATTEMPTS)))
    assert sorted(statuses) == [302] + [400] * (ATTEMPTS - 1), statuses
    with pg_app.app_context():
        user = db.session.scalar(select(User).where(User.email == person.email))
        winners = [
            n
            for n in range(ATTEMPTS)
            if check_password(f"new-password-number-{n}", user.password_hash)
        ]
        assert len(winners) == 1
        assert accounts.reset_link_state(token) is links.LinkState.USED
