"""Browsers that log in at a moment of the shared ``fake_clock`` (tests/conftest.py)."""

from __future__ import annotations

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.conftest import FakeClock
from tests.factories import UserInfo
from tests.helpers import login


@pytest.fixture
def browser(app: Flask, user: UserInfo, fake_clock: FakeClock) -> FlaskClient:
    """A browser whose user logged in at ``fake_clock``'s start."""
    http = app.test_client()
    response = login(http, user.email, user.password)
    assert response.status_code == 302, response.data
    return http
