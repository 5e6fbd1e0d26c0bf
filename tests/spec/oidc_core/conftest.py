"""A clock the tests move by hand (``authserver.clock.now``), and browsers that log in at a
chosen moment."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from flask import Flask
from flask.testing import FlaskClient

from authserver import clock
from tests.factories import UserInfo
from tests.helpers import login


class FakeClock:
    def __init__(self, start: datetime) -> None:
        self.current = start

    def __call__(self) -> datetime:
        return self.current

    def advance(self, seconds: float) -> None:
        self.current += timedelta(seconds=seconds)

    def timestamp(self) -> int:
        return int(self.current.timestamp())


@pytest.fixture
def fake_clock(monkeypatch: pytest.MonkeyPatch) -> FakeClock:
    # Half past a second, as real logins are: whole-second claims must not trip on it.
    start = datetime.now(UTC).replace(microsecond=500_000)
    fake = FakeClock(start)
    monkeypatch.setattr(clock, "now", fake)
    return fake


@pytest.fixture
def browser(app: Flask, user: UserInfo, fake_clock: FakeClock) -> FlaskClient:
    """A browser whose user logged in at ``fake_clock``'s start."""
    http = app.test_client()
    response = login(http, user.email, user.password)
    assert response.status_code == 302, response.data
    return http
