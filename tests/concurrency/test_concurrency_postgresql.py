"""Concurrent redemption on PostgreSQL: exactly one wins (SPEC; RFC 6749 §4.1.2).

These run against PostgreSQL in every CI pass (a schema of their own when the main run is on
SQLite), fail in CI when it is unreachable, and skip elsewhere.
"""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from sqlalchemy import select

from authserver.extensions import db
from authserver.models import AuthorizationCode
from authserver.services import codes
from tests import factories
from tests.helpers import exchange_code, get_code, login

pytestmark = pytest.mark.postgresql


def test_concurrent_redemptions_of_one_code_yield_exactly_one_token(pg_app):
    with pg_app.app_context():
        user = factories.make_user()
        app_client = factories.make_client(owner_email=user.email)
    browser = pg_app.test_client()
    login(browser, user.email, user.password)

    for _ in range(5):
        code, _ = get_code(browser, app_client, prompt="consent")
        barrier = threading.Barrier(4)

        def redeem(code: str = code, barrier: threading.Barrier = barrier) -> int:
            http = pg_app.test_client()
            barrier.wait()
            return exchange_code(http, app_client, code).status_code

        with ThreadPoolExecutor(max_workers=4) as pool:
            statuses = sorted(pool.map(lambda _: redeem(), range(4)))
        assert statuses == [200, 400, 400, 400], statuses


def test_claim_is_one_conditional_update_that_waits_for_the_winner(pg_app):
    """Both transactions read the code as unredeemed; the second UPDATE blocks on the first's
    row lock and, once that commits, matches no row."""
    with pg_app.app_context():
        user = factories.make_user()
        app_client = factories.make_client(owner_email=user.email)
    browser = pg_app.test_client()
    login(browser, user.email, user.password)
    code, _ = get_code(browser, app_client)

    both_read = threading.Barrier(2)
    first_claimed = threading.Event()
    release_first = threading.Event()
    results: dict[str, bool] = {}

    def first() -> None:
        with pg_app.app_context():
            found = db.session.scalar(select(AuthorizationCode))
            both_read.wait()
            results["first"] = codes.claim_code(found)
            first_claimed.set()
            release_first.wait(timeout=10)
            db.session.commit()

    def second() -> None:
        with pg_app.app_context():
            found = db.session.scalar(select(AuthorizationCode))
            assert found.redeemed_at is None
            both_read.wait()
            first_claimed.wait(timeout=10)
            results["second"] = codes.claim_code(found)
            db.session.commit()

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for thread in threads:
        thread.start()
    first_claimed.wait(timeout=10)
    # The second is now blocked on the row lock; it must not have an answer yet.
    threads[1].join(timeout=0.3)
    assert "second" not in results
    release_first.set()
    for thread in threads:
        thread.join(timeout=10)
    assert results == {"first": True, "second": False}


def test_concurrent_refreshes_of_one_token_leave_exactly_one_live_pair(pg_app):
    """SPEC: refresh tokens rotate at every use; of 8 simultaneous uses of one token exactly one
    successor is ever made, and the others — retries within the window — get that same pair
    back (or are refused), never a second live pair and never a revoked grant."""
    from authserver.models import RefreshToken
    from tests.helpers import refresh

    with pg_app.app_context():
        user = factories.make_user()
        app_client = factories.make_client(owner_email=user.email)
    browser = pg_app.test_client()
    login(browser, user.email, user.password)
    code, _ = get_code(browser, app_client)
    first = exchange_code(browser, app_client, code).get_json()["refresh_token"]
    barrier = threading.Barrier(8)

    def use() -> tuple[int, dict]:
        http = pg_app.test_client()
        barrier.wait()
        response = refresh(http, app_client, first)
        return response.status_code, response.get_json()

    with ThreadPoolExecutor(max_workers=8) as pool:
        answers = list(pool.map(lambda _: use(), range(8)))

    successors = {body["refresh_token"] for status, body in answers if status == 200}
    assert len(successors) == 1, answers
    assert all(status in (200, 400) for status, _ in answers)
    with pg_app.app_context():
        live = db.session.scalars(
            select(RefreshToken).where(RefreshToken.rotated_at.is_(None))
        ).all()
        assert len(live) == 1
        assert live[0].family.revoked_at is None
    # The one successor works.
    assert refresh(pg_app.test_client(), app_client, successors.pop()).status_code == 200
