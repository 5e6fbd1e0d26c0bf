"""Device grant races on PostgreSQL (RFC 8628; SPEC, "Policy": the device code works once)."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from authserver import policy
from tests import factories
from tests.helpers import login
from tests.spec.rfc8628_device.conftest import answer, enter, poll, started

pytestmark = pytest.mark.postgresql


def _device_client(pg_app):
    with pg_app.app_context():
        user = factories.make_user()
        device = factories.make_client(
            public=True,
            grant_types=[policy.DEVICE_CODE_GRANT],
            redirect_uris=[],
            scope="openid events:read",
        )
    browser = pg_app.test_client()
    login(browser, user.email, user.password)
    return device, browser


def test_approval_and_polls_at_once_issue_tokens_exactly_once(pg_app):
    """The person allows while eight polls arrive: each poll is pending, slowed down or the one
    winner; never a 500, never two token responses, and the winner's grant is the person's."""
    device, browser = _device_client(pg_app)
    for _ in range(3):
        body = started(pg_app.test_client(), device, scope="openid events:read")
        consent = enter(browser, body["user_code"])
        barrier = threading.Barrier(9)

        def poll_once(code: str = body["device_code"], barrier=barrier) -> int:
            barrier.wait()
            return poll(pg_app.test_client(), device, code).status_code

        def approve(page=consent, barrier=barrier) -> int:
            barrier.wait()
            return answer(browser, page).status_code

        with ThreadPoolExecutor(max_workers=9) as pool:
            approval = pool.submit(approve)
            polls = [pool.submit(poll_once) for _ in range(8)]
            statuses = [future.result() for future in polls]
        assert approval.result() == 200
        assert all(status in (200, 400) for status in statuses), statuses
        winners = statuses.count(200)
        assert winners <= 1, statuses
        # Polled once more after the approval: the token now if no poll won, else used up.
        late = poll(pg_app.test_client(), device, body["device_code"])
        if winners == 1:
            assert late.get_json()["error"] in ("invalid_grant", "slow_down"), late.get_json()
        else:
            assert late.status_code in (200, 400)


def test_concurrent_polls_after_approval_yield_one_token(pg_app):
    device, browser = _device_client(pg_app)
    body = started(pg_app.test_client(), device, scope="openid events:read")
    answer(browser, enter(browser, body["user_code"]))
    barrier = threading.Barrier(6)

    def poll_once(_: int) -> tuple[int, str | None]:
        http = pg_app.test_client()
        barrier.wait()
        response = poll(http, device, body["device_code"])
        return response.status_code, response.get_json().get("error")

    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(pool.map(poll_once, range(6)))
    assert [status for status, _ in answers].count(200) == 1, answers
    assert {error for status, error in answers if status != 200} <= {"invalid_grant"}, answers
